/**
 * Timed steps, once or in a loop: what the simulators' scenario scripts
 * (door actions, DC-09 sends) have in common. A step is applied at its
 * `at_ms` from the start (of each loop, when `loop_ms` is given).
 *
 * Node builtins only.
 */

export interface TimedStep {
  at_ms: number;
}

export interface TimelineRun {
  /** Resolves when every step has been applied and settled (never, when looping, until stop()). */
  done: Promise<void>;
  stop(): void;
}

/** `loop_ms` of parsed JSON: absent, or an integer past the last step. Problems are pushed, as the parsers collect them. */
export function parseLoop(raw: unknown, steps: readonly TimedStep[], problems: string[]): number | undefined {
  if (raw === undefined) return undefined;
  const last = steps.reduce((m, s) => Math.max(m, s.at_ms), 0);
  if (typeof raw !== "number" || !Number.isInteger(raw) || raw <= last) {
    problems.push(`loop_ms must be an integer greater than the last at_ms (${last})`);
    return undefined;
  }
  return raw;
}

/** Apply each step at its time; a step's failure is the apply function's business (it should not throw). */
export function runTimeline<S extends TimedStep>(steps: readonly S[], loopMs: number | undefined, apply: (step: S) => void | Promise<void>): TimelineRun {
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const schedule = () => {
    const applied: Promise<void>[] = [];
    for (const step of steps) {
      const t = setTimeout(() => {
        timers.delete(t);
        if (stopped) return;
        applied.push(Promise.resolve(apply(step)));
        if (applied.length === steps.length && loopMs === undefined) void Promise.all(applied).then(() => finish());
      }, step.at_ms);
      timers.add(t);
    }
    if (steps.length === 0 && loopMs === undefined) finish();
    if (loopMs !== undefined) {
      const t = setTimeout(() => {
        timers.delete(t);
        if (!stopped) schedule();
      }, loopMs);
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
