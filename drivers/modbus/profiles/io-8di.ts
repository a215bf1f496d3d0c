/**
 * An 8-channel digital input module (the dry-contact kind that relays panic
 * buttons and door contacts to Modbus): inputs 1-8 are discrete inputs 0-7,
 * read in one FC 2 request. Rename the points in a copy of this profile to
 * say what each contact is wired to.
 *
 * Identity: none. Such modules keep their version and serial (when they have
 * them) at addresses that differ by maker, so this layout maps neither, and
 * its vendor starts with "none": it is no one's product. A copy under
 * modbus_profiles can add serial_number, firmware_version (with its
 * `format`), model, and the real vendor.
 */
import type { ProfileInput } from "../profile.js";

export const io8di = {
  name: "io-8di",
  description: "8 discrete inputs (dry contacts), one FC 2 read.",
  vendor: "none (any 8-DI Modbus I/O module with this layout)",
  points: {
    input_1: { table: "discrete_input", address: 0, type: "bool" },
    input_2: { table: "discrete_input", address: 1, type: "bool" },
    input_3: { table: "discrete_input", address: 2, type: "bool" },
    input_4: { table: "discrete_input", address: 3, type: "bool" },
    input_5: { table: "discrete_input", address: 4, type: "bool" },
    input_6: { table: "discrete_input", address: 5, type: "bool" },
    input_7: { table: "discrete_input", address: 6, type: "bool" },
    input_8: { table: "discrete_input", address: 7, type: "bool" },
  },
} as const satisfies ProfileInput;
