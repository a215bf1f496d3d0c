/**
 * How many camera polls per second one gateway sustains: the built agent, as
 * its own process, polls N simulated ONVIF cameras (a camera-farm process) and
 * publishes to a local mosquitto; a subscriber counts the telemetry that
 * arrives. Prints achieved polls/s, how many were healthy, the agent's CPU
 * (share of one core) and RSS, for a few target rates. Bounded: ~35 s a rate.
 *
 *   npm run build && node dist/scripts/bench/cameras.js [--count 200] [--rates 50,100,200]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import mqtt from "mqtt";
import { stringify } from "yaml";
import { conditions, cpuShare, procSample, startMosquitto } from "./lib.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = join(HERE, "..", "..", "agent", "cli.js");
const WARMUP_S = 10;
const WINDOW_S = 20;

function readyLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on("line", (l) => {
      if (l.startsWith("READY ")) resolve(l.slice(6));
    });
    child.once("exit", (code) => reject(new Error(`exited with ${code}`)));
  });
}

async function run(count: number, ratePerS: number, brokerUrl: string, ports: number[], dir: string): Promise<string> {
  const intervalMs = Math.round((count / ratePerS) * 1000);
  const file = join(dir, `agent-${ratePerS}.yaml`);
  writeFileSync(
    file,
    stringify({
      campus: { id: "bench" },
      gateway: { id: "gw" },
      broker: { url: brokerUrl },
      outbox: { path: join(dir, `outbox-${ratePerS}.db`) },
      polling: { interval_ms: intervalMs, timeout_ms: Math.min(5000, intervalMs - 1), max_concurrency: 32 },
      heartbeat: { interval_s: 5 },
      log: { level: "warn" },
      devices: ports.map((port, i) => ({
        id: `cam-${i}`,
        kind: "onvif",
        category: "safety-critical",
        options: { host: "127.0.0.1", port, username: "bench", password_env: "BENCH_CAMERA_PASSWORD" },
      })),
    }),
  );
  let telemetry = 0;
  let healthy = 0;
  const sub = await mqtt.connectAsync(brokerUrl);
  sub.on("message", (topic, payload) => {
    if (!topic.endsWith("/telemetry")) return;
    telemetry++;
    if (payload.includes('"state":"online"')) healthy++;
  });
  await sub.subscribeAsync("campus/bench/device/+/telemetry", { qos: 0 });
  const agent = spawn(process.execPath, [CLI, "run", "--config", file], {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, BENCH_CAMERA_PASSWORD: "bench-pass" },
  });
  try {
    await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
    const pid = agent.pid as number;
    const before = procSample(pid);
    const [t0, h0] = [telemetry, healthy];
    await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
    const after = procSample(pid);
    const polls = (telemetry - t0) / WINDOW_S;
    const ok = telemetry - t0 === 0 ? 0 : (healthy - h0) / (telemetry - t0);
    return (
      `target ${String(ratePerS).padStart(4)} polls/s (interval ${intervalMs} ms): achieved ${polls.toFixed(1)} polls/s, ` +
      `${(ok * 100).toFixed(0)}% online; agent CPU ${(cpuShare(before, after, WINDOW_S) * 100).toFixed(0)}% of one core, RSS ${after.rssMb.toFixed(0)} MB`
    );
  } finally {
    agent.kill("SIGTERM");
    await new Promise((r) => agent.once("exit", r));
    await sub.endAsync();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { count: { type: "string", default: "200" }, rates: { type: "string", default: "20,50,100,150" } } });
  const count = Number(values.count);
  const dir = mkdtempSync(join(os.tmpdir(), "bench-cams-"));
  const broker = await startMosquitto(dir);
  const farm = spawn(process.execPath, [join(HERE, "camera-farm.js"), "--count", String(count), "--username", "bench", "--password", "bench-pass"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  try {
    const { ports } = JSON.parse(await readyLine(farm)) as { ports: number[] };
    console.log(`${conditions()}; ${count} simulated cameras in one process; agent → mosquitto ${broker.url}; warm-up ${WARMUP_S} s, window ${WINDOW_S} s`);
    for (const rate of (values.rates ?? "").split(",").map(Number)) console.log(await run(count, rate, broker.url, ports, dir));
  } finally {
    farm.kill("SIGTERM");
    broker.child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
