/**
 * The asset register's part of the MQTT contract (docs/mqtt.md, "Asset
 * register"): each device's inventory and compliance, the unknown assets
 * discovery found, and the campus readiness summary. Like contract.ts, these
 * zod schemas are the source of docs/schemas/*.json.
 *
 *   campus/<c>/device/<d>/inventory        retained, QoS 1, buffered (class event): start, change, inventory cron
 *   campus/<c>/device/<d>/compliance       retained, QoS 1, buffered (class event): start, change, inventory cron
 *   campus/<c>/unknown/<key>               retained, QoS 1, buffered (class event): each discovery run that finds it; empty when gone
 *   campus/<c>/gateway/<g>/readiness       retained, QoS 1, live: on connect, on change (at most every 5 s), inventory cron
 */
import { z } from "zod";
import { CHECKS, COMPLIANCE_RULES } from "../lifecycle/evaluate.js";
import { category, deviceFields, envelope, identity, iso, location, metricValue, seq } from "./contract-fields.js";

const date = z.string().regex(/^\d{4}-\d{2}-\d{2}$/).describe("YYYY-MM-DD");

export const PRESENCE = ["present", "missing", "pending"] as const;

const lifecycle = z
  .object({
    install_date: date.optional(),
    warranty_end: date.optional().describe("The last day under warranty"),
    end_of_support: date.optional().describe("This device's own last day of support (over the policy's date for its model)"),
    asset_tag: z.string().optional(),
  })
  .describe("From the device's config (lifecycle:)");

export const deviceInventorySchema = z.object({
  ...envelope("device-inventory"),
  ...deviceFields,
  seq,
  owner: z.string().nullable().describe("Team or person responsible (the device's owner in the config)"),
  identity: identity.describe("What the device last reported about itself; {} until it has answered an inventory read"),
  lifecycle,
  presence: z
    .enum(PRESENCE)
    .describe(
      "present: the device has answered the gateway (or discovery found it); missing: configured, never answered, and offline or not found by discovery; pending: not polled yet",
    ),
  last_seen: iso.nullable().describe("Its last successful poll; null if never"),
  identity_read_at: iso.nullable().describe("When its identity was last read or changed; null if never"),
});

const failure = z.object({
  rule: z.enum(COMPLIANCE_RULES),
  text: z.string().describe("For a person: what fails, with the values"),
  details: z.record(z.string(), z.unknown()).describe("The same values for machines; policy_rule names the policy entry (firmware[0])"),
});

const unchecked = z.object({
  check: z.enum(CHECKS),
  text: z.string().describe("Why the check could not be made"),
});

export const deviceComplianceSchema = z.object({
  ...envelope("device-compliance"),
  ...deviceFields,
  seq,
  evaluated: z.boolean().describe("false: no lifecycle policy is loaded (config policy.file): nothing was checked"),
  compliant: z.boolean().describe("No rule fails (unchecked checks do not count); true when not evaluated"),
  failing: z.array(failure).describe("Every failing rule, in the order of docs/lifecycle.md"),
  unchecked: z.array(unchecked).describe("Checks that lacked their data"),
  since: iso.describe("Since when exactly these rules fail (or none does)"),
  policy: z
    .object({ file: z.string(), sha256: z.string().describe("Of the policy file's content: which version of the policy decided") })
    .nullable(),
});

export const unknownAssetSchema = z.object({
  ...envelope("unknown-asset"),
  key: z.string().describe("The last level of the topic: kind and address"),
  kind: z.enum(["onvif", "modbus"]).describe("What found it: ONVIF WS-Discovery, or a Modbus unit scan"),
  address: z.string().describe("Where it answered: an ONVIF service address, or a Modbus endpoint and unit id"),
  identity: identity.describe("What it said about itself, where it could be read"),
  details: z.record(z.string(), metricValue).describe("What discovery learned besides identity (scopes, the registers that answered)"),
  first_seen: iso.describe("The first discovery run that found it"),
  last_seen: iso.describe("The last discovery run that found it"),
});

const counts = z.object({
  total: z.int().nonnegative(),
  online: z.int().nonnegative(),
  degraded: z.int().nonnegative(),
  offline: z.int().nonnegative(),
  unknown: z.int().nonnegative().describe("Not polled yet"),
  compliant: z.int().nonnegative().describe("No compliance rule fails (all, when no policy is loaded)"),
  non_compliant: z.int().nonnegative(),
});

const ratio = z.number().min(0).max(1).nullable().describe("0 to 1; null when there are no such devices");

export const openAlarm = z.object({
  device: z.string(),
  alarm_id: z.string(),
  type: z.string(),
  since: iso,
  message: z.string(),
  zone: z.object({ id: z.string(), name: z.string().optional(), location: location.optional() }).nullable(),
});

export const campusReadinessSchema = z.object({
  ...envelope("campus-readiness"),
  devices: counts.describe("Every configured device"),
  by_category: z.object({ "safety-critical": counts, operational: counts }),
  safety_critical: z
    .object({
      total: z.int().nonnegative(),
      online: ratio.describe("Share of safety-critical devices online (degraded counts as online: it answers)"),
      compliant: ratio.describe("Share of safety-critical devices that fail no compliance rule"),
      ready: ratio.describe("Share that are both: the campus's readiness figure"),
    })
    .describe("The shares auditors ask for"),
  failing: z
    .object(Object.fromEntries(COMPLIANCE_RULES.map((r) => [r, z.int().nonnegative()])) as Record<(typeof COMPLIANCE_RULES)[number], z.ZodInt>)
    .describe("How many devices fail each rule"),
  policy: z.object({ file: z.string(), sha256: z.string() }).nullable().describe("null: no lifecycle policy loaded"),
  oldest_heartbeat: z
    .object({ device: z.string(), category, last_seen: iso, age_s: z.number().nonnegative() })
    .nullable()
    .describe("The device whose last answer is the oldest (devices never seen are under assets.missing); null when none has answered"),
  assets: z.object({
    unknown: z.int().nonnegative().describe("Found by discovery, not in the config"),
    missing: z.array(z.string()).describe("Configured devices never seen"),
    pending: z.int().nonnegative().describe("Configured, not polled yet"),
    last_discovery: iso.nullable().describe("The last reconciliation; null if none since the gateway started"),
  }),
  open_alarms: z.array(openAlarm).describe("Alarms raised and not restored or cancelled (test alarms never stay open)"),
  uplink: z.object({ connected: z.boolean(), outbox_depth: z.int().nonnegative().describe("Messages waiting for the broker") }),
});

export type DeviceInventoryPayload = z.infer<typeof deviceInventorySchema>;
export type DeviceCompliancePayload = z.infer<typeof deviceComplianceSchema>;
export type UnknownAssetPayload = z.infer<typeof unknownAssetSchema>;
export type CampusReadinessPayload = z.infer<typeof campusReadinessSchema>;
export type Readiness = Omit<CampusReadinessPayload, "schema" | "campus" | "gateway" | "ts">;
export type OpenAlarm = z.infer<typeof openAlarm>;
export type Presence = (typeof PRESENCE)[number];
