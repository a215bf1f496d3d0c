/**
 * Alarm latency under load: the built agent, as its own process, receives
 * DC-09 panics from simulated panels and polls a panic receiver's contacts
 * (an I/O module, every 200 ms), while it also polls 500 simulated door
 * controllers (a door-farm process, Modbus TCP) and drains a backlog of
 * 100,000 telemetry messages left in its outbox by an outage. A subscriber
 * on a local mosquitto times every alarm, from the panel's send (DC-09) or
 * the contact closing (contacts) to its arrival. Prints median, p99 and max,
 * during the backlog drain and overall, and how many alarms were lost.
 *
 * Scenarios:
 * - `outage` (default): the agent runs with the broker down (the backlog is
 *   in its outbox, its devices polled for --warmup-s), then mosquitto comes
 *   back: alarms start with the agent's reconnection, during the drain.
 * - `cold-start`: the broker is up, and the agent starts with the backlog:
 *   the drain overlaps the agent's start (500 devices' first connections
 *   and polls), the worse case.
 *
 *   npm run build && node dist/scripts/bench/alarms.js [--scenario outage|cold-start] [--warmup-s 10]
 *     [--dc09 9500] [--presses 500] [--doors 500] [--backlog 100000]
 *
 * Targets (issue 5): DC-09 p99 <= 50 ms; contacts p99 <= poll period + 50 ms;
 * zero alarms lost. Needs Debian's mosquitto.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import mqtt from "mqtt";
import { pino } from "pino";
import { stringify } from "yaml";
import { systemClock } from "../../agent/clock.js";
import { SqliteOutbox } from "../../agent/outbox/sqlite.js";
import { Dc09Sender } from "../sim/dc09-sender.js";
import { ContactModuleSim } from "../sim/modbus-io.js";
import { startModbusSim } from "../sim/modbus-server.js";
import { conditions, cpuShare, epochNow, freePort, latencySummary, procSample, startDoorFarm, startMosquitto } from "./lib.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = join(HERE, "..", "..", "agent", "cli.js");
const PANELS = 10;
const CONTACT_POLL_MS = 200;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The backlog an outage leaves: telemetry of 50 devices, committed in the agent's outbox before it starts. */
function fillBacklog(path: string, n: number): void {
  const outbox = SqliteOutbox.open({ path, maxSizeBytes: 1e10, flushIntervalMs: 1000, batchSize: 5000, clock: systemClock, log: pino({ level: "warn" }) });
  const payload = JSON.stringify({ metrics: { door_position: "closed", lock_state: "locked", battery_voltage: 13.6 }, pad: "x".repeat(200) });
  for (let i = 0; i < n; i++) {
    const device = `backlog-${i % 50}`;
    outbox.enqueue({ stream: device, klass: "telemetry", topic: `campus/bench/device/${device}/telemetry`, retain: false, render: () => payload });
  }
  outbox.close();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dc09: { type: "string", default: "9500" },
      presses: { type: "string", default: "500" },
      doors: { type: "string", default: "500" },
      backlog: { type: "string", default: "100000" },
      scenario: { type: "string", default: "outage" },
      "warmup-s": { type: "string", default: "10" },
    },
  });
  const scenario = values.scenario;
  if (scenario !== "outage" && scenario !== "cold-start") throw new Error(`--scenario outage or cold-start, not ${scenario}`);
  const dc09Count = Number(values.dc09);
  const presses = Number(values.presses);
  const dir = mkdtempSync(join(os.tmpdir(), "bench-alarms-"));
  // In the outage scenario the broker comes up later, on the port the agent was given.
  const brokerPort = await freePort();
  const brokerUrl = `mqtt://127.0.0.1:${brokerPort}`;
  let broker = scenario === "cold-start" ? await startMosquitto(dir, brokerPort) : undefined;
  const farm = await startDoorFarm(Number(values.doors));
  const io = await startModbusSim({ units: [1] });
  const contacts = new ContactModuleSim(io.bank(1));
  const dc09Port = await freePort();
  const outboxPath = join(dir, "outbox.db");
  const t0Fill = performance.now();
  fillBacklog(outboxPath, Number(values.backlog));
  const fillS = (performance.now() - t0Fill) / 1000;

  const file = join(dir, "agent.yaml");
  writeFileSync(
    file,
    stringify({
      campus: { id: "bench" },
      gateway: { id: "gw" },
      broker: { url: brokerUrl, reconnect_min_ms: 200, reconnect_max_ms: 1000 },
      outbox: { path: outboxPath, max_size_mb: 1024 },
      polling: { interval_ms: 2000, timeout_ms: 1500, max_concurrency: 64 },
      heartbeat: { interval_s: 1 },
      log: { level: "warn" },
      devices: [
        ...farm.ports.map((port, i) => ({
          id: `door-${i}`,
          kind: "modbus-door",
          category: "safety-critical",
          options: { transport: "tcp", host: "127.0.0.1", port, profile: "generic-door" },
        })),
        {
          id: "panic-contacts",
          kind: "panic-contacts",
          category: "safety-critical",
          options: {
            transport: "tcp",
            host: "127.0.0.1",
            port: io.tcpPort,
            restore_after_ms: 100,
            inputs: Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`input_${i + 1}`, { meaning: "panic", zone: String(i + 1) }])),
          },
        },
        ...Array.from({ length: PANELS }, (_, i) => ({
          id: `panel-${i}`,
          kind: "panic-dc09",
          category: "safety-critical",
          options: { listen: { port: dc09Port, protocols: ["tcp"] }, account: String(1000 + i) },
        })),
      ],
    }),
  );

  // Arrival times: DC-09 by account and sequence, contacts by zone (one press at a time per zone).
  const arrivedDc09 = new Map<string, number>();
  const contactWaiters = new Map<string, (t: number) => void>();
  // The backlog counts as drained once the outbox holds less telemetry than this (500 doors keep adding some).
  const DRAINED_BELOW = 2000;
  let backlogDepth = Number(values.backlog);
  let drainedAt: number | undefined;
  let agentOnline: (() => void) | undefined;
  const online = new Promise<void>((resolve) => (agentOnline = resolve));
  // Presses start once the agent has read the contact module: a press released before its first poll cannot be seen.
  let receiverOnline: (() => void) | undefined;
  const contactsRead = new Promise<void>((resolve) => (receiverOnline = resolve));
  const onMessage = (topic: string, payload: Buffer) => {
    const at = epochNow();
    const p = JSON.parse(payload.toString()) as Record<string, unknown>;
    if (topic.endsWith("/status")) {
      if (p.state === "online") (topic.includes("/gateway/") ? agentOnline : receiverOnline)?.();
      return;
    }
    if (topic.endsWith("/heartbeat")) {
      backlogDepth = (p.outbox as { depth: { telemetry: number } }).depth.telemetry;
      if (backlogDepth < DRAINED_BELOW) drainedAt ??= Date.now();
      return;
    }
    if (p.phase !== "alarm") return;
    const source = p.source as { protocol: string; account?: string; sequence?: number };
    if (source.protocol === "dc09") arrivedDc09.set(`${source.account}#${source.sequence}`, at);
    else {
      const zone = (p.zone as { id: string }).id;
      contactWaiters.get(zone)?.(at);
      contactWaiters.delete(zone);
    }
  };
  const subscribe = async () => {
    const client = await mqtt.connectAsync(brokerUrl);
    client.on("message", onMessage);
    await client.subscribeAsync(
      ["campus/bench/device/+/alarm", "campus/bench/gateway/gw/heartbeat", "campus/bench/gateway/gw/status", "campus/bench/device/panic-contacts/status"],
      { qos: 1 },
    );
    return client;
  };
  let sub = broker === undefined ? undefined : await subscribe();

  const agent = spawn(process.execPath, [CLI, "run", "--config", file], { stdio: ["ignore", "ignore", "inherit"] });
  const panels = Array.from(
    { length: PANELS },
    (_, i) => new Dc09Sender({ host: "127.0.0.1", port: dc09Port, transport: "tcp", account: String(1000 + i), ackTimeoutMs: 5000, attempts: 3 }),
  );
  try {
    // The receiver listens after the devices' first poll.
    for (let i = 0; ; i++) {
      const r = await panels[0]?.send({ event: "null" }).catch(() => undefined);
      if (r?.result === "ACK") break;
      if (i > 100) throw new Error("the agent's DC-09 listener did not come up");
      await sleep(200);
    }
    let outageS = 0;
    if (scenario === "outage") {
      // The agent polls its devices and buffers, broker down; then the uplink comes back.
      await sleep(Number(values["warmup-s"]) * 1000);
      const down = Date.now();
      broker = await startMosquitto(dir, brokerPort);
      sub = await subscribe();
      await online;
      outageS = (Date.now() - down) / 1000;
    }
    const pid = agent.pid as number;
    const before = procSample(pid);
    const started = Date.now();
    const agentStartedAt = started;
    const sent: { key: string; at: number; duringDrain: boolean }[] = [];
    const refused = new Map<string, number>();
    // Each panel sends its share, one at a time (a panel waits for its ACK), ~10 alarms/s each.
    const dc09Runs = panels.map(async (panel, i) => {
      for (let n = i; n < dc09Count; n += PANELS) {
        const duringDrain = drainedAt === undefined;
        const at = epochNow();
        const r = await panel.send({ event: "panic", zone: (n % 99) + 1 });
        if (r.result === "ACK") sent.push({ key: `${1000 + i}#${r.sequence}`, at, duringDrain });
        else refused.set(r.result, (refused.get(r.result) ?? 0) + 1);
        await sleep(100);
      }
    });
    // Contacts: press and release each zone in turn.
    const contactLatency: { ms: number; duringDrain: boolean }[] = [];
    let contactLost = 0;
    if ((await Promise.race([contactsRead.then(() => true), sleep(30_000).then(() => false)])) === false) throw new Error("the contact receiver never came online");
    const contactRuns = Array.from({ length: 8 }, async (_, z) => {
      for (let n = z; n < presses; n += 8) {
        const zone = String(z + 1);
        const duringDrain = drainedAt === undefined;
        const arrived = new Promise<number>((resolve) => contactWaiters.set(zone, resolve));
        const at = epochNow();
        contacts.close(z + 1);
        const got = await Promise.race([arrived, sleep(5000).then(() => undefined)]);
        if (got === undefined) contactLost++;
        else contactLatency.push({ ms: got - at, duringDrain });
        contacts.open(z + 1);
        await sleep(CONTACT_POLL_MS * 2 + 150); // open long enough for the restore, then press again
      }
    });
    await Promise.all([...dc09Runs, ...contactRuns]);
    const seconds = (Date.now() - started) / 1000;
    const after = procSample(pid);
    // The last ones are on their way.
    for (let i = 0; i < 50 && sent.some((s) => !arrivedDc09.has(s.key)); i++) await sleep(100);
    const dc09 = sent.flatMap((s) => {
      const got = arrivedDc09.get(s.key);
      return got === undefined ? [] : [{ ms: got - s.at, duringDrain: s.duringDrain }];
    });
    const lost = sent.length - dc09.length;
    console.log(
      `${conditions()}; agent → mosquitto ${brokerUrl}; ${Number(values.doors)} door controllers polled every 2 s (door-farm process), ` +
      `a backlog of ${Number(values.backlog)} telemetry messages in the outbox at start (filled in ${fillS.toFixed(1)} s), ${PANELS} DC-09 panels (TCP), one contact receiver polled every ${CONTACT_POLL_MS} ms`,
    );
    console.log(
      scenario === "outage"
        ? `scenario outage: the agent ran ${values["warmup-s"]} s with the broker down, then mosquitto came back (reconnected and birth seen ${outageS.toFixed(1)} s later); alarms from then on`
        : "scenario cold-start: the agent started with the broker up and the backlog in its outbox; alarms from its first ACK on",
    );
    console.log(`agent over the ${seconds.toFixed(0)} s run: CPU ${(cpuShare(before, after, seconds) * 100).toFixed(0)}% of one core, RSS ${after.rssMb.toFixed(0)} MB; the backlog was drained (below ${DRAINED_BELOW}) ${drainedAt === undefined ? "never" : `${((drainedAt - agentStartedAt) / 1000).toFixed(1)} s into the run`}`);
    console.log(`DC-09 panic, send → subscriber, while the backlog drained: ${latencySummary(dc09.filter((d) => d.duringDrain).map((d) => d.ms), 1)}`);
    console.log(`DC-09 panic, send → subscriber, overall: ${latencySummary(dc09.map((d) => d.ms), 1)}`);
    console.log(`contact closed → subscriber, while the backlog drained: ${latencySummary(contactLatency.filter((d) => d.duringDrain).map((d) => d.ms), 1)}`);
    console.log(`contact closed → subscriber, overall: ${latencySummary(contactLatency.map((d) => d.ms), 1)}`);
    console.log(`alarms: ${sent.length} DC-09 ACKed (not ACKed: ${JSON.stringify(Object.fromEntries(refused))}), ${lost} of them lost; ${contactLatency.length} contact alarms, ${contactLost} lost (none within 5 s)`);
  } finally {
    agent.kill("SIGTERM");
    await new Promise((r) => agent.once("exit", r));
    await Promise.all(panels.map((p) => p.close()));
    await sub?.endAsync();
    await io.close();
    farm.child.kill("SIGTERM");
    broker?.child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
