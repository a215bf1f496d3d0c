/**
 * `campus-agent probe DEVICE`: poll one device now, step by step, and keep
 * nothing. Like `telegraf --test`: the driver's own poll() (and identify(),
 * when the kind has one) runs with PollContext.trace set, so each step comes
 * back with its time, the raw answer and what it means; the Reading is
 * returned as the driver made it and never reaches the status model, the
 * outbox or the broker. Events and alarms a probe finds are shown, not
 * published: the scheduled polls report them.
 *
 * The same runner serves the running agent (its driver instances, so a
 * serial bus stays serialised and sessions are reused, and the device's
 * stored memory) and the CLI on its own when the agent is stopped (a driver
 * instance of its own, without memory).
 */
import type { Logger } from "pino";
import {
  type DeviceAlarm,
  type DeviceEvent,
  type DeviceRef,
  type Driver,
  type Identity,
  type MetricValue,
  raceAbort,
  type Reading,
  type TraceStep,
} from "../drivers/contract.js";
import type { Clock } from "./clock.js";
import { isoTime } from "./mqtt/contract.js";
import { roundMs } from "../drivers/trace.js";

/** Longest raw answer kept per step (characters); the rest is cut and said so. */
export const MAX_RAW_CHARS = 4096;
/** Most steps kept per call; a driver looping over hundreds of reads is cut and said so. */
export const MAX_STEPS = 200;

/** One driver call (poll or identify) as a probe saw it. */
export interface ProbeCall {
  ok: boolean;
  /** Wall time of the whole call, in milliseconds. */
  ms: number;
  steps: TraceStep[];
  /** Steps the driver reported beyond MAX_STEPS (not kept). */
  steps_cut: number;
  /** Why the call failed: the driver's reason code and message. */
  error?: { code: string; message: string };
}

export interface ProbeReading {
  health: "ok" | "degraded";
  reason: string;
  reason_text?: string;
  response_time_ms: number;
  metrics: Record<string, MetricValue>;
  identity?: Identity;
  /** Found by this poll and not published. */
  events: DeviceEvent[];
  /** Found by this poll and not published. */
  alarms: DeviceAlarm[];
}

export interface ProbeResult {
  device: string;
  kind: string;
  /** "agent": through the running agent's driver; "standalone": a driver of the CLI's own (the agent was not asked). */
  via: "agent" | "standalone";
  started_at: string;
  timeout_ms: number;
  /** Whether the driver had the device's stored memory (what it saw last), so that found events are real changes. */
  with_memory: boolean;
  poll: ProbeCall & { reading?: ProbeReading };
  /** Present for kinds that read identity separately (the inventory cron). */
  identify?: ProbeCall & { identity?: Identity };
}

export interface ProbeInput {
  kind: string;
  driver: Driver<unknown>;
  ref: DeviceRef<unknown>;
  via: ProbeResult["via"];
  /** The device's stored driver memory; absent when unknown. */
  memory?: { value: unknown } | undefined;
  log: Logger;
  clock: Clock;
}

/** Poll (then identify) one device with tracing on; never throws for the device's faults. */
export async function probeDevice(i: ProbeInput): Promise<ProbeResult> {
  const startedAt = i.clock.now();
  const ctx = (trace: (s: TraceStep) => void, signal: AbortSignal) => ({
    signal,
    log: i.log,
    trace,
    ...(i.memory !== undefined ? { memory: i.memory.value } : {}),
  });
  const poll = await traced(i.ref.timeoutMs, (trace, signal) => i.driver.poll(i.ref, ctx(trace, signal)));
  const result: ProbeResult = {
    device: i.ref.id,
    kind: i.kind,
    via: i.via,
    started_at: isoTime(startedAt),
    timeout_ms: i.ref.timeoutMs,
    with_memory: i.memory !== undefined,
    poll: { ...poll.call, ...(poll.value !== undefined ? { reading: probeReading(poll.value) } : {}) },
  };
  const identify = i.driver.identify?.bind(i.driver);
  if (identify !== undefined) {
    const id = await traced(i.ref.timeoutMs, (trace, signal) => identify(i.ref, ctx(trace, signal)));
    result.identify = { ...id.call, ...(id.value !== undefined ? { identity: id.value } : {}) };
  }
  return result;
}

async function traced<T>(timeoutMs: number, run: (trace: (s: TraceStep) => void, signal: AbortSignal) => Promise<T>): Promise<{ call: ProbeCall; value?: T }> {
  const steps: TraceStep[] = [];
  let cut = 0;
  const trace = (s: TraceStep) => {
    if (steps.length >= MAX_STEPS) {
      cut += 1;
      return;
    }
    steps.push(shorten(s));
  };
  const signal = AbortSignal.timeout(timeoutMs);
  const t0 = performance.now();
  const ms = () => roundMs(performance.now() - t0);
  try {
    const value = await raceAbort(run(trace, signal), signal);
    return { call: { ok: true, ms: ms(), steps: [...steps], steps_cut: cut }, value };
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    const code = typeof e.code === "string" ? e.code : "internal";
    const message = typeof e.message === "string" ? e.message : String(err);
    // The steps array is copied: a driver that ignored the deadline may still trace into it.
    return { call: { ok: false, ms: ms(), steps: [...steps], steps_cut: cut, error: { code, message } } };
  }
}

function shorten(s: TraceStep): TraceStep {
  const step: TraceStep = { step: s.step, ms: roundMs(s.ms), ok: s.ok };
  if (s.detail !== undefined) step.detail = s.detail;
  if (s.raw !== undefined) {
    step.raw = s.raw.length > MAX_RAW_CHARS ? `${s.raw.slice(0, MAX_RAW_CHARS)}… (${s.raw.length - MAX_RAW_CHARS} more characters)` : s.raw;
  }
  return step;
}

function probeReading(r: Reading): ProbeReading {
  return {
    health: r.health,
    reason: r.reason ?? "ok",
    ...(r.reasonText !== undefined ? { reason_text: r.reasonText } : {}),
    response_time_ms: r.responseTimeMs,
    metrics: r.metrics,
    ...(r.identity !== undefined ? { identity: r.identity } : {}),
    events: r.events ?? [],
    alarms: r.alarms ?? [],
  };
}
