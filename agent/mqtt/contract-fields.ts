/**
 * The fields every payload of the MQTT contract is built from (the envelope,
 * ids, times, a device's fields), shared by agent/mqtt/contract.ts and
 * agent/mqtt/asset-contract.ts.
 */
import { z } from "zod";

export const CONTRACT_VERSION = 1;

export const iso = z.iso.datetime({ offset: false }).describe("UTC time, ISO 8601 with milliseconds");
export const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/);
export const reason = z
  .string()
  .regex(/^[a-z][a-z0-9_]*$/)
  .describe("Reason code, lower_snake_case (see docs/mqtt.md)");
export const state = z.enum(["online", "degraded", "offline"]);
export const seq = z
  .int()
  .positive()
  .describe(
    "Per-device (or per-gateway) sequence number: increases by one per buffered message, survives restarts. De-duplicate on (campus, device, seq).",
  );
export const location = z.object({ building: z.string().optional(), floor: z.string().optional(), room: z.string().optional() });
export const category = z.enum(["safety-critical", "operational"]);
export const metricValue = z.union([z.number(), z.string(), z.boolean(), z.null()]);
export const byClass = z.object({ alarm: z.int().nonnegative(), event: z.int().nonnegative(), telemetry: z.int().nonnegative() });

export const envelope = (name: string) => ({
  schema: z.literal(`campus-edge/${name}/v${CONTRACT_VERSION}`),
  campus: id,
  gateway: id,
  ts: iso.describe("When the gateway produced the message (not when it was published)"),
});

export const deviceFields = {
  device: id,
  kind: z.string(),
  name: z.string().optional(),
  category,
  location,
};

export const identity = z
  .object({
    manufacturer: z.string().optional(),
    model: z.string().optional(),
    serial: z.string().optional(),
    firmware: z.string().optional(),
    hardware_id: z.string().optional(),
    mac: z.string().optional(),
  })
  .describe("What the device reported about itself (asset register)");

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}
