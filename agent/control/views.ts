/**
 * What the control methods `status` and `devices` answer: the running
 * agent's state as JSON for `campus-agent status` and `campus-agent devices`
 * (and for scripts, through their --json). Pure functions over what the
 * modules that own the state hand out (Publisher.state(), Outbox.stats(),
 * DeviceManager.list(), RecentLog); the agent only gathers them. Times are
 * ISO 8601 (UTC); `now` is the agent's clock, so ages can be computed
 * without trusting the caller's clock. Never a secret: the broker URL comes
 * redacted, log lines come redacted.
 */
import type { Identity } from "../../drivers/contract.js";
import type { DeviceCounts, DeviceSnapshot } from "../devices.js";
import type { RecentLogEntry } from "../log.js";
import type { PublisherState } from "../mqtt/publisher.js";
import type { MessageClass, OutboxStats } from "../outbox/types.js";
import { ControlError } from "./protocol.js";
import { roundMs } from "../../drivers/trace.js";

/** A device's status as listed: the status model's states, and `unknown` before its first poll. */
export const LISTED_STATES = ["online", "degraded", "offline", "unknown"] as const;
export type ListedState = (typeof LISTED_STATES)[number];

export interface StatusView {
  now: string;
  agent: { version: string; pid: number; started_at: string; uptime_s: number; config_file: string };
  campus: string;
  gateway: string;
  broker: {
    /** Redacted: never a password. */
    url: string;
    embedded: boolean;
    connected: boolean;
    connected_since: string | null;
    last_disconnect_at: string | null;
    /** The last PUBACK of a buffered message: the last successful publish. */
    last_ack_at: string | null;
    acked: number;
    in_flight: number;
    /** Streams held back after the broker refused one of their messages. */
    blocked_streams: string[];
    last_error: { code: string; message: string; at: string } | null;
  };
  outbox: {
    depth: Record<MessageClass, number>;
    total: number;
    bytes: number;
    oldest_created_at: string | null;
    oldest_age_s: number | null;
    /** Since the outbox was created (it persists them): only telemetry is ever dropped. */
    dropped: Record<MessageClass, number>;
    in_flight: number;
  };
  devices: DeviceCounts & {
    by_kind: Record<string, DeviceCounts>;
    /** Devices offline or degraded, worst first, then in config order. */
    attention: { id: string; kind: string; status: "offline" | "degraded"; reason: string; reason_text: string }[];
  };
  recent_errors: { total: number; capacity: number; entries: RecentLogEntry[] };
}

export interface StatusInput {
  now: number;
  agent: { version: string; pid: number; startedAt: number; configFile: string };
  campus: string;
  gateway: string;
  brokerUrl: string;
  embedded: boolean;
  publisher: PublisherState;
  outbox: OutboxStats;
  devices: readonly DeviceSnapshot[];
  recent: { total: number; capacity: number; entries: RecentLogEntry[] } | undefined;
}

export function statusView(i: StatusInput): StatusView {
  const p = i.publisher;
  const o = i.outbox;
  const byKind: Record<string, DeviceCounts> = {};
  const all = emptyCounts();
  for (const d of i.devices) {
    const state = d.status?.state ?? "unknown";
    const k = (byKind[d.info.kind] ??= emptyCounts());
    k.total++;
    k[state]++;
    all.total++;
    all[state]++;
  }
  const attention = i.devices
    .filter((d) => d.status !== undefined && d.status.state !== "online")
    .map((d) => ({
      id: d.info.id,
      kind: d.info.kind,
      status: d.status?.state as "offline" | "degraded",
      reason: d.status?.reason ?? "",
      reason_text: d.status?.reasonText ?? "",
    }))
    .sort((a, b) => (a.status === b.status ? 0 : a.status === "offline" ? -1 : 1));
  return {
    now: iso(i.now),
    agent: {
      version: i.agent.version,
      pid: i.agent.pid,
      started_at: iso(i.agent.startedAt),
      uptime_s: Math.max(0, Math.round((i.now - i.agent.startedAt) / 1000)),
      config_file: i.agent.configFile,
    },
    campus: i.campus,
    gateway: i.gateway,
    broker: {
      url: i.brokerUrl,
      embedded: i.embedded,
      connected: p.connected,
      connected_since: isoOrNull(p.connected ? p.connectedSince : null),
      last_disconnect_at: isoOrNull(p.lastDisconnectAt),
      last_ack_at: isoOrNull(p.lastAckAt),
      acked: p.acked,
      in_flight: p.inFlight,
      blocked_streams: [...p.blockedStreams],
      last_error: p.lastError === null ? null : { code: p.lastError.code, message: p.lastError.message, at: iso(p.lastError.at) },
    },
    outbox: {
      depth: { ...o.depth },
      total: o.depth.alarm + o.depth.event + o.depth.telemetry,
      bytes: o.bytes,
      oldest_created_at: isoOrNull(o.oldestCreatedAt),
      oldest_age_s: o.oldestCreatedAt === null ? null : Math.max(0, Math.round((i.now - o.oldestCreatedAt) / 100) / 10),
      dropped: { ...o.dropped },
      in_flight: o.inFlight,
    },
    devices: { ...all, by_kind: byKind, attention },
    recent_errors: i.recent ?? { total: 0, capacity: 0, entries: [] },
  };
}

export interface DeviceFilter {
  status?: ListedState;
  kind?: string;
  /** Matched without regard to case. */
  building?: string;
}

export interface DeviceRow {
  id: string;
  kind: string;
  name: string | null;
  category: string;
  location: { building?: string; floor?: string; room?: string };
  status: ListedState;
  /** Reason code (`ok` when online and healthy); null before the first poll. */
  reason: string | null;
  reason_text: string | null;
  /** Last change of state. */
  since: string | null;
  /** Last successful poll: the device answered. */
  last_seen: string | null;
  /** Last poll, successful or not. */
  last_poll: string | null;
  /** Of the last poll; null when it failed. */
  response_time_ms: number | null;
  consecutive_failures: number;
  firmware: string | null;
  identity: Identity | null;
}

export interface DevicesView {
  now: string;
  campus: string;
  gateway: string;
  /** Devices configured, before the filter. */
  total: number;
  filter: DeviceFilter;
  /** Every building of the configured devices, to say what a filter could have matched. */
  buildings: string[];
  devices: DeviceRow[];
}

/** The filter from a request's params; ControlError `bad_request` for a state or kind that cannot exist. */
export function parseDeviceFilter(params: Record<string, unknown>, kinds: readonly string[]): DeviceFilter {
  const filter: DeviceFilter = {};
  const { status, kind, building } = params;
  if (status !== undefined && status !== null) {
    if (typeof status !== "string" || !(LISTED_STATES as readonly string[]).includes(status)) {
      throw new ControlError("bad_request", `status must be one of ${LISTED_STATES.join(", ")}; got ${JSON.stringify(status)}`);
    }
    filter.status = status as ListedState;
  }
  if (kind !== undefined && kind !== null) {
    if (typeof kind !== "string" || !kinds.includes(kind)) {
      throw new ControlError("bad_request", `unknown device kind ${JSON.stringify(kind)}; this agent knows ${[...kinds].sort().join(", ")}`);
    }
    filter.kind = kind;
  }
  if (building !== undefined && building !== null) {
    if (typeof building !== "string" || building === "") throw new ControlError("bad_request", "building must be a non-empty string");
    filter.building = building;
  }
  return filter;
}

export function devicesView(i: { now: number; campus: string; gateway: string; devices: readonly DeviceSnapshot[]; filter: DeviceFilter }): DevicesView {
  const f = i.filter;
  const rows = i.devices.map(deviceRow).filter(
    (r) =>
      (f.status === undefined || r.status === f.status) &&
      (f.kind === undefined || r.kind === f.kind) &&
      (f.building === undefined || r.location.building?.toLowerCase() === f.building.toLowerCase()),
  );
  const buildings = [...new Set(i.devices.flatMap((d) => (d.info.location.building === undefined ? [] : [d.info.location.building])))].sort();
  return { now: iso(i.now), campus: i.campus, gateway: i.gateway, total: i.devices.length, filter: { ...f }, buildings, devices: rows };
}

function deviceRow(d: DeviceSnapshot): DeviceRow {
  const s = d.status;
  const location: DeviceRow["location"] = {};
  for (const key of ["building", "floor", "room"] as const) {
    const v = d.info.location[key];
    if (v !== undefined) location[key] = v;
  }
  return {
    id: d.info.id,
    kind: d.info.kind,
    name: d.info.name ?? null,
    category: d.info.category,
    location,
    status: s?.state ?? "unknown",
    reason: s?.reason ?? null,
    reason_text: s?.reasonText ?? null,
    since: isoOrNull(s?.since ?? null),
    last_seen: isoOrNull(s?.lastSeen ?? null),
    last_poll: isoOrNull(s?.lastPollAt ?? null),
    response_time_ms: s === undefined || s.responseTimeMs === null ? null : roundMs(s.responseTimeMs),
    consecutive_failures: s?.consecutiveFailures ?? 0,
    firmware: d.identity?.firmware ?? null,
    identity: d.identity === undefined ? null : { ...d.identity },
  };
}

function emptyCounts(): DeviceCounts {
  return { total: 0, online: 0, degraded: 0, offline: 0, unknown: 0 };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : iso(ms);
}
