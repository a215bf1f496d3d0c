/**
 * The generic door controller: the register layout of the simulator
 * (scripts/sim/modbus-door.ts, GENERIC_DOOR_LAYOUT), which is also a sane map
 * to ask a vendor for. Four reads per poll: FC 1, FC 2, FC 3 and FC 4.
 *
 * Identity: serial_number (u32) and firmware_version, a u16 packed as
 * major << 8 | minor (format major_minor: 0x0203 → "2.3"), as the simulator
 * writes it. No model register, and the vendor starts with "none": the
 * layout is no one's product, so no manufacturer or model is reported.
 */
import type { ProfileInput } from "../profile.js";

export const genericDoor = {
  name: "generic-door",
  description: "Generic Modbus door controller: door, lock, REX, tamper and alarms as bits; power and identity in input registers.",
  vendor: "none (reference layout of the Campus Edge Agent simulator)",
  word_order: "big",
  points: {
    lock_state: { table: "coil", address: 0, type: "bool", enum: { 0: "unlocked", 1: "locked" }, description: "Lock relay energised." },
    door_position: { table: "discrete_input", address: 0, type: "bool", enum: { 0: "closed", 1: "open" } },
    request_to_exit: { table: "discrete_input", address: 1, type: "bool" },
    tamper: { table: "discrete_input", address: 2, type: "bool" },
    mains_power: { table: "discrete_input", address: 3, type: "bool", description: "1: mains present; 0: on battery." },
    forced_open_alarm: { table: "discrete_input", address: 4, type: "bool" },
    held_open_alarm: { table: "discrete_input", address: 5, type: "bool" },
    battery_low: { table: "discrete_input", address: 6, type: "bool" },
    battery_voltage: { table: "input", address: 0, type: "u16", scale: 0.01, unit: "V" },
    firmware_version: { table: "input", address: 1, type: "u16", format: "major_minor", description: "major << 8 | minor: 0x0203 (515) is 2.3." },
    serial_number: { table: "input", address: 2, type: "u32" },
    uptime: { table: "input", address: 4, type: "u32", unit: "s" },
    door_state: { table: "input", address: 6, type: "u16", enum: { 0: "closed", 1: "open", 2: "held_open", 3: "forced_open" } },
    temperature: { table: "input", address: 7, type: "i16", scale: 0.1, unit: "°C" },
    status_bits: { table: "input", address: 8, type: "u16", description: "bit n = discrete input n (0-6), bit 7 = lock." },
    held_open_limit: { table: "holding", address: 0, type: "u16", unit: "s" },
    battery_low_threshold: { table: "holding", address: 1, type: "u16", scale: 0.01, unit: "V" },
  },
} as const satisfies ProfileInput;
