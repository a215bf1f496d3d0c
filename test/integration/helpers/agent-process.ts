/** The built agent (dist/agent/cli.js), run as a separate process the way the service runs it. */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { vi } from "vitest";
import { stringify } from "yaml";

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
