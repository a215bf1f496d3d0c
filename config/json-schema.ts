/**
 * config/config.schema.json, for editors (yaml-language-server completes and
 * checks the YAML as it is typed). Generated from the zod schema by
 * scripts/gen-schemas.ts, never edited by hand.
 */
import { z } from "zod";
import type { DriverFactory } from "../drivers/contract.js";
import { buildConfigSchema } from "./schema.js";

export const CONFIG_SCHEMA_ID = "urn:campus-edge-agent:config";

export function configJsonSchema(drivers: readonly DriverFactory[]): Record<string, unknown> {
  // io "input": the schema of what a person writes, so a field with a default
  // is optional, as in the YAML; the "output" side would mark it required.
  const generated = z.toJSONSchema(buildConfigSchema(drivers), { io: "input" }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    $id: CONFIG_SCHEMA_ID,
    title: "Campus Edge Agent configuration",
    description: "The YAML file given to campus-agent. Validated at start; every problem is listed at once.",
    ...rest,
  };
}
