/** A small driver set for config tests, independent of the real registry. */
import { z } from "zod";
import { ConfigError, type ConfigProblem, type LoadedConfig, type ParseOptions, parseConfig } from "../../config/load.js";
import { defineDriver } from "../../drivers/contract.js";

const notPolled = () => Promise.reject(new Error("config tests never poll"));

export const tcpDriver = defineDriver({
  kind: "tcp",
  description: "TCP connect check.",
  optionsSchema: z.strictObject({ host: z.string(), port: z.int() }),
  create: () => ({ poll: notPolled }),
});

export const webDriver = defineDriver({
  kind: "web",
  description: "HTTP check.",
  optionsSchema: z.strictObject({ url: z.string(), expect_status: z.union([z.int(), z.array(z.int())]).optional() }),
  create: () => ({ poll: notPolled }),
});

export const TEST_DRIVERS = [tcpDriver, webDriver] as const;

export const CONFIG_FILE = "/etc/campus-agent/config.yaml";

export const BASE = "campus:\n  id: lincoln-hs\ngateway:\n  id: gw-1\n";

/** readFile over an in-memory folder; a missing file fails like fs does. */
export function memFiles(files: Record<string, string>): (p: string) => string {
  return (p) => {
    const content = files[p];
    if (content === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${p}'`), { code: "ENOENT" });
    return content;
  };
}

export function parse(yaml: string, opts: Partial<ParseOptions> = {}): LoadedConfig {
  return parseConfig(yaml, { file: CONFIG_FILE, drivers: TEST_DRIVERS, env: {}, readFile: memFiles({}), ...opts });
}

export function errorOf(yaml: string, opts: Partial<ParseOptions> = {}): ConfigError {
  try {
    parse(yaml, opts);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError, the config was accepted");
}

export function problemsOf(yaml: string, opts: Partial<ParseOptions> = {}): ConfigProblem[] {
  return errorOf(yaml, opts).problems;
}

/** `path: message` of each problem, the form people read. */
export function linesOf(yaml: string, opts: Partial<ParseOptions> = {}): string[] {
  return problemsOf(yaml, opts).map((p) => `${p.path}: ${p.message}`);
}
