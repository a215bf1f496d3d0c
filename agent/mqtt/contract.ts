/**
 * The MQTT contract: topics and payloads the agent publishes. Central
 * consumers depend on it; it is a public API. These zod schemas are the
 * source of docs/schemas/*.json (scripts/gen-schemas.ts) and docs/mqtt.md
 * describes them. A payload's `schema` field names its schema and version:
 * a breaking change gets a new version, published alongside the old one for
 * a transition period, never silently.
 *
 * Topics (every one under campus/<campus>/ so a broker ACL can confine a gateway):
 *   campus/<c>/gateway/<g>/status      retained, QoS 1, live (birth, Last Will, shutdown)
 *   campus/<c>/gateway/<g>/heartbeat   QoS 1, live, every heartbeat.interval_s
 *   campus/<c>/gateway/<g>/event       QoS 1, buffered (outbox, class event)
 *   campus/<c>/device/<d>/status       retained, QoS 1, buffered (class event), on every change
 *   campus/<c>/device/<d>/event        QoS 1, buffered (class event): status, identity, door events
 *   campus/<c>/device/<d>/alarm        QoS 1, buffered (class alarm: committed at once, published first)
 *   campus/<c>/device/<d>/telemetry    QoS 1, buffered (class telemetry), every poll
 * and the asset register's topics (agent/mqtt/asset-contract.ts): a device's
 * inventory and compliance, unknown assets, the campus readiness.
 */
import { z } from "zod";
import { COMPLIANCE_RULES } from "../lifecycle/evaluate.js";
import { campusReadinessSchema, deviceComplianceSchema, deviceInventorySchema, unknownAssetSchema } from "./asset-contract.js";

import { byClass, deviceFields, envelope, id, identity, iso, location, metricValue, reason, seq, state } from "./contract-fields.js";

export { CONTRACT_VERSION, isoTime } from "./contract-fields.js";

export const gatewayStatusSchema = z.object({
  ...envelope("gateway-status"),
  state: z.enum(["online", "offline"]),
  reason: z
    .enum(["connected", "connection_lost", "shutdown"])
    .describe("connected: birth message; connection_lost: the broker's Last Will (gateway or uplink down); shutdown: clean stop"),
  agent_version: z.string(),
  started_at: iso.describe("When the agent process started: a recent value after an outage means the gateway restarted"),
});

export const heartbeatSchema = z.object({
  ...envelope("gateway-heartbeat"),
  uptime_s: z.number().nonnegative(),
  interval_s: z.int().positive().describe("Expect the next heartbeat within this; missing two means the gateway or its uplink is down"),
  connected_since: iso,
  outbox: z.object({
    depth: byClass.describe("Messages waiting to be published"),
    bytes: z.int().nonnegative(),
    oldest_age_s: z.number().nonnegative().nullable().describe("Age of the oldest waiting message; null when empty"),
    dropped: byClass.describe("Messages dropped by the outbox size cap since the outbox was created; only telemetry is ever dropped"),
  }),
  devices: z.object({
    total: z.int().nonnegative(),
    online: z.int().nonnegative(),
    degraded: z.int().nonnegative(),
    offline: z.int().nonnegative(),
    unknown: z.int().nonnegative().describe("Configured, not polled yet"),
  }),
  process: z.object({ rss_mb: z.number().nonnegative(), heap_used_mb: z.number().nonnegative() }),
});

export const GATEWAY_EVENT_TYPES = [
  "started",
  "config_reloaded",
  "config_rejected",
  "device_added",
  "device_removed",
  "device_changed",
  "uplink_restored",
  "policy_reloaded",
  "policy_rejected",
  "assets_reconciled",
] as const;

export const gatewayEventSchema = z.object({
  ...envelope("gateway-event"),
  seq,
  type: z.enum(GATEWAY_EVENT_TYPES),
  message: z.string().describe("Plain-language summary for a dashboard or log"),
  details: z.record(z.string(), z.unknown()),
});

export const deviceStatusSchema = z.object({
  ...envelope("device-status"),
  ...deviceFields,
  seq,
  state,
  reason,
  reason_text: z.string(),
  since: iso.describe("When the device entered this state"),
  consecutive_failures: z.int().nonnegative(),
  last_seen: iso.nullable().describe("Last successful poll; null if never"),
  response_time_ms: z.number().nonnegative().nullable(),
});

const deviceEventBase = { ...envelope("device-event"), ...deviceFields, seq };

/** Door-controller events (kind modbus-door): pairs of "became active" / "back to normal". */
export const DOOR_EVENT_TYPES = [
  "door_opened",
  "door_closed",
  "door_forced_open",
  "door_forced_cleared",
  "door_held_open",
  "door_held_cleared",
  "tamper",
  "tamper_cleared",
  "mains_lost",
  "mains_restored",
  "battery_low",
  "battery_ok",
] as const;

/** Panic-receiver outputs read as contacts (kind panic-contacts): the receiver's own trouble, tamper and supervision fault. */
export const RECEIVER_EVENT_TYPES = [
  "receiver_trouble",
  "receiver_trouble_cleared",
  "receiver_tamper",
  "receiver_tamper_cleared",
  "supervision_fault",
  "supervision_fault_cleared",
] as const;

const receiverEvent = z.object({
  ...deviceEventBase,
  type: z.enum(RECEIVER_EVENT_TYPES),
  message: z.string().describe("Plain-language summary"),
  input: z.string().describe("The I/O module's input the output is wired to"),
  zone: z.object({ id: z.string(), name: z.string().optional(), location: location.optional() }),
  initial: z.boolean().describe("true: found on the first poll the gateway ever made of this receiver, not seen changing"),
});

/** What a DC-09 panel reported that is not an alarm (kind panic-dc09): the `event` field of a `panel_event`. */
export const PANEL_EVENTS = [
  "test",
  "low_battery",
  "supervision_loss",
  "ac_loss",
  "comm_trouble",
  "trouble",
  "tamper",
  "opening",
  "closing",
  "other",
] as const;

const panelEvent = z.object({
  ...deviceEventBase,
  type: z.literal("panel_event").describe("A DC-09 panel's report that is not an alarm (kind panic-dc09)"),
  message: z.string().describe("Plain-language summary"),
  event: z
    .enum(PANEL_EVENTS)
    .describe("test: periodic or manual test report; low_battery (system or a pendant's), supervision_loss (a pendant stopped checking in), ac_loss, comm_trouble, trouble, tamper, opening/closing (disarmed/armed by a user), other (see code)"),
  qualifier: z.enum(["new", "restore", "still_present"]).describe("new: started; restore: back to normal; still_present: a status report of a condition still there"),
  code: z.string().describe("The protocol's event code: Contact ID (\"384\") or SIA (\"XT\")"),
  description: z.string().describe("What the code means, in words"),
  protocol: z.enum(["ADM-CID", "SIA-DCS"]),
  account: z.string().describe("The panel's DC-09 account"),
  zone: z.object({ id: z.string(), name: z.string().optional(), location: location.optional() }).nullable(),
  user: z.string().nullable(),
  partition: z.int().nullable(),
  sequence: z.int().nonnegative().describe("The DC-09 message's sequence number"),
  occurred_at: iso.nullable().describe("The panel's timestamp, when the message had one"),
  encrypted: z.boolean(),
  raw: z.string().describe("The message's data block as received (decrypted)"),
});

const doorEvent = z.object({
  ...deviceEventBase,
  type: z.enum(DOOR_EVENT_TYPES),
  message: z.string().describe("Plain-language summary"),
  door: z
    .object({
      position: z.enum(["open", "closed"]).nullable(),
      lock: z.enum(["locked", "unlocked"]).nullable(),
      request_to_exit: z.boolean().nullable(),
    })
    .describe("The door as the poll that found the event read it; null: not in the controller's profile, or not read"),
  initial: z
    .boolean()
    .describe("true: found on the first poll the gateway ever made of this controller (compared with the normal state), not seen changing"),
  suppressed_changes: z
    .int()
    .nonnegative()
    .describe("Changes of this input since its previous event that were not reported one by one (debounce: the input flapped)"),
  source: z
    .enum(["controller", "agent"])
    .optional()
    .describe("door_forced_*/door_held_*: the controller's own alarm, or the agent's finding (door opened while locked without request-to-exit; open longer than held_open_s)"),
  open_for_s: z.number().nonnegative().optional().describe("door_closed, door_held_*: how long the door had been open"),
  held_open_s: z.int().positive().optional().describe("door_held_*: the configured held-open time"),
  battery_voltage: z.number().optional().describe("battery_*: the battery voltage read, when the profile maps it"),
});

export const deviceEventSchema = z.discriminatedUnion("type", [
  z.object({
    ...deviceEventBase,
    type: z.literal("status_changed"),
    from: z.object({ state, reason }).nullable().describe("null the first time the gateway sees the device"),
    to: z.object({ state, reason, reason_text: z.string() }),
  }),
  z.object({
    ...deviceEventBase,
    type: z.literal("identity_changed").describe("An asset change: firmware updated, or serial/model changed (the device was swapped)"),
    from: identity.nullable().describe("null the first time the gateway learns the device's identity"),
    to: identity,
    changed: z.array(z.enum(["manufacturer", "model", "serial", "firmware", "hardware_id", "mac"])).min(1),
    change: z
      .enum(["learned", "replaced", "firmware_updated", "other"])
      .optional()
      .describe(
        "learned: first identity the gateway knows; replaced: the serial or model changed (another device is there now); firmware_updated: only the firmware changed; other: another field (a MAC) changed",
      ),
  }),
  z.object({
    ...deviceEventBase,
    type: z.literal("compliance_changed").describe("A lifecycle rule started or stopped failing (docs/lifecycle.md)"),
    message: z.string().describe("Plain-language summary"),
    raised: z.array(z.enum(COMPLIANCE_RULES)).describe("Rules that started failing"),
    cleared: z.array(z.enum(COMPLIANCE_RULES)).describe("Rules that stopped failing"),
    compliant: z.boolean(),
    failing: z.array(z.enum(COMPLIANCE_RULES)).describe("Every rule failing now"),
  }),
  doorEvent,
  receiverEvent,
  panelEvent,
]);

export const deviceAlarmSchema = z.object({
  ...envelope("device-alarm"),
  ...deviceFields,
  seq,
  alarm_id: z.string().min(1).describe("Unique id of this alarm (a UUID); a restore or cancel gives it in `ends`"),
  phase: z
    .enum(["alarm", "restore", "cancel"])
    .describe("alarm: respond to it; restore: the condition ended (button reset, input back to normal); cancel: a user called it off"),
  type: z
    .string()
    .regex(/^[a-z][a-z0-9_]*$/)
    .describe("panic, duress, holdup, medical, fire, emergency, intrusion, test (only with test: true), other (consumers must accept types they do not know)"),
  test: z.boolean().describe("A test alarm (campus-agent test-alarm, or a panel's manual test report): do not dispatch; never kept open, no restore"),
  message: z.string().describe("Plain-language summary"),
  ends: z.string().nullable().describe("restore / cancel: the alarm_id it ends; null for an alarm, or when the alarm it ends is not known"),
  zone: z
    .object({ id: z.string(), name: z.string().optional(), location })
    .nullable()
    .describe("Where the alarm was raised (the pendant's or input's zone); null when the sender gave no zone"),
  user: z.string().nullable().describe("The user or pendant the sender named, if any"),
  occurred_at: iso.nullable().describe("When the sender says it happened; null when it does not say"),
  source: z.record(z.string(), z.unknown()).describe("How it reached the gateway: protocol, account, event code, qualifier, input…"),
});

export const deviceTelemetrySchema = z.object({
  ...envelope("device-telemetry"),
  device: id,
  kind: z.string(),
  seq,
  state: state.describe("The device's state after this poll"),
  reason,
  response_time_ms: z.number().nonnegative().nullable().describe("null when the poll failed"),
  metrics: z.record(z.string(), metricValue).describe("Driver-specific values; units are in the names (e.g. tcp_connect_ms)"),
});

export type GatewayStatusPayload = z.infer<typeof gatewayStatusSchema>;
export type HeartbeatPayload = z.infer<typeof heartbeatSchema>;
export type GatewayEventPayload = z.infer<typeof gatewayEventSchema>;
export type DeviceStatusPayload = z.infer<typeof deviceStatusSchema>;
export type DeviceEventPayload = z.infer<typeof deviceEventSchema>;
export type DeviceTelemetryPayload = z.infer<typeof deviceTelemetrySchema>;
export type DeviceAlarmPayload = z.infer<typeof deviceAlarmSchema>;

/** Every payload schema, by the name used for docs/schemas/<name>.v<N>.json. */
export const PAYLOAD_SCHEMAS = {
  "gateway-status": gatewayStatusSchema,
  "gateway-heartbeat": heartbeatSchema,
  "gateway-event": gatewayEventSchema,
  "device-status": deviceStatusSchema,
  "device-event": deviceEventSchema,
  "device-alarm": deviceAlarmSchema,
  "device-telemetry": deviceTelemetrySchema,
  "device-inventory": deviceInventorySchema,
  "device-compliance": deviceComplianceSchema,
  "unknown-asset": unknownAssetSchema,
  "campus-readiness": campusReadinessSchema,
} as const;

/** Topic names, in one place. */
export class Topics {
  readonly root: string;
  readonly gatewayBase: string;
  constructor(
    readonly campus: string,
    readonly gateway: string,
  ) {
    this.root = `campus/${campus}`;
    this.gatewayBase = `${this.root}/gateway/${gateway}`;
  }

  gatewayStatus(): string {
    return `${this.gatewayBase}/status`;
  }

  heartbeat(): string {
    return `${this.gatewayBase}/heartbeat`;
  }

  gatewayEvent(): string {
    return `${this.gatewayBase}/event`;
  }

  deviceStatus(device: string): string {
    return `${this.root}/device/${device}/status`;
  }

  deviceEvent(device: string): string {
    return `${this.root}/device/${device}/event`;
  }

  deviceAlarm(device: string): string {
    return `${this.root}/device/${device}/alarm`;
  }

  deviceTelemetry(device: string): string {
    return `${this.root}/device/${device}/telemetry`;
  }

  deviceInventory(device: string): string {
    return `${this.root}/device/${device}/inventory`;
  }

  deviceCompliance(device: string): string {
    return `${this.root}/device/${device}/compliance`;
  }

  /** An asset discovery found that the config does not name; `key` is topic-safe (agent/assets/register.ts unknownKey). */
  unknownAsset(key: string): string {
    return `${this.root}/unknown/${key}`;
  }

  readiness(): string {
    return `${this.gatewayBase}/readiness`;
  }

  /** Everything this gateway may publish: what a broker ACL must allow. */
  all(): string {
    return `${this.root}/#`;
  }
}
