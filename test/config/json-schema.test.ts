import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, test } from "vitest";
import { parse as parseYaml } from "yaml";
import { CONFIG_SCHEMA_ID, configJsonSchema } from "../../config/json-schema.js";
import { BASE, TEST_DRIVERS } from "./helpers.js";

const GOOD = `${BASE}broker:
  url: mqtts://broker.district.example:8883
  username: lincoln-hs
  password_env: MQTT_PASSWORD
polling: {interval_ms: 10000}
devices:
  - id: door-1
    kind: tcp
    category: safety-critical
    location: {building: A, room: "101"}
    options: {host: 10.0.0.5, port: 554}
  - id: web-1
    kind: web
    category: operational
    options: {url: "http://10.0.0.6/health", expect_status: [200, 204]}
`;

function validator() {
  const ajv = new Ajv2020({ allErrors: true });
  return ajv.compile(configJsonSchema(TEST_DRIVERS));
}

describe("configJsonSchema", () => {
  test("identifies itself with a $id, a title and the 2020-12 dialect", () => {
    const schema = configJsonSchema(TEST_DRIVERS);
    expect(schema).toMatchObject({ $id: CONFIG_SCHEMA_ID, title: "Campus Edge Agent configuration" });
    expect(schema.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
  });

  test("accepts a good config as written, without the fields that have defaults", () => {
    const validate = validator();
    expect(validate(parseYaml(GOOD)), JSON.stringify(validate.errors)).toBe(true);
    expect(validate(parseYaml(BASE))).toBe(true);
  });

  test("rejects a config with an unknown key, a wrong type, an unknown kind or a bad id", () => {
    const validate = validator();
    const bad = [
      `${BASE}polling: {intervall_ms: 1000}\n`,
      `${BASE}polling: {interval_ms: fast}\n`,
      `${BASE}devices:\n  - {id: d, kind: foo, category: operational, options: {}}\n`,
      `${BASE}devices:\n  - {id: d, kind: tcp, category: operational, options: {host: h, port: 1, extra: 1}}\n`,
      "campus: {id: a/b}\ngateway: {id: g}\n",
      "gateway: {id: g}\n",
    ];
    for (const yaml of bad) expect(validate(parseYaml(yaml)), yaml).toBe(false);
  });

  test("checks modbus_profiles for editors: a good profile passes, a misspelt point field or an unknown format does not", () => {
    const validate = validator();
    const point = (extra: string) => `${BASE}modbus_profiles:\n  - name: acme\n    points:\n      firmware_version: {table: input, address: 0, type: u16${extra}}\n`;
    expect(validate(parseYaml(point(", format: major_minor"))), JSON.stringify(validate.errors)).toBe(true);
    expect(validate(parseYaml(point(", adress: 1")))).toBe(false);
    expect(validate(parseYaml(point(", format: semver")))).toBe(false);
  });

  test("marks defaulted fields optional and carries their defaults for editors", () => {
    const schema = configJsonSchema(TEST_DRIVERS) as { required?: string[]; properties: Record<string, { default?: unknown }> };
    expect(schema.required).toEqual(["campus", "gateway"]);
    expect(schema.properties.log.default).toEqual({ level: "info" });
  });
});
