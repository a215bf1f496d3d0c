/**
 * Modbus register maps as data: a profile says which register (or coil) holds
 * which point, and how to turn its raw words into a value. Pure: this is what
 * the config loader runs on a profile given inline or by name, and what the
 * reader uses to plan and decode a poll.
 *
 * Addresses are 0-based protocol addresses, as they travel in the request PDU
 * (Modbus Application Protocol v1.1b3 §4.4: "data items are addressed from 0
 * to 65535"). Vendor manuals often print 1-based "register numbers" (40001 =
 * holding register at address 0): subtract the table's base and 1.
 *
 * Bytes in a register are big-endian (§4.2). 32-bit values span two registers;
 * `word_order: big` puts the high word at the lower address (the common
 * convention), `little` the low word first (many door controllers and meters).
 */
import { z } from "zod";

export const TABLES = ["coil", "discrete_input", "holding", "input"] as const;
export type Table = (typeof TABLES)[number];

export const POINT_TYPES = ["bool", "bit", "u16", "i16", "u32", "i32", "float32", "string"] as const;
export type PointType = (typeof POINT_TYPES)[number];

export const WORD_ORDERS = ["big", "little"] as const;
export type WordOrder = (typeof WORD_ORDERS)[number];

/** Tables read one bit per item (FC 1, FC 2) rather than 16-bit registers (FC 3, FC 4). */
export const BIT_TABLES: ReadonlySet<Table> = new Set(["coil", "discrete_input"]);

const INTEGER_TYPES: ReadonlySet<PointType> = new Set(["bool", "bit", "u16", "i16", "u32", "i32"]);
const WIDE_TYPES: ReadonlySet<PointType> = new Set(["u32", "i32", "float32"]);

/**
 * Points the agent understands. `state` points are booleans, or enums whose
 * labels are the listed states; `number` and `text` points are published as
 * they are. Any other point name is a named reading.
 */
export const SEMANTIC_POINTS = {
  door_position: { kind: "state", states: ["open", "closed"] },
  lock_state: { kind: "state", states: ["locked", "unlocked"] },
  request_to_exit: { kind: "state", states: [] },
  tamper: { kind: "state", states: [] },
  forced_open_alarm: { kind: "state", states: [] },
  held_open_alarm: { kind: "state", states: [] },
  /** true: mains present. Use `invert` for a "mains failed" bit. */
  mains_power: { kind: "state", states: [] },
  battery_voltage: { kind: "number", states: [] },
  battery_low: { kind: "state", states: [] },
  /** Text as read, or a packed version number: see the point's `format`. */
  firmware_version: { kind: "text", states: [] },
  serial_number: { kind: "text", states: [] },
  /** The device's model, when it reports one; else the profile's `model`. */
  model: { kind: "text", states: [] },
  uptime: { kind: "number", states: [] },
} as const satisfies Record<string, { kind: "state" | "number" | "text"; states: readonly string[] }>;
export type SemanticPoint = keyof typeof SEMANTIC_POINTS;
export const SEMANTIC_POINT_NAMES = Object.keys(SEMANTIC_POINTS) as SemanticPoint[];

export function isSemanticPoint(name: string): name is SemanticPoint {
  return Object.hasOwn(SEMANTIC_POINTS, name);
}

/**
 * How a firmware_version point's raw value reads as a version, and the point
 * types each packing fits. Vendors pack versions in many ways and a number
 * alone does not say which: 515 may be 2.3 (bytes), 5.15 (hundredths) or
 * release 515. The profile says it; nothing is guessed.
 */
export const FIRMWARE_FORMATS = {
  /** The value as decoded (after scale, offset or enum), as text, trimmed: "V1.4 " → "V1.4", 215 → "215". */
  as_read: { types: POINT_TYPES },
  /** u16, high byte . low byte: 0x0203 → "2.3". */
  major_minor: { types: ["u16"] },
  /** u32, byte 2 . byte 1 . byte 0 (the top byte is not used): 0x00020301 → "2.3.1". */
  major_minor_patch: { types: ["u32"] },
  /** An unsigned integer in hundredths, shown with two decimals: 215 → "2.15", 300 → "3.00". */
  hundredths: { types: ["u16", "u32"] },
} as const satisfies Record<string, { types: readonly PointType[] }>;
export type FirmwareFormat = keyof typeof FIRMWARE_FORMATS;
export const FIRMWARE_FORMAT_NAMES = Object.keys(FIRMWARE_FORMATS) as [FirmwareFormat, ...FirmwareFormat[]];

/** zod reports a record key that fails its schema as "Invalid key in record": say what a key must be. */
const keyError = (message: string) => (issue: { code?: string }) => (issue.code === "invalid_key" ? message : undefined);

const POINT_NAME = /^[a-z][a-z0-9_]{0,63}$/;

/** Profile names: what a device's `profile` option gives to use a built-in profile or one of the config's `modbus_profiles`. */
export const PROFILE_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const PROFILE_NAME_RULE = "a lower-case profile name (letters, digits, '.', '_', '-')";

export const pointSchema = z.strictObject({
  table: z.enum(TABLES).describe("coil (FC 1), discrete_input (FC 2), holding (FC 3) or input (FC 4) register."),
  address: z
    .int({ error: "expected a 0-based address (0-65535)" })
    .min(0, { error: "expected a 0-based address (0-65535)" })
    .max(65535, { error: "expected a 0-based address (0-65535)" })
    .describe("0-based protocol address of the first register or bit (holding register 40001 in a manual is address 0)."),
  type: z.enum(POINT_TYPES).describe("bool (a coil or discrete input), bit (one bit of a register), u16, i16, u32, i32, float32, string."),
  bit: z.int().min(0).max(15).optional().describe("For type bit: the bit of the register, 0 (least significant) to 15."),
  length: z.int().min(1).max(125).optional().describe("For type string: its length in registers (two ASCII characters each)."),
  word_order: z.enum(WORD_ORDERS).optional().describe("For 32-bit types: 'big' (high word first) or 'little'. Default: the profile's."),
  scale: z.number().finite().optional().describe("value = raw * scale + offset. Default 1."),
  offset: z.number().finite().optional().describe("value = raw * scale + offset. Default 0."),
  unit: z.string().min(1).max(16).optional().describe("Unit of the value (V, s, °C); documentation for consumers."),
  enum: z
    .record(z.string().regex(/^-?\d+$/), z.string().min(1), { error: keyError('enum keys are raw integer values, e.g. "0"') })
    .optional()
    .describe('Meaning of each raw value, e.g. { "0": "closed", "1": "open" }. The reading is the label.'),
  invert: z.boolean().optional().describe("For bool and bit: the point is active when the bit is 0."),
  format: z
    .enum(FIRMWARE_FORMAT_NAMES)
    .optional()
    .describe(
      'For firmware_version: how the version is packed. as_read (default): the value as decoded, trimmed; major_minor (u16): 0x0203 → "2.3"; major_minor_patch (u32): 0x00020301 → "2.3.1"; hundredths (u16, u32): 215 → "2.15".',
    ),
  description: z.string().optional().describe("What the point is, for people."),
});
export type Point = z.output<typeof pointSchema>;

export const profileSchema = z
  .strictObject({
    name: z
      .string()
      .regex(PROFILE_NAME, { error: `expected ${PROFILE_NAME_RULE}` })
      .describe("Profile name; devices refer to a built-in profile, or to one under modbus_profiles, by it."),
    description: z.string().optional().describe("What devices the profile is for."),
    vendor: z
      .string()
      .optional()
      .describe("Manufacturer the map was taken from: the devices' identity.manufacturer, unless it starts with \"none\" (a layout that is no one's product)."),
    model: z.string().min(1).optional().describe("Model the profile is for: the devices' identity.model when they have no `model` point."),
    word_order: z.enum(WORD_ORDERS).default("big").describe("Default word order of 32-bit points."),
    max_gap: z
      .int()
      .min(0)
      .max(124)
      .default(0)
      .describe(
        "Unmapped registers or bits a single read may span to join two points. 0: only adjacent points share a read (many devices answer exception 2 for an unmapped address).",
      ),
    max_read_registers: z.int().min(1).max(125).default(125).describe("Most registers per read (FC 3/4 allow 125; some devices fewer)."),
    max_read_bits: z.int().min(1).max(2000).default(2000).describe("Most coils or inputs per read (FC 1/2 allow 2000)."),
    points: z
      .record(z.string().regex(POINT_NAME), pointSchema, { error: keyError("expected a lower_snake_case point name (a-z, 0-9, _)") })
      .refine((p) => Object.keys(p).length > 0, { error: "a profile needs at least one point" })
      .describe(`Point name → where it is. Names the agent understands: ${SEMANTIC_POINT_NAMES.join(", ")}.`),
  })
  .superRefine((profile, ctx) => {
    for (const [name, p] of Object.entries(profile.points)) {
      for (const message of pointProblems(name, p)) ctx.addIssue({ code: "custom", path: ["points", name], message });
    }
    for (const o of overlaps(profile.points)) {
      ctx.addIssue({ code: "custom", path: ["points", o.name], message: o.message });
    }
  });
export type Profile = z.output<typeof profileSchema>;
export type ProfileInput = z.input<typeof profileSchema>;

/** Registers (or bits) a point occupies. */
export function pointWidth(p: Pick<Point, "type" | "length">): number {
  if (WIDE_TYPES.has(p.type)) return 2;
  if (p.type === "string") return p.length ?? 1;
  return 1;
}

function pointProblems(name: string, p: Point): string[] {
  const out: string[] = [];
  const bitTable = BIT_TABLES.has(p.table);
  if (bitTable && p.type !== "bool") out.push(`a ${p.table} holds one bit: its type must be bool (found ${p.type})`);
  if (!bitTable && p.type === "bool") out.push(`type bool is for coils and discrete inputs; for one bit of a ${p.table} register use type bit`);
  if (p.type === "bit" && p.bit === undefined) out.push("type bit needs `bit` (0-15): which bit of the register");
  if (p.type !== "bit" && p.bit !== undefined) out.push(`\`bit\` is only for type bit (found ${p.type})`);
  if (p.type === "string" && p.length === undefined) out.push("type string needs `length`, in registers");
  if (p.type !== "string" && p.length !== undefined) out.push(`\`length\` is only for type string (found ${p.type})`);
  if (p.word_order !== undefined && !WIDE_TYPES.has(p.type)) out.push(`\`word_order\` is only for u32, i32 and float32 (found ${p.type})`);
  if (p.invert !== undefined && p.type !== "bool" && p.type !== "bit") out.push("`invert` is only for bool and bit");
  const scaled = p.scale !== undefined || p.offset !== undefined;
  if (scaled && (p.type === "bool" || p.type === "bit" || p.type === "string")) out.push(`scale and offset do not apply to type ${p.type}`);
  if (p.enum !== undefined) {
    if (!INTEGER_TYPES.has(p.type)) out.push(`enum needs an integer type (found ${p.type})`);
    if (scaled) out.push("enum and scale/offset cannot be combined: enum keys are raw values");
  }
  const end = p.address + pointWidth(p) - 1;
  if (p.address <= 65535 && end > 65535) out.push(`spans addresses ${p.address}-${end}, past the last address 65535`);
  out.push(...formatProblems(name, p));
  if (isSemanticPoint(name)) out.push(...semanticProblems(name, p));
  return out;
}

/** `format` says how a firmware version is packed: only on firmware_version, and only on a type that can hold that packing. */
function formatProblems(name: string, p: Point): string[] {
  const format = p.format;
  if (format === undefined) return [];
  if (name !== "firmware_version") return [`\`format\` is only for firmware_version (it says how a version number is packed), not for ${name}`];
  const types: readonly PointType[] = FIRMWARE_FORMATS[format].types;
  if (!types.includes(p.type)) return [`format ${format} needs type ${types.join(" or ")} (found ${p.type})`];
  if (format !== "as_read" && (p.scale !== undefined || p.offset !== undefined || p.enum !== undefined)) {
    return [`format ${format} reads the raw value: it cannot be combined with scale, offset or enum`];
  }
  return [];
}

function semanticProblems(name: SemanticPoint, p: Point): string[] {
  const sem = SEMANTIC_POINTS[name];
  if (sem.kind === "number" && (p.type === "bool" || p.type === "bit" || p.type === "string" || p.enum !== undefined)) {
    return [`${name} is a number: use u16, i16, u32, i32 or float32 without enum`];
  }
  if (sem.kind !== "state") return [];
  const states: readonly string[] = sem.states;
  if (states.length === 0) {
    return p.type === "bool" || p.type === "bit" ? [] : [`${name} is true or false: use type bool or bit`];
  }
  if (p.enum === undefined) return [`${name} needs an enum saying which raw value is ${states.map((s) => `"${s}"`).join(" and which is ")}`];
  const bad = Object.values(p.enum).filter((label) => !states.includes(label));
  return bad.length > 0 ? [`${name} enum labels must be ${states.join(" or ")} (found ${bad.join(", ")})`] : [];
}

/**
 * Points sharing an address in one table. Two `bit` points may share a
 * register if their bits differ; a `bit` point may sit in a register that is
 * also read whole (a status word and its bits); anything else is an error.
 */
function overlaps(points: Record<string, Point>): { name: string; message: string }[] {
  const out: { name: string; message: string }[] = [];
  const entries = Object.entries(points).sort(([, a], [, b]) => a.address - b.address);
  for (let i = 0; i < entries.length; i++) {
    const [nameA, a] = entries[i];
    const endA = a.address + pointWidth(a) - 1;
    for (let j = i + 1; j < entries.length; j++) {
      const [nameB, b] = entries[j];
      if (b.address > endA) break;
      if (b.table !== a.table) continue;
      if (a.type === "bit" || b.type === "bit") {
        if (a.type !== "bit" || b.type !== "bit" || a.bit !== b.bit) continue;
        out.push({ name: nameB, message: `bit ${b.bit} of ${b.table} ${b.address} is already point ${nameA}` });
        continue;
      }
      const endB = b.address + pointWidth(b) - 1;
      out.push({ name: nameB, message: `${b.table} ${b.address}-${endB} overlaps point ${nameA} (${a.table} ${a.address}-${endA})` });
    }
  }
  return out;
}

/** Problems of a profile as "points.door_position: message" lines, for messages and tests. */
export function profileProblems(input: unknown): string[] {
  const r = profileSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.map(String).join(".")}: ${i.message}`);
}

export { decode, type Banks, type DecodedPoint, type Decoded } from "./decode.js";
export { planReads, type ReadGroup, type PlanLimits } from "./plan.js";
