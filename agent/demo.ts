/**
 * `campus-agent demo` (and `npm start`): the agent on its embedded default —
 * an in-process aedes broker on 127.0.0.1:1883 and a simulated campus, run as
 * a separate process from scripts/sim so the drivers talk to it over real
 * sockets, exactly as they would to real devices.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { ConfigError, type LoadedConfig, loadConfigFile } from "../config/load.js";
import { DRIVERS } from "../drivers/registry.js";
import { createLogger } from "./log.js";
import { reloader, runAgent } from "./run.js";
import { PACKAGE_ROOT } from "./version.js";

export const DEMO_CONFIG = join(PACKAGE_ROOT, "config", "demo.yaml");

export interface DemoOptions {
  /** Embedded broker port (0 picks a free one); default from config/demo.yaml (1883). */
  brokerPort?: number;
  /** Where the demo's outbox lives; default data/ in the install folder. */
  dataDir?: string;
}

/** The demo cameras' password (scripts/sim/demo-campus.ts): given through the environment, as on a real gateway. */
const DEMO_CAMERA_ENV = { CAMPUS_DEMO_CAMERA_PASSWORD: "demo-camera-pass" };

export async function runDemo(opts: DemoOptions = {}): Promise<number> {
  for (const [k, v] of Object.entries(DEMO_CAMERA_ENV)) process.env[k] ??= v;
  const loaded = withOverrides(loadConfigFile(DEMO_CONFIG, { drivers: DRIVERS }), opts);
  const log = createLogger({ level: loaded.config.log.level });
  let campus: ChildProcess;
  try {
    campus = await startCampus();
  } catch (err) {
    log.fatal({ err }, "the simulated campus did not start");
    return 1;
  }
  const reload = () => {
    const next = reloader(DEMO_CONFIG)();
    return next instanceof ConfigError ? next : withOverrides(next, opts);
  };
  const code = await runAgent(loaded, log, reload, (agent) => {
    const url = new URL(agent.snapshot()?.brokerUrl ?? "mqtt://127.0.0.1:1883");
    const host = url.hostname;
    const port = url.port;
    process.stderr.write(
      `\nDemo campus "${loaded.config.campus.id}" is running: ${loaded.config.devices.length} simulated devices, embedded broker on ${host}:${port}.\n` +
      "Watch what it publishes, in another terminal:\n" +
      `  mosquitto_sub -h ${host} -p ${port} -t 'campus/#' -v      (Debian: apt-get install mosquitto-clients)\n` +
      `  npx mqtt sub -h ${host} -p ${port} -t 'campus/#' -v       (no install needed)\n` +
      "Stop with Ctrl-C.\n\n",
    );
  });
  campus.kill("SIGTERM");
  return code;
}

function withOverrides(loaded: LoadedConfig, opts: DemoOptions): LoadedConfig {
  const c = loaded.config;
  return {
    ...loaded,
    config: {
      ...c,
      broker: { ...c.broker, embedded: { ...c.broker.embedded, ...(opts.brokerPort !== undefined ? { port: opts.brokerPort } : {}) } },
      outbox: { ...c.outbox, ...(opts.dataDir !== undefined ? { path: join(opts.dataDir, "demo-outbox.db") } : {}) },
    },
  };
}

/** Start scripts/sim/campus.js and wait for its READY line. */
function startCampus(): Promise<ChildProcess> {
  const script = join(PACKAGE_ROOT, "dist", "scripts", "sim", "campus.js");
  const child = spawn(process.execPath, [script], { stdio: ["pipe", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error("no READY line from the campus simulator within 15 s"));
    }, 15_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`campus simulator exited with code ${code}`));
    });
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on("line", (line) => {
      if (line.startsWith("READY")) {
        clearTimeout(timer);
        resolve(child);
      }
    });
  });
}
