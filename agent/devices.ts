/**
 * Keeps the configured devices polled: one scheduler job per device, one
 * driver instance per kind. A poll's outcome goes through the status model,
 * and becomes telemetry, plus a status change when there is one.
 */
import type { Logger } from "pino";
import type { Config, DeviceConfig } from "../config/schema.js";
import { effectivePoll } from "../config/schema.js";
import { type DeviceRef, type Driver, type DriverFactory, raceAbort } from "../drivers/contract.js";
import type { Clock } from "./clock.js";
import type { DeviceInfo, Messages } from "./messages.js";
import type { PollJob, Scheduler } from "./scheduler.js";
import type { StatusModel } from "./status.js";

export interface DeviceCounts {
  total: number;
  online: number;
  degraded: number;
  offline: number;
  unknown: number;
}

export interface ApplyResult {
  added: string[];
  removed: string[];
  changed: string[];
}

export class DeviceManager {
  private readonly factories: Map<string, DriverFactory>;
  private readonly drivers = new Map<string, Driver<unknown>>();
  private devices = new Map<string, DeviceConfig>();

  constructor(
    private readonly deps: {
      drivers: readonly DriverFactory[];
      scheduler: Scheduler;
      status: StatusModel;
      messages: Messages;
      log: Logger;
      clock: Clock;
    },
  ) {
    this.factories = new Map(deps.drivers.map((d) => [d.kind, d]));
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
      }
      this.deps.scheduler.upsert(this.job(device, config));
    }
    this.devices = next;
    return result;
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

  async close(): Promise<void> {
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
      driver = factory.create({ log: this.deps.log.child({ driver: kind }), clock: this.deps.clock }) as Driver<unknown>;
      this.drivers.set(kind, driver);
    }
    return driver;
  }

  private job(device: DeviceConfig, config: Config): PollJob {
    const poll = effectivePoll(device, config.polling);
    const info = deviceInfo(device);
    const driver = this.driverFor(device.kind);
    const log = this.deps.log.child({ device: device.id });
    const ref: DeviceRef<unknown> = {
      id: device.id,
      ...(device.name !== undefined ? { name: device.name } : {}),
      timeoutMs: poll.timeout_ms,
      options: device.options,
    };
    const { status, messages } = this.deps;
    return {
      id: device.id,
      intervalMs: poll.interval_ms,
      timeoutMs: poll.timeout_ms,
      jitterRatio: poll.jitter_ratio,
      backoffAfterFailures: poll.offline_after_failures,
      maxBackoffMs: poll.max_backoff_ms,
      run: async (signal) => {
        try {
          const reading = await raceAbort(driver.poll(ref, { signal, log }), signal);
          if (cancelled(signal)) return "failed";
          const r = status.onReading(device.id, reading, poll.offline_after_failures);
          messages.telemetry(info, r.status, reading);
          if (r.change) messages.statusChange(info, r.change);
          return "ok";
        } catch (err) {
          if (cancelled(signal)) return "failed";
          const r = status.onFailure(device.id, err, poll.offline_after_failures);
          messages.telemetry(info, r.status, null);
          if (r.change) {
            messages.statusChange(info, r.change);
            log.warn({ state: r.status.state, reason: r.status.reason }, r.status.reasonText);
          }
          return "failed";
        }
      },
    };
  }
}

/**
 * The scheduler aborts with "AbortError" when a device is removed or the agent
 * stops, and with "TimeoutError" at a deadline: only the latter says anything
 * about the device, so a cancelled poll must not touch its status.
 */
function cancelled(signal: AbortSignal): boolean {
  return signal.aborted && (signal.reason as { name?: string } | undefined)?.name === "AbortError";
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
