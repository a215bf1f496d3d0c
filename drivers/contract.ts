/**
 * The driver contract: the only thing the agent core knows about a device kind.
 *
 * A driver declares its kind and an options schema (zod: the schema is the
 * validation, done without I/O when the config loads), polls one device under
 * an AbortSignal and returns a typed Reading, or throws a DriverError with a
 * reason code. Drivers get their logger and clock injected; they never import
 * the publisher or the outbox.
 */
import type { Logger } from "pino";
import type { z } from "zod";
import type { Clock } from "../agent/clock.js";

/**
 * Reason codes that explain a device's status. Open-ended (drivers may add
 * their own, lower_snake_case), but these are the ones the core and the docs
 * know. "ok" is the reason of a healthy online device.
 */
export const KNOWN_REASONS = [
  "ok",
  "timeout",
  "refused",
  "unreachable",
  "dns",
  "tls",
  "http_status",
  "slow",
  "auth",
  "protocol",
  "clock_skew",
  "config",
  "busy",
  "internal",
] as const;
export type KnownReason = (typeof KNOWN_REASONS)[number];
export type ReasonCode = KnownReason | (string & {});

/** A device error with a reason code, and whether retrying soon can help. */
export class DriverError extends Error {
  override readonly name = "DriverError";
  readonly code: ReasonCode;
  readonly retryable: boolean;
  constructor(code: ReasonCode, message: string, options?: { retryable?: boolean; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options?.retryable ?? true;
  }
}

/** A telemetry value. Units live in the metric name: `response_time_ms`, `battery_v`. */
export type MetricValue = number | string | boolean | null;

/** What a device is, for the asset register. Every field optional: drivers report what they learn. */
export interface Identity {
  manufacturer?: string;
  model?: string;
  serial?: string;
  firmware?: string;
  hardware_id?: string;
  mac?: string;
}

/** The result of a successful poll: the device answered. */
export interface Reading {
  /** "degraded": answered, but not as it should (slow, wrong HTTP status, clock off…). */
  health: "ok" | "degraded";
  /** Required when health is "degraded". */
  reason?: ReasonCode;
  reasonText?: string;
  /** Wall time the device took to answer the poll, in milliseconds. */
  responseTimeMs: number;
  /** Telemetry values, units in names. */
  metrics: Record<string, MetricValue>;
  /** Identity learned during this poll, if any. */
  identity?: Identity;
  /**
   * What happened at the device, found by this poll (a door opened, mains
   * lost), in order. Published at once as device events (QoS 1).
   */
  events?: DeviceEvent[];
  /** Alarms found by this poll (a panic input closed): published at once on the alarm topic, before anything else. */
  alarms?: DeviceAlarm[];
  /**
   * State the driver needs at the next poll to tell what changed (JSON-safe),
   * handed back as PollContext.memory. The agent stores it with `events` in
   * one durable step, across restarts: after a crash both are kept or
   * neither, so one change never gives two events nor none.
   */
  memory?: unknown;
}

/** Something that happened at a device, as a driver reports it. */
export interface DeviceEvent {
  /** lower_snake_case, documented in docs/mqtt.md (device-event). */
  type: string;
  /** When the poll that found it ran, ms since the epoch. */
  at: number;
  /** Plain-language summary. */
  text: string;
  /** Fields of the event's payload (JSON-safe), as the contract defines them for this type. */
  details: Record<string, unknown>;
}

/** Where something is, as in the config's `location`. */
export interface Location {
  building?: string;
  floor?: string;
  room?: string;
}

/**
 * A life-safety alarm (panic, duress, hold-up, medical, fire…), or the end of
 * one, as a driver reports it. Published on the device's alarm topic; other
 * findings (low battery, supervision loss, trouble) are DeviceEvents.
 */
export interface DeviceAlarm {
  /** Unique and stable (a UUID): a restore or cancel names the alarm it ends by it. */
  id: string;
  /** "alarm": respond to it; "restore": the condition ended; "cancel": a user called it off. */
  phase: "alarm" | "restore" | "cancel";
  /** lower_snake_case: panic, duress, holdup, medical, fire, emergency, intrusion, other. */
  type: string;
  /** A test (a technician's, or the panel's test report): consumers must not dispatch. */
  test: boolean;
  /** When the agent received or found it, ms since the epoch. */
  at: number;
  /** When the sender says it happened, if it says (ms since the epoch). */
  occurredAt?: number;
  text: string;
  /** Restore / cancel: the id of the alarm it ends, when known. */
  ends?: string;
  zone?: { id: string; name?: string; location?: Location };
  user?: string;
  /** Protocol details (JSON-safe): account, event code, qualifier, raw message, input… */
  source: Record<string, unknown>;
}

/**
 * What a driver that listens (rather than polls) reports as it happens. Like
 * a Reading's events, alarms and memory, stored in one durable step.
 */
export interface DriverReport {
  alarms?: DeviceAlarm[];
  events?: DeviceEvent[];
  memory?: unknown;
}

/** A device as a driver sees it: its id, deadline and its own validated options. */
export interface DeviceRef<O> {
  id: string;
  name?: string;
  /** Deadline of one poll; the signal aborts when it is reached. */
  timeoutMs: number;
  options: O;
}

export interface PollContext {
  signal: AbortSignal;
  log: Logger;
  /** The `memory` of this device's last reading that carried one (kept across restarts); undefined at first. */
  memory?: unknown;
  /**
   * Set by `campus-agent probe`, absent in scheduled polls: a driver reports
   * each step of a poll or identify (connect, authenticate, each call or
   * register read) here as it ends, failed steps too, with the raw answer.
   * Calling it must never change what the poll does or returns.
   */
  trace?: (step: TraceStep) => void;
}

/** One step of a traced poll, for a technician: what was done, how long it took, what came back. */
export interface TraceStep {
  /** What was done, in a few words: "tcp connect 10.0.0.5:502", "GetDeviceInformation", "read holding 0-9 (unit 1)". */
  step: string;
  /** How long the step took, in milliseconds. */
  ms: number;
  ok: boolean;
  /** The decoded outcome or the error, in a line: "door 1 closed, locked", "timeout after 2000 ms". */
  detail?: string;
  /**
   * The raw answer, as text: register words in hex ("0x0001 0x00ff"), the
   * SOAP body, the HTTP status line. The probe shortens long ones; a driver
   * need not.
   */
  raw?: string;
}

export interface DriverDeps {
  log: Logger;
  clock: Clock;
  /**
   * For drivers that listen (a DC-09 receiver): store what a device just
   * reported. Synchronous and durable: when it returns, the alarms and events
   * are committed (fsync) and queued for publishing ahead of everything else,
   * so the driver may then acknowledge them to their sender. Throws when
   * they could not be stored (unknown device, disk failure): the driver must
   * then not acknowledge, so the sender retries. Absent when a driver runs
   * on its own (tests, a one-off probe): a listening driver then answers
   * nothing it cannot store.
   */
  report?(deviceId: string, report: DriverReport): void;
  /** The memory last stored for a device (a Reading's or a report's), for listening drivers. */
  memoryOf?(deviceId: string): unknown;
}

/** Something found by discovery, not necessarily configured. */
export interface Discovered {
  kind: string;
  address: string;
  identity?: Identity;
  details?: Record<string, MetricValue>;
}

/** A running driver instance; may keep per-device state (connections, sessions). */
/** What `campus-agent test-alarm` asks of a panic receiver's driver. */
export interface TestAlarmRequest {
  /** Which input or zone to test, for kinds that have several (panic-contacts: an input name); default the kind's choice. */
  input?: string | undefined;
  /** Aborted at the deadline: give up and throw. */
  signal: AbortSignal;
}

/** One timed step of a test alarm, for the technician. */
export interface TestAlarmStep {
  step: string;
  ms: number;
  detail?: string;
}

export interface TestAlarmResult {
  /** The id of the test alarm stored for publishing: whoever asked waits for it at the broker. */
  alarmId: string;
  /** How it was raised, in a line: "DC-09 manual test (ADM-CID 601) over tcp 127.0.0.1:9000". */
  via: string;
  steps: TestAlarmStep[];
}

export interface Driver<O> {
  /** Poll one device. Resolve with a Reading, or throw a DriverError. Must honour ctx.signal. */
  poll(device: DeviceRef<O>, ctx: PollContext): Promise<Reading>;
  /** Read the device's identity; scheduled on the slower inventory cron. */
  identify?(device: DeviceRef<O>, ctx: PollContext): Promise<Identity>;
  /** Look for devices of this kind on the network. Never connects to what it finds unless asked. */
  discover?(ctx: PollContext, params: Record<string, unknown>): Promise<Discovered[]>;
  /**
   * The device was added, or its options changed: a driver that listens
   * (a DC-09 receiver) starts listening now, not at the device's first poll,
   * which the scheduler spreads over the first interval. Must not throw;
   * problems surface at the next poll.
   */
  watch?(device: DeviceRef<O>): void;
  /**
   * Panic receivers: raise a test alarm (`test: true`) through the same path
   * a real one takes, as far as the kind can (a DC-09 manual test sent to
   * the agent's own listener; a simulated input after a real read of the
   * module), stored with DriverDeps.report() before it resolves.
   */
  testAlarm?(device: DeviceRef<O>, request: TestAlarmRequest): Promise<TestAlarmResult>;
  /** Drop what is kept for a device (it was removed or its options changed). */
  forget?(deviceId: string): void;
  /** Release every resource; called on shutdown. */
  close?(): Promise<void>;
}

/** A device kind: its options schema and how to create a driver instance. Registered in drivers/registry.ts. */
export interface DriverFactory<S extends z.ZodType = z.ZodType> {
  kind: string;
  description: string;
  optionsSchema: S;
  /**
   * For kinds whose options take a Modbus register-map profile
   * (drivers/modbus/profile.ts): the key of that option. The config then
   * accepts there the name of a profile under `modbus_profiles` too, checks
   * every name, and hands the driver that profile itself in place of its name.
   */
  modbusProfileOption?: string;
  /**
   * Polling defaults of this kind, between a device's own `poll:` and the
   * config's `polling:` section (panic inputs are read every 200 ms, not
   * every 30 s). Interval and timeout go together so that they fit.
   */
  pollDefaults?: { interval_ms: number; timeout_ms: number };
  create(deps: DriverDeps): Driver<z.output<S>>;
}

/** Helper so a factory's option type flows from its schema. */
export function defineDriver<S extends z.ZodType>(factory: DriverFactory<S>): DriverFactory<S> {
  return factory;
}

/**
 * Reject when the signal aborts, whatever the wrapped promise does. Drivers
 * whose libraries ignore abort (see PRODUCT.md: onvif can hang forever) wrap
 * their calls with this so a deadline is always a deadline.
 */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

function abortError(signal: AbortSignal): DriverError {
  return new DriverError("timeout", "deadline reached before the device answered", { cause: signal.reason });
}
