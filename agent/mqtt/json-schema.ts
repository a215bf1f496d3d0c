/**
 * docs/schemas/<name>.v<N>.json: the MQTT payload contract as JSON Schema
 * (draft 2020-12), generated from agent/mqtt/contract.ts by
 * scripts/gen-schemas.ts, never edited by hand. Consumers validate with these.
 */
import { z } from "zod";
import { CONTRACT_VERSION, PAYLOAD_SCHEMAS } from "./contract.js";

export function payloadSchemaFile(name: string): string {
  return `docs/schemas/${name}.v${CONTRACT_VERSION}.json`;
}

export function payloadJsonSchemas(): { path: string; content: Record<string, unknown> }[] {
  return Object.entries(PAYLOAD_SCHEMAS).map(([name, schema]) => {
    // io "input" leaves objects open (no additionalProperties: false): within a
    // version fields may be added, and a consumer's validator must not break on them.
    const { $schema, ...rest } = z.toJSONSchema(schema, { io: "input" }) as Record<string, unknown>;
    return {
      path: payloadSchemaFile(name),
      content: {
        $schema,
        $id: `urn:campus-edge-agent:mqtt:${name}:v${CONTRACT_VERSION}`,
        title: `campus-edge/${name}/v${CONTRACT_VERSION}`,
        description: "Campus Edge Agent MQTT payload; see docs/mqtt.md.",
        ...rest,
      },
    };
  });
}
