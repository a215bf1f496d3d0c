/**
 * Shared pieces of the benchmarks: a throw-away Debian mosquitto on a free
 * loopback port, a process's CPU and memory read from /proc, the machine's
 * conditions to print next to every figure, latency summaries, and the
 * door-farm process (door-farm.ts) several benchmarks poll.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export async function waitListening(port: number, host = "127.0.0.1", timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, host, () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nothing listens on ${host}:${port}`);
}

/** mosquitto from Debian, no persistence, on a free port; `apt-get install mosquitto`. */
/** Debian's mosquitto on loopback, on `port` (a free one when not given: a bench may start it late, on a port it gave the agent). */
export async function startMosquitto(dir: string, port?: number): Promise<{ url: string; child: ChildProcess }> {
  port ??= await freePort();
  const conf = join(dir, "mosquitto.conf");
  writeFileSync(
    conf,
    `user ${os.userInfo().username}\nlistener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n`,
  );
  const child = spawn("mosquitto", ["-c", conf], { stdio: "ignore" });
  try {
    await waitListening(port);
  } catch (err) {
    child.kill();
    throw new Error("mosquitto did not start (apt-get install mosquitto)", { cause: err });
  }
  return { url: `mqtt://127.0.0.1:${port}`, child };
}

export interface ProcSample {
  /** CPU seconds (user + system) since the process started. */
  cpuS: number;
  rssMb: number;
}

/** Linux /proc: utime and stime (fields 14 and 15 of stat) in clock ticks, VmRSS in kB. */
export function procSample(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return { cpuS: ticks / 100, rssMb: rss ? Number(rss[1]) / 1024 : Number.NaN };
}

/** CPU use of a process over a window, as a share of one core. */
export function cpuShare(before: ProcSample, after: ProcSample, seconds: number): number {
  return (after.cpuS - before.cpuS) / seconds;
}

export function conditions(): string {
  const cpus = os.cpus();
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  return `node ${process.version}, ${cpus[0]?.model ?? "cpu"} x${cpus.length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, load ${load}`;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** Epoch milliseconds with sub-millisecond resolution, comparable across processes of one machine. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/** "median …, p99 …, max … (n=…)" of latencies in ms, with `digits` decimals. */
export function latencySummary(values: readonly number[], digits = 0): string {
  const s = [...values].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] ?? Number.NaN;
  const ms = (v: number) => `${v.toFixed(digits)} ms`;
  return `median ${ms(q(0.5))}, p99 ${ms(q(0.99))}, max ${ms(s.at(-1) ?? Number.NaN)} (n=${s.length})`;
}

export interface DoorFarm {
  child: ChildProcess;
  ports: number[];
  /** Apply an action; resolves with the epoch time (ms) the farm changed the registers. */
  change(action: "open" | "close", index: number): Promise<number>;
}

/** Start door-farm.js with `count` controllers and wait for its READY line. */
export function startDoorFarm(count: number): Promise<DoorFarm> {
  const script = join(dirname(fileURLToPath(import.meta.url)), "door-farm.js");
  const child = spawn(process.execPath, [script, "--count", String(count)], { stdio: ["pipe", "pipe", "inherit"] });
  const waiting = new Map<number, (t: number) => void>();
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`door farm exited with ${code}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      if (line.startsWith("READY ")) {
        const { ports } = JSON.parse(line.slice(6)) as { ports: number[] };
        resolve({
          child,
          ports,
          change: (action, index) =>
            new Promise((done) => {
              waiting.set(index, done);
              child.stdin?.write(`${action} ${index}\n`);
            }),
        });
      } else if (line.startsWith("CHANGED ")) {
        const [, index, t] = line.split(" ");
        const done = waiting.get(Number(index));
        waiting.delete(Number(index));
        done?.(Number(t));
      }
    });
  });
}
