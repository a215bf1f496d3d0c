/**
 * Options of a DC-09 receiver account (kind panic-dc09): where the agent
 * listens, which account it serves there, its AES key (named, never
 * written in the config), supervision and zone names. Pure: the config
 * loader runs it; the key itself is read by the driver (resolveKey), when
 * the device starts.
 */
import { readFile } from "node:fs/promises";
import { isAbsolute } from "node:path";
import { z } from "zod";
import { DriverError } from "../contract.js";

const nonEmpty = z.string().min(1, { error: "expected a non-empty string" });
const hex = (what: string, max: number) =>
  z.string().regex(new RegExp(`^[0-9A-Fa-f]{1,${max}}$`), { error: `expected ${what}: 1-${max} hex digits` });

export const PROTOCOLS = ["tcp", "udp"] as const;

const listenSchema = z.strictObject({
  host: nonEmpty
    .default("127.0.0.1")
    .describe("Address to listen on. Default loopback only: a real receiver sets the gateway's LAN address (or 0.0.0.0)."),
  port: z
    .int({ error: "expected a port number" })
    .min(0)
    .max(65535, { error: "expected a port number (0-65535)" })
    .describe("Port the panels send to (TCP and/or UDP). 0: any free port (tests)."),
  protocols: z
    .array(z.enum(PROTOCOLS, { error: "expected tcp or udp" }))
    .min(1, { error: "listen on tcp, udp or both" })
    .default(["tcp", "udp"])
    .describe("Transports to accept messages on. Default both."),
  max_connections: z
    .int()
    .min(1)
    .max(1024)
    .default(32)
    .describe("Most TCP connections open at once on this address; more are closed at once. Shared listeners take the first device's value."),
  idle_timeout_s: z
    .int()
    .min(1)
    .max(86_400)
    .default(300)
    .describe("A TCP connection that sends nothing this long is closed (the panel reconnects). Shared listeners take the first device's value."),
});

const zoneSchema = z.strictObject({
  name: nonEmpty.optional().describe("What the zone is, e.g. \"Room 114 pendant\"."),
  location: z.strictObject({ building: nonEmpty.optional(), floor: nonEmpty.optional(), room: nonEmpty.optional() }).optional(),
});

export const panicDc09OptionsSchema = z
  .strictObject({
    listen: listenSchema.describe("Where the agent listens for this account's messages; several accounts may share one address."),
    account: z
      .string()
      .regex(/^[0-9A-Fa-f]{3,16}$/, { error: "expected the panel's account: 3-16 hex digits" })
      .describe("The account (#acct) the panel or receiver reports as."),
    receiver: hex("a receiver number (R field)", 6).optional().describe("When set, messages must carry this receiver number (R); others get DUH."),
    line: hex("an account prefix / line (L field)", 6).optional().describe("When set, messages must carry this line (L); others get DUH."),
    key_file: z
      .string()
      .refine((p) => isAbsolute(p), { error: "expected an absolute path" })
      .optional()
      .describe("Absolute path of a file holding the AES key (32, 48 or 64 hex digits). The account must then send encrypted messages."),
    key_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "expected an environment variable name" })
      .optional()
      .describe("Environment variable holding the AES key (32, 48 or 64 hex digits)."),
    key: z.unknown().optional().describe("Not accepted: use key_file or key_env."),
    supervision_s: z
      .int()
      .min(1)
      .max(86_400)
      .default(120)
      .describe("The receiver is offline (reason supervision) when no message or NULL link test arrived for this long."),
    zones: z
      .record(z.string().regex(/^[0-9]{1,4}$/, { error: "expected a zone number" }), zoneSchema)
      .optional()
      .describe("Zone number → name and location, so alarms say where the button is."),
    timestamp_check: z
      .enum(["encrypted", "when_present"])
      .default("encrypted")
      .describe("Timestamp window on encrypted messages only (the standard), or on plain ones carrying a timestamp too."),
    timestamp_window_s: z
      .strictObject({ ahead: z.int().min(1).max(3600).default(20), behind: z.int().min(1).max(3600).default(40) })
      .optional()
      .describe("How far a message's timestamp may be ahead of / behind the gateway's clock. Default 20 s / 40 s (DC-09)."),
  })
  // `when`: run even when a field above failed, so an inline key and a bad port are reported together.
  .superRefine(
    (o, ctx) => {
      if (o.key !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["key"],
          message: "inline keys are not accepted: put it in a file (key_file) or an environment variable (key_env)",
        });
      }
      if (o.key_file !== undefined && o.key_env !== undefined) {
        ctx.addIssue({ code: "custom", path: ["key_env"], message: "set key_file or key_env, not both" });
      }
    },
    { when: (payload) => typeof payload.value === "object" && payload.value !== null },
  );

export type PanicDc09Options = z.output<typeof panicDc09OptionsSchema>;
export type PanicDc09OptionsInput = z.input<typeof panicDc09OptionsSchema>;

const KEY_RE = /^(?:[0-9A-Fa-f]{32}|[0-9A-Fa-f]{48}|[0-9A-Fa-f]{64})$/;

/**
 * The account's AES key as hex, read now from the file or variable the
 * options name; undefined when none is named (the account sends plain).
 * Throws DriverError "config" (not retryable) when the source is missing,
 * empty or not a key. The message never contains the key.
 */
export async function resolveKey(o: PanicDc09Options, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const fail = (message: string, cause?: unknown) => new DriverError("config", message, { retryable: false, cause });
  let value: string;
  let where: string;
  if (o.key_env !== undefined) {
    const v = env[o.key_env];
    if (v === undefined || v.trim() === "") throw fail(`environment variable ${o.key_env} (the DC-09 key) is ${v === undefined ? "not set" : "empty"}`);
    value = v.trim();
    where = `environment variable ${o.key_env}`;
  } else if (o.key_file !== undefined) {
    try {
      value = (await readFile(o.key_file, "utf8")).trim();
    } catch (e) {
      throw fail(`cannot read key_file ${o.key_file}: ${(e as { code?: string }).code ?? String(e)}`, e);
    }
    if (value === "") throw fail(`key_file ${o.key_file} is empty`);
    where = `key_file ${o.key_file}`;
  } else {
    return undefined;
  }
  if (!KEY_RE.test(value)) throw fail(`${where} does not hold an AES key: expected 32, 48 or 64 hex digits`);
  return value;
}
