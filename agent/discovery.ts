/**
 * What is on the campus against what the config says: runs each kind's
 * discovery (drivers' discover(): ONVIF WS-Discovery; a unit-id scan of
 * every Modbus endpoint the config names) and matches what answered to the
 * configured devices. The result lists devices found and configured, found
 * and unknown to the config, and configured but not found (with why).
 *
 * Used by `campus-agent discover` through the running agent (its driver
 * instances: a serial line stays one queue) or on its own when the agent is
 * stopped. Publishes nothing itself.
 */
import type { Logger } from "pino";
import type { Config, DeviceConfig } from "../config/schema.js";
import { type Discovered, type Driver, type Identity, type MetricValue, raceAbort } from "../drivers/contract.js";
import { parseUnitList } from "../drivers/modbus/discover.js";
import { endpointOf, modbusEndpointShape } from "../drivers/modbus/options.js";
import { endpointKey } from "../drivers/modbus/transport.js";
import { expandTargets } from "../drivers/onvif/discovery.js";
import { endpoint as onvifEndpoint, type OnvifOptions } from "../drivers/onvif/options.js";
import type { Clock } from "./clock.js";
import { isoTime } from "./mqtt/contract.js";
import { z } from "zod";

/** Longest a whole discovery may take: ONVIF waits, identity reads, a serial line's 247 ids. */
export const DISCOVERY_DEADLINE_MS = 180_000;

export interface ScanOutcome {
  kind: "onvif" | "modbus";
  /** What was scanned: "WS-Discovery: multicast, unicast to 12 addresses on udp 3702", "tcp://10.0.0.5:502 units 1-247". */
  target: string;
  ok: boolean;
  ms: number;
  /** How many answered. */
  found: number;
  error?: { code: string; message: string };
}

export interface FoundDevice {
  kind: "onvif" | "modbus";
  address: string;
  identity?: Identity;
  details: Record<string, MetricValue>;
  /** The configured devices it is (several when a Modbus endpoint answers for every unit id); empty when unknown. */
  configured: string[];
}

export interface NotFoundDevice {
  id: string;
  kind: string;
  address: string;
  why: string;
  /** Its state as the running agent knows it (online by polling, but silent to discovery, is possible). */
  status?: { state: string; reason: string } | undefined;
}

export interface DiscoveryReport {
  started_at: string;
  ms: number;
  scans: ScanOutcome[];
  /** Everything that answered, configured or not. */
  found: FoundDevice[];
  /** Found, not in the config. */
  unknown: FoundDevice[];
  /** In the config, of a kind discovery covers, and did not answer it. */
  not_found: NotFoundDevice[];
}

export interface DiscoveryDeps {
  config: Config;
  /** The driver instance of a kind (the running agent's, or one of the CLI's own). */
  driverFor(kind: string): Driver<unknown>;
  log: Logger;
  clock: Clock;
  /** The running agent's view of a configured device's state. */
  statusOf?(id: string): { state: string; reason: string } | undefined;
}

const unitShape = z.object({ ...modbusEndpointShape, unit_id: z.int() });
type UnitFields = z.output<typeof unitShape>;

/** The Modbus endpoint and unit of a configured device, when its kind talks Modbus (door controllers, I/O modules). */
function modbusUnitOf(d: DeviceConfig): { key: string; fields: UnitFields; unit: number } | undefined {
  const r = unitShape.safeParse(d.options);
  if (!r.success) return undefined;
  return { key: endpointKey(endpointOf(r.data)), fields: r.data, unit: r.data.unit_id };
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

export async function runDiscovery(deps: DiscoveryDeps, signal: AbortSignal = AbortSignal.timeout(DISCOVERY_DEADLINE_MS)): Promise<DiscoveryReport> {
  const started = deps.clock.now();
  const t0 = performance.now();
  const cfg = deps.config.discovery;
  const devices = deps.config.devices;
  const ctx = { signal, log: deps.log };
  const scans: ScanOutcome[] = [];
  const found: FoundDevice[] = [];
  const notFound: NotFoundDevice[] = [];
  const statusOf = (id: string) => deps.statusOf?.(id);

  const jobs: Promise<void>[] = [];

  // ONVIF: the configured cameras' addresses are probed by unicast too, so a
  // camera is found even where multicast does not pass (most VLAN boundaries).
  const cameras = devices.filter((d) => d.kind === "onvif").map((d) => ({ d, host: onvifEndpoint(d.options as OnvifOptions).host }));
  const onvifDriver = deps.driverFor("onvif");
  if (cfg.onvif.enabled && onvifDriver.discover !== undefined) {
    const { enabled: _enabled, ...params } = cfg.onvif;
    const targets = [...params.targets, ...cameras.map((c) => c.host).filter((h) => IPV4.test(h))];
    const what = `WS-Discovery: ${params.multicast === "on" ? "multicast, and " : ""}unicast to ${describeTargets(targets)} on udp ${params.port}`;
    const discover = onvifDriver.discover.bind(onvifDriver);
    jobs.push(
      scan("onvif", what, () => discover(ctx, { ...params, targets: [...new Set(targets)] }), signal).then(({ outcome, results }) => {
        scans.push(outcome);
        for (const r of results) {
          const matches = cameras.filter((c) => c.host === r.address).map((c) => c.d.id);
          found.push(foundDevice("onvif", r, matches));
        }
        for (const c of cameras) {
          if (found.some((f) => f.configured.includes(c.d.id))) continue;
          const probed = params.multicast === "on" || IPV4.test(c.host);
          const why = !outcome.ok
            ? `discovery failed: ${outcome.error?.message ?? ""}`
            : probed
              ? `no answer to WS-Discovery${IPV4.test(c.host) ? ` at ${c.host}:${params.port}` : ""} (discovery may be turned off on the camera)`
              : `not probed: ${c.host} is a name, not an IPv4 address, and multicast is off`;
          notFound.push({ id: c.d.id, kind: c.d.kind, address: c.host, why, status: statusOf(c.d.id) });
        }
      }),
    );
  }

  // Modbus: every endpoint the config names, its unit ids, through the driver of a device on it.
  if (cfg.modbus.enabled) {
    const units = parseUnitList(cfg.modbus.units);
    const ids = units.ok ? units.units : [];
    const endpoints = new Map<string, { fields: UnitFields; kind: string; devices: { d: DeviceConfig; unit: number }[] }>();
    for (const d of devices) {
      const u = modbusUnitOf(d);
      if (u === undefined) continue;
      const e = endpoints.get(u.key) ?? { fields: u.fields, kind: d.kind, devices: [] };
      e.devices.push({ d, unit: u.unit });
      endpoints.set(u.key, e);
    }
    for (const [key, e] of endpoints) {
      const driver = deps.driverFor(e.kind);
      if (driver.discover === undefined) continue;
      const discover = driver.discover.bind(driver);
      const { unit_id: _unit, ...endpoint } = e.fields;
      const what = `${key} units ${cfg.modbus.units}`;
      jobs.push(
        scan("modbus", what, () => discover(ctx, { endpoint, units: ids, timeout_ms: cfg.modbus.timeout_ms }), signal).then(({ outcome, results }) => {
          scans.push(outcome);
          const answersAll = results.some((r) => r.details?.ignores_unit_id === true);
          for (const r of results) {
            const matches = answersAll ? e.devices.map((x) => x.d.id) : e.devices.filter((x) => x.unit === r.details?.unit).map((x) => x.d.id);
            found.push(foundDevice("modbus", r, matches));
          }
          for (const { d, unit } of e.devices) {
            if (found.some((f) => f.configured.includes(d.id))) continue;
            if (outcome.ok && !ids.includes(unit)) continue;
            const why = outcome.ok ? `unit ${unit} did not answer on ${key}` : `${key} could not be scanned: ${outcome.error?.message ?? ""}`;
            notFound.push({ id: d.id, kind: d.kind, address: `${key} unit ${unit}`, why, status: statusOf(d.id) });
          }
        }),
      );
    }
  }

  await Promise.all(jobs);
  const order = new Map(devices.map((d, i) => [d.id, i]));
  notFound.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
  found.sort((a, b) => a.kind.localeCompare(b.kind) || compareAddress(a.address, b.address));
  scans.sort((a, b) => a.kind.localeCompare(b.kind) || a.target.localeCompare(b.target));
  return {
    started_at: isoTime(started),
    ms: Math.round(performance.now() - t0),
    scans,
    found,
    unknown: found.filter((f) => f.configured.length === 0),
    not_found: notFound,
  };
}

async function scan(
  kind: ScanOutcome["kind"],
  target: string,
  run: () => Promise<Discovered[]>,
  signal: AbortSignal,
): Promise<{ outcome: ScanOutcome; results: Discovered[] }> {
  const t0 = performance.now();
  const ms = () => Math.round(performance.now() - t0);
  try {
    const results = await raceAbort(run(), signal);
    return { outcome: { kind, target, ok: true, ms: ms(), found: results.length }, results };
  } catch (e) {
    const err = e as { code?: unknown; message?: unknown };
    const error = { code: typeof err.code === "string" ? err.code : "internal", message: typeof err.message === "string" ? err.message : String(e) };
    return { outcome: { kind, target, ok: false, ms: ms(), found: 0, error }, results: [] };
  }
}

function foundDevice(kind: FoundDevice["kind"], r: Discovered, configured: string[]): FoundDevice {
  return { kind, address: r.address, ...(r.identity !== undefined ? { identity: r.identity } : {}), details: r.details ?? {}, configured };
}

function describeTargets(targets: readonly string[]): string {
  const expanded = expandTargets(targets);
  if (!expanded.ok) return targets.join(", ");
  const n = expanded.addresses.length;
  return n === 1 ? "1 address" : `${n} addresses`;
}

/** IPv4 addresses in numeric order, "unit 10" after "unit 9"; the rest as text. */
function compareAddress(a: string, b: string): number {
  return a.localeCompare(b, "en", { numeric: true });
}
