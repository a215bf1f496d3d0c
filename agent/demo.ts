/**
 * `campus-agent demo` (and `npm start`): the agent on its embedded default —
 * an in-process aedes broker on 127.0.0.1:1883 and a simulated campus, run as
 * a separate process from scripts/sim so the drivers talk to it over real
 * sockets (and door controllers over a PTY standing in for an RS-485 line),
 * exactly as they would to real devices. The campus's DC-09 panels report to
 * the agent's receiver, the encrypted one with the key the demo writes.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve, sep } from "node:path";
import { createInterface } from "node:readline";
import { ConfigError, DEFAULT_CONTROL_SOCKET, type LoadedConfig, loadConfigFile } from "../config/load.js";
import { withPolicy } from "./lifecycle/policy.js";
import { DRIVERS } from "../drivers/registry.js";
import type { Agent } from "./agent.js";
import { createLogger, RecentLog } from "./log.js";
import { reloader, runAgent } from "./run.js";
import { PACKAGE_ROOT } from "./version.js";

export const DEMO_CONFIG = join(PACKAGE_ROOT, "config", "demo.yaml");

export interface DemoOptions {
  /** Embedded broker port (0 picks a free one); default from config/demo.yaml (1883). */
  brokerPort?: number;
  /** Where the demo's outbox, the campus's serial lines (PTY links) and the DC-09 key file live; default data/ in the install folder. */
  dataDir?: string;
}

/** The demo's data folder when none is given: data/ in the install folder, where config/demo.yaml puts the outbox. */
const DEFAULT_DATA_DIR = join(PACKAGE_ROOT, "data");

/**
 * The placeholder folder of the files in config/demo.yaml (the same value as
 * DEMO_DATA_DIR in scripts/sim/demo-campus.ts, which the agent does not
 * load): serial devices and DC-09 key files. The demo rewrites it into its
 * data folder, where the simulated campus makes its PTY links and the demo
 * writes the key: two demos with their own data folders never share a
 * serial line.
 */
export const DEMO_DATA_DIR = "/demo-data";

/** Device options that name a file, which the demo moves into its data folder when they start with the placeholder. */
const FILE_OPTIONS = ["path", "key_file"] as const;

/** The demo cameras' password (scripts/sim/demo-campus.ts): given through the environment, as on a real gateway. */
const DEMO_CAMERA_ENV = { CAMPUS_DEMO_CAMERA_PASSWORD: "demo-camera-pass" };

/** The encrypted demo panel's AES key (DEMO_DC09_KEY in scripts/sim/demo-campus.ts; a test checks they agree). */
export const DEMO_DC09_KEY = "DE63FFC1DE1A19407B37A74485068683BE9271FD3E7D93F5E609535327B16768";

export async function runDemo(opts: DemoOptions = {}): Promise<number> {
  for (const [k, v] of Object.entries(DEMO_CAMERA_ENV)) process.env[k] ??= v;
  const loaded = withOverrides(withPolicy(loadConfigFile(DEMO_CONFIG, { drivers: DRIVERS })), opts);
  const recentLog = new RecentLog();
  const log = createLogger({ level: loaded.config.log.level, recent: recentLog });
  const dataDir = opts.dataDir ?? DEFAULT_DATA_DIR;
  try {
    writeDemoKeys(loaded, dataDir);
  } catch (err) {
    log.fatal({ err }, "could not write the demo panel's DC-09 key into the data folder");
    return 1;
  }
  let campus: ChildProcess;
  try {
    campus = await startCampus(dataDir);
  } catch (err) {
    log.fatal({ err }, "the simulated campus did not start");
    return 1;
  }
  const reload = () => {
    const next = reloader(DEMO_CONFIG)();
    return next instanceof ConfigError ? next : withOverrides(next, opts);
  };
  const onStarted = (agent: Agent) => {
    const url = new URL(agent.snapshot()?.brokerUrl ?? "mqtt://127.0.0.1:1883");
    const host = url.hostname;
    const port = url.port;
    process.stderr.write(
      `\nDemo campus "${loaded.config.campus.id}" is running: ${loaded.config.devices.length} configured devices, embedded broker on ${host}:${port}.\n` +
      "Watch what it publishes, in another terminal:\n" +
      `  mosquitto_sub -h ${host} -p ${port} -t 'campus/#' -v      (Debian: apt-get install mosquitto-clients)\n` +
      `  npx mqtt sub -h ${host} -p ${port} -t 'campus/#' -v       (no install needed)\n` +
      `The asset register and compliance, for auditors: campus-agent report --socket ${loaded.config.control.socket ?? ""}\n` +
      "Stop with Ctrl-C.\n\n",
    );
  };
  const code = await runAgent(loaded, log, reload, { recentLog, onStarted });
  campus.kill("SIGTERM");
  return code;
}

/**
 * The demo's options over config/demo.yaml: broker port, outbox, serial lines
 * and key files in the data folder. Exported for its test.
 */
export function withOverrides(loaded: LoadedConfig, opts: DemoOptions): LoadedConfig {
  const c = loaded.config;
  // Absolute, as the schema wants these paths (it checked the placeholder's).
  const dataDir = resolve(opts.dataDir ?? DEFAULT_DATA_DIR);
  return {
    ...loaded,
    config: {
      ...c,
      broker: { ...c.broker, embedded: { ...c.broker.embedded, ...(opts.brokerPort !== undefined ? { port: opts.brokerPort } : {}) } },
      outbox: { ...c.outbox, ...(opts.dataDir !== undefined ? { path: join(opts.dataDir, "demo-outbox.db") } : {}) },
      // Next to the outbox, like the default: two demos with their own data folders have their own sockets.
      control: { ...c.control, ...(opts.dataDir !== undefined ? { socket: join(opts.dataDir, DEFAULT_CONTROL_SOCKET) } : {}) },
      devices: c.devices.map((d) => {
        const options = (d.options ?? {}) as Record<string, unknown>;
        const moved = Object.fromEntries(
          FILE_OPTIONS.flatMap((k) => {
            const v = options[k];
            return typeof v === "string" && v.startsWith(`${DEMO_DATA_DIR}/`) ? [[k, join(dataDir, v.slice(DEMO_DATA_DIR.length + 1))]] : [];
          }),
        );
        return Object.keys(moved).length === 0 ? d : ({ ...d, options: { ...options, ...moved } } as typeof d);
      }),
    },
  };
}

/**
 * Write the demo's DC-09 key to the key_files of the (overridden) config in
 * the data folder, readable by us only: the gateway's side of the secret the
 * encrypted panel shares, as an installer would put it on a real gateway. A
 * key_file elsewhere (an edited demo.yaml) is left alone.
 */
function writeDemoKeys(loaded: LoadedConfig, dataDir: string): void {
  const inside = `${resolve(dataDir)}${sep}`;
  for (const d of loaded.config.devices) {
    const file = (d.options as { key_file?: unknown } | undefined)?.key_file;
    if (typeof file !== "string" || !file.startsWith(inside)) continue;
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${DEMO_DC09_KEY}\n`, { mode: 0o600 });
  }
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
