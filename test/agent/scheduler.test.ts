import pino from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Clock } from "../../agent/clock.js";
import { type PollJob, type PollOutcome, Scheduler } from "../../agent/scheduler.js";

type Line = { level: number; msg: string; [k: string]: unknown };
type Body = (signal: AbortSignal, n: number) => PollOutcome | Promise<PollOutcome>;

const started: Scheduler[] = [];

/** A scheduler on fake timers, its log lines, and a monotonic skew to simulate a stalled process. */
function setup(opts: { maxConcurrency?: number; random?: () => number } = {}) {
  const lines: Line[] = [];
  const log = pino({ level: "debug" }, { write: (s: string) => lines.push(JSON.parse(s) as Line) });
  const skew = { ms: 0 };
  const clock: Clock = { now: () => Date.now(), monotonic: () => performance.now() + skew.ms };
  const scheduler = new Scheduler({ clock, log, maxConcurrency: opts.maxConcurrency ?? 8, random: opts.random ?? (() => 0) });
  started.push(scheduler);
  const logged = (level: "debug" | "info" | "warn" | "error", text: string) =>
    lines.filter((l) => l.level === pino.levels.values[level] && l.msg.includes(text));
  return { scheduler, lines, logged, skew };
}

/** Values in turn, then `rest` forever. */
const sequence =
  (values: number[], rest = 0.5) =>
    () =>
      values.shift() ?? rest;

/** A job recording when each poll started (fake ms since the test began) and the signal it got. */
function probe(id: string, params: Partial<Omit<PollJob, "id" | "run">> = {}, body: Body = () => "ok") {
  const starts: number[] = [];
  const signals: AbortSignal[] = [];
  const job: PollJob = {
    id,
    intervalMs: 1000,
    timeoutMs: 500,
    jitterRatio: 0,
    backoffAfterFailures: 3,
    maxBackoffMs: 60_000,
    ...params,
    run: async (signal) => {
      starts.push(Math.round(performance.now() - origin));
      signals.push(signal);
      return body(signal, starts.length);
    },
  };
  return { job, starts, signals };
}

function deferred<T>() {
  let resolve: (v: T) => void = () => {};
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const reasonName = (signal: AbortSignal | undefined) => (signal?.reason as DOMException | undefined)?.name;
const errMessage = (line: Line | undefined) => (line?.err as { message?: string } | undefined)?.message;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms)); // simulated device latency, on fake timers
const slowly =
  (ms: number): Body =>
    async (): Promise<PollOutcome> => {
      await sleep(ms);
      return "ok";
    };
const onAbort = (signal: AbortSignal) => new Promise<PollOutcome>((r) => signal.addEventListener("abort", () => r("failed")));
const tick = (ms: number) => vi.advanceTimersByTimeAsync(ms);
let origin = 0;

beforeEach(() => {
  vi.useFakeTimers();
  origin = performance.now();
});

afterEach(async () => {
  const stopping = Promise.all(started.splice(0).map((s) => s.stop()));
  if (vi.isFakeTimers()) await vi.runAllTimersAsync();
  await stopping;
  vi.useRealTimers();
});

describe("Scheduler: timing", () => {
  it("spreads each job's first poll at random within [0, interval) so devices do not fire together", async () => {
    const { scheduler } = setup({ random: sequence([0.9, 0.1, 0.5, 0.3, 0.7]) });
    const probes = ["a", "b", "c", "d", "e"].map((id) => probe(id));
    for (const p of probes) scheduler.upsert(p.job);
    scheduler.start();
    await tick(999);
    expect(probes.map((p) => p.starts)).toEqual([[900], [100], [500], [300], [700]]);
  });

  it("with the default random source, first polls of 200 devices all fall inside the first interval, spread out", async () => {
    const lines: Line[] = [];
    const log = pino({ level: "silent" }, { write: (s: string) => lines.push(JSON.parse(s) as Line) });
    const scheduler = new Scheduler({ clock: { now: Date.now, monotonic: () => performance.now() }, log, maxConcurrency: 200 });
    started.push(scheduler);
    const probes = Array.from({ length: 200 }, (_, i) => probe(`d${i}`, { intervalMs: 10_000 }));
    for (const p of probes) scheduler.upsert(p.job);
    scheduler.start();
    await tick(9_999);
    const firsts = probes.map((p) => p.starts[0] ?? -1);
    expect(firsts.every((t) => t >= 0 && t < 10_000)).toBe(true);
    expect(new Set(firsts).size).toBeGreaterThan(150);
  });

  it("polls at a fixed rate, each interval jittered within ± jitterRatio × interval, whatever a poll takes", async () => {
    // First due at 0, then jitter draws 0 → -20%, 0.75 → +10%, 0.5 → 0, 0.25 → -10%.
    const { scheduler } = setup({ random: sequence([0, 0, 0.75, 0.5, 0.25]) });
    const p = probe("a", { jitterRatio: 0.2 }, slowly(300));
    scheduler.upsert(p.job);
    scheduler.start();
    await tick(3_800);
    expect(p.starts).toEqual([0, 800, 1_900, 2_900, 3_800]);
  });

  it("never runs two polls of one job at once, and after an overrun polls once then keeps its rate (no burst)", async () => {
    const { scheduler } = setup();
    let running = 0;
    let maxRunning = 0;
    const p = probe("a", { intervalMs: 1000, timeoutMs: 5000 }, async (): Promise<PollOutcome> => {
      maxRunning = Math.max(maxRunning, ++running);
      await sleep(3_500);
      running--;
      return "ok";
    });
    scheduler.upsert(p.job);
    scheduler.start();
    await tick(9_000);
    // Each poll overran three intervals; the next one comes one interval after it ended, not three at once.
    expect(p.starts).toEqual([0, 4_500, 9_000]);
    expect(maxRunning).toBe(1);
  });

  it("after the process stalled for many intervals, polls each job once, not once per missed interval", async () => {
    const { scheduler, skew } = setup();
    const p = probe("a");
    scheduler.upsert(p.job);
    scheduler.start();
    await tick(0);
    // The event loop was blocked for 10 s: the monotonic clock moved on, the timer fires late.
    skew.ms = 10_000;
    await tick(1_000);
    expect(p.starts).toEqual([0, 1_000]);
    await tick(999);
    expect(p.starts).toHaveLength(2);
    await tick(1);
    expect(p.starts).toEqual([0, 1_000, 2_000]);
  });

  it("neither stalls nor bursts when the wall clock jumps forward or back", async () => {
    const { scheduler } = setup();
    const p = probe("a");
    scheduler.upsert(p.job);
    scheduler.start();
    await tick(2_500);
    vi.setSystemTime(Date.now() + 86_400_000);
    expect(scheduler.snapshot("a")?.nextDueInMs).toBe(500);
    await tick(500);
    vi.setSystemTime(Date.now() - 2 * 86_400_000);
    await tick(2_000);
    expect(p.starts).toEqual([0, 1_000, 2_000, 3_000, 4_000, 5_000]);
  });

  it("backs off after backoffAfterFailures consecutive failures, doubling up to maxBackoffMs, and a success resets it", async () => {
    const { scheduler } = setup();
    let outcome: PollOutcome = "failed";
    const p = probe("a", { intervalMs: 1000, backoffAfterFailures: 3, maxBackoffMs: 5000 }, () => outcome);
    scheduler.upsert(p.job);
    scheduler.start();
    await tick(13_000);
    // Failures 1 and 2: one interval; after the 3rd: 2 s, then 4 s, then capped at 5 s.
    expect(p.starts).toEqual([0, 1_000, 2_000, 4_000, 8_000, 13_000]);
    expect(scheduler.snapshot("a")?.consecutiveFailures).toBe(6);
    outcome = "ok";
    await tick(5_000);
    expect(scheduler.snapshot("a")?.consecutiveFailures).toBe(0);
    await tick(1_000);
    expect(p.starts.slice(6)).toEqual([18_000, 19_000]);
  });

  it("never backs off below the interval, even when maxBackoffMs is shorter", async () => {
    const { scheduler } = setup();
    const p = probe("a", { intervalMs: 1000, backoffAfterFailures: 1, maxBackoffMs: 200 }, () => "failed");
    scheduler.upsert(p.job);
    scheduler.start();
    await tick(4_000);
    expect(p.starts).toEqual([0, 1_000, 2_000, 3_000, 4_000]);
  });

  it("reports when a job is next due, and nothing while it runs", async () => {
    const { scheduler } = setup({ random: sequence([0.25]) });
    const gate = deferred<PollOutcome>();
    scheduler.upsert(probe("a", { timeoutMs: 900 }, () => gate.promise).job);
    expect(scheduler.snapshot("a")).toEqual({ running: false, nextDueInMs: null, consecutiveFailures: 0 });
    scheduler.start();
    expect(scheduler.snapshot("a")?.nextDueInMs).toBe(250);
    await tick(250);
    expect(scheduler.snapshot("a")).toEqual({ running: true, nextDueInMs: null, consecutiveFailures: 0 });
    gate.resolve("ok");
    await tick(100);
    expect(scheduler.snapshot("a")).toEqual({ running: false, nextDueInMs: 900, consecutiveFailures: 0 });
    expect(scheduler.snapshot("nope")).toBeUndefined();
  });
});

describe("Scheduler: deadlines, failures and concurrency", () => {
  it("gives every poll a signal that aborts with a TimeoutError at timeoutMs", async () => {
    const { scheduler } = setup();
    const p = probe("a", { timeoutMs: 500 }, (signal) => onAbort(signal));
    scheduler.upsert(p.job);
    scheduler.start();
    await tick(499);
    expect(p.signals[0]?.aborted).toBe(false);
    await tick(1);
    expect(p.signals[0]?.aborted).toBe(true);
    expect(reasonName(p.signals[0])).toBe("TimeoutError");
    await tick(0);
    expect(scheduler.snapshot("a")?.consecutiveFailures).toBe(1);
  });

  it("frees the slot of a poll that ignores its deadline, counts it failed, and polls that job only once it returns", async () => {
    const { scheduler, logged } = setup({ maxConcurrency: 1 });
    const hung = deferred<PollOutcome>();
    const stuck = probe("stuck", { timeoutMs: 500 }, (_s, n) => (n === 1 ? hung.promise : "ok"));
    const other = probe("other", { timeoutMs: 500 });
    scheduler.upsert(stuck.job);
    scheduler.upsert(other.job);
    scheduler.start();
    await tick(1_499); // deadline 500 + default grace 1000
    expect(other.starts).toEqual([]);
    await tick(1);
    expect(other.starts).toEqual([1_500]);
    expect(scheduler.snapshot("stuck")).toMatchObject({ running: true, consecutiveFailures: 1 });
    await tick(10_000);
    expect(stuck.starts).toEqual([0]);
    expect(other.starts.length).toBeGreaterThan(5);
    expect(logged("warn", "ignored its deadline")).toHaveLength(1);
    expect(scheduler.pollNow("stuck")).toBe(false);

    hung.resolve("ok");
    await tick(0);
    expect(stuck.starts).toEqual([0, 11_500]); // once, though many intervals passed
    await tick(1_000);
    expect(stuck.starts).toEqual([0, 11_500, 12_500]);
  });

  it("runs at most maxConcurrency polls at once; the others wait and start in the order they fell due", async () => {
    // Added in order e..a, due in order a..e.
    const { scheduler } = setup({ maxConcurrency: 2, random: sequence([0.5, 0.4, 0.3, 0.2, 0.1]) });
    const order: string[] = [];
    let running = 0;
    let maxRunning = 0;
    for (const id of ["e", "d", "c", "b", "a"]) {
      scheduler.upsert(
        probe(id, { timeoutMs: 900 }, async (): Promise<PollOutcome> => {
          order.push(id);
          maxRunning = Math.max(maxRunning, ++running);
          await sleep(800);
          running--;
          return "ok";
        }).job,
      );
    }
    scheduler.start();
    await tick(2_500);
    expect(order.slice(0, 5)).toEqual(["a", "b", "c", "d", "e"]);
    expect(maxRunning).toBe(2);
  });

  it("treats run() throwing or rejecting as a failure, logs it, and keeps polling", async () => {
    const { scheduler, logged } = setup();
    let throws = 0;
    scheduler.upsert({
      ...probe("sync").job,
      run: () => {
        throws++;
        throw new Error("sync boom");
      },
    });
    const rejecting = probe("async", {}, () => Promise.reject(new Error("async boom")));
    scheduler.upsert(rejecting.job);
    scheduler.start();
    await tick(1_000);
    expect(throws).toBe(2);
    expect(rejecting.starts).toEqual([0, 1_000]);
    expect(scheduler.snapshot("sync")?.consecutiveFailures).toBe(2);
    expect(scheduler.snapshot("async")?.consecutiveFailures).toBe(2);
    const errors = logged("error", "poll threw");
    expect(errors.map((l) => l.deviceId).sort()).toEqual(["async", "async", "sync", "sync"]);
    expect(errMessage(errors[0])).toMatch(/boom/);
  });

  it("rejects job definitions that could not be scheduled", () => {
    const { scheduler } = setup();
    expect(() => scheduler.upsert(probe("a", { intervalMs: 0 }).job)).toThrow(RangeError);
    expect(() => scheduler.upsert(probe("a", { jitterRatio: 1 }).job)).toThrow(RangeError);
    expect(scheduler.has("a")).toBe(false);
  });
});

describe("Scheduler: changing jobs", () => {
  it("on remove() during a poll, aborts it, ignores its result, frees its slot and never polls it again", async () => {
    const { scheduler, lines } = setup({ maxConcurrency: 1 });
    const gate = deferred<PollOutcome>();
    const a = probe("a", { timeoutMs: 900 }, () => gate.promise);
    const b = probe("b", { timeoutMs: 900 });
    scheduler.upsert(a.job);
    scheduler.upsert(b.job);
    scheduler.start();
    await tick(100);
    scheduler.remove("a");
    expect(reasonName(a.signals[0])).toBe("AbortError");
    gate.resolve("ok");
    await tick(0);
    expect(b.starts).toEqual([100]);
    await tick(10_000);
    expect(a.starts).toEqual([0]);
    expect(scheduler.has("a")).toBe(false);
    expect(scheduler.snapshot("a")).toBeUndefined();
    expect(scheduler.ids()).toEqual(["b"]);
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  });

  it("does not poll a removed and re-added job while the removed one's poll is still running", async () => {
    const { scheduler } = setup();
    const hung = deferred<PollOutcome>();
    const old = probe("a", { timeoutMs: 500 }, () => hung.promise);
    scheduler.upsert(old.job);
    scheduler.start();
    await tick(100);
    scheduler.remove("a");
    const again = probe("a", { timeoutMs: 500 });
    scheduler.upsert(again.job);
    await tick(5_000);
    expect(again.starts).toEqual([]);
    hung.resolve("ok");
    await tick(0);
    expect(again.starts).toEqual([5_100]);
  });

  it("applies a new interval given by upsert() at once when the job is idle", async () => {
    const { scheduler } = setup();
    const slow = probe("a", { intervalMs: 10_000, timeoutMs: 500 });
    scheduler.upsert(slow.job);
    scheduler.start();
    await tick(100);
    scheduler.upsert({ ...slow.job, intervalMs: 1_000 });
    await tick(2_000);
    expect(slow.starts).toEqual([0, 100, 1_100, 2_100]);
  });

  it("lets a poll running during upsert() finish, then follows the new definition from the next poll", async () => {
    const { scheduler } = setup();
    const before = probe("a", { intervalMs: 1_000, timeoutMs: 500 }, slowly(300));
    const after = probe("a", { intervalMs: 3_000, timeoutMs: 500 });
    scheduler.upsert(before.job);
    scheduler.start();
    await tick(100);
    scheduler.upsert(after.job);
    await tick(5_900);
    expect(before.starts).toEqual([0]);
    expect(after.starts).toEqual([3_000, 6_000]);
  });

  it("keeps no stale timer when a job is replaced again and again", async () => {
    const { scheduler } = setup();
    const p = probe("a");
    scheduler.upsert(p.job);
    scheduler.start();
    for (let i = 0; i < 5; i++) scheduler.upsert({ ...p.job });
    for (let i = 0; i < 3; i++) scheduler.upsert({ ...p.job, intervalMs: 1_000 + i });
    scheduler.upsert({ ...p.job, intervalMs: 1_000 });
    await tick(9_000);
    expect(p.starts).toEqual([0, 1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 7_000, 8_000, 9_000]);
  });

  it("pollNow() polls at once when the job is idle, and refuses while it runs, for unknown ids and before start", async () => {
    const { scheduler } = setup();
    const gate = deferred<PollOutcome>();
    const p = probe("a", { intervalMs: 10_000 }, (_s, n) => (n === 2 ? gate.promise : "ok"));
    scheduler.upsert(p.job);
    expect(scheduler.pollNow("a")).toBe(false);
    scheduler.start();
    await tick(500);
    expect(scheduler.pollNow("a")).toBe(true);
    expect(p.starts).toEqual([0, 500]);
    expect(scheduler.pollNow("a")).toBe(false);
    expect(scheduler.pollNow("missing")).toBe(false);
    gate.resolve("ok");
    await tick(0);
    expect(scheduler.snapshot("a")?.nextDueInMs).toBe(10_000);
  });
});

describe("Scheduler: stop", () => {
  it("stops polling, aborts running polls, and resolves once they settle, waiting at most until an unruly poll's deadline and grace", async () => {
    const { scheduler } = setup();
    const polite = probe("polite", { timeoutMs: 2_000 }, (signal) => onAbort(signal));
    const unruly = probe("unruly", { timeoutMs: 2_000 }, () => new Promise<PollOutcome>(() => {}));
    scheduler.upsert(polite.job);
    scheduler.upsert(unruly.job);
    scheduler.start();
    await tick(100);
    let stopped = false;
    const stopping = scheduler.stop().then(() => {
      stopped = true;
    });
    expect(reasonName(polite.signals[0])).toBe("AbortError");
    expect(unruly.signals[0]?.aborted).toBe(true);
    await tick(2_899);
    expect(stopped).toBe(false);
    await tick(1);
    await stopping;
    expect(stopped).toBe(true);
    await tick(10_000);
    expect([polite.starts, unruly.starts]).toEqual([[0], [0]]);
    expect(scheduler.pollNow("polite")).toBe(false);
  });
});

describe("Scheduler: cron", () => {
  it("fires a six-field (seconds) expression, and not before start()", async () => {
    vi.setSystemTime(new Date("2025-01-06T08:00:00.500Z"));
    const { scheduler } = setup();
    let runs = 0;
    scheduler.cron("tick", "* * * * * *", async () => {
      runs++;
    });
    await tick(2_000);
    expect(runs).toBe(0);
    scheduler.start();
    await tick(3_000);
    expect(runs).toBe(3);
  });

  it("skips a run while the previous one is still going (noOverlap), and says so in the log, not on the console", async () => {
    vi.setSystemTime(new Date("2025-01-06T08:00:00.500Z"));
    const console_ = vi.spyOn(console, "warn");
    const { scheduler, logged } = setup();
    const gate = deferred<void>();
    let runs = 0;
    scheduler.cron("inventory", "* * * * * *", async () => {
      runs++;
      if (runs === 1) await gate.promise;
    });
    scheduler.start();
    await tick(3_000);
    expect(runs).toBe(1);
    expect(logged("warn", "overlap").every((l) => l.cron === "inventory")).toBe(true);
    expect(logged("warn", "overlap").length).toBeGreaterThan(0);
    gate.resolve();
    await tick(1_000);
    expect(runs).toBe(2);
    expect(console_).not.toHaveBeenCalled();
    console_.mockRestore();
  });

  it("catches a failing task and logs it once with its name and expression", async () => {
    vi.setSystemTime(new Date("2025-01-06T08:00:00.500Z"));
    const console_ = vi.spyOn(console, "error");
    const { scheduler, lines } = setup();
    scheduler.cron("inventory", "* * * * * *", async () => {
      throw new Error("identify failed");
    });
    scheduler.start();
    await tick(1_000);
    const errors = lines.filter((l) => l.level >= 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ cron: "inventory", expression: "* * * * * *", msg: "cron task failed" });
    expect(errMessage(errors[0])).toBe("identify failed");
    expect(console_).not.toHaveBeenCalled();
    console_.mockRestore();
  });

  it("stops a cron task through its handle, and aborts a running one on stop(), waiting for it", async () => {
    vi.setSystemTime(new Date("2025-01-06T08:00:00.500Z"));
    const { scheduler } = setup();
    let quick = 0;
    const handle = scheduler.cron("quick", "* * * * * *", async () => {
      quick++;
    });
    let signal: AbortSignal | undefined;
    let finished = false;
    scheduler.cron("long", "* * * * * *", async (s) => {
      signal = s;
      await new Promise((r) => s.addEventListener("abort", r));
      finished = true;
    });
    scheduler.start();
    await tick(1_000);
    handle.stop();
    await tick(2_000);
    expect(quick).toBe(1);
    await scheduler.stop();
    expect(signal?.aborted).toBe(true);
    expect(finished).toBe(true);
  });

  it("does not wait on a cron task that ignores its abort longer than stopGraceMs, and says so", async () => {
    vi.setSystemTime(new Date("2025-01-06T08:00:00.500Z"));
    const lines: Line[] = [];
    const log = pino({ level: "warn" }, { write: (s: string) => lines.push(JSON.parse(s) as Line) });
    const clock: Clock = { now: Date.now, monotonic: () => performance.now() };
    const scheduler = new Scheduler({ clock, log, maxConcurrency: 1, stopGraceMs: 2_000 });
    let entered = false;
    scheduler.cron("deaf", "* * * * * *", async () => {
      entered = true;
      await new Promise(() => {});
    });
    scheduler.start();
    await tick(1_000);
    expect(entered).toBe(true);
    let stopped = false;
    const stopping = scheduler.stop().then(() => {
      stopped = true;
    });
    await tick(1_999);
    expect(stopped).toBe(false);
    await tick(1);
    await stopping;
    expect(lines.map((l) => l.msg)).toContain("cron task still running after stop; not waiting for it");
  });

  it("fires on real time too (node-cron's own timers, no fakes)", async () => {
    vi.useRealTimers();
    const scheduler = new Scheduler({
      clock: { now: Date.now, monotonic: () => performance.now() },
      log: pino({ level: "silent" }),
      maxConcurrency: 1,
    });
    let runs = 0;
    scheduler.cron("real", "* * * * * *", async () => {
      runs++;
    });
    scheduler.start();
    try {
      await vi.waitFor(() => expect(runs).toBeGreaterThan(0), { timeout: 2_500, interval: 50 });
    } finally {
      await scheduler.stop();
    }
  });
});
