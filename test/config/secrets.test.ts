import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { ConfigError, loadConfigFile } from "../../config/load.js";
import { BASE, errorOf, linesOf, memFiles, parse, TEST_DRIVERS } from "./helpers.js";

const SECRET = "s3cret-Value-42";
const WITH_FILE = `${BASE}broker:\n  url: mqtts://broker.district.example:8883\n  username: lincoln-hs\n  password_file: mqtt.pass\n`;
const WITH_ENV = `${BASE}broker:\n  url: mqtts://broker.district.example:8883\n  username: lincoln-hs\n  password_env: MQTT_PASSWORD\n`;

describe("broker password", () => {
  test("is read from password_file, with one trailing newline trimmed", () => {
    expect(parse(WITH_FILE, { readFile: memFiles({ "/etc/campus-agent/mqtt.pass": `${SECRET}\n` }) }).secrets).toEqual({
      brokerPassword: SECRET,
    });
    expect(parse(WITH_FILE, { readFile: memFiles({ "/etc/campus-agent/mqtt.pass": `${SECRET}\r\n` }) }).secrets.brokerPassword).toBe(
      SECRET,
    );
    expect(parse(WITH_FILE, { readFile: memFiles({ "/etc/campus-agent/mqtt.pass": " a b \n\n" }) }).secrets.brokerPassword).toBe(" a b \n");
  });

  test("is read from password_env", () => {
    expect(parse(WITH_ENV, { env: { MQTT_PASSWORD: SECRET } }).secrets).toEqual({ brokerPassword: SECRET });
  });

  test("is absent when the broker needs none", () => {
    expect(parse(BASE).secrets).toEqual({});
  });

  test("never appears in the returned config", () => {
    const fromFile = parse(WITH_FILE, { readFile: memFiles({ "/etc/campus-agent/mqtt.pass": SECRET }) });
    const fromEnv = parse(WITH_ENV, { env: { MQTT_PASSWORD: SECRET } });
    for (const loaded of [fromFile, fromEnv]) {
      expect(JSON.stringify(loaded.config)).not.toContain(SECRET);
      expect(loaded.config.broker.password).toBeUndefined();
    }
  });

  test("never appears in error messages, whatever else is wrong", () => {
    const yaml = `${WITH_FILE}  protocol: mqtt4\n  tls: {ca_file: missing.pem}\nlog: {level: loud}\n`;
    const err = errorOf(yaml, { readFile: memFiles({ "/etc/campus-agent/mqtt.pass": SECRET }) });
    expect(err.problems.map((p) => p.path)).toEqual(["broker.protocol", "broker.tls.ca_file", "log.level"]);
    expect(err.message).not.toContain(SECRET);
    expect(JSON.stringify(err.problems)).not.toContain(SECRET);
  });

  test("pasted into password_env by mistake is not echoed back", () => {
    const yaml = `${BASE}broker:\n  username: u\n  password_env: "${SECRET} "\n`;
    expect(linesOf(yaml)).toEqual(["broker.password_env: expected an environment variable name (value not shown)"]);
  });

  test("an unreadable password_file is a problem at its path, with the absolute path and the error code", () => {
    expect(linesOf(WITH_FILE)).toEqual(["broker.password_file: cannot read /etc/campus-agent/mqtt.pass: ENOENT"]);
  });

  test("an empty password_file is a problem", () => {
    expect(linesOf(WITH_FILE, { readFile: () => "\n" })).toEqual(["broker.password_file: /etc/campus-agent/mqtt.pass is empty"]);
  });

  test("an unset or empty password_env is a problem at its path", () => {
    expect(linesOf(WITH_ENV, { env: {} })).toEqual(["broker.password_env: environment variable MQTT_PASSWORD is not set"]);
    expect(linesOf(WITH_ENV, { env: { MQTT_PASSWORD: "" } })).toEqual(["broker.password_env: environment variable MQTT_PASSWORD is empty"]);
  });

  test("file problems are listed together with schema problems", () => {
    expect(linesOf(`${WITH_FILE}log: {level: loud}\n`).map((l) => l.split(":")[0])).toEqual(["broker.password_file", "log.level"]);
  });
});

describe("TLS files", () => {
  const TLS = `${BASE}broker:\n  url: mqtts://broker:8883\n  tls: {ca_file: ca.pem, cert_file: gw.crt, key_file: gw.key}\n`;

  test("each missing TLS file is a problem at its own path", () => {
    expect(linesOf(TLS, { readFile: memFiles({ "/etc/campus-agent/gw.crt": "CERT" }) })).toEqual([
      "broker.tls.ca_file: cannot read /etc/campus-agent/ca.pem: ENOENT",
      "broker.tls.key_file: cannot read /etc/campus-agent/gw.key: ENOENT",
    ]);
  });

  test("readable TLS files are accepted and their content is not kept", () => {
    const key = "-----BEGIN PRIVATE KEY-----secret";
    const loaded = parse(TLS, { readFile: () => key });
    expect(loaded.config.broker.tls?.key_file).toBe("/etc/campus-agent/gw.key");
    expect(JSON.stringify(loaded)).not.toContain(key);
  });
});

describe("loadConfigFile", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "campus-config-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test("reads the file and the secrets next to it from disk", () => {
    mkdirSync(join(dir, "secrets"));
    writeFileSync(join(dir, "secrets", "mqtt.pass"), `${SECRET}\n`);
    writeFileSync(join(dir, "config.yaml"), WITH_FILE.replace("mqtt.pass", "secrets/mqtt.pass"));
    const loaded = loadConfigFile(join(dir, "config.yaml"), { drivers: TEST_DRIVERS, env: {} });
    expect(loaded.file).toBe(join(dir, "config.yaml"));
    expect(loaded.dir).toBe(dir);
    expect(loaded.config.outbox.path).toBe(join(dir, "outbox.db"));
    expect(loaded.secrets.brokerPassword).toBe(SECRET);
  });

  test("a missing config file is a ConfigError naming it", () => {
    const file = join(dir, "nope.yaml");
    const err = (() => {
      try {
        loadConfigFile(file, { drivers: TEST_DRIVERS });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toBe(`${file}: cannot read ${file}: ENOENT`);
  });

  test("a password_file that is a folder is reported with EISDIR", () => {
    mkdirSync(join(dir, "mqtt.pass"));
    writeFileSync(join(dir, "config.yaml"), WITH_FILE);
    expect(() => loadConfigFile(join(dir, "config.yaml"), { drivers: TEST_DRIVERS, env: {} })).toThrow(
      `broker.password_file: cannot read ${join(dir, "mqtt.pass")}: EISDIR`,
    );
  });
});
