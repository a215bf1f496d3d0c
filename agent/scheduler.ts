/**
 * The scheduler owns the timing of device polls (and the agent's few cron
 * tasks). It knows nothing about drivers or MQTT: a job is an id, its timing
 * parameters and a `run(signal)` that says "ok" or "failed".
 *
 * Guarantees, each one tested in test/agent/scheduler.test.ts:
 * - first polls are spread over [0, interval) so 200 devices do not fire at once;
 * - fixed rate with jitter, never two polls of one job at once, no catch-up burst
 *   after an overrun or a stalled process;
 * - every poll has a deadline (its signal aborts); a run() that ignores it loses
 *   its concurrency slot shortly after, counts as failed, and its job waits for it;
 * - at most `maxConcurrency` runs at once, the others wait first-in first-out;
 * - exponential backoff for a job that keeps failing, reset by a success;
 * - timing uses the monotonic clock, so a wall-clock step changes nothing.
 */
import { type Logger as CronLogger, createTask, type ScheduledTask } from "node-cron";
import type { Logger } from "pino";
import type { Clock } from "./clock.js";

export type PollOutcome = "ok" | "failed";

export interface PollJob {
  /** Device id. */
  id: string;
  intervalMs: number;
  /** Deadline of one poll: the signal given to run() aborts then. */
  timeoutMs: number;
  /** Each interval is spread by ± jitterRatio × interval. */
  jitterRatio: number;
  /**
   * Backoff starts once this many consecutive failures happened (the wiring passes offline_after_failures):
   * the delay after that failure is 2 × interval, and doubles with each further one, up to maxBackoffMs.
   */
  backoffAfterFailures: number;
  /** Longest delay between two polls of a failing job; never shorter than intervalMs. */
  maxBackoffMs: number;
  /** One poll. Should honour the signal; a throw or rejection counts as "failed". */
  run(signal: AbortSignal): Promise<PollOutcome>;
}

export interface JobSnapshot {
  /** A run() of this job has not settled yet (including one past its deadline). */
  running: boolean;
  /** Time until the next poll is due (0 when due and waiting for a slot); null when running or not scheduled. */
  nextDueInMs: number | null;
  consecutiveFailures: number;
}

export interface CronHandle {
  stop(): void;
}

export interface SchedulerDeps {
  clock: Clock;
  log: Logger;
  /** Polls running at once, across all jobs. */
  maxConcurrency: number;
  /** Uniform in [0, 1); injected so tests can pin jitter and first-poll spread. */
  random?: () => number;
  /** After a poll's deadline, how long its run() may still hold a slot before it is abandoned. */
  deadlineGraceMs?: number;
  /** How long stop() waits for a running cron task after aborting it. */
  stopGraceMs?: number;
}

interface JobState {
  def: PollJob;
  /** Monotonic time this job is (or was last) due; the base of the next due time. */
  dueAt: number;
  timer: NodeJS.Timeout | null;
  queued: boolean;
  /** Became due while an earlier run() had not settled: poll once it does. */
  waitingForSettle: boolean;
  failures: number;
  removed: boolean;
}

interface Run {
  job: JobState;
  controller: AbortController;
  /** Counted in `active` until it settles or is abandoned. */
  holdsSlot: boolean;
  abandoned: boolean;
  deadlineTimer: NodeJS.Timeout;
  abandonTimer: NodeJS.Timeout;
  /** Resolves when the slot is released: the run settled or was abandoned. */
  released: Promise<void>;
  release: () => void;
}

const DEFAULT_DEADLINE_GRACE_MS = 1_000;
const DEFAULT_STOP_GRACE_MS = 5_000;

export class Scheduler {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly maxConcurrency: number;
  private readonly random: () => number;
  private readonly deadlineGraceMs: number;
  private readonly stopGraceMs: number;

  private readonly jobs = new Map<string, JobState>();
  /** Runs whose run() has not settled, by job id: at most one per id, even across remove and re-add. */
  private readonly runs = new Map<string, Run>();
  /** Jobs due and waiting for a slot, in the order they became due (FIFO). */
  private readonly ready: JobState[] = [];
  private active = 0;
  private state: "idle" | "started" | "stopped" = "idle";

  private readonly cronTasks = new Set<ScheduledTask>();
  private readonly cronRuns = new Set<Promise<void>>();
  private readonly cronAbort = new AbortController();

  constructor(deps: SchedulerDeps) {
    if (!Number.isInteger(deps.maxConcurrency) || deps.maxConcurrency < 1) {
      throw new RangeError(`maxConcurrency must be a positive integer, got ${deps.maxConcurrency}`);
    }
    this.clock = deps.clock;
    this.log = deps.log;
    this.maxConcurrency = deps.maxConcurrency;
    this.random = deps.random ?? Math.random;
    this.deadlineGraceMs = deps.deadlineGraceMs ?? DEFAULT_DEADLINE_GRACE_MS;
    this.stopGraceMs = deps.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
  }

  start(): void {
    if (this.state === "stopped") throw new Error("scheduler was stopped; create a new one");
    if (this.state === "started") return;
    this.state = "started";
    const now = this.clock.monotonic();
    for (const job of this.jobs.values()) this.arm(job, this.firstDue(job.def, now));
    for (const task of this.cronTasks) this.cronControl(task, "start");
  }

  /** No new polls; aborts running polls and cron tasks; resolves when they settled or were abandoned. */
  async stop(): Promise<void> {
    if (this.state === "stopped") return;
    this.state = "stopped";
    for (const job of this.jobs.values()) this.disarm(job);
    this.ready.length = 0;
    for (const task of this.cronTasks) this.cronControl(task, "destroy");
    this.cronAbort.abort(new DOMException("scheduler stopping", "AbortError"));
    for (const run of this.runs.values()) run.controller.abort(new DOMException("scheduler stopping", "AbortError"));
    // A run that ignores its signal is still released by its abandon timer (deadline + grace), so this is bounded.
    const polls = Promise.all([...this.runs.values()].map((r) => r.released));
    const crons = boundedWait(Promise.all(this.cronRuns), this.stopGraceMs);
    const [, cronsSettled] = await Promise.all([polls, crons]);
    if (!cronsSettled) this.log.warn({ waitedMs: this.stopGraceMs }, "cron task still running after stop; not waiting for it");
  }

  /** Add a job, or replace the definition of one; a running poll finishes under the old one. */
  upsert(def: PollJob): void {
    validateJob(def);
    const existing = this.jobs.get(def.id);
    if (existing) {
      const intervalChanged = existing.def.intervalMs !== def.intervalMs;
      existing.def = def;
      // Not armed while running (the next due time is computed when it completes), queued or stopped.
      if (intervalChanged && existing.timer !== null) {
        const now = this.clock.monotonic();
        // A shorter interval takes effect at once; a longer one after the poll already due.
        this.arm(existing, Math.min(existing.dueAt, this.firstDue(def, now)));
      }
      return;
    }
    const job: JobState = { def, dueAt: 0, timer: null, queued: false, waitingForSettle: false, failures: 0, removed: false };
    this.jobs.set(def.id, job);
    if (this.state === "started") this.arm(job, this.firstDue(def, this.clock.monotonic()));
  }

  /** Forget a job; a running poll of it is aborted and its result ignored. */
  remove(id: string): void {
    const job = this.jobs.get(id);
    if (!job) return;
    this.jobs.delete(id);
    job.removed = true;
    this.disarm(job);
    const run = this.runs.get(id);
    if (run && run.job === job) run.controller.abort(new DOMException(`device ${id} removed`, "AbortError"));
  }

  /** Poll a job as soon as a slot is free, unless a poll of it is running. False when it is, or unknown, or not started. */
  pollNow(id: string): boolean {
    const job = this.jobs.get(id);
    if (!job || this.state !== "started" || this.runs.has(id)) return false;
    if (job.queued) return true;
    this.disarm(job);
    job.dueAt = this.clock.monotonic();
    this.enqueue(job);
    return true;
  }

  has(id: string): boolean {
    return this.jobs.has(id);
  }

  ids(): string[] {
    return [...this.jobs.keys()];
  }

  snapshot(id: string): JobSnapshot | undefined {
    const job = this.jobs.get(id);
    if (!job) return undefined;
    const running = this.runs.has(id);
    let nextDueInMs: number | null = null;
    if (job.queued || job.waitingForSettle) nextDueInMs = 0;
    else if (job.timer !== null) nextDueInMs = Math.max(0, job.dueAt - this.clock.monotonic());
    return { running, nextDueInMs, consecutiveFailures: job.failures };
  }

  /**
   * Run `task` on a node-cron schedule (six fields allowed: seconds first).
   * Overlapping runs are skipped (noOverlap); a task error is caught here and
   * logged once, so node-cron never logs it again. The signal aborts on stop.
   */
  cron(name: string, expression: string, task: (signal: AbortSignal) => Promise<void>): CronHandle {
    const log = this.log.child({ cron: name, expression });
    const scheduled = createTask(
      expression,
      async () => {
        const running = (async () => {
          try {
            await task(this.cronAbort.signal);
          } catch (err) {
            log.error({ err }, "cron task failed");
          }
        })();
        this.cronRuns.add(running);
        try {
          await running;
        } finally {
          this.cronRuns.delete(running);
        }
      },
      { name, noOverlap: true, logger: cronLogger(log) },
    );
    if (this.state === "stopped") {
      this.cronControl(scheduled, "destroy");
      return { stop: () => {} };
    }
    this.cronTasks.add(scheduled);
    if (this.state === "started") this.cronControl(scheduled, "start");
    return {
      stop: () => {
        if (this.cronTasks.delete(scheduled)) this.cronControl(scheduled, "destroy");
      },
    };
  }

  /** Inline node-cron tasks start and destroy synchronously; the Promise in their return type is for background tasks. */
  private cronControl(task: ScheduledTask, action: "start" | "destroy"): void {
    Promise.resolve(task[action]()).catch((err: unknown) => this.log.error({ err, cron: task.name }, `could not ${action} cron task`));
  }

  // --- timing -------------------------------------------------------------

  private firstDue(def: PollJob, now: number): number {
    return now + this.random() * def.intervalMs;
  }

  /** Delay until the next poll after `failures` consecutive failures: jittered interval, doubled in backoff, capped. */
  private nextDelay(def: PollJob, failures: number): number {
    const doublings = failures >= def.backoffAfterFailures ? failures - def.backoffAfterFailures + 1 : 0;
    // Capping the exponent keeps 2 ** n finite for a device that has been failing for days.
    const base = def.intervalMs * 2 ** Math.min(doublings, 30);
    const jittered = base * (1 + def.jitterRatio * (2 * this.random() - 1));
    const delay = doublings > 0 ? Math.min(jittered, Math.max(def.intervalMs, def.maxBackoffMs)) : jittered;
    return Math.max(1, delay);
  }

  private arm(job: JobState, dueAt: number): void {
    this.disarm(job);
    job.dueAt = dueAt;
    // setTimeout is monotonic in Node; Date is never used for timing.
    job.timer = setTimeout(() => this.onDue(job), Math.max(0, dueAt - this.clock.monotonic()));
  }

  private disarm(job: JobState): void {
    if (job.timer !== null) clearTimeout(job.timer);
    job.timer = null;
    job.waitingForSettle = false;
    if (job.queued) {
      job.queued = false;
      const i = this.ready.indexOf(job);
      if (i >= 0) this.ready.splice(i, 1);
    }
  }

  private onDue(job: JobState): void {
    job.timer = null;
    if (this.runs.has(job.def.id)) job.waitingForSettle = true;
    else this.enqueue(job);
  }

  /** Timers fire in due order, so first-in first-out is "due earlier runs earlier". */
  private enqueue(job: JobState): void {
    this.ready.push(job);
    job.queued = true;
    this.pump();
  }

  private pump(): void {
    while (this.state === "started" && this.active < this.maxConcurrency) {
      const job = this.ready.shift();
      if (!job) return;
      job.queued = false;
      this.startRun(job);
    }
  }

  /** Fixed rate from the due time; if that is already past (overrun, stall, long queue), one poll then the normal rate. */
  private scheduleNext(job: JobState): void {
    if (this.state !== "started" || job.removed) return;
    const delay = this.nextDelay(job.def, job.failures);
    const now = this.clock.monotonic();
    const next = job.dueAt + delay;
    this.arm(job, next > now ? next : now + delay);
  }

  // --- runs -----------------------------------------------------------------

  private startRun(job: JobState): void {
    const def = job.def;
    const controller = new AbortController();
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const run: Run = {
      job,
      controller,
      holdsSlot: true,
      abandoned: false,
      released,
      release,
      deadlineTimer: setTimeout(
        () => controller.abort(new DOMException(`no answer within ${def.timeoutMs} ms`, "TimeoutError")),
        def.timeoutMs,
      ),
      abandonTimer: setTimeout(() => this.abandon(run), def.timeoutMs + this.deadlineGraceMs),
    };
    this.active++;
    this.runs.set(def.id, run);
    let promise: Promise<PollOutcome>;
    try {
      promise = Promise.resolve(def.run(controller.signal));
    } catch (err) {
      promise = Promise.reject(err);
    }
    void promise.then(
      (outcome) => this.settle(run, outcome === "ok" ? "ok" : "failed"),
      (err: unknown) => {
        if (!run.abandoned && !run.job.removed && this.state === "started") {
          this.log.error({ err, deviceId: def.id }, "poll threw instead of returning an outcome; counted as failed");
        }
        this.settle(run, "failed");
      },
    );
  }

  private releaseSlot(run: Run): void {
    if (!run.holdsSlot) return;
    run.holdsSlot = false;
    this.active--;
    run.release();
  }

  /** The run ignored its deadline: free its slot and count a failure, but poll the job again only once it settles. */
  private abandon(run: Run): void {
    run.abandoned = true;
    this.releaseSlot(run);
    const job = run.job;
    if (!job.removed && this.state === "started") {
      this.log.warn(
        { deviceId: job.def.id, timeoutMs: job.def.timeoutMs, graceMs: this.deadlineGraceMs },
        "poll ignored its deadline; counted as failed, and this device is not polled again until that poll returns",
      );
      job.failures++;
      this.scheduleNext(job);
    }
    this.pump();
  }

  private settle(run: Run, outcome: PollOutcome): void {
    clearTimeout(run.deadlineTimer);
    clearTimeout(run.abandonTimer);
    const job = run.job;
    if (this.runs.get(job.def.id) === run) this.runs.delete(job.def.id);
    this.releaseSlot(run);
    if (run.abandoned) {
      this.log.debug({ deviceId: job.def.id, outcome }, "poll past its deadline returned at last; result ignored");
    } else if (!job.removed && this.state === "started") {
      job.failures = outcome === "ok" ? 0 : job.failures + 1;
      this.scheduleNext(job);
    }
    // A job (this one, or a re-added one with the same id) that became due meanwhile runs now.
    const current = this.jobs.get(job.def.id);
    if (current?.waitingForSettle && this.state === "started") {
      current.waitingForSettle = false;
      this.enqueue(current);
    }
    this.pump();
  }
}

function validateJob(def: PollJob): void {
  for (const key of ["intervalMs", "timeoutMs", "maxBackoffMs"] as const) {
    if (!(def[key] > 0)) throw new RangeError(`job ${def.id}: ${key} must be positive, got ${def[key]}`);
  }
  if (!(def.jitterRatio >= 0 && def.jitterRatio < 1)) throw new RangeError(`job ${def.id}: jitterRatio must be in [0, 1)`);
  if (!(def.backoffAfterFailures >= 1)) throw new RangeError(`job ${def.id}: backoffAfterFailures must be at least 1`);
}

/** Whether `promise` settled within `ms`. */
async function boundedWait(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const settled = promise.then(
    () => true as const,
    () => true as const,
  );
  try {
    return await Promise.race([settled, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** node-cron prints to the console unless given a logger (PRODUCT.md); route its messages to pino. */
function cronLogger(log: Logger): CronLogger {
  return {
    info: (message) => log.info(message),
    warn: (message) => log.warn(message),
    error: (message, err) =>
      message instanceof Error ? log.error({ err: message }, "node-cron error") : log.error({ err }, `node-cron: ${message}`),
    debug: (message, err) =>
      message instanceof Error ? log.debug({ err: message }, "node-cron") : log.debug({ err }, `node-cron: ${message}`),
  };
}
