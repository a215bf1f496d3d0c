/** The MQTT contract as consumers read it: the committed JSON Schemas of docs/schemas. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import { expect } from "vitest";
import { PAYLOAD_SCHEMAS } from "../../agent/mqtt/contract.js";
import { payloadSchemaFile } from "../../agent/mqtt/json-schema.js";

const ROOT = join(import.meta.dirname, "..", "..");

/** Every payload validates against the committed docs/schemas file its `schema` field names (ajv, not zod). */
export function expectValidPayloads(messages: readonly { topic: string; payload: string }[]): void {
  const names = Object.keys(PAYLOAD_SCHEMAS);
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, validateFormats: false });
  const validators = new Map(
    names.map((n) => [`campus-edge/${n}/v1`, ajv.compile(JSON.parse(readFileSync(join(ROOT, payloadSchemaFile(n)), "utf8")) as object)]),
  );
  for (const m of messages) {
    if (m.payload === "") continue;
    const validate = validators.get(String((JSON.parse(m.payload) as { schema: string }).schema));
    expect(validate, `${m.topic} names a known schema`).toBeDefined();
    const ok = validate?.(JSON.parse(m.payload));
    expect(ok, `${m.topic}: ${JSON.stringify(validate?.errors)}`).toBe(true);
  }
}
