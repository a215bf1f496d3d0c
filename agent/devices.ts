/**
 * Keeps the configured devices polled: one scheduler job per device, one
 * driver instance per kind. A poll's outcome goes through the status model,
 * and becomes telemetry, plus a status change when there is one.
 *
 * Poll outcomes (and identity refreshes) are stored together with the others
 * that complete in the same event-loop turn: one outbox batch and one state
 * batch, two syncs, at the end of the turn. One sync per status change,
 * identity change and memory entry instead held the event loop for seconds
 * when hundreds of devices changed at once (the first polls after a start,
 * a switch going down), and with it every DC-09 panel waiting for its ACK.
 * A listening driver's report() is not batched: it is durable on return.
 */
import type { Logger } from "pino";
import type { Config, DeviceConfig } from "../config/schema.js";
import { effectivePoll } from "../config/schema.js";
import {
  type DeviceAlarm,
  type DeviceRef,
  type Driver,
  type DriverFactory,
  type DriverReport,
  type Identity,
  type Reading,
  raceAbort,
  type TestAlarmResult,
} from "../drivers/contract.js";
import type { Clock } from "./clock.js";
import { type DiscoveryReport, runDiscovery } from "./discovery.js";
import type { DeviceAsset } from "./assets/register.js";
import type { DeviceInfo, Messages } from "./messages.js";
import type { Outbox } from "./outbox/types.js";
import { probeDevice, type ProbeResult } from "./probe.js";
import type { PollJob, Scheduler } from "./scheduler.js";
import { identityChanges, mergeIdentity, type StateStore } from "./state.js";
import type { DeviceStatus, StatusModel } from "./status.js";

export interface DeviceCounts {
  total: number;
  online: number;
  degraded: number;
  offline: number;
  unknown: number;
}

/** A configured device and what the agent knows of it now (`campus-agent devices`). */
export interface DeviceSnapshot {
  info: DeviceInfo;
  /** Undefined until its first poll (or a status remembered from the last run). */
  status: DeviceStatus | undefined;
  /** As last read by its driver (poll or inventory), merged field by field. */
  identity: Identity | undefined;
}

export interface ApplyResult {
  added: string[];
  removed: string[];
  changed: string[];
}

/**
 * Told of what the asset register follows, inside the batch that stores it
 * (so what it publishes is stored with the results that caused it).
 */
export interface DeviceObserver {
  /** A poll result or an identity read was recorded for the device, or its config changed. */
  update(id: string): void;
  /** Alarms of the device were stored. */
  noteAlarms(info: DeviceInfo, alarms: readonly DeviceAlarm[]): void;
  /** Devices removed from the config. */
  forget(ids: readonly string[]): void;
}

/** What the agent keeps of a device for the asset register, from when it began watching it. */
interface Watched {
  /** Wall ms when the device was added (at start, or by a reload). */
  since: number;
  /** A poll result was recorded since. */
  polled: boolean;
  /** Its clock minus the gateway's at its last successful poll (metric clock_drift_ms); null when it reports none. */
  clockDriftMs: number | null;
  /** Wall ms of its last identity read. */
  identityReadAt: number | undefined;
}

/** Results stored per batch at most; more wait for the next turn, so that sockets are read in between. */
const RECORD_BATCH = 64;

/** Schedules an action for once the batch that holds it is stored. */
type AfterCommit = (action: () => void) => void;
const atOnce: AfterCommit = (action) => action();

export class DeviceManager {
  private readonly factories: Map<string, DriverFactory>;
  private readonly drivers = new Map<string, Driver<unknown>>();
  private devices = new Map<string, DeviceConfig>();
  private readonly identities = new Map<string, Identity>();
  /** What the asset register reads of each device besides its status and identity (DeviceAsset). */
  private readonly watch = new Map<string, Watched>();
  private observer: DeviceObserver | undefined;
  private readonly refs = new Map<string, DeviceRef<unknown>>();
  /** Each device's driver memory (Reading.memory), as last stored, and its JSON. */
  private readonly driverMemory = new Map<string, { value: unknown; json: string }>();
  /** Results waiting for the end of the turn, to be stored in one batch. */
  private readonly pending: { record: (after: AfterCommit) => void; done: () => void }[] = [];
  private drainScheduled = false;

  constructor(
    private readonly deps: {
      drivers: readonly DriverFactory[];
      scheduler: Scheduler;
      status: StatusModel;
      messages: Messages;
      state: StateStore;
      /** Where driver memory is read back from (it is written with its events, by Messages), and what batches the writes. */
      outbox: Pick<Outbox, "readMemory" | "batch">;
      log: Logger;
      clock: Clock;
    },
  ) {
    this.factories = new Map(deps.drivers.map((d) => [d.kind, d]));
  }

  /** The asset register, told of every change it follows. */
  observe(observer: DeviceObserver): void {
    this.observer = observer;
  }

  /** Bring the running set of devices in line with the config: add, remove, re-schedule what changed. */
  apply(config: Config): ApplyResult {
    const next = new Map(config.devices.map((d) => [d.id, d]));
    const result: ApplyResult = { added: [], removed: [], changed: [] };
    for (const [id, old] of this.devices) {
      if (!next.has(id)) {
        this.deps.scheduler.remove(id);
        this.driverFor(old.kind).forget?.(id);
        this.deps.status.forget(id);
        this.deps.state.forget(id);
        this.identities.delete(id);
        this.watch.delete(id);
        this.refs.delete(id);
        if (this.driverMemory.delete(id)) this.deps.messages.deviceOutput(deviceInfo(old), {}, { key: memoryKey(id), value: null });
        this.deps.messages.clearDeviceStatus(id);
        result.removed.push(id);
      }
    }
    for (const [id, device] of next) {
      const old = this.devices.get(id);
      if (old && JSON.stringify(old) === JSON.stringify(device)) {
        // Polling defaults may have changed even when the device did not.
        this.deps.scheduler.upsert(this.job(device, config));
        continue;
      }
      if (old) {
        this.driverFor(old.kind).forget?.(id);
        result.changed.push(id);
      } else {
        result.added.push(id);
        this.watched(id); // watching begins now
        this.remember(id);
      }
      this.deps.scheduler.upsert(this.job(device, config));
      const ref = this.refs.get(id);
      try {
        if (ref !== undefined) this.driverFor(device.kind).watch?.(ref);
      } catch (err) {
        this.deps.log.warn({ device: id, err }, "driver could not start watching the device; its polls will say why");
      }
    }
    this.devices = next;
    if (result.removed.length > 0) this.observer?.forget(result.removed);
    for (const id of [...result.added, ...result.changed]) this.observer?.update(id);
    return result;
  }

  /** AssetSource: every configured device and what the agent knows of it, in config order. */
  assets(): DeviceAsset[] {
    return [...this.devices.values()].map((d) => this.assetOf(d));
  }

  asset(id: string): DeviceAsset | undefined {
    const d = this.devices.get(id);
    return d && this.assetOf(d);
  }

  private assetOf(d: DeviceConfig): DeviceAsset {
    const w = this.watched(d.id);
    return {
      config: d,
      info: deviceInfo(d),
      status: this.deps.status.get(d.id),
      identity: this.identities.get(d.id),
      identityReadAt: w.identityReadAt,
      clockDriftMs: w.clockDriftMs,
      watchedSince: w.since,
      polled: w.polled,
    };
  }

  /** A configured device's record, made when it is added (apply()); removed with the device. */
  private watched(id: string): Watched {
    let w = this.watch.get(id);
    if (w === undefined) {
      w = { since: this.deps.clock.now(), polled: false, clockDriftMs: null, identityReadAt: undefined };
      this.watch.set(id, w);
    }
    return w;
  }

  info(id: string): DeviceInfo | undefined {
    const d = this.devices.get(id);
    return d && deviceInfo(d);
  }

  counts(): DeviceCounts {
    const c: DeviceCounts = { total: this.devices.size, online: 0, degraded: 0, offline: 0, unknown: 0 };
    for (const id of this.devices.keys()) {
      const s = this.deps.status.get(id);
      if (s) c[s.state]++;
      else c.unknown++;
    }
    return c;
  }

  /** Every configured device, in config order, with its status and identity. */
  list(): DeviceSnapshot[] {
    return [...this.devices.values()].map((d) => {
      const identity = this.identities.get(d.id);
      return { info: deviceInfo(d), status: this.deps.status.get(d.id), identity: identity && { ...identity } };
    });
  }

  /** The device kinds this agent has drivers for. */
  kinds(): string[] {
    return [...this.factories.keys()];
  }

  /**
   * Re-read every device's identity (the inventory cron), a few devices at a
   * time, each under its own deadline. Changes become identity_changed events.
   */
  async refreshIdentities(signal?: AbortSignal, concurrency = 4): Promise<void> {
    const queue = [...this.devices.values()].filter((d) => this.driverFor(d.kind).identify !== undefined);
    const worker = async () => {
      for (let d = queue.shift(); d !== undefined && !signal?.aborted; d = queue.shift()) {
        const ref = this.refs.get(d.id);
        const identify = this.driverFor(d.kind).identify;
        if (!ref || !identify) continue;
        const deadline = AbortSignal.timeout(ref.timeoutMs);
        const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
        try {
          const identity = await raceAbort(
            identify.call(this.driverFor(d.kind), ref, { signal: combined, log: this.deps.log.child({ device: d.id }) }),
            combined,
          );
          const info = deviceInfo(d);
          await this.recordSoon(() => {
            this.onIdentity(info, identity);
            this.observer?.update(info.id);
          });
        } catch (err) {
          this.deps.log.debug({ device: d.id, err }, "identity not read; the next inventory run tries again");
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  }

  identity(id: string): Identity | undefined {
    return this.identities.get(id);
  }

  private onIdentity(info: DeviceInfo, reported: Identity): void {
    this.watched(info.id).identityReadAt = this.deps.clock.now();
    const before = this.identities.get(info.id);
    const changed = identityChanges(before, reported);
    if (changed.length === 0) return;
    const after = mergeIdentity(before, reported);
    this.identities.set(info.id, after);
    this.deps.state.setIdentity(info.id, after);
    this.deps.messages.identityChange(info, before ?? null, after, changed);
    this.deps.log.info({ device: info.id, changed, from: before ?? null, to: after }, "device identity changed");
  }

  /** Restore what the last run knew of a device, so a restart reports only real changes. */
  private remember(id: string): void {
    const memory = this.deps.state.get(id);
    if (memory.status) this.deps.status.restore({ [id]: memory.status });
    if (memory.identity) this.identities.set(id, memory.identity);
    const json = this.deps.outbox.readMemory(memoryKey(id));
    if (json === undefined) return;
    try {
      this.driverMemory.set(id, { value: JSON.parse(json) as unknown, json });
    } catch (err) {
      // Unreadable memory costs the comparison with the last run, nothing else: the driver starts afresh.
      this.deps.log.warn({ device: id, err }, "driver memory unreadable; starting afresh");
    }
  }

  /**
   * Publish what the driver found (a poll's Reading, or a listening driver's
   * report) and keep its memory, in one durable step; nothing when there is
   * nothing new. Throws when it could not be stored. Inside a batch, the
   * driver's memory moves on through `after`, once the batch is stored.
   */
  private onDriverOutput(info: DeviceInfo, out: DriverReport, log: Logger, after: AfterCommit = atOnce): void {
    const alarms = out.alarms ?? [];
    const events = out.events ?? [];
    let memory: { key: string; value: string } | undefined;
    let json: string | undefined;
    if (out.memory !== undefined) {
      json = JSON.stringify(out.memory);
      if (json !== this.driverMemory.get(info.id)?.json) memory = { key: memoryKey(info.id), value: json };
    }
    if (alarms.length === 0 && events.length === 0 && memory === undefined) return;
    const before = this.driverMemory.get(info.id);
    this.deps.messages.deviceOutput(info, { alarms, events }, memory ?? { key: memoryKey(info.id), value: before?.json ?? null });
    if (alarms.length > 0) this.observer?.noteAlarms(info, alarms);
    after(() => {
      if (json !== undefined) this.driverMemory.set(info.id, { value: out.memory, json });
      for (const a of alarms) log.warn({ alarm: a.type, phase: a.phase, test: a.test, alarm_id: a.id, zone: a.zone?.id }, a.text);
      for (const e of events) log.info({ event: e.type, ...e.details }, e.text);
    });
  }

  /** Store `record`'s messages and state with the other results of this event-loop turn; resolves once they are stored (or failed to be). */
  private recordSoon(record: (after: AfterCommit) => void): Promise<void> {
    return new Promise((done) => {
      this.pending.push({ record, done });
      if (!this.drainScheduled) {
        this.drainScheduled = true;
        setImmediate(() => this.drain());
      }
    });
  }

  /**
   * One outbox batch inside one state batch: the state is written after the
   * events that announce it. When the batch cannot be stored, nothing of it
   * is, and no driver memory moves on: the next polls find the changes again.
   */
  private drain(): void {
    this.drainScheduled = false;
    const batch = this.pending.splice(0, RECORD_BATCH);
    if (this.pending.length > 0) {
      this.drainScheduled = true;
      setImmediate(() => this.drain());
    }
    if (batch.length === 0) return;
    const actions: (() => void)[] = [];
    const after: AfterCommit = (action) => actions.push(action);
    try {
      this.deps.state.batch(() =>
        this.deps.outbox.batch(() => {
          for (const { record } of batch) {
            try {
              record(after);
            } catch (err) {
              this.deps.log.error({ err }, "could not record a poll result");
            }
          }
        }),
      );
      for (const action of actions) action();
    } catch (err) {
      this.deps.log.error({ err, results: batch.length }, "could not store poll results; the next polls report their changes again");
    } finally {
      for (const { done } of batch) done();
    }
  }

  /** DriverDeps.report: a listening driver's report, for one of the configured devices of its kind. */
  private report(kind: string, deviceId: string, out: DriverReport): void {
    const d = this.devices.get(deviceId);
    if (d === undefined || d.kind !== kind) throw new Error(`report for ${deviceId}: no ${kind} device of that id is configured`);
    this.onDriverOutput(deviceInfo(d), out, this.deps.log.child({ device: deviceId }));
  }

  /**
   * `campus-agent test-alarm`: have a panic receiver's driver raise a test
   * alarm through its real path (stored in the outbox when this resolves).
   * Throws DeviceRequestError: unknown device, a kind without test alarms, or
   * the driver's failure (its DriverError as the cause).
   */
  async testAlarm(deviceId: string, input: string | undefined, timeoutMs: number): Promise<TestAlarmResult & { kind: string }> {
    const { d, ref } = this.configured(deviceId);
    const driver = this.driverFor(d.kind);
    if (driver.testAlarm === undefined) {
      const kinds = [...this.factories.keys()].filter((k) => this.driverFor(k).testAlarm !== undefined);
      throw new DeviceRequestError("unsupported", `device ${deviceId} is a ${d.kind}: test alarms are for panic receivers (kinds ${kinds.join(", ")})`);
    }
    const signal = AbortSignal.timeout(timeoutMs);
    const log = this.deps.log.child({ device: deviceId });
    try {
      const r = await raceAbort(driver.testAlarm(ref, { input, signal }), signal);
      log.info({ alarm_id: r.alarmId, via: r.via }, "test alarm raised (campus-agent test-alarm)");
      return { ...r, kind: d.kind };
    } catch (err) {
      const e = err as { code?: unknown; message?: unknown; retryable?: unknown };
      const config = e.code === "config" && e.retryable === false;
      log.warn({ err }, "test alarm failed");
      throw new DeviceRequestError(config ? "bad_request" : "failed", String(e.message ?? err), err);
    }
  }

  /**
   * `campus-agent probe`: poll one device now with tracing on, through its
   * kind's driver instance and with its stored memory, keeping nothing (see
   * agent/probe.ts), under the device's poll timeout or `timeoutMs`. Throws DeviceRequestError for an unknown device; the
   * device's own failures are in the result.
   */
  async probe(deviceId: string, timeoutMs?: number): Promise<ProbeResult> {
    const { d, ref } = this.configured(deviceId);
    const memory = this.driverMemory.get(deviceId);
    return probeDevice({
      kind: d.kind,
      driver: this.driverFor(d.kind),
      ref: timeoutMs === undefined ? ref : { ...ref, timeoutMs },
      via: "agent",
      memory: memory && { value: memory.value },
      log: this.deps.log.child({ device: deviceId, probe: true }),
      clock: this.deps.clock,
    });
  }

  /** `campus-agent discover`: what answers on the campus against `config`'s devices, through these drivers (agent/discovery.ts). */
  discover(config: Config, signal?: AbortSignal): Promise<DiscoveryReport> {
    const deps = {
      config,
      driverFor: (kind: string) => this.driverFor(kind),
      log: this.deps.log.child({ module: "discovery" }),
      clock: this.deps.clock,
      statusOf: (id: string) => {
        const s = this.deps.status.get(id);
        return s && { state: s.state, reason: s.reason };
      },
    };
    return signal === undefined ? runDiscovery(deps) : runDiscovery(deps, signal);
  }

  /** A configured device and its driver's view of it, for a request about it; DeviceRequestError when there is none. */
  private configured(deviceId: string): { d: DeviceConfig; ref: DeviceRef<unknown> } {
    const d = this.devices.get(deviceId);
    const ref = this.refs.get(deviceId);
    if (d === undefined || ref === undefined) {
      throw new DeviceRequestError("unknown_device", `no device ${JSON.stringify(deviceId)} is configured`);
    }
    return { d, ref };
  }

  async close(): Promise<void> {
    // Results still waiting for the end of the turn are stored before the outbox closes.
    while (this.pending.length > 0) this.drain();
    for (const [kind, driver] of this.drivers) {
      try {
        await driver.close?.();
      } catch (err) {
        this.deps.log.warn({ err, kind }, "driver did not close cleanly");
      }
    }
    this.drivers.clear();
  }

  private driverFor(kind: string): Driver<unknown> {
    let driver = this.drivers.get(kind);
    if (!driver) {
      const factory = this.factories.get(kind);
      // The config schema only admits registered kinds, so this is a programming error.
      if (!factory) throw new Error(`no driver registered for kind "${kind}"`);
      driver = factory.create({
        log: this.deps.log.child({ driver: kind }),
        clock: this.deps.clock,
        report: (deviceId, out) => this.report(kind, deviceId, out),
        memoryOf: (deviceId) => this.driverMemory.get(deviceId)?.value,
      }) as Driver<unknown>;
      this.drivers.set(kind, driver);
    }
    return driver;
  }

  private job(device: DeviceConfig, config: Config): PollJob {
    const poll = effectivePoll(device, config.polling, this.factories.get(device.kind)?.pollDefaults);
    const info = deviceInfo(device);
    const driver = this.driverFor(device.kind);
    const log = this.deps.log.child({ device: device.id });
    const ref = deviceRef(device, poll.timeout_ms);
    this.refs.set(device.id, ref);
    const { status, messages, state } = this.deps;
    return {
      id: device.id,
      intervalMs: poll.interval_ms,
      timeoutMs: poll.timeout_ms,
      jitterRatio: poll.jitter_ratio,
      backoffAfterFailures: poll.offline_after_failures,
      maxBackoffMs: poll.max_backoff_ms,
      run: async (signal) => {
        // Only the driver's answer decides the device's status; a failure of
        // ours afterwards (outbox, state) is logged, never blamed on the device.
        let reading: Reading | null = null;
        let failure: unknown = null;
        try {
          reading = await raceAbort(driver.poll(ref, { signal, log, memory: this.driverMemory.get(device.id)?.value }), signal);
        } catch (err) {
          failure = err;
        }
        if (cancelled(signal)) return "failed";
        await this.recordSoon((after) => {
          // Removed, or the agent stopping, while it waited for the end of the turn.
          if (cancelled(signal)) return;
          try {
            const r = reading
              ? status.onReading(device.id, reading, poll.offline_after_failures)
              : status.onFailure(device.id, failure, poll.offline_after_failures);
            messages.telemetry(info, r.status, reading);
            if (r.change) {
              messages.statusChange(info, r.change);
              state.setStatus(device.id, r.status);
              if (!reading) log.warn({ state: r.status.state, reason: r.status.reason }, r.status.reasonText);
            }
            if (reading?.identity) this.onIdentity(info, reading.identity);
            if (reading) this.onDriverOutput(info, reading, log, after);
            const w = this.watched(device.id);
            if (reading) w.clockDriftMs = typeof reading.metrics.clock_drift_ms === "number" ? reading.metrics.clock_drift_ms : null;
            w.polled = true;
            this.observer?.update(device.id);
          } catch (err) {
            log.error({ err }, "could not record a poll result");
          }
        });
        return reading ? "ok" : "failed";
      },
    };
  }
}

/** The outbox memory entry of a device's driver state. */
export function memoryKey(deviceId: string): string {
  return `driver/${deviceId}`;
}

/**
 * The scheduler aborts with "AbortError" when a device is removed or the agent
 * stops, and with "TimeoutError" at a deadline: only the latter says anything
 * about the device, so a cancelled poll must not touch its status.
 */
function cancelled(signal: AbortSignal): boolean {
  return signal.aborted && (signal.reason as { name?: string } | undefined)?.name === "AbortError";
}

/** A configured device as its driver sees it. */
export function deviceRef(device: DeviceConfig, timeoutMs: number): DeviceRef<unknown> {
  return { id: device.id, ...(device.name !== undefined ? { name: device.name } : {}), timeoutMs, options: device.options };
}

export function deviceInfo(d: DeviceConfig): DeviceInfo {
  return {
    id: d.id,
    kind: d.kind,
    ...(d.name !== undefined ? { name: d.name } : {}),
    category: d.category,
    location: d.location,
  };
}

/** Why a request about one device (test alarm, probe) could not be done: `failed` is the device's or the path's fault; the others the request's. */
export class DeviceRequestError extends Error {
  constructor(
    readonly code: "unknown_device" | "unsupported" | "bad_request" | "failed",
    message: string,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "DeviceRequestError";
  }
}
