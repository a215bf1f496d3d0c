/**
 * Options of the ONVIF camera driver, and the pure helpers that interpret
 * them. No I/O here: this is what the config loader runs. The password is
 * named (an environment variable or a file), never written in the config;
 * resolvePassword() reads it when a poll needs it.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { isAbsolute } from "node:path";
import { z } from "zod";
import { DriverError } from "../contract.js";

const MiB = 1024 * 1024;
const ms = (what: string) => z.int({ error: `expected ${what}` }).positive({ error: `expected ${what}` });

export const snapshotSchema = z.strictObject({
  mode: z
    .enum(["off", "fetch"])
    .default("off")
    .describe("'fetch': on every poll, download the first profile's snapshot (GetSnapshotUri, HTTP Digest) and check it is an image."),
  min_bytes: z
    .int()
    .min(1)
    .default(1024)
    .describe("A smaller snapshot counts as broken: a camera with a dead sensor often still returns a tiny placeholder."),
  max_bytes: z
    .int()
    .min(1)
    .max(32 * MiB)
    .default(4 * MiB)
    .describe("Most snapshot bytes read; the rest is not downloaded. Reaching it is not an error."),
});

export const onvifOptionsSchema = z
  .strictObject({
    host: z
      .string()
      .regex(/^[A-Za-z0-9.:_-]+$/, { error: "expected a hostname or an IP address" })
      .optional()
      .describe("Hostname or IP address of the camera. Give host (with port and path) or xaddr."),
    port: z
      .int({ error: "expected a TCP port (1-65535)" })
      .min(1, { error: "expected a TCP port (1-65535)" })
      .max(65535, { error: "expected a TCP port (1-65535)" })
      .optional()
      .describe("Port of the ONVIF device service. Default 80."),
    path: z
      .string()
      .regex(/^\/[\x21-\x7e]*$/, { error: "expected an absolute URL path such as /onvif/device_service" })
      .optional()
      .describe("Path of the ONVIF device service. Default /onvif/device_service."),
    xaddr: z
      .url({ protocol: /^http$/, error: "expected an http:// URL of the device service" })
      .optional()
      .describe(
        "The device service URL, as discovery reports it (XAddrs), e.g. http://10.20.1.31/onvif/device_service. Replaces host, port and path.",
      ),
    username: z
      .string()
      // The onvif library writes the username into the WS-Security header without escaping it.
      .regex(/^[^<>&"'\s]{1,64}$/, { error: "expected a user name of 1-64 characters without spaces or <>&\"'" })
      .optional()
      .describe("ONVIF user. Give a password with password_env or password_file."),
    password_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "expected an environment variable name" })
      .optional()
      .describe("Environment variable holding the password; read at each poll."),
    password_file: z
      .string()
      .refine((p) => isAbsolute(p), { error: "expected an absolute path" })
      .optional()
      .describe("Absolute path of a file whose content (trailing newline trimmed) is the password; read at each poll."),
    password: z.unknown().optional().describe("Not accepted: use password_file or password_env."),
    timeout_ms: ms("a positive number of milliseconds")
      .default(5000)
      .describe("Deadline of each camera operation (one ONVIF call, or the snapshot download). The poll's own deadline still applies."),
    max_clock_drift_ms: ms("a positive number of milliseconds")
      .default(5000)
      .describe("A camera clock further than this from the gateway's is degraded with reason 'clock_skew'."),
    wsse_window_ms: ms("a positive number of milliseconds")
      .default(5000)
      .describe(
        "When the camera rejects our credentials and its clock is further off than this, the reason is 'clock_skew' rather than 'auth': cameras check the WS-Security timestamp against their own clock.",
      ),
    max_response_bytes: z
      .int()
      .min(4096)
      .max(16 * MiB)
      .default(1 * MiB)
      .describe("Most bytes read of one ONVIF answer; a longer answer is cut off and the call fails."),
    snapshot: snapshotSchema.default(snapshotSchema.parse({})).describe("Optional snapshot check."),
  })
  // `when`: run even when a field above failed, so an inline password and a
  // bad port are reported together. The callback then sees raw values.
  .superRefine(
    (o, ctx) => {
      if (o.password !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["password"],
          message: "inline passwords are not accepted: put it in a file (password_file) or an environment variable (password_env)",
        });
      }
      if (o.password_file !== undefined && o.password_env !== undefined) {
        ctx.addIssue({ code: "custom", path: ["password_env"], message: "set password_file or password_env, not both" });
      }
      const hasPassword = o.password_file !== undefined || o.password_env !== undefined;
      if (hasPassword && o.username === undefined) {
        ctx.addIssue({ code: "custom", path: ["username"], message: "a password needs a username" });
      }
      if (!hasPassword && o.username !== undefined) {
        ctx.addIssue({ code: "custom", path: ["username"], message: "a username needs a password: set password_env or password_file" });
      }
      if (o.xaddr !== undefined) {
        for (const key of ["host", "port", "path"] as const) {
          if (o[key] !== undefined)
            ctx.addIssue({ code: "custom", path: [key], message: "xaddr already gives host, port and path: give one or the other" });
        }
      } else if (o.host === undefined) {
        ctx.addIssue({ code: "custom", path: ["host"], message: "give the camera's host (or its xaddr)" });
      }
      const snap = o.snapshot as { min_bytes?: unknown; max_bytes?: unknown } | undefined;
      if (typeof snap?.min_bytes === "number" && typeof snap.max_bytes === "number" && snap.min_bytes > snap.max_bytes) {
        ctx.addIssue({ code: "custom", path: ["snapshot", "min_bytes"], message: "must not exceed max_bytes" });
      }
    },
    { when: (payload) => typeof payload.value === "object" && payload.value !== null },
  );

export type OnvifOptions = z.output<typeof onvifOptionsSchema>;
export type OnvifOptionsInput = z.input<typeof onvifOptionsSchema>;

export const DEFAULT_PORT = 80;
export const DEFAULT_PATH = "/onvif/device_service";

/** Where the device service is. */
export interface Endpoint {
  host: string;
  port: number;
  path: string;
}

export function endpoint(o: OnvifOptions): Endpoint {
  if (o.xaddr !== undefined) {
    const u = new URL(o.xaddr);
    return {
      host: u.hostname.replace(/^\[|\]$/g, ""),
      port: u.port === "" ? DEFAULT_PORT : Number(u.port),
      path: `${u.pathname}${u.search}` || DEFAULT_PATH,
    };
  }
  return { host: o.host ?? "", port: o.port ?? DEFAULT_PORT, path: o.path ?? DEFAULT_PATH };
}

export interface Credentials {
  username: string;
  password: string;
}

/**
 * The credentials, read now: from the environment variable or the file the
 * options name. Throws a DriverError "config" (not retryable: the next poll
 * reads the same place) when the source is missing or empty.
 */
export async function resolvePassword(o: OnvifOptions, env: NodeJS.ProcessEnv = process.env): Promise<Credentials | undefined> {
  if (o.username === undefined) return undefined;
  const fail = (message: string, cause?: unknown) => new DriverError("config", message, { retryable: false, cause });
  if (o.password_env !== undefined) {
    const v = env[o.password_env];
    if (v === undefined || v === "")
      throw fail(`environment variable ${o.password_env} (the camera password) is ${v === undefined ? "not set" : "empty"}`);
    return { username: o.username, password: v };
  }
  if (o.password_file !== undefined) {
    let content: string;
    try {
      content = await readFile(o.password_file, "utf8");
    } catch (e) {
      throw fail(`cannot read password_file ${o.password_file}: ${(e as { code?: string }).code ?? String(e)}`, e);
    }
    const password = content.replace(/\r?\n$/, "");
    if (password === "") throw fail(`password_file ${o.password_file} is empty`);
    return { username: o.username, password };
  }
  return undefined;
}

/**
 * What a kept camera session depends on: the options and the credentials.
 * Hashed, so the password is not kept as a map key.
 */
export function sessionKey(o: OnvifOptions, creds: Credentials | undefined): string {
  const h = createHash("sha256");
  h.update(JSON.stringify(o));
  if (creds) h.update(`\0${creds.username}\0${creds.password}`);
  return h.digest("hex");
}
