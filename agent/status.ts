/**
 * The status model: turns poll outcomes into a device status, and says when
 * that status changed. Pure logic with an injected clock; it publishes
 * nothing (agent/messages.ts turns changes into payloads).
 *
 * A change is a new state OR a new reason: consumers alert on both
 * (degraded "slow" → degraded "http_status" is news); a rising failure count
 * with the same state and reason is not, so a dead device does not produce an
 * event on every poll.
 */
import { DriverError, type Reading, type ReasonCode } from "../drivers/contract.js";
import type { Clock } from "./clock.js";

export type DeviceState = "online" | "degraded" | "offline";

export interface DeviceStatus {
  readonly state: DeviceState;
  /** Reason code ("ok" when online and healthy); see KNOWN_REASONS in drivers/contract.ts. */
  readonly reason: ReasonCode;
  /** One line for a technician: what went wrong, in the device's or the driver's words. */
  readonly reasonText: string;
  /** Wall ms of the last state change. */
  readonly since: number;
  readonly consecutiveFailures: number;
  /** Wall ms of the last successful poll. */
  readonly lastSeen: number | null;
  /** Wall ms of the last poll, successful or not. */
  readonly lastPollAt: number;
  /** Response time of the last poll; null when it failed. */
  readonly responseTimeMs: number | null;
}

export interface StatusChange {
  deviceId: string;
  from: DeviceStatus | null;
  to: DeviceStatus;
}

export interface StatusUpdate {
  status: DeviceStatus;
  change: StatusChange | null;
}

/** Error texts end up in MQTT payloads and on an 80-column terminal: keep them to a line or two. */
const MAX_DETAIL_CHARS = 300;

export class StatusModel {
  private readonly clock: Clock;
  private readonly statuses = new Map<string, DeviceStatus>();

  constructor(deps: { clock: Clock }) {
    this.clock = deps.clock;
  }

  /**
   * Record a successful poll: the device answered. `_offlineAfterFailures` keeps the signature symmetric
   * with onFailure; an answer resets the failure count whatever the threshold.
   */
  onReading(deviceId: string, reading: Reading, _offlineAfterFailures: number): StatusUpdate {
    const now = this.clock.now();
    let state: DeviceState = "online";
    let reason: ReasonCode = "ok";
    let reasonText = reading.reasonText ?? "answering normally";
    if (reading.health === "degraded") {
      state = "degraded";
      if (reading.reason === undefined) {
        // The contract requires a reason with "degraded"; its absence is a driver bug, so say so.
        reason = "internal";
        reasonText = `driver reported degraded health without a reason${reading.reasonText ? `: ${reading.reasonText}` : ""}`;
      } else {
        reason = reading.reason;
        reasonText = reading.reasonText ?? `device answered but is degraded (${reading.reason})`;
      }
    }
    return this.update(deviceId, now, {
      state,
      reason,
      reasonText: clip(reasonText),
      consecutiveFailures: 0,
      lastSeen: now,
      responseTimeMs: reading.responseTimeMs,
    });
  }

  /** Record a failed poll: a DriverError, or any error (reason "internal" unless it is plainly a timeout). */
  onFailure(deviceId: string, error: unknown, offlineAfterFailures: number): StatusUpdate {
    const now = this.clock.now();
    const prev = this.statuses.get(deviceId);
    const failures = (prev?.consecutiveFailures ?? 0) + 1;
    const threshold = Math.max(1, offlineAfterFailures);
    const { reason, detail } = describeError(error);
    const offline = failures >= threshold;
    const count = offline
      ? `${failures} consecutive ${failures === 1 ? "failure" : "failures"}`
      : `${failures} of ${threshold} failures before offline`;
    return this.update(deviceId, now, {
      state: offline ? "offline" : "degraded",
      reason,
      reasonText: `${reason}: ${detail} (${count})`,
      consecutiveFailures: failures,
      lastSeen: prev?.lastSeen ?? null,
      responseTimeMs: null,
    });
  }

  get(deviceId: string): DeviceStatus | undefined {
    return this.statuses.get(deviceId);
  }

  /** A copy: the caller may keep or change it without affecting the model. */
  all(): Map<string, DeviceStatus> {
    return new Map(this.statuses);
  }

  forget(deviceId: string): void {
    this.statuses.delete(deviceId);
  }

  /** Restore last known statuses (e.g. after a restart) so a change is only reported when it really changed. */
  restore(statuses: Record<string, DeviceStatus>): void {
    for (const [deviceId, status] of Object.entries(statuses)) this.statuses.set(deviceId, { ...status });
  }

  private update(deviceId: string, now: number, next: Omit<DeviceStatus, "since" | "lastPollAt">): StatusUpdate {
    const prev = this.statuses.get(deviceId);
    const stateChanged = prev === undefined || prev.state !== next.state;
    const status: DeviceStatus = { ...next, since: stateChanged ? now : prev.since, lastPollAt: now };
    this.statuses.set(deviceId, status);
    const changed = stateChanged || prev.reason !== next.reason;
    return { status, change: changed ? { deviceId, from: prev ?? null, to: status } : null };
  }
}

/** A reason code and a technician-readable detail for anything a poll may throw. */
function describeError(error: unknown): { reason: ReasonCode; detail: string } {
  if (error instanceof DriverError) {
    // Wrapped Go-style, outer first: "could not connect: connect ECONNREFUSED 10.0.0.5:502".
    const cause = messageOf(error.cause, false);
    const detail = cause && !error.message.includes(cause) ? `${error.message}: ${cause}` : error.message;
    return { reason: error.code, detail: clip(detail || "no detail given") };
  }
  // AbortSignal.timeout() and signal.throwIfAborted() after a deadline throw a DOMException named TimeoutError:
  // unmistakably a timeout, even from a driver that forgot to wrap it in a DriverError.
  if (error instanceof Error && error.name === "TimeoutError") {
    return { reason: "timeout", detail: clip(error.message || "deadline reached") };
  }
  const message = messageOf(error, true);
  return { reason: "internal", detail: clip(`agent error, not a device answer: ${message || "unknown error"}`) };
}

/**
 * The message of an Error, or of the plain objects some libraries throw
 * (modbus-serial's timeouts are `{ name, message, errno }`, not Errors),
 * with its error code (and name, for agent errors) when the message lacks them.
 */
function messageOf(value: unknown, withName: boolean): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  if (typeof value === "object") {
    const o = value as { name?: unknown; message?: unknown; code?: unknown; errno?: unknown };
    const message = typeof o.message === "string" ? o.message : "";
    // String codes only: Node's are "ECONNREFUSED", modbus-serial's errno "ETIMEDOUT"; numeric ones (DOMException.code) say nothing.
    const code = [o.code, o.errno].find((v): v is string => typeof v === "string") ?? "";
    const name = withName && typeof o.name === "string" && o.name !== "Error" ? o.name : "";
    const prefix = [name, code].filter((s) => s && !message.includes(s)).join(" ");
    if (message || prefix) return prefix && message ? `${prefix}: ${message}` : prefix || message;
    try {
      return JSON.stringify(value);
    } catch {
      return Object.prototype.toString.call(value);
    }
  }
  return String(value);
}

function clip(text: string): string {
  const oneLine = text.replace(/\s+/g, " ").trim();
  return oneLine.length <= MAX_DETAIL_CHARS ? oneLine : `${oneLine.slice(0, MAX_DETAIL_CHARS - 1)}…`;
}
