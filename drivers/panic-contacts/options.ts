/**
 * Options of a panic receiver read through a Modbus I/O module: the module
 * (endpoint, unit id, profile: the fields every Modbus kind shares) and what
 * each of its inputs is wired to. Pure: the config loader runs it.
 */
import { z } from "zod";
import { checkEndpoint, modbusUnitShape } from "../modbus/options.js";
import { BIT_TABLES } from "../modbus/profile.js";
import { builtinProfile } from "../modbus/profiles/index.js";
import { ALARM_TYPES, CONTACT_MEANINGS } from "./contacts.js";

const nonEmpty = z.string().min(1, { error: "expected a non-empty string" });

export const contactInputSchema = z.strictObject({
  meaning: z
    .enum(CONTACT_MEANINGS, { error: `expected one of ${CONTACT_MEANINGS.join(", ")}` })
    .describe("panic: a panic / duress / medical… zone; trouble, tamper, supervision: the receiver's own outputs."),
  alarm: z.enum(ALARM_TYPES).optional().describe("For meaning panic: the alarm it raises. Default panic."),
  zone: nonEmpty.optional().describe("The zone as the receiver numbers it, e.g. \"15\". Default: the input's name."),
  name: nonEmpty.optional().describe("What is wired to it, e.g. \"Room 114 pendant\"."),
  location: z.strictObject({ building: nonEmpty.optional(), floor: nonEmpty.optional(), room: nonEmpty.optional() }).optional(),
});

export const panicContactsOptionsSchema = z
  .strictObject({
    ...modbusUnitShape,
    profile: modbusUnitShape.profile.default("io-8di"),
    request_timeout_ms: modbusUnitShape.request_timeout_ms.default(150),
    inputs: z
      .record(z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, { error: "expected a point name of the profile" }), contactInputSchema)
      .refine((r) => Object.keys(r).length > 0, { error: "name at least one input (a point of the I/O module's profile) and what it means" })
      .describe("Input (a point of the profile, e.g. input_1) → what it is wired to."),
    restore_after_ms: z
      .int()
      .min(0)
      .max(600_000)
      .default(1000)
      .describe("A panic alarm's restore is reported once its contact has stayed open this long (a bouncing contact is one alarm)."),
  })
  .superRefine((o, ctx) => {
    checkEndpoint(o, ctx);
    // Inputs against the profile, when it is known here (inline or built-in; a
    // user profile by name is checked when the driver first reads it).
    const profile = typeof o.profile === "string" ? builtinProfile(o.profile) : o.profile;
    if (profile === undefined) return;
    for (const name of Object.keys(o.inputs)) {
      const p = profile.points[name];
      if (p === undefined) {
        ctx.addIssue({ code: "custom", path: ["inputs", name], message: `profile ${profile.name} has no point ${name}: expected one of ${Object.keys(profile.points).join(", ")}` });
      } else if (!(BIT_TABLES.has(p.table) || p.type === "bit")) {
        ctx.addIssue({ code: "custom", path: ["inputs", name], message: `point ${name} is a ${p.type}, not a contact: use a coil, discrete input or bit` });
      }
    }
  });
export type PanicContactsOptions = z.output<typeof panicContactsOptionsSchema>;
