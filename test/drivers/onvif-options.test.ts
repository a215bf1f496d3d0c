import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { z } from "zod";
import { configJsonSchema } from "../../config/json-schema.js";
import { buildConfigSchema } from "../../config/schema.js";
import { onvifDriver } from "../../drivers/onvif/index.js";
import { endpoint, onvifOptionsSchema, resolvePassword, sessionKey } from "../../drivers/onvif/options.js";

const samplePath = fileURLToPath(new URL("../../drivers/onvif/sample.yaml", import.meta.url));

function issues(input: unknown): string[] {
  const r = onvifOptionsSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
}

describe("onvif options", () => {
  it("sample.yaml validates as devices of a campus config", () => {
    const sample = parse(readFileSync(samplePath, "utf8")) as { devices: { options: unknown }[] };
    expect(sample.devices.length).toBeGreaterThan(0);
    const cfg = buildConfigSchema([onvifDriver]).parse({ campus: { id: "demo" }, gateway: { id: "gw1" }, devices: sample.devices });
    expect(cfg.devices.every((d) => d.kind === "onvif")).toBe(true);
    for (const d of sample.devices) expect(issues(d.options)).toEqual([]);
  });

  it("converts to the editor JSON Schema, every option described", () => {
    const schema = JSON.stringify(configJsonSchema([onvifDriver]));
    for (const key of ["max_clock_drift_ms", "wsse_window_ms", "max_response_bytes", "password_file", "xaddr"])
      expect(schema).toContain(`"${key}"`);
    const props = (z.toJSONSchema(onvifOptionsSchema, { io: "input" }) as { properties: Record<string, { description?: string }> })
      .properties;
    for (const [key, p] of Object.entries(props)) expect(p.description, key).toBeTruthy();
  });

  it("fills defaults: 5 s per call, 5 s clock drift, 1 MiB answers, snapshot off", () => {
    const o = onvifOptionsSchema.parse({ host: "10.20.1.31" });
    expect(o).toMatchObject({ timeout_ms: 5000, max_clock_drift_ms: 5000, wsse_window_ms: 5000, max_response_bytes: 1048576 });
    expect(o.snapshot).toEqual({ mode: "off", min_bytes: 1024, max_bytes: 4 * 1024 * 1024 });
    expect(endpoint(o)).toEqual({ host: "10.20.1.31", port: 80, path: "/onvif/device_service" });
  });

  it("takes host, port and path from xaddr, and refuses both forms at once", () => {
    const o = onvifOptionsSchema.parse({ xaddr: "http://10.20.1.31:8080/onvif/device_service" });
    expect(endpoint(o)).toEqual({ host: "10.20.1.31", port: 8080, path: "/onvif/device_service" });
    expect(issues({ xaddr: "http://10.20.1.31/onvif/device_service", port: 80 })).toEqual([
      "port: xaddr already gives host, port and path: give one or the other",
    ]);
    expect(issues({})).toEqual(["host: give the camera's host (or its xaddr)"]);
    expect(issues({ xaddr: "https://10.20.1.31/onvif/device_service" }).join()).toMatch(/http:\/\//);
  });

  it("refuses an inline password with the broker's wording, and lists it with other problems", () => {
    expect(issues({ host: "cam", username: "admin", password: "hunter2", port: 0 })).toEqual([
      "port: expected a TCP port (1-65535)",
      "password: inline passwords are not accepted: put it in a file (password_file) or an environment variable (password_env)",
      "username: a username needs a password: set password_env or password_file",
    ]);
  });

  it("wants a username with a password, one password source, and an absolute password_file", () => {
    expect(issues({ host: "cam", password_env: "CAM_PW" })).toEqual(["username: a password needs a username"]);
    expect(issues({ host: "cam", username: "a", password_env: "X", password_file: "/p" })).toEqual([
      "password_env: set password_file or password_env, not both",
    ]);
    expect(issues({ host: "cam", username: "a", password_file: "secrets/cam" })).toEqual(["password_file: expected an absolute path"]);
  });

  it("refuses a username the library would write into XML unescaped", () => {
    expect(issues({ host: "cam", username: "a<b", password_env: "X" }).join()).toMatch(/username/);
  });

  it("rejects a misspelt option instead of ignoring it", () => {
    expect(issues({ host: "cam", timeout: 100 }).join()).toMatch(/timeout/);
    expect(issues({ host: "cam", snapshot: { mode: "fetch", max_byte: 1 } }).join()).toMatch(/max_byte/);
  });

  it("checks snapshot bounds against each other", () => {
    expect(issues({ host: "cam", snapshot: { mode: "fetch", min_bytes: 5000, max_bytes: 4096 } })).toEqual([
      "snapshot.min_bytes: must not exceed max_bytes",
    ]);
  });
});

describe("onvif password resolution", () => {
  const dir = mkdtempSync(join(tmpdir(), "onvif-pw-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads the password from the named environment variable at poll time", async () => {
    const o = onvifOptionsSchema.parse({ host: "cam", username: "admin", password_env: "CAM_PW" });
    await expect(resolvePassword(o, { CAM_PW: "s3cret" })).resolves.toEqual({ username: "admin", password: "s3cret" });
  });

  it("reads the password from a file, trimming one trailing newline", async () => {
    const file = join(dir, "pw");
    writeFileSync(file, "s3cret\n");
    const o = onvifOptionsSchema.parse({ host: "cam", username: "admin", password_file: file });
    await expect(resolvePassword(o)).resolves.toEqual({ username: "admin", password: "s3cret" });
  });

  it("fails with config, not retryable, when the variable is unset or the file is missing or empty", async () => {
    const env = onvifOptionsSchema.parse({ host: "cam", username: "admin", password_env: "CAM_PW" });
    await expect(resolvePassword(env, {})).rejects.toMatchObject({
      code: "config",
      retryable: false,
      message: expect.stringContaining("CAM_PW"),
    });
    const missing = onvifOptionsSchema.parse({ host: "cam", username: "admin", password_file: join(dir, "nope") });
    await expect(resolvePassword(missing)).rejects.toMatchObject({ code: "config", message: expect.stringContaining("ENOENT") });
    writeFileSync(join(dir, "empty"), "\n");
    const empty = onvifOptionsSchema.parse({ host: "cam", username: "admin", password_file: join(dir, "empty") });
    await expect(resolvePassword(empty)).rejects.toMatchObject({ code: "config", message: expect.stringContaining("empty") });
  });

  it("keys a kept session on options and credentials without holding the password in the key", () => {
    const o = onvifOptionsSchema.parse({ host: "cam", username: "admin", password_env: "CAM_PW" });
    const a = sessionKey(o, { username: "admin", password: "one" });
    expect(a).not.toContain("one");
    expect(sessionKey(o, { username: "admin", password: "two" })).not.toBe(a);
    expect(sessionKey({ ...o, timeout_ms: 1 }, { username: "admin", password: "one" })).not.toBe(a);
    expect(sessionKey(o, { username: "admin", password: "one" })).toBe(a);
  });
});
