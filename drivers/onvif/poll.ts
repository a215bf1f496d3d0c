/**
 * One poll of one camera, from its session, turned into a Reading.
 *
 * Levels, each with its own outcome (README "Statuses and reasons"):
 * 1. no TCP, or no complete answer → DriverError (refused, unreachable, dns, timeout);
 * 2. HTTP answers, not ONVIF → DriverError protocol / http_status;
 * 3. GetSystemDateAndTime answers but our credentials are refused → degraded
 *    reading, reason auth (or clock_skew, see authProblem): the camera is
 *    alive and is an ONVIF camera; what is wrong is a password or a clock,
 *    and sending a technician to check its cable would be wrong;
 * 4. GetDeviceInformation answers → ok, unless video, snapshot or clock checks
 *    say otherwise (degraded, with the most serious reason first).
 * A camera that stops answering in the middle of a poll (rebooting) fails the
 * poll with the transport reason: it is not answering.
 */
import type { Clock } from "../../agent/clock.js";
import type { Identity, MetricValue, Reading, ReasonCode } from "../contract.js";
import type { Trace } from "../trace.js";
import { CallFailure } from "./errors.js";
import type { Credentials, OnvifOptions } from "./options.js";
import type { CameraSession } from "./session.js";
import { fetchSnapshot, snapshotStep, snapshotTarget } from "./snapshot.js";
import {
  type ClockReading,
  deviceInformation,
  locateMedia,
  profiles,
  readClock,
  rtMetric,
  type Step,
  snapshotUri,
  streamUri,
} from "./steps.js";
import { roundMs } from "../trace.js";

/** Milliseconds with 0.1 ms resolution: finer is noise on a Raspberry Pi. */

interface Problem {
  reason: ReasonCode;
  text: string;
  /** Higher is more serious; the reading's reason is the most serious problem's. */
  rank: number;
}

const RANK = { auth: 60, no_video: 50, snapshot: 40, protocol: 30, clock_skew: 20, clock_unknown: 10 } as const;

function failureOf(e: unknown, ...kinds: CallFailure["kind"][]): CallFailure | undefined {
  return e instanceof CallFailure && kinds.includes(e.kind) ? e : undefined;
}

/**
 * Why our credentials were refused. The driver signs with the camera's own
 * clock, so a wrong clock should not matter; but a camera that says its
 * timestamp check failed (wsu:MessageExpired), or whose clock is off by more
 * than a WS-Security window, gets clock_skew: fixing its time is the first
 * step either way, and the reading says both.
 */
export function authProblem(f: CallFailure, driftMs: number | null, o: OnvifOptions, creds: Credentials | undefined): Problem {
  if (!creds) return { reason: "auth", text: `${f.message}; no credentials are configured for this camera`, rank: RANK.auth };
  const off = driftMs !== null && Math.abs(driftMs) > o.wsse_window_ms;
  if (f.expired || off) {
    const by = driftMs === null ? "" : ` and its clock is ${describeDrift(driftMs)}`;
    return {
      reason: "clock_skew",
      text: `${f.message}${by}: cameras check WS-Security timestamps against their own clock; set its time (NTP), then check the credentials if this persists`,
      rank: RANK.auth,
    };
  }
  return { reason: "auth", text: f.message, rank: RANK.auth };
}

export function describeDrift(driftMs: number): string {
  const s = Math.abs(driftMs) / 1000;
  const amount = s >= 10 ? `${Math.round(s)} s` : `${s.toFixed(1)} s`;
  return `${amount} ${driftMs >= 0 ? "ahead of" : "behind"} the gateway`;
}

/**
 * GetDeviceInformation, signed with the camera's clock; when that is refused
 * and the clocks are far apart, once more signed with ours (see signWith).
 */
export async function authenticate(
  s: CameraSession,
  signal: AbortSignal,
  driftMs: number | null,
  o: OnvifOptions,
  trace?: Trace,
): Promise<Step<Identity>> {
  try {
    return await deviceInformation(s, signal, trace);
  } catch (e) {
    const refused = failureOf(e, "auth");
    if (!refused || driftMs === null || Math.abs(driftMs) <= o.wsse_window_ms || s.signWith === "gateway") throw e;
    s.useSigning("gateway");
    try {
      return await deviceInformation(s, signal, trace);
    } catch (again) {
      s.useSigning("camera");
      throw failureOf(again, "auth") ? refused : again;
    }
  }
}

export interface PollResult {
  reading: Reading;
  /** Every call succeeded: the session is fit to keep. */
  clean: boolean;
}

export async function pollCamera(
  s: CameraSession,
  o: OnvifOptions,
  creds: Credentials | undefined,
  signal: AbortSignal,
  clock: Clock,
  trace?: Trace,
): Promise<PollResult> {
  const started = clock.monotonic();
  const metrics: Record<string, MetricValue> = {};
  const problems: Problem[] = [];
  let clean = true;
  let identity: Identity | undefined;
  const timed = <T>(step: Step<T>): T => {
    metrics[rtMetric(step.op)] = roundMs(step.timing.ms);
    return step.value;
  };
  const reading = (): PollResult => {
    const responseTimeMs = roundMs(clock.monotonic() - started);
    const top = [...problems].sort((a, b) => b.rank - a.rank)[0];
    const base = { responseTimeMs, metrics, ...(identity ? { identity } : {}) };
    if (!top) return { clean, reading: { health: "ok", reason: "ok", reasonText: `answered in ${responseTimeMs} ms`, ...base } };
    const reasonText = [top, ...problems.filter((p) => p !== top)].map((p) => p.text).join("; ");
    return { clean, reading: { health: "degraded", reason: top.reason, reasonText, ...base } };
  };

  // Level 2: is it ONVIF? GetSystemDateAndTime needs no credentials.
  let time: ClockReading;
  try {
    time = timed(await readClock(s, signal, trace));
  } catch (e) {
    const refused = failureOf(e, "auth");
    if (!refused) throw e;
    metrics.clock_drift_ms = null;
    metrics.authenticated = false;
    problems.push(authProblem(refused, null, o, creds));
    return { ...reading(), clean: false };
  }
  s.noteDrift(time.driftMs);
  metrics.clock_drift_ms = time.driftMs;
  metrics.clock_source = time.source;
  metrics.clock_mode = time.clock?.mode ?? null;

  // Level 3: do our credentials work?
  try {
    identity = timed(await authenticate(s, signal, time.driftMs, o, trace));
    metrics.authenticated = true;
  } catch (e) {
    const f = failureOf(e, "auth", "answer", "not_onvif");
    if (!f) throw e;
    clean = false;
    metrics.authenticated = false;
    if (f.kind === "auth") {
      problems.push(authProblem(f, time.driftMs, o, creds));
      return reading();
    }
    problems.push({ reason: "protocol", text: f.message, rank: RANK.protocol });
  }

  // Video: profiles, a stream URI, and optionally a snapshot.
  try {
    if (!s.mediaReady) for (const step of await locateMedia(s, signal, trace)) timed(step);
    const p = timed(await profiles(s, signal, trace));
    metrics.profiles_count = p.count;
    if (p.count === 0) problems.push({ reason: "no_video", text: "the camera has no media profiles", rank: RANK.no_video });
    else if (p.videoToken === undefined) {
      problems.push({ reason: "no_video", text: "no media profile has both a video source and a video encoder", rank: RANK.no_video });
    } else {
      const uri = timed(await streamUri(s, signal, p.videoToken, trace));
      metrics.stream_uri_ok = uri !== "";
      if (uri === "") problems.push({ reason: "no_video", text: "GetStreamUri returned no URI", rank: RANK.no_video });
      if (o.snapshot.mode === "fetch") await checkSnapshot(s, signal, o, creds, p.videoToken, metrics, problems, timed, trace);
    }
  } catch (e) {
    const f = failureOf(e, "auth", "answer", "not_onvif");
    if (!f) throw e;
    clean = false;
    problems.push({ reason: f.kind === "auth" ? "auth" : "no_video", text: f.message, rank: RANK.no_video });
  }

  if (time.driftMs === null) {
    problems.push({ reason: "clock_unknown", text: `clock drift unknown: ${time.problem ?? "no usable time"}`, rank: RANK.clock_unknown });
  } else if (Math.abs(time.driftMs) > o.max_clock_drift_ms) {
    const text = `camera clock is ${describeDrift(time.driftMs)} (more than max_clock_drift_ms, ${o.max_clock_drift_ms} ms)`;
    problems.push({ reason: "clock_skew", text, rank: RANK.clock_skew });
  }
  return reading();
}

async function checkSnapshot(
  s: CameraSession,
  signal: AbortSignal,
  o: OnvifOptions,
  creds: Credentials | undefined,
  token: string,
  metrics: Record<string, MetricValue>,
  problems: Problem[],
  timed: <T>(step: Step<T>) => T,
  trace: Trace | undefined,
): Promise<void> {
  const uri = timed(await snapshotUri(s, signal, token, trace));
  const target = snapshotTarget(uri);
  if (typeof target === "string") {
    metrics.snapshot_ok = false;
    problems.push({ reason: "snapshot", text: uri === "" ? "GetSnapshotUri returned no URI" : target, rank: RANK.snapshot });
    return;
  }
  const out = await fetchSnapshot(s, signal, { host: s.cfg.endpoint.host, ...target }, creds, o.snapshot);
  trace?.(snapshotStep(target.path, out));
  // The poll's own deadline ends the poll; a slow or broken snapshot only degrades it.
  if (signal.aborted && !out.ok) throw out.failure;
  metrics.snapshot_ms = roundMs(out.timing.ms);
  metrics.snapshot_ok = out.ok;
  if (!out.ok) {
    problems.push({ reason: out.failure.code === "auth" ? "auth" : "snapshot", text: out.failure.message, rank: RANK.snapshot });
    return;
  }
  metrics.snapshot_bytes = out.value.bytes;
  metrics.snapshot_capped = out.value.capped;
  metrics.snapshot_content_type = out.value.contentType.slice(0, 60);
}
