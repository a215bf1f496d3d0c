/**
 * The agent, built and run as its own process, against Debian's mosquitto
 * started on a free loopback port: outages, SIGKILL, Last Will, TLS + auth + ACL.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { systemClock } from "../../agent/clock.js";
import { SqliteOutbox } from "../../agent/outbox/sqlite.js";
import { type NetDevice, startNetDevice } from "../../scripts/sim/netdevice.js";
import { type Recorder, record } from "../helpers/mqtt.js";
import { type AgentProcess, startAgent } from "./helpers/agent-process.js";
import { type Mosquitto, startMosquitto } from "./helpers/mosquitto.js";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "agent-it-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function mosquitto(opts: Parameters<typeof startMosquitto>[0] = {}): Promise<Mosquitto> {
  const m = await startMosquitto(opts);
  cleanups.push(() => m.dispose());
  return m;
}

async function devices(n: number): Promise<NetDevice[]> {
  const list = await Promise.all(Array.from({ length: n }, () => startNetDevice({})));
  cleanups.push(() => Promise.all(list.map((d) => d.close())));
  return list;
}

function agent(file: string, env: NodeJS.ProcessEnv = {}): AgentProcess {
  const a = startAgent(file, env);
  cleanups.push(() => a.kill("SIGKILL"));
  return a;
}

async function subscriber(url: string, topic: string, opts: Parameters<typeof record>[2] = {}): Promise<Recorder> {
  const r = await record(url, topic, opts);
  cleanups.push(() => r.close());
  return r;
}

interface ConfigOver {
  campus?: string;
  broker: Record<string, unknown>;
  pollMs?: number;
  extra?: Record<string, unknown>;
}

function writeConfig(dir: string, devs: NetDevice[], over: ConfigOver): string {
  const pollMs = over.pollMs ?? 200;
  const cfg = {
    campus: { id: over.campus ?? "lincoln" },
    gateway: { id: "gw-1" },
    broker: { reconnect_min_ms: 100, reconnect_max_ms: 500, ...over.broker },
    outbox: { path: "outbox.db", flush_interval_ms: 50 },
    polling: { interval_ms: pollMs, timeout_ms: Math.min(1000, Math.floor(pollMs * 0.75)), jitter_ratio: 0 },
    heartbeat: { interval_s: 1 },
    log: { level: "info" },
    devices: devs.map((d, i) => ({
      id: `dev-${i + 1}`,
      kind: "reachability",
      category: i % 2 === 0 ? "safety-critical" : "operational",
      location: { building: "A", room: String(100 + i) },
      options: { host: d.host, port: d.port },
    })),
    ...over.extra,
  };
  const file = join(dir, "config.yaml");
  writeFileSync(file, stringify(cfg));
  return file;
}

interface Seen {
  stream: string;
  seq: number;
  klass: string;
}

/** Buffered device messages as a subscriber saw them, in arrival order. */
function seen(r: Recorder): Seen[] {
  return r.messages
    .filter((m) => m.topic.includes("/device/") && m.payload !== "")
    .map((m) => {
      const p = JSON.parse(m.payload) as { device: string; seq: number };
      return { stream: p.device, seq: p.seq, klass: m.topic.endsWith("/telemetry") ? "telemetry" : "event" };
    });
}

function remaining(dir: string): Seen[] {
  const box = SqliteOutbox.open({
    path: join(dir, "outbox.db"),
    maxSizeBytes: 1e9,
    flushIntervalMs: 1000,
    batchSize: 1000,
    clock: systemClock,
    log: pino({ level: "silent" }),
  });
  try {
    return box
      .peek(1_000_000)
      .filter((m) => !m.stream.startsWith("$"))
      .map((m) => ({ stream: m.stream, seq: m.seq, klass: m.klass }));
  } finally {
    box.close();
  }
}

/**
 * Nothing lost, in order: per device, what arrived plus what is still in the
 * outbox covers 1..max with no gap, and within a class the first arrival of
 * each seq is in increasing order (duplicates from a lost PUBACK are allowed).
 */
function expectCompleteAndOrdered(arrived: Seen[], left: Seen[]): Map<string, number> {
  const streams = new Set([...arrived, ...left].map((s) => s.stream));
  const totals = new Map<string, number>();
  for (const stream of streams) {
    const all = new Set([...arrived, ...left].filter((s) => s.stream === stream).map((s) => s.seq));
    const max = Math.max(...all);
    const missing = Array.from({ length: max }, (_, i) => i + 1).filter((n) => !all.has(n));
    expect(missing, `seqs lost for ${stream}`).toEqual([]);
    totals.set(stream, max);
    for (const klass of ["event", "telemetry"]) {
      const firsts: number[] = [];
      const dup = new Set<number>();
      for (const s of arrived) {
        if (s.stream !== stream || s.klass !== klass || dup.has(s.seq)) continue;
        dup.add(s.seq);
        firsts.push(s.seq);
      }
      expect(firsts, `${klass} order of ${stream}`).toEqual([...firsts].sort((a, b) => a - b));
    }
  }
  return totals;
}

describe("agent against Debian's mosquitto", () => {
  it("delivers every message produced while the broker was stopped for 30 s, in order per device, none lost", async () => {
    const m = await mosquitto();
    const dir = tempDir();
    const devs = await devices(4);
    const sub = await subscriber(m.url, "campus/#", { clean: false, clientId: "it-outage-sub" });
    const a = agent(writeConfig(dir, devs, { broker: { url: m.url } }));
    await sub.waitFor((msgs) => msgs.filter((x) => x.topic.endsWith("/telemetry")).length >= 20);

    await m.stop();
    const outageStart = Date.now();
    await a.waitForLog((l) => String(l.msg).includes("lost the broker connection"));
    // The outage under test, in real time (the 30 s): the agent keeps polling and buffering.
    await new Promise((r) => setTimeout(r, Number(process.env.OUTAGE_MS ?? 30_000)));
    const outageEnd = Date.now();
    await m.start();

    // Once telemetry produced after the outage arrives, the backlog before it has been sent.
    await sub.waitFor(
      (msgs) =>
        msgs.some((x) => x.topic.endsWith("/telemetry") && Date.parse((JSON.parse(x.payload) as { ts: string }).ts) > outageEnd + 500),
      60_000,
    );
    expect(await a.kill("SIGTERM")).toBe(0);

    const arrived = seen(sub);
    const duringOutage = sub.messages.filter((x) => {
      if (!x.topic.endsWith("/telemetry")) return false;
      const ts = Date.parse((JSON.parse(x.payload) as { ts: string }).ts);
      return ts > outageStart + 1000 && ts < outageEnd - 1000;
    });
    // 4 devices polled every 200 ms (20 messages/s) through the outage's middle: they were buffered, and all arrived.
    expect(duringOutage.length).toBeGreaterThan(((outageEnd - outageStart - 2000) / 1000) * 20 * 0.7);
    const totals = expectCompleteAndOrdered(arrived, remaining(dir));
    expect(totals.size).toBe(4);
    // uplink_restored tells consumers it was the uplink, not the gateway.
    const restored = sub.json("/gateway/gw-1/event").find((e) => e.type === "uplink_restored");
    expect(restored?.details).toMatchObject({ duration_s: expect.any(Number) });
  });

  it("delivers everything that was buffered after the agent is SIGKILLed while draining a backlog", async () => {
    const m = await mosquitto();
    const dir = tempDir();
    const devs = await devices(30);
    const sub = await subscriber(m.url, "campus/#", { clean: false, clientId: "it-kill-sub" });
    await m.stop();
    // 30 devices every 100 ms, broker down: a backlog builds up; one message in flight at a time drains it slowly.
    const file = writeConfig(dir, devs, { broker: { url: m.url, max_in_flight: 1 }, pollMs: 100 });
    const first = agent(file);
    await first.waitForLog((l) => l.msg === "agent started");
    await new Promise((r) => setTimeout(r, 4_000));
    await m.start();
    await sub.waitFor((msgs) => msgs.filter((x) => x.topic.endsWith("/telemetry")).length >= 300, 60_000);
    await first.kill("SIGKILL");
    const leftAfterKill = remaining(dir);
    expect(leftAfterKill.length).toBeGreaterThan(100);

    const second = agent(file);
    const restartedAt = Date.now();
    await sub.waitFor(
      (msgs) =>
        msgs.some((x) => x.topic.endsWith("/telemetry") && Date.parse((JSON.parse(x.payload) as { ts: string }).ts) > restartedAt + 2000),
      120_000,
    );
    expect(await second.kill("SIGTERM")).toBe(0);
    const totals = expectCompleteAndOrdered(seen(sub), remaining(dir));
    expect(totals.size).toBe(30);
    // Everything that was in the outbox at the kill has arrived.
    const arrived = new Set(seen(sub).map((s) => `${s.stream}#${s.seq}`));
    expect(leftAfterKill.filter((s) => !arrived.has(`${s.stream}#${s.seq}`))).toEqual([]);
  });

  it("lets a subscriber see the gateway's Last Will when the agent dies", async () => {
    const m = await mosquitto();
    const dir = tempDir();
    const sub = await subscriber(m.url, "campus/lincoln/gateway/gw-1/status");
    const a = agent(writeConfig(dir, await devices(1), { broker: { url: m.url } }));
    await sub.waitFor((msgs) => msgs.some((x) => x.payload.includes('"state":"online"')));
    await a.kill("SIGKILL");
    await sub.waitFor((msgs) => msgs.some((x) => x.payload.includes('"reason":"connection_lost"')));
    const will = sub.json("/status").find((p) => p.reason === "connection_lost");
    expect(will).toMatchObject({ state: "offline", campus: "lincoln", gateway: "gw-1" });
  });

  describe("with TLS, password auth and an ACL that allows only campus/lincoln/#", () => {
    const users = { "gw-lincoln": "s3cret-gw-Pa55", admin: "admin-Pa55" };
    const acl = "user gw-lincoln\ntopic readwrite campus/lincoln/#\n\nuser admin\ntopic readwrite #\n";

    async function secureSetup(campus: string, tlsOver: Record<string, unknown> = {}) {
      const m = await mosquitto({ tls: true, users, acl });
      const dir = tempDir();
      writeFileSync(join(dir, "broker.pass"), `${users["gw-lincoln"]}\n`);
      const sub = await subscriber(m.url, "campus/#", { username: "admin", password: users.admin, ca: [await readCa(m)] });
      const file = writeConfig(dir, await devices(2), {
        campus,
        broker: { url: m.url, username: "gw-lincoln", password_file: "broker.pass", tls: { ca_file: m.caFile, ...tlsOver } },
      });
      return { m, dir, sub, file };
    }

    it("works end to end, and never logs the password", async () => {
      const { sub, file } = await secureSetup("lincoln");
      const a = agent(file);
      await sub.waitFor((msgs) => msgs.some((x) => x.topic === "campus/lincoln/device/dev-1/status"));
      await sub.waitFor((msgs) => msgs.some((x) => x.topic === "campus/lincoln/gateway/gw-1/heartbeat"));
      expect(await a.kill("SIGTERM")).toBe(0);
      expect(JSON.stringify(a.logs) + a.stderr()).not.toContain(users["gw-lincoln"]);
    });

    it("reports a misconfigured campus id as not authorized, and keeps the refused messages in the outbox", async () => {
      const { sub, dir, file } = await secureSetup("washington");
      const a = agent(file);
      const started = await a.waitForLog((l) => l.msg === "agent started");
      // A refusal logged a second after the start: devices (polled every 200 ms) have had messages refused or
      // waiting by then. The refused birth makes the agent retry the connection, so such lines keep coming.
      const line = await a.waitForLog((l) => l.code === "not_authorized" && Number(l.time) > Number(started.time) + 1000);
      expect(String(line.msg)).toMatch(/ACL|campus/);
      // Refused, dropped, reconnected: with backoff (100 ms doubling to 500 ms here), not at the minimum forever.
      const refusals = () => a.logs.filter((l) => l.code === "not_authorized" && String(l.msg).includes("(birth)")).map((l) => Number(l.time));
      await a.waitForLog(() => refusals().length >= 5);
      const [, , , fourth, fifth] = refusals();
      expect((fifth ?? 0) - (fourth ?? 0)).toBeGreaterThanOrEqual(350);
      expect(await a.kill("SIGTERM")).toBe(0);
      expect(sub.messages.filter((x) => x.topic.startsWith("campus/washington/device/"))).toEqual([]);
      expect(remaining(dir).length).toBeGreaterThan(0);
    });

    it("refuses a broker whose certificate it cannot verify: TLS verification is on by default", async () => {
      const { file } = await secureSetup("lincoln", { ca_file: undefined });
      const a = agent(file);
      const line = await a.waitForLog((l) => l.code === "connect");
      expect(String(line.msg)).toMatch(/certificate|self.signed|issuer/i);
    });
  });
});

async function readCa(m: Mosquitto): Promise<Buffer> {
  const { readFile } = await import("node:fs/promises");
  return readFile(m.caFile as string);
}
