/**
 * Turns what happened (a reading, a status change, a gateway event) into
 * contract payloads and appends them to the outbox. The one place that knows
 * both the MQTT contract and which outbox class each message belongs to.
 */
import type { DeviceAlarm, DeviceEvent, Identity, Reading } from "../drivers/contract.js";
import type { Clock } from "./clock.js";
import {
  type DeviceAlarmPayload,
  type DeviceEventPayload,
  type DeviceStatusPayload,
  type DeviceTelemetryPayload,
  type GatewayEventPayload,
  isoTime,
  type Topics,
} from "./mqtt/contract.js";
import type { DeviceCompliancePayload, DeviceInventoryPayload, UnknownAssetPayload } from "./mqtt/asset-contract.js";
import type { MessageClass, NewMessage, Outbox } from "./outbox/types.js";
import type { DeviceStatus, StatusChange } from "./status.js";

/** The stream name of the gateway's own messages; `$` cannot start a device id. */
export const GATEWAY_STREAM = "$gateway";

export interface DeviceInfo {
  id: string;
  kind: string;
  name?: string | undefined;
  category: "safety-critical" | "operational";
  location: { building?: string | undefined; floor?: string | undefined; room?: string | undefined };
}

export class Messages {
  constructor(private readonly deps: { outbox: Outbox; topics: Topics; clock: Clock }) {}

  private envelope<N extends string>(name: N) {
    return {
      schema: `campus-edge/${name}/v1` as const,
      campus: this.deps.topics.campus,
      gateway: this.deps.topics.gateway,
      ts: isoTime(this.deps.clock.now()),
    };
  }

  private device(d: DeviceInfo) {
    return {
      device: d.id,
      kind: d.kind,
      ...(d.name !== undefined ? { name: d.name } : {}),
      category: d.category,
      location: stripUndefined(d.location),
    };
  }

  telemetry(d: DeviceInfo, status: DeviceStatus, reading: Reading | null): void {
    const env = this.envelope("device-telemetry");
    this.emit(
      d.id,
      "telemetry",
      this.deps.topics.deviceTelemetry(d.id),
      false,
      (seq): DeviceTelemetryPayload => ({
        ...env,
        device: d.id,
        kind: d.kind,
        seq,
        state: status.state,
        reason: status.reason,
        response_time_ms: reading ? round(reading.responseTimeMs) : null,
        metrics: reading?.metrics ?? {},
      }),
    );
  }

  /** A change of status: the retained status and the status_changed event, both never dropped. */
  statusChange(d: DeviceInfo, change: StatusChange): void {
    const s = change.to;
    const statusEnv = this.envelope("device-status");
    this.emit(
      d.id,
      "event",
      this.deps.topics.deviceStatus(d.id),
      true,
      (seq): DeviceStatusPayload => ({
        ...statusEnv,
        ...this.device(d),
        seq,
        state: s.state,
        reason: s.reason,
        reason_text: s.reasonText,
        since: isoTime(s.since),
        consecutive_failures: s.consecutiveFailures,
        last_seen: s.lastSeen === null ? null : isoTime(s.lastSeen),
        response_time_ms: s.responseTimeMs === null ? null : round(s.responseTimeMs),
      }),
    );
    this.deps.outbox.enqueue(
      this.deviceEvent(d, {
        type: "status_changed",
        from: change.from ? { state: change.from.state, reason: change.from.reason } : null,
        to: { state: s.state, reason: s.reason, reason_text: s.reasonText },
      } satisfies DeviceEventFields),
    );
  }

  /** The device's identity changed (or became known): an asset-register event. */
  identityChange(d: DeviceInfo, from: Identity | null, to: Identity, changed: (keyof Identity)[]): void {
    const change = identityChangeKind(from, changed);
    this.deps.outbox.enqueue(this.deviceEvent(d, { type: "identity_changed", from, to, changed, change } satisfies DeviceEventFields));
  }

  /** The device's retained inventory (asset register). */
  inventory(d: DeviceInfo, fields: Omit<DeviceInventoryPayload, "schema" | "campus" | "gateway" | "ts" | "seq" | DeviceKeys>): void {
    const env = this.envelope("device-inventory");
    this.emit(d.id, "event", this.deps.topics.deviceInventory(d.id), true, (seq): DeviceInventoryPayload => ({ ...env, ...this.device(d), seq, ...fields }));
  }

  /** The device's retained compliance state. */
  compliance(d: DeviceInfo, fields: Omit<DeviceCompliancePayload, "schema" | "campus" | "gateway" | "ts" | "seq" | DeviceKeys>): void {
    const env = this.envelope("device-compliance");
    this.emit(d.id, "event", this.deps.topics.deviceCompliance(d.id), true, (seq): DeviceCompliancePayload => ({ ...env, ...this.device(d), seq, ...fields }));
  }

  /** A rule started or stopped failing. */
  complianceChange(d: DeviceInfo, fields: Omit<Extract<DeviceEventFields, { type: "compliance_changed" }>, "type">): void {
    this.deps.outbox.enqueue(this.deviceEvent(d, { type: "compliance_changed", ...fields } satisfies DeviceEventFields));
  }

  /** A retained asset found by discovery and not configured; `asset` null clears its topic (it is gone, or configured now). */
  unknownAsset(key: string, asset: Omit<UnknownAssetPayload, "schema" | "campus" | "gateway" | "ts"> | null): void {
    const env = this.envelope("unknown-asset");
    this.deps.outbox.enqueue({
      stream: GATEWAY_STREAM,
      klass: "event",
      topic: this.deps.topics.unknownAsset(key),
      retain: true,
      render: () => (asset === null ? "" : JSON.stringify({ ...env, ...asset } satisfies UnknownAssetPayload)),
    });
  }

  /**
   * Alarms and events a driver found, stored in one durable step with the
   * driver's memory (what it compares the next poll with): all or nothing,
   * so a crash neither repeats nor loses one. Alarms go in the alarm class
   * (published before anything else). `memory.value: null` forgets it.
   */
  deviceOutput(
    d: DeviceInfo,
    out: { alarms?: readonly DeviceAlarm[]; events?: readonly DeviceEvent[] },
    memory: { key: string; value: string | null },
  ): void {
    const alarms = (out.alarms ?? []).map((a): NewMessage => {
      const env = { ...this.envelope("device-alarm"), ts: isoTime(a.at) };
      return this.message(d.id, "alarm", this.deps.topics.deviceAlarm(d.id), false, (seq): DeviceAlarmPayload => ({
        ...env,
        ...this.device(d),
        seq,
        alarm_id: a.id,
        phase: a.phase,
        type: a.type,
        test: a.test,
        message: a.text,
        ends: a.ends ?? null,
        zone: a.zone === undefined ? null : { ...a.zone, location: stripUndefined({ ...a.zone.location }) },
        user: a.user ?? null,
        occurred_at: a.occurredAt === undefined ? null : isoTime(a.occurredAt),
        source: a.source,
      }));
    });
    // A driver's details come first: they cannot overwrite the envelope or the device's fields.
    const events = (out.events ?? []).map((e) => this.deviceEvent(d, { type: e.type, message: e.text }, { at: e.at, details: e.details }));
    this.deps.outbox.enqueueWithMemory([...alarms, ...events], memory);
  }

  /** Clear a removed device's retained topics: status, inventory, compliance (an empty retained payload deletes it, [MQTT-3.3.1-10]). */
  clearDeviceStatus(deviceId: string): void {
    const t = this.deps.topics;
    for (const topic of [t.deviceStatus(deviceId), t.deviceInventory(deviceId), t.deviceCompliance(deviceId)]) {
      this.deps.outbox.enqueue({ stream: deviceId, klass: "event", topic, retain: true, render: () => "" });
    }
  }

  gatewayEvent(type: GatewayEventPayload["type"], message: string, details: Record<string, unknown> = {}): void {
    const env = this.envelope("gateway-event");
    this.emit(
      GATEWAY_STREAM,
      "event",
      this.deps.topics.gatewayEvent(),
      false,
      (seq): GatewayEventPayload => ({ ...env, seq, type, message, details }),
    );
  }

  /**
   * A device-event message: `details` (a driver's, unchecked), then the
   * envelope (produced `at`, default now) and the device's fields, then the
   * event's own `fields`.
   */
  private deviceEvent(d: DeviceInfo, fields: Record<string, unknown>, opts: { at?: number; details?: Record<string, unknown> } = {}): NewMessage {
    const env = { ...this.envelope("device-event"), ...(opts.at !== undefined ? { ts: isoTime(opts.at) } : {}) };
    return this.message(d.id, "event", this.deps.topics.deviceEvent(d.id), false, (seq) => ({ ...opts.details, ...env, ...this.device(d), seq, ...fields }));
  }

  /** Append one message; the payload is built once its sequence number is known. */
  private emit(stream: string, klass: MessageClass, topic: string, retain: boolean, payload: (seq: number) => object): void {
    this.deps.outbox.enqueue(this.message(stream, klass, topic, retain, payload));
  }

  private message(stream: string, klass: MessageClass, topic: string, retain: boolean, payload: (seq: number) => object): NewMessage {
    return { stream, klass, topic, retain, render: (seq) => JSON.stringify(payload(seq)) };
  }
}

type DeviceKeys = "device" | "kind" | "name" | "category" | "location";

/** What kind of asset change an identity change is (the `change` of identity_changed). */
export function identityChangeKind(from: Identity | null, changed: readonly (keyof Identity)[]): "learned" | "replaced" | "firmware_updated" | "other" {
  if (from === null) return "learned";
  // A field learned for the first time (a serial read after a model) is not a swap.
  if (changed.some((f) => (f === "serial" || f === "model") && from[f] !== undefined)) return "replaced";
  if (changed.includes("firmware") && from.firmware !== undefined) return "firmware_updated";
  return "other";
}

/** What a device-event payload holds beyond the envelope, the device's fields and seq. */
type DeviceEventFields = OmitEach<DeviceEventPayload, "schema" | "campus" | "gateway" | "ts" | "device" | "kind" | "name" | "category" | "location" | "seq">;
/** Omit, applied to each member of a union (a discriminated union stays one). */
type OmitEach<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** The object without its undefined fields (JSON would drop them; a payload's schema must not see them). */
export function stripUndefined<T extends Record<string, unknown>>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}
