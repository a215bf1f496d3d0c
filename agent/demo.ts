/**
 * `campus-agent demo` (and `npm start`): the agent on its embedded default —
 * an in-process aedes broker on 127.0.0.1:1883 and a simulated campus, run as
 * a separate process from scripts/sim so the drivers talk to it over real
 * sockets (and door controllers over a PTY standing in for an RS-485 line),
 * exactly as they would to real devices.
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
  /** Where the demo's outbox and the campus's serial lines (PTY links) live; default data/ in the install folder. */
  dataDir?: string;
}

/** The demo's data folder when none is given: data/ in the install folder, where config/demo.yaml puts the outbox. */
const DEFAULT_DATA_DIR = join(PACKAGE_ROOT, "data");

/**
 * The placeholder folder of the serial devices in config/demo.yaml (the same
 * value as DEMO_SERIAL_DIR in scripts/sim/demo-campus.ts, which the agent does
 * not load). The demo rewrites it into its data folder, where the simulated
 * campus makes its PTY links: two demos with their own data folders never
 * share a serial line.
 */
export const DEMO_SERIAL_DIR = "/demo-data";

/** The demo cameras' password (scripts/sim/demo-campus.ts): given through the environment, as on a real gateway. */
const DEMO_CAMERA_ENV = { CAMPUS_DEMO_CAMERA_PASSWORD: "demo-camera-pass" };

export async function runDemo(opts: DemoOptions = {}): Promise<number> {
  for (const [k, v] of Object.entries(DEMO_CAMERA_ENV)) process.env[k] ??= v;
  const loaded = withOverrides(loadConfigFile(DEMO_CONFIG, { drivers: DRIVERS }), opts);
  const log = createLogger({ level: loaded.config.log.level });
  let campus: ChildProcess;
  try {
    campus = await startCampus(opts.dataDir ?? DEFAULT_DATA_DIR);
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

/** The demo's options over config/demo.yaml: broker port, outbox and serial lines in the data folder. Exported for its test. */
export function withOverrides(loaded: LoadedConfig, opts: DemoOptions): LoadedConfig {
  const c = loaded.config;
  const dataDir = opts.dataDir ?? DEFAULT_DATA_DIR;
  return {
    ...loaded,
    config: {
      ...c,
      broker: { ...c.broker, embedded: { ...c.broker.embedded, ...(opts.brokerPort !== undefined ? { port: opts.brokerPort } : {}) } },
      outbox: { ...c.outbox, ...(opts.dataDir !== undefined ? { path: join(opts.dataDir, "demo-outbox.db") } : {}) },
      devices: c.devices.map((d) => {
        const path = serialPathOf(d.options);
        if (path === undefined || !path.startsWith(`${DEMO_SERIAL_DIR}/`)) return d;
        return { ...d, options: { ...(d.options as object), path: join(dataDir, path.slice(DEMO_SERIAL_DIR.length + 1)) } } as typeof d;
      }),
    },
  };
}

/** The serial device path of a device's options (Modbus RTU), if it has one. */
function serialPathOf(options: unknown): string | undefined {
  if (typeof options !== "object" || options === null) return undefined;
  const path = (options as { path?: unknown }).path;
  return typeof path === "string" ? path : undefined;
}

/** Start scripts/sim/campus.js, its serial lines in `serialDir`, and wait for its READY line. */
function startCampus(serialDir: string): Promise<ChildProcess> {
  const script = join(PACKAGE_ROOT, "dist", "scripts", "sim", "campus.js");
  const child = spawn(process.execPath, [script, "--serial-dir", serialDir], { stdio: ["pipe", "pipe", "inherit"] });
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
