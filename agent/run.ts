/** Running an agent as a process: signals, reload, crash handling. */
import type { Logger } from "pino";
import { ConfigError, type LoadedConfig, loadConfigFile } from "../config/load.js";
import { DRIVERS } from "../drivers/registry.js";
import { Agent } from "./agent.js";
import { PolicyError, withPolicy } from "./lifecycle/policy.js";
import type { RecentLog } from "./log.js";
import { VERSION } from "./version.js";

/**
 * Re-read a config file and the lifecycle policy it names, for SIGHUP: the
 * new config, or every problem found in either (a PolicyError for the policy).
 */
export function reloader(file: string): () => LoadedConfig | ConfigError {
  return () => {
    try {
      return withPolicy(loadConfigFile(file, { drivers: DRIVERS }));
    } catch (err) {
      if (err instanceof ConfigError) return err;
      throw err;
    }
  };
}

export interface RunOptions {
  /** The last warnings and errors of `log`, for `campus-agent status`. */
  recentLog?: RecentLog;
  onStarted?: (agent: Agent) => void;
}

/**
 * Run an agent until SIGTERM/SIGINT; SIGHUP reloads through `reload`, and an
 * invalid config keeps the running one. Resolves with the exit code.
 */
export async function runAgent(loaded: LoadedConfig, log: Logger, reload: () => LoadedConfig | ConfigError, opts: RunOptions = {}): Promise<number> {
  installCrashHandlers(log);
  const agent = new Agent({ loaded, drivers: DRIVERS, log, version: VERSION, recentLog: opts.recentLog });
  try {
    await agent.start();
  } catch (err) {
    log.fatal({ err }, "agent could not start");
    return 1;
  }
  opts.onStarted?.(agent);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onHup = () => {
      const next = reload();
      if (next instanceof ConfigError) {
        agent.reloadRejected(
          next.problems.map((p) => `${p.path || "(root)"}: ${p.message}`),
          next instanceof PolicyError ? next.file : undefined,
        );
        return;
      }
      agent.reload(next).catch((err: unknown) => log.error({ err }, "config reload failed"));
    };
    const onStop = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ signal }, "second stop signal: exiting now");
        process.exit(1);
      }
      stopping = true;
      log.info({ signal }, "stopping");
      agent
        .stop()
        .then(() => resolve(0))
        .catch((err: unknown) => {
          log.error({ err }, "unclean stop");
          resolve(1);
        })
        .finally(() => {
          process.off("SIGHUP", onHup);
          process.off("SIGTERM", onStop);
          process.off("SIGINT", onStop);
        });
    };
    process.on("SIGHUP", onHup);
    process.on("SIGTERM", onStop);
    process.on("SIGINT", onStop);
  });
}

function installCrashHandlers(log: Logger): void {
  // A stray rejection from a library must not take down alarm delivery; log it loudly.
  process.on("unhandledRejection", (reason) => log.error({ err: reason }, "unhandled promise rejection"));
  // An uncaught exception leaves state unknown: exit and let systemd restart us. The outbox is durable.
  process.on("uncaughtException", (err) => {
    log.fatal({ err }, "uncaught exception; exiting");
    process.exit(1);
  });
}
