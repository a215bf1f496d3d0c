/**
 * A vendor-style door controller, as many are documented: everything in
 * holding registers (FC 3), states packed as bits of one status word, 32-bit
 * values low word first, battery voltage as a float32 and the serial number
 * as an 8-character ASCII string. Manual numbering is 1-based (40001 = address
 * 0); the addresses below are 0-based. The controller answers exception 02
 * for the unmapped registers 2-9, so max_gap stays 0: three reads per poll.
 *
 * Identity: the serial number is ASCII; the firmware version is taken as a
 * u16 in hundredths (format hundredths: 215 → "2.15"). This layout is a
 * composite, not one vendor's manual: check how yours packs the version, and
 * if it differs (high byte major, low byte minor: major_minor) use a copy of
 * this profile under modbus_profiles with that format. The vendor starts with
 * "none" for the same reason, so no manufacturer is reported; give yours, and
 * its `model`, in that copy.
 */
import type { ProfileInput } from "../profile.js";

export const vendorDoorController = {
  name: "vendor-dc-le",
  description: "Door controller with a packed status word, little-endian 32-bit values, float32 battery and ASCII serial.",
  vendor: "none (typical of OEM RS-485 door controllers, manual registers 40001-40020)",
  word_order: "little",
  max_gap: 0,
  points: {
    door_position: { table: "holding", address: 0, type: "bit", bit: 0, enum: { 0: "closed", 1: "open" } },
    lock_state: { table: "holding", address: 0, type: "bit", bit: 1, enum: { 0: "locked", 1: "unlocked" }, description: "1: strike released." },
    request_to_exit: { table: "holding", address: 0, type: "bit", bit: 2 },
    tamper: { table: "holding", address: 0, type: "bit", bit: 3 },
    forced_open_alarm: { table: "holding", address: 0, type: "bit", bit: 4 },
    held_open_alarm: { table: "holding", address: 0, type: "bit", bit: 5 },
    mains_power: { table: "holding", address: 0, type: "bit", bit: 6, invert: true, description: "Bit 6 is 'mains failed'." },
    battery_low: { table: "holding", address: 0, type: "bit", bit: 7 },
    alarm_count: { table: "holding", address: 1, type: "u16" },
    battery_voltage: { table: "holding", address: 10, type: "float32", unit: "V" },
    uptime: { table: "holding", address: 12, type: "u32", unit: "s" },
    firmware_version: { table: "holding", address: 14, type: "u16", format: "hundredths", description: "Version x 100: 215 is 2.15." },
    serial_number: { table: "holding", address: 16, type: "string", length: 4 },
  },
} as const satisfies ProfileInput;
