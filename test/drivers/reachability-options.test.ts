import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { buildConfigSchema } from "../../config/schema.js";
import { DriverError } from "../../drivers/contract.js";
import { toDriverError } from "../../drivers/reachability/errors.js";
import { reachabilityDriver } from "../../drivers/reachability/index.js";
import { reachabilityOptionsSchema, statusExpected, statusRange } from "../../drivers/reachability/options.js";

const samplePath = fileURLToPath(new URL("../../drivers/reachability/sample.yaml", import.meta.url));

function issues(input: unknown): string[] {
  const r = reachabilityOptionsSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
}

describe("reachability options", () => {
  it("sample.yaml validates as devices of a campus config", () => {
    const sample = parse(readFileSync(samplePath, "utf8")) as { devices: unknown[] };
    expect(sample.devices.length).toBeGreaterThan(0);
    const schema = buildConfigSchema([reachabilityDriver]);
    const cfg = schema.parse({ campus: { id: "demo" }, gateway: { id: "gw1" }, devices: sample.devices });
    expect(cfg.devices.map((d) => d.kind)).toEqual(sample.devices.map(() => "reachability"));
    for (const d of sample.devices as { options: unknown }[]) expect(issues(d.options)).toEqual([]);
  });

  it("fills defaults for an http check: GET, 200-399, full TLS verification, 64 KiB body cap", () => {
    const o = reachabilityOptionsSchema.parse({ host: "10.0.0.5", http: { url: "http://10.0.0.5/health" } });
    expect(o.http).toEqual({
      url: "http://10.0.0.5/health",
      method: "GET",
      expect_status: "200-399",
      tls_verify: "full",
      max_body_bytes: 65536,
    });
    expect(o.port).toBeUndefined();
  });

  it("needs a port, an http check or both", () => {
    expect(issues({ host: "10.0.0.5" })).toEqual(["port: give a port, an http check, or both"]);
    expect(issues({ host: "10.0.0.5", port: 22 })).toEqual([]);
  });

  it("rejects a misspelt option instead of ignoring it", () => {
    expect(issues({ host: "10.0.0.5", port: 22, degraded_above: 100 }).join()).toMatch(/degraded_above/);
    expect(issues({ host: "10.0.0.5", http: { url: "http://10.0.0.5/", tls_verfy: "full" } }).join()).toMatch(/tls_verfy/);
  });

  it("rejects a health URL on another host than the device's", () => {
    expect(issues({ host: "10.0.0.5", http: { url: "http://10.0.0.6/health" } })).toEqual([
      'http.url: must point at host "10.0.0.5" (found "10.0.0.6")',
    ]);
    expect(issues({ host: "NVR.school.local", http: { url: "http://nvr.school.local:8080/" } })).toEqual([]);
  });

  it("rejects a non-HTTP URL, an out-of-range port and a ca_file on plain http", () => {
    expect(issues({ host: "a", http: { url: "ftp://a/" } }).join()).toMatch(/http:\/\/ or https:\/\//);
    expect(issues({ host: "a", port: 70000 }).join()).toMatch(/TCP port/);
    expect(issues({ host: "a", http: { url: "http://a/", ca_file: "/x.pem" } })).toEqual(["http.ca_file: ca_file needs an https:// URL"]);
  });

  it("accepts statuses as a code, a class, a range or a list of them, and nothing else", () => {
    const ok = (expect_status: unknown) => issues({ host: "a", http: { url: "http://a/", expect_status } });
    for (const good of [204, "2xx", "200-299", [200, "3xx", "401-403"]]) expect(ok(good)).toEqual([]);
    for (const bad of [99, 600, "2xxx", "299-200", "ok", []]) expect(ok(bad)).not.toEqual([]);
  });

  it("matches statuses against codes, classes and ranges", () => {
    expect(statusRange("2xx")).toEqual([200, 299]);
    expect(statusExpected("200-399", 302)).toBe(true);
    expect(statusExpected("200-399", 503)).toBe(false);
    expect(statusExpected([204, "5xx"], 503)).toBe(true);
    expect(statusExpected([204, "5xx"], 200)).toBe(false);
  });
});

describe("reachability error mapping", () => {
  const errno = (code: string) => Object.assign(new Error(code), { code });

  it.each([
    ["ECONNREFUSED", "connect", "refused", true],
    ["EHOSTUNREACH", "connect", "unreachable", true],
    ["ENETUNREACH", "connect", "unreachable", true],
    ["ENOTFOUND", "connect", "dns", false],
    ["EAI_AGAIN", "connect", "dns", true],
    ["ETIMEDOUT", "connect", "timeout", true],
    ["HPE_INVALID_CONSTANT", "http", "protocol", false],
    ["ECONNRESET", "http", "protocol", true],
    ["ERR_SSL_WRONG_VERSION_NUMBER", "tls", "tls", true],
  ] as const)("maps %s during %s to %s (retryable %s)", (code, phase, reason, retryable) => {
    const e = toDriverError(errno(code), phase, "tcp 10.0.0.5:80");
    expect(e).toBeInstanceOf(DriverError);
    expect({ code: e.code, retryable: e.retryable }).toEqual({ code: reason, retryable });
    expect(e.message).toMatch(/^tcp 10\.0\.0\.5:80: /);
    expect((e.cause as Error).message).toBe(code);
  });

  it("reads the first attempt's code from the AggregateError of a multi-address connect", () => {
    const e = toDriverError(new AggregateError([errno("EHOSTUNREACH"), errno("ECONNREFUSED")]), "connect", "tcp x:80");
    expect(e.code).toBe("unreachable");
  });

  it("calls an error without a known code internal rather than guessing", () => {
    expect(toDriverError(new Error("boom"), "http", "GET x").code).toBe("internal");
  });
});
