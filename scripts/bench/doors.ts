/**
 * 200 door controllers polled every second by one gateway: the built agent,
 * as its own process, polls N simulated controllers (a door-farm process,
 * Modbus TCP, one server each) and publishes to a local mosquitto. Meanwhile
 * the bench opens and closes random doors at a steady rate and a subscriber
 * on the broker times each door_opened / door_closed event. Prints:
 * - the agent's CPU (share of one core) and RSS over the window, polls/s;
 * - the delay from the simulated door change to its event at the
 *   subscriber (median, p99, max): it includes waiting for the next poll
 *   (up to one interval, by design of polling);
 * - the part of it after the poll: from the poll that found the change
 *   (the event's `ts`) to receipt (outbox commit with fsync + publish).
 *
 *   npm run build && node dist/scripts/bench/doors.js [--count 200] [--interval-ms 1000] [--seconds 60] [--changes-per-s 5]
 *
 * Needs Debian's mosquitto. Bounded: warm-up 10 s + the window.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import mqtt from "mqtt";
import { stringify } from "yaml";
import { conditions, cpuShare, epochNow, latencySummary, procSample, startDoorFarm, startMosquitto } from "./lib.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = join(HERE, "..", "..", "agent", "cli.js");
const WARMUP_S = 10;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      count: { type: "string", default: "200" },
      "interval-ms": { type: "string", default: "1000" },
      seconds: { type: "string", default: "60" },
      "changes-per-s": { type: "string", default: "5" },
    },
  });
  const count = Number(values.count);
  const intervalMs = Number(values["interval-ms"]);
  const windowS = Number(values.seconds);
  const changesPerS = Number(values["changes-per-s"]);
  const dir = mkdtempSync(join(os.tmpdir(), "bench-doors-"));
  const broker = await startMosquitto(dir);
  const farm = await startDoorFarm(count);
  const file = join(dir, "agent.yaml");
  writeFileSync(
    file,
    stringify({
      campus: { id: "bench" },
      gateway: { id: "gw" },
      broker: { url: broker.url },
      outbox: { path: join(dir, "outbox.db") },
      polling: { interval_ms: intervalMs, timeout_ms: Math.round(intervalMs * 0.8), max_concurrency: 64 },
      heartbeat: { interval_s: 5 },
      log: { level: "warn" },
      devices: farm.ports.map((port, i) => ({
        id: `door-${i}`,
        kind: "modbus-door",
        category: "safety-critical",
        options: { transport: "tcp", host: "127.0.0.1", port, unit_id: 1, profile: "generic-door" },
      })),
    }),
  );

  // Pending changes by door id: when the farm changed it; filled by the subscriber.
  const pending = new Map<string, { changedAt: number; type: string }>();
  const total: number[] = [];
  const afterPoll: number[] = [];
  let telemetry = 0;
  let unexpected = 0;
  const sub = await mqtt.connectAsync(broker.url);
  sub.on("message", (topic, payload) => {
    const receivedAt = epochNow();
    if (topic.endsWith("/telemetry")) {
      telemetry++;
      return;
    }
    const e = JSON.parse(payload.toString()) as { device: string; type: string; ts: string };
    if (e.type !== "door_opened" && e.type !== "door_closed") return;
    const p = pending.get(e.device);
    if (p === undefined || p.type !== e.type) {
      unexpected++;
      return;
    }
    pending.delete(e.device);
    total.push(receivedAt - p.changedAt);
    afterPoll.push(receivedAt - Date.parse(e.ts));
  });
  await sub.subscribeAsync(["campus/bench/device/+/event", "campus/bench/device/+/telemetry"], { qos: 1 });

  const agent = spawn(process.execPath, [CLI, "run", "--config", file], { stdio: ["ignore", "ignore", "inherit"] });
  const open = new Set<number>();
  const lastChange = new Map<number, number>();
  try {
    await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
    const pid = agent.pid as number;
    const before = procSample(pid);
    const t0 = telemetry;
    const started = Date.now();
    // One change every 1/changesPerS s, on a door not changed in the last 5 s (beyond any debounce).
    while (Date.now() - started < windowS * 1000) {
      const now = Date.now();
      const candidates = Array.from({ length: count }, (_, i) => i).filter((i) => now - (lastChange.get(i) ?? 0) > 5000);
      const i = candidates[Math.floor(Math.random() * candidates.length)];
      if (i !== undefined) {
        const action = open.has(i) ? "close" : "open";
        lastChange.set(i, now);
        const changedAt = await farm.change(action, i);
        pending.set(`door-${i}`, { changedAt, type: action === "open" ? "door_opened" : "door_closed" });
        if (action === "open") open.add(i);
        else open.delete(i);
      }
      await new Promise((r) => setTimeout(r, 1000 / changesPerS));
    }
    const after = procSample(pid);
    const polls = (telemetry - t0) / windowS;
    // Let the last changes arrive (at most one interval plus the pipeline).
    await new Promise((r) => setTimeout(r, intervalMs + 2000));
    console.log(
      `${conditions()}; ${count} door controllers (Modbus TCP, one server each, one farm process), polled every ${intervalMs} ms; agent → mosquitto ${broker.url}; warm-up ${WARMUP_S} s, window ${windowS} s`,
    );
    console.log(
      `agent: ${polls.toFixed(1)} polls/s, CPU ${(cpuShare(before, after, windowS) * 100).toFixed(0)}% of one core, ` +
      `RSS ${before.rssMb.toFixed(0)} MB at the window's start, ${after.rssMb.toFixed(0)} MB at its end`,
    );
    console.log(`door change → event at subscriber: ${latencySummary(total)}`);
    console.log(`  of which after the poll (event ts → subscriber): ${latencySummary(afterPoll)}`);
    console.log(`changes without their event: ${pending.size}; events not matching a change: ${unexpected}`);
  } finally {
    agent.kill("SIGTERM");
    await new Promise((r) => agent.once("exit", r));
    await sub.endAsync();
    farm.child.kill("SIGTERM");
    broker.child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
