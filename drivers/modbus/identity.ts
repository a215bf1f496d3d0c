/**
 * What a Modbus device is, for the asset register: its identity from the
 * decoded points of a poll and from its profile. Pure.
 *
 * - serial: the `serial_number` point, as text;
 * - firmware: the `firmware_version` point, read as its `format` says
 *   (profile.ts, FIRMWARE_FORMATS): nothing is guessed from the number;
 * - model: the `model` point, or else the profile's `model`;
 * - manufacturer: the profile's `vendor`, unless it starts with "none" (a
 *   reference layout, no one's product).
 *
 * identityProfile() cuts a profile down to its identity points, so that the
 * inventory (the slower cron) reads only those registers with readUnit().
 */
import type { Identity } from "../contract.js";
import type { DecodedPoint } from "./decode.js";
import type { FirmwareFormat, Profile } from "./profile.js";

/** The points that make a device's identity. */
export const IDENTITY_POINTS = ["serial_number", "firmware_version", "model"] as const;

/** The identity a poll's decoded points and the device's profile give; fields that say nothing are left out. */
export function identityOf(points: Readonly<Record<string, DecodedPoint>>, profile: Profile): Identity {
  const id: Identity = {};
  const serial = textOf(points.serial_number?.value);
  if (serial !== undefined) id.serial = serial;
  const fw = points.firmware_version;
  const firmware = fw === undefined ? undefined : firmwareText(fw, profile.points.firmware_version?.format);
  if (firmware !== undefined) id.firmware = firmware;
  const model = textOf(points.model?.value) ?? profile.model;
  if (model !== undefined) id.model = model;
  if (profile.vendor !== undefined && !/^none\b/i.test(profile.vendor)) id.manufacturer = profile.vendor;
  return id;
}

/**
 * A firmware_version point as a version string; undefined when it says
 * nothing (null: an enum value outside the enum; an empty string). The
 * packed formats read the raw integer; a raw value that does not fit the
 * format (the profile schema prevents it) is shown as read.
 */
export function firmwareText(point: Pick<DecodedPoint, "raw" | "value">, format: FirmwareFormat = "as_read"): string | undefined {
  // The raw value as an unsigned integer, when it is one.
  const n = typeof point.raw === "number" && Number.isInteger(point.raw) && point.raw >= 0 ? point.raw : undefined;
  switch (format) {
    case "major_minor":
      if (n !== undefined && n <= 0xffff) return `${n >> 8}.${n & 0xff}`;
      break;
    case "major_minor_patch":
      // `>>>`: a u32 of 2^31 or more stays positive.
      if (n !== undefined && n <= 0xffffffff) return `${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
      break;
    case "hundredths":
      // Integer arithmetic, no float rounding: 215 → "2.15", 7 → "0.07".
      if (n !== undefined) return `${Math.floor(n / 100)}.${String(n % 100).padStart(2, "0")}`;
      break;
    case "as_read":
      break;
  }
  return textOf(point.value);
}

/**
 * The profile reduced to its identity points (serial_number,
 * firmware_version, model), for reading identity alone; undefined when it
 * has none. Everything else (word order, read limits, max_gap) is kept.
 */
export function identityProfile(profile: Profile): Profile | undefined {
  const names: readonly string[] = IDENTITY_POINTS;
  const points = Object.fromEntries(Object.entries(profile.points).filter(([name]) => names.includes(name)));
  return Object.keys(points).length === 0 ? undefined : { ...profile, points };
}

/** A value as trimmed text; undefined for null or blank. */
function textOf(v: DecodedPoint["value"] | undefined): string | undefined {
  if (v === undefined || v === null) return undefined;
  const s = String(v).trim();
  return s === "" ? undefined : s;
}
