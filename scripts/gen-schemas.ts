/**
 * Writes the generated JSON Schemas, or with --check fails when a committed one
 * is stale (for CI: a schema change must ship with its regenerated file).
 *
 *   npm run build && node dist/scripts/gen-schemas.js [--check]
 *
 * Targets: the config schema for editors, and the MQTT payload schemas of
 * docs/schemas/ for consumers.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { payloadJsonSchemas } from "../agent/mqtt/json-schema.js";
import { configJsonSchema } from "../config/json-schema.js";
import { DRIVERS } from "../drivers/registry.js";

export interface GeneratedFile {
  /** Relative to the repository root. */
  path: string;
  content: unknown;
}

function targets(): GeneratedFile[] {
  return [{ path: "config/config.schema.json", content: configJsonSchema(DRIVERS) }, ...payloadJsonSchemas()];
}

export function renderJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** Writes each file whose content differs (or only lists them when checking); returns the paths that differ. */
export function syncGeneratedFiles(root: string, files: readonly GeneratedFile[], mode: "write" | "check"): string[] {
  const stale: string[] = [];
  for (const f of files) {
    const abs = join(root, f.path);
    const text = renderJson(f.content);
    if (existsSync(abs) && readFileSync(abs, "utf8") === text) continue;
    stale.push(f.path);
    if (mode === "write") {
      mkdirSync(dirname(abs), { recursive: true });
      writeFileSync(abs, text);
    }
  }
  return stale;
}

/** The repository root: the nearest folder above this file with a package.json (works from scripts/ and dist/scripts/). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("package.json not found above this script");
    dir = up;
  }
  return dir;
}

function main(argv: readonly string[]): number {
  const check = argv.includes("--check");
  const stale = syncGeneratedFiles(repoRoot(), targets(), check ? "check" : "write");
  if (check && stale.length > 0) {
    console.error(`stale generated files (run gen-schemas without --check): ${stale.join(", ")}`);
    return 1;
  }
  console.log(stale.length === 0 ? "generated files are up to date" : `wrote ${stale.join(", ")}`);
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = main(process.argv.slice(2));
}
