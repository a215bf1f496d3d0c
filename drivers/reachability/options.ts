/**
 * Options of the reachability driver, and the pure helpers that interpret
 * them (expected HTTP statuses, targets). No I/O here: this is what the config
 * loader runs.
 */
import { z } from "zod";

const STATUS_RULE = 'an HTTP status (100-599), a class like "2xx", or a range like "200-399"';
const SINGLE = /^[1-5]\d\d$/;
const CLASS = /^[1-5]xx$/;
const RANGE = /^([1-5]\d\d)-([1-5]\d\d)$/;

/** One accepted status: a code, a class ("2xx") or an inclusive range ("200-399"). */
const statusSpec = z.union([
  z
    .int({ error: `expected ${STATUS_RULE}` })
    .min(100, { error: `expected ${STATUS_RULE}` })
    .max(599, { error: `expected ${STATUS_RULE}` }),
  z.string().refine((s) => statusRange(s) !== undefined, { error: `expected ${STATUS_RULE}` }),
]);

export const DEFAULT_EXPECT_STATUS = "200-399";

const httpSchema = z.strictObject({
  url: z
    .url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" })
    .describe("Health URL of the device, e.g. http://10.20.0.15:8080/health. Its host must be the device's host."),
  method: z.enum(["GET", "HEAD"]).default("GET").describe("HEAD asks for headers only; some embedded web servers mishandle it."),
  expect_status: z
    .union([statusSpec, z.array(statusSpec).min(1, { error: "expected at least one status" })])
    .default(DEFAULT_EXPECT_STATUS)
    .describe(`Statuses that mean healthy: ${STATUS_RULE}, or a list of them. Any other status is a degraded reading.`),
  tls_verify: z
    .enum(["full", "insecure-skip-verify"])
    .default("full")
    .describe("https only. 'full' checks the certificate chain and name; 'insecure-skip-verify' accepts any certificate."),
  ca_file: z
    .string()
    .min(1)
    .optional()
    .describe("https only. PEM file of the CA that signed the device's certificate (for a self-signed device: the certificate)."),
  max_body_bytes: z
    .int()
    .min(0)
    .max(16 * 1024 * 1024)
    .default(64 * 1024)
    .describe("Most bytes of the response body read; the rest is not downloaded. 0 stops at the headers."),
});

export const reachabilityOptionsSchema = z
  .strictObject({
    host: z
      .string()
      .regex(/^[A-Za-z0-9.:_-]+$/, { error: "expected a hostname or an IP address" })
      .describe("Hostname or IP address of the device."),
    port: z
      .int({ error: "expected a TCP port (1-65535)" })
      .min(1, { error: "expected a TCP port (1-65535)" })
      .max(65535, { error: "expected a TCP port (1-65535)" })
      .optional()
      .describe("TCP port whose connect is checked (e.g. 5060 SIP, 554 RTSP, 22 SSH). Optional when http is given."),
    http: httpSchema.optional().describe("Also (or only) check an HTTP(S) endpoint."),
    degraded_above_ms: z
      .int()
      .positive()
      .optional()
      .describe("A device answering slower than this (whole poll, ms) is degraded with reason 'slow'. Unset: never."),
  })
  .superRefine((o, ctx) => {
    if (o.port === undefined && o.http === undefined) {
      ctx.addIssue({ code: "custom", path: ["port"], message: "give a port, an http check, or both" });
    }
    if (o.http === undefined) return;
    const url = new URL(o.http.url);
    // One device entry checks one device: a URL on another host would report
    // that host's health under this device's id.
    if (hostKey(url.hostname) !== hostKey(o.host)) {
      ctx.addIssue({
        code: "custom",
        path: ["http", "url"],
        message: `must point at host "${o.host}" (found "${url.hostname}")`,
      });
    }
    if (url.protocol === "http:" && o.http.ca_file !== undefined) {
      ctx.addIssue({ code: "custom", path: ["http", "ca_file"], message: "ca_file needs an https:// URL" });
    }
  });

export type ReachabilityOptions = z.output<typeof reachabilityOptionsSchema>;
export type ReachabilityOptionsInput = z.input<typeof reachabilityOptionsSchema>;
export type HttpCheck = NonNullable<ReachabilityOptions["http"]>;
export type StatusSpec = HttpCheck["expect_status"];

/** [lo, hi] of one status spec, or undefined when it is not one. */
export function statusRange(spec: number | string): readonly [number, number] | undefined {
  if (typeof spec === "number") return Number.isInteger(spec) && spec >= 100 && spec <= 599 ? [spec, spec] : undefined;
  if (SINGLE.test(spec)) return [Number(spec), Number(spec)];
  if (CLASS.test(spec)) {
    const lo = Number(spec[0]) * 100;
    return [lo, lo + 99];
  }
  const m = RANGE.exec(spec);
  if (!m) return undefined;
  const lo = Number(m[1]);
  const hi = Number(m[2]);
  return lo <= hi ? [lo, hi] : undefined;
}

/** Whether an HTTP status is one the options call healthy. */
export function statusExpected(expect: StatusSpec, status: number): boolean {
  const specs = Array.isArray(expect) ? expect : [expect];
  return specs.some((s) => {
    const r = statusRange(s);
    return r !== undefined && status >= r[0] && status <= r[1];
  });
}

export function describeExpected(expect: StatusSpec): string {
  return (Array.isArray(expect) ? expect : [expect]).join(", ");
}

/** Where a connection goes. */
export interface Target {
  host: string;
  port: number;
}

export function httpTarget(url: URL): Target {
  const port = url.port === "" ? (url.protocol === "https:" ? 443 : 80) : Number(url.port);
  return { host: stripBrackets(url.hostname), port };
}

export function sameTarget(a: Target, b: Target): boolean {
  return a.port === b.port && hostKey(a.host) === hostKey(b.host);
}

function stripBrackets(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

function hostKey(host: string): string {
  return stripBrackets(host).toLowerCase();
}
