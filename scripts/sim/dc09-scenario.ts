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
import { parseLoop, runTimeline, type TimelineRun } from "./timeline.js";

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
  const loop = parseLoop(obj.loop_ms, steps, problems);
  if (loop !== undefined) out.loop_ms = loop;
  if (problems.length > 0) throw new Error(`scenario: ${problems.join("; ")}`);
  return out;
}

/** Resolves `done` when the last step has been answered (never, when looping, until stop()). */
export type Dc09ScenarioRun = TimelineRun;

/** Run a scenario through a sender; onReport sees each step's report (or error) as it completes. */
export function runDc09Scenario(
  sender: Dc09Sender,
  scenario: Dc09Scenario,
  onReport: (step: Dc09ScenarioStep, report: SendReport | Error) => void = () => {},
): Dc09ScenarioRun {
  return runTimeline(scenario.steps, scenario.loop_ms, (step) => {
    const { at_ms: _at, ...req } = step;
    return sender.send(req).then(
      (r) => onReport(step, r),
      (e: unknown) => onReport(step, e as Error),
    );
  });
}
