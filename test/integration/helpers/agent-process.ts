/** The built agent (dist/agent/cli.js), run as a separate process the way the service runs it. */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { vi } from "vitest";
import { stringify } from "yaml";
import { type Recorder, record } from "../../helpers/mqtt.js";

const ROOT = join(import.meta.dirname, "..", "..", "..");
export const CLI = join(ROOT, "dist", "agent", "cli.js");

export interface CliRun {
  /** The exit code; -1 when the CLI was killed (its timeout) or could not be started. */
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run the built CLI once, as a technician would, without blocking this
 * process (which may host the simulators the CLI talks to). `env` adds to
 * this process's environment.
 */
export function runCli(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { encoding: "utf8", timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, ...opts.env }, ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}) },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export interface AgentProcess {
  child: ChildProcess;
  /** Parsed JSON log lines so far. */
  logs: Record<string, unknown>[];
  stderr(): string;
  waitForLog(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

export function startAgent(configFile: string, env: NodeJS.ProcessEnv = {}): AgentProcess {
  const child = spawn(process.execPath, [CLI, "run", "--config", configFile], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  const logs: Record<string, unknown>[] = [];
  let err = "";
  let partial = "";
  child.stdout?.on("data", (d: Buffer) => {
    partial += d.toString();
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ msg: line, unparsed: true });
      }
    }
  });
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    child,
    logs,
    stderr: () => err,
    exited,
    waitForLog: async (predicate, timeoutMs = 15_000) => {
      let found: Record<string, unknown> | undefined;
      await vi.waitFor(
        () => {
          found = logs.find(predicate);
          if (!found) throw new Error(`no matching log line among ${logs.length}; stderr: ${err.slice(-500)}`);
        },
        { timeout: timeoutMs, interval: 25 },
      );
      return found as Record<string, unknown>;
    },
    kill: async (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export interface DemoProcess {
  child: ChildProcess;
  /** Its data folder: outbox, serial lines, control socket. */
  dir: string;
  /** Its control socket, in `dir`. */
  socket: string;
  /** The embedded broker's port. */
  port: number;
  /** A subscriber on the demo's broker. */
  sub: Recorder;
  /** Wall ms when the demo was started. */
  started: number;
  stderr(): string;
  exited: Promise<number | null>;
  /** Close the subscriber, stop the demo with `signal` if it still runs, remove its data folder. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * `campus-agent demo` (the built CLI, its own process) on a free broker port
 * and a temporary data folder, with a subscriber on `topic` once its broker
 * listens. `env` adds to this process's environment.
 */
export async function startDemo(opts: { env?: NodeJS.ProcessEnv; topic?: string } = {}): Promise<DemoProcess> {
  const dir = mkdtempSync(join(tmpdir(), "demo-"));
  // Port 0: a free port for the embedded broker, so the test cannot collide with anything on 1883.
  const child = spawn(process.execPath, [CLI, "demo", "--broker-port", "0", "--data-dir", dir], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...opts.env },
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    await sub?.close();
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  let sub: Recorder | undefined;
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const started = Date.now();
  let port = 0;
  try {
    await vi.waitFor(
      () => {
        const m = /"port":(\d+),"msg":"embedded MQTT broker listening"/.exec(out);
        if (!m) throw new Error(`no broker yet; stderr: ${err.slice(-300)}`);
        port = Number(m[1]);
      },
      { timeout: 15_000, interval: 25 },
    );
    sub = await record(`mqtt://127.0.0.1:${port}`, opts.topic ?? "campus/#");
  } catch (e) {
    await stop("SIGKILL");
    throw e;
  }
  return { child, dir, socket: join(dir, "campus-agent.sock"), port, sub, started, stderr: () => err, exited, stop };
}

/** A scratch folder for one agent's config and outbox, removed by a cleanup pushed onto `cleanups`. */
export function scratchDir(prefix: string, cleanups: (() => unknown)[]): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Write `dir`/config.yaml for campus lincoln, gateway gw-1: the outbox in
 * `dir`; a `broker` given reconnects every 100-500 ms (none: the embedded
 * broker). The other sections are added as given; `broker` and `outbox` add
 * to the defaults. Returns the file's path.
 */
export function writeCampusConfig(dir: string, sections: { broker?: Record<string, unknown> } & Record<string, unknown>): string {
  const { broker, outbox, ...rest } = sections as typeof sections & { outbox?: Record<string, unknown> };
  const file = join(dir, "config.yaml");
  writeFileSync(
    file,
    stringify({
      campus: { id: "lincoln" },
      gateway: { id: "gw-1" },
      ...(broker !== undefined ? { broker: { reconnect_min_ms: 100, reconnect_max_ms: 500, ...broker } } : {}),
      outbox: { path: "outbox.db", ...outbox },
      ...rest,
    }),
  );
  return file;
}
