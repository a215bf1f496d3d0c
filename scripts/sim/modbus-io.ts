/**
 * A dry-contact input module (the io-8di layout: inputs 1-8 are discrete
 * inputs 0-7) on one unit's register bank: what a panic-button receiver's
 * relay outputs close. Tests and the demo press and release its contacts,
 * the demo on a timeline (runContacts).
 *
 * Node builtins only.
 */
import type { RegisterBank } from "./modbus-pdu.js";
import { parseLoop, runTimeline, type TimedStep, type TimelineRun } from "./timeline.js";

/** Close or open one contact (1-based, as on the module's label). */
export interface ContactStep extends TimedStep {
  action: "close" | "open";
  input: number;
}

export interface ContactTimeline {
  steps: ContactStep[];
  loop_ms?: number;
}

export class ContactModuleSim {
  /** Defines inputs 1..count as discrete inputs 0..count-1, all open. */
  constructor(
    readonly bank: RegisterBank,
    readonly count = 8,
  ) {
    bank.define("discreteInputs", 0, Array.from({ length: count }, () => 0));
  }

  /** Close contact n (1-based, as on the module's label). */
  close(n: number): void {
    this.bank.set("discreteInputs", this.address(n), 1);
  }

  /** Open contact n again. */
  open(n: number): void {
    this.bank.set("discreteInputs", this.address(n), 0);
  }

  /** The module's discrete input of contact n; throws for a contact it does not have. */
  address(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > this.count) throw new Error(`input ${n}: the module has inputs 1-${this.count}`);
    return n - 1;
  }
}

/**
 * Close and open the module's contacts at their times. A step naming a
 * contact the module does not have, or a loop shorter than the steps, fails
 * the start, not the run.
 */
export function runContacts(module: ContactModuleSim, timeline: ContactTimeline): TimelineRun {
  const problems: string[] = [];
  parseLoop(timeline.loop_ms, timeline.steps, problems);
  for (const s of timeline.steps) {
    try {
      module.address(s.input);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  if (problems.length > 0) throw new Error(`contact timeline: ${problems.join("; ")}`);
  return runTimeline(timeline.steps, timeline.loop_ms, (s) => module[s.action](s.input));
}
