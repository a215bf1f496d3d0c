/**
 * Shared pieces of the benchmarks: a throw-away Debian mosquitto on a free
 * loopback port, a process's CPU and memory read from /proc, and the
 * machine's conditions to print next to every figure.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import { join } from "node:path";

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
export async function startMosquitto(dir: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
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
