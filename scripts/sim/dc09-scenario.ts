/**
 * DC-09 sender scenarios: a timed list of messages, as JSON, e.g.
 *
 *   { "loop_ms": 60000,
 *     "steps": [ { "at_ms": 0,     "send": "panic", "zone": 15 },
 *                { "at_ms": 5000,  "send": "panic-restore", "zone": 15 },
 *                { "at_ms": 20000, "send": "low-battery", "zone": 15 },
 *                { "at_ms": 30000, "send": "test", "fault": "bad-crc" } ] }
 *
 * A bare array of steps is accepted too. at_ms counts from the start (of
 * each loop, when loop_ms is given; loop_ms must exceed the last at_ms).
 * Steps are sent in order through one Dc09Sender, so a step whose time
 * comes while the previous one still waits for its answer goes after it.
 *
 * Node builtins only.
 */
import { SIM_EVENT_NAMES, SIM_FAULTS, type SimEventName, type SimFault } from "./dc09-events.js";
import type { Dc09Sender, SendReport, SendRequest } from "./dc09-sender.js";

export interface Dc09ScenarioStep extends SendRequest {
  at_ms: number;
}

export interface Dc09Scenario {
  steps: Dc09ScenarioStep[];
  loop_ms?: number;
}

/** Validate parsed JSON into a scenario, listing every problem at once. */
export function parseDc09Scenario(json: unknown): Dc09Scenario {
  const obj = Array.isArray(json) ? { steps: json as unknown } : (json as Record<string, unknown> | null);
  if (typeof obj !== "object" || obj === null || !Array.isArray(obj.steps)) throw new Error("scenario: expected an array of steps or { steps: [...] }");
  const problems: string[] = [];
  const isUint = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 0;
  const events: readonly string[] = [...SIM_EVENT_NAMES, "null"];
  const steps = (obj.steps as unknown[]).map((raw, i): Dc09ScenarioStep => {
    const s = (raw ?? {}) as Record<string, unknown>;
    if (!isUint(s.at_ms)) problems.push(`step ${i}: at_ms must be an integer >= 0`);
    if (!events.includes(s.send as string)) problems.push(`step ${i}: send must be one of ${events.join(", ")}`);
    if (s.fault !== undefined && !(SIM_FAULTS as readonly unknown[]).includes(s.fault)) problems.push(`step ${i}: fault must be one of ${SIM_FAULTS.join(", ")}`);
    for (const k of ["zone", "user", "partition"] as const) {
      if (s[k] !== undefined && !(isUint(s[k]) && (s[k] as number) <= 999)) problems.push(`step ${i}: ${k} must be 0-999`);
    }
    const step: Dc09ScenarioStep = { at_ms: s.at_ms as number, event: s.send as SimEventName };
    for (const k of ["zone", "user", "partition"] as const) if (s[k] !== undefined) step[k] = s[k] as number;
    if (s.fault !== undefined) step.fault = s.fault as SimFault;
    return step;
  });
  const out: Dc09Scenario = { steps: steps.sort((a, b) => a.at_ms - b.at_ms) };
  if (obj.loop_ms !== undefined) {
    const last = steps.at(-1)?.at_ms ?? 0;
    if (!isUint(obj.loop_ms) || (obj.loop_ms as number) <= last) problems.push(`loop_ms must be an integer greater than the last at_ms (${last})`);
    else out.loop_ms = obj.loop_ms as number;
  }
  if (problems.length > 0) throw new Error(`scenario: ${problems.join("; ")}`);
  return out;
}

export interface Dc09ScenarioRun {
  /** Resolves when the last step has been answered (never, when looping, until stop()). */
  done: Promise<void>;
  stop(): void;
}

/** Run a scenario through a sender; onReport sees each step's report (or error) as it completes. */
export function runDc09Scenario(
  sender: Dc09Sender,
  scenario: Dc09Scenario,
  onReport: (step: Dc09ScenarioStep, report: SendReport | Error) => void = () => {},
): Dc09ScenarioRun {
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const schedule = () => {
    const sends: Promise<void>[] = [];
    let scheduled = 0;
    for (const step of scenario.steps) {
      const t = setTimeout(() => {
        timers.delete(t);
        if (stopped) return;
        const { at_ms: _at, ...req } = step;
        sends.push(sender.send(req).then((r) => onReport(step, r), (e: unknown) => onReport(step, e as Error)));
        if (++scheduled === scenario.steps.length && scenario.loop_ms === undefined) void Promise.all(sends).then(() => finish());
      }, step.at_ms);
      timers.add(t);
    }
    if (scenario.steps.length === 0 && scenario.loop_ms === undefined) finish();
    if (scenario.loop_ms !== undefined) {
      const t = setTimeout(() => {
        timers.delete(t);
        if (!stopped) schedule();
      }, scenario.loop_ms);
      timers.add(t);
    }
  };
  schedule();
  return {
    done,
    stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      finish();
    },
  };
}
