/** An agent in this test's process: the way the in-process tests start one. */
import { Writable } from "node:stream";
import type { Logger } from "pino";
import { Agent } from "../../agent/agent.js";
import { createLogger, type RecentLog } from "../../agent/log.js";
import type { LoadedConfig } from "../../config/load.js";
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
