/**
 * Door scenarios: a timed list of door actions, as JSON, e.g.
 *
 *   { "loop_ms": 60000,
 *     "steps": [ { "at_ms": 0,    "action": "open" },
 *                { "at_ms": 2000, "action": "close" },
 *                { "at_ms": 5000, "action": "force", "unit": 2 },
 *                { "at_ms": 9000, "action": "battery_drain", "value": 1100 } ] }
 *
 * A bare array of steps is accepted too. A step without "unit" applies to
 * every door controller. at_ms counts from the start (of each loop, when
 * loop_ms is given; loop_ms must exceed the last at_ms).
 *
 * Node builtins only.
 */
import { DOOR_ACTIONS, type DoorAction, type DoorControllerSim } from "./modbus-door.js";
import { parseLoop, runTimeline, type TimelineRun } from "./timeline.js";

export interface ScenarioStep {
  at_ms: number;
  action: DoorAction;
  unit?: number;
  value?: number;
}

export interface Scenario {
  steps: ScenarioStep[];
  loop_ms?: number;
}

/** Validate parsed JSON into a Scenario, listing every problem at once. */
export function parseScenario(json: unknown): Scenario {
  const obj = Array.isArray(json) ? { steps: json as unknown } : (json as Record<string, unknown> | null);
  const problems: string[] = [];
  if (typeof obj !== "object" || obj === null || !Array.isArray(obj.steps)) throw new Error("scenario: expected an array of steps or { steps: [...] }");
  const isUint = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 0;
  const steps = (obj.steps as unknown[]).map((raw, i): ScenarioStep => {
    const s = (raw ?? {}) as Record<string, unknown>;
    if (!isUint(s.at_ms)) problems.push(`step ${i}: at_ms must be an integer >= 0`);
    if (!(DOOR_ACTIONS as readonly unknown[]).includes(s.action)) problems.push(`step ${i}: action must be one of ${DOOR_ACTIONS.join(", ")}`);
    if (s.unit !== undefined && !(isUint(s.unit) && (s.unit as number) <= 255)) problems.push(`step ${i}: unit must be 0..255`);
    if (s.value !== undefined && !isUint(s.value)) problems.push(`step ${i}: value must be an integer >= 0`);
    if (s.action === "battery_set" && s.value === undefined) problems.push(`step ${i}: battery_set needs a value (volts × 100)`);
    const step: ScenarioStep = { at_ms: s.at_ms as number, action: s.action as DoorAction };
    if (s.unit !== undefined) step.unit = s.unit as number;
    if (s.value !== undefined) step.value = s.value as number;
    return step;
  });
  const out: Scenario = { steps: steps.sort((a, b) => a.at_ms - b.at_ms) };
  const loop = parseLoop(obj.loop_ms, steps, problems);
  if (loop !== undefined) out.loop_ms = loop;
  if (problems.length > 0) throw new Error(`scenario: ${problems.join("; ")}`);
  return out;
}

export type ScenarioRun = TimelineRun;

/**
 * Run a scenario against door controllers keyed by unit id. onStep sees each
 * step after it is applied (the CLI logs it). A step naming a unit that has no
 * door fails the start, not the run.
 */
export function runScenario(
  doors: ReadonlyMap<number, DoorControllerSim>,
  scenario: Scenario,
  onStep: (step: ScenarioStep) => void = () => {},
): ScenarioRun {
  for (const s of scenario.steps) {
    if (s.unit !== undefined && !doors.has(s.unit)) throw new Error(`scenario: unit ${s.unit} has no door controller`);
  }
  return runTimeline(scenario.steps, scenario.loop_ms, (step) => {
    const targets = step.unit === undefined ? [...doors.values()] : [doors.get(step.unit) as DoorControllerSim];
    for (const d of targets) d.apply(step.action, step.value);
    onStep(step);
  });
}
