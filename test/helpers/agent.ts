/** An agent in this test's process: the way the in-process tests start one. */
import { join } from "node:path";
import { Writable } from "node:stream";
import type { Logger } from "pino";
import { stringify } from "yaml";
import { Agent } from "../../agent/agent.js";
import { createLogger, type RecentLog } from "../../agent/log.js";
import { type LoadedConfig, parseConfig } from "../../config/load.js";
import type { DriverFactory } from "../../drivers/contract.js";

/** A logger at warn level that writes nowhere, but feeds `recent` when given (as `campus-agent status` reads it). */
export function quietLog(recent?: RecentLog): Logger {
  return createLogger({ level: "warn", destination: new Writable({ write: (_c, _e, cb) => cb() }), ...(recent !== undefined ? { recent } : {}) });
}

/**
 * Start an agent on `loaded` (stopped by `cleanups`), with a quiet log unless
 * one is given; its control socket is the config's.
 */
export async function startTestAgent(
  loaded: LoadedConfig,
  drivers: readonly DriverFactory[],
  cleanups: (() => unknown)[],
  opts: { log?: Logger; recentLog?: RecentLog; version?: string } = {},
): Promise<{ agent: Agent; socket: string }> {
  const agent = new Agent({ loaded, drivers, log: opts.log ?? quietLog(opts.recentLog), version: opts.version ?? "0.0.0-test", recentLog: opts.recentLog });
  await agent.start();
  cleanups.push(() => agent.stop());
  return { agent, socket: loaded.config.control.socket ?? "" };
}

/**
 * The config of campus lincoln, gateway gw-1, as `dir`/config.yaml would
 * hold it: its broker speaks MQTT 3.1.1 (aedes), its outbox is in `dir` and
 * flushed every 20 ms; `sections` add to those and give the rest.
 */
export function campusConfig(
  dir: string,
  sections: { broker: Record<string, unknown> } & Record<string, unknown>,
  opts: { drivers: readonly DriverFactory[]; env?: NodeJS.ProcessEnv },
): LoadedConfig {
  const { broker, outbox, ...rest } = sections as typeof sections & { outbox?: Record<string, unknown> };
  const text = stringify({
    campus: { id: "lincoln" },
    gateway: { id: "gw-1" },
    broker: { protocol: "mqtt3.1.1", ...broker },
    outbox: { path: "outbox.db", flush_interval_ms: 20, ...outbox },
    ...rest,
  });
  return parseConfig(text, { file: join(dir, "config.yaml"), drivers: opts.drivers, env: opts.env ?? {} });
}
