import type { Client } from "aedes";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { systemClock } from "../../agent/clock.js";
import { type EmbeddedBroker, startEmbeddedBroker } from "../../agent/mqtt/broker.js";
import { ALARM_BUSY_WINDOW, ALARM_CALM_MS, Publisher, type PublisherOptions } from "../../agent/mqtt/publisher.js";
import { MemoryOutbox } from "../../agent/outbox/memory.js";
import type { MessageClass, Outbox } from "../../agent/outbox/types.js";
import { startHeldAcksBroker } from "../helpers/held-acks-broker.js";
import { type Recorder, record } from "../helpers/mqtt.js";

const log = pino({ level: "silent" });
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function makeOutbox(): Outbox {
  return new MemoryOutbox({ clock: systemClock, maxSizeBytes: 64 * 1024 * 1024, log });
}

async function broker(hooks: Parameters<typeof startEmbeddedBroker>[0]["hooks"] = {}, port = 0): Promise<EmbeddedBroker> {
  const b = await startEmbeddedBroker({ host: "127.0.0.1", port, log, hooks });
  cleanups.push(() => b.close());
  return b;
}

function options(url: string, over: Partial<PublisherOptions> = {}): PublisherOptions {
  const status = (state: string, reason: string) => JSON.stringify({ state, reason });
  return {
    url,
    clientId: `test-${Math.random().toString(16).slice(2)}`,
    protocol: "mqtt3.1.1",
    keepaliveS: 5,
    connectTimeoutMs: 2000,
    publishTimeoutMs: 2000,
    maxInFlight: 16,
    reconnectMinMs: 50,
    reconnectMaxMs: 200,
    statusTopic: "campus/t/gateway/g/status",
    birthPayload: () => status("online", "connected"),
    willPayload: () => status("offline", "connection_lost"),
    shutdownPayload: () => status("offline", "shutdown"),
    echoCheckMs: 0,
    ...over,
  };
}

function publisher(outbox: Outbox, opts: PublisherOptions): Publisher {
  const p = new Publisher({ outbox, log, clock: systemClock, options: opts });
  cleanups.push(() => p.stop(500));
  return p;
}

function enqueue(outbox: Outbox, stream: string, klass: MessageClass, n: number): void {
  for (let i = 0; i < n; i++) {
    outbox.enqueue({
      stream,
      klass,
      topic: `campus/t/device/${stream}/${klass}`,
      retain: false,
      render: (seq) => JSON.stringify({ seq, klass }),
    });
  }
}

async function sub(url: string): Promise<Recorder> {
  const r = await record(url, "campus/#");
  cleanups.push(() => r.close());
  return r;
}

function seqsBy(r: Recorder, suffix: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const m of r.messages.filter((x) => x.topic.endsWith(suffix))) {
    const stream = m.topic.split("/")[3] as string;
    out.set(stream, [...(out.get(stream) ?? []), (JSON.parse(m.payload) as { seq: number }).seq]);
  }
  return out;
}

describe("Publisher", () => {
  it("drains every buffered message in order per device and empties the outbox only through PUBACKs", async () => {
    const b = await broker();
    const r = await sub(b.url);
    const outbox = makeOutbox();
    for (const d of ["door-1", "door-2", "cam-1"]) enqueue(outbox, d, "telemetry", 100);
    publisher(outbox, options(b.url)).start();
    await r.waitFor((m) => m.filter((x) => x.topic.endsWith("/telemetry")).length >= 300);
    await expectEventually(() => expect(outbox.stats().depth.telemetry).toBe(0));
    for (const [, seqs] of seqsBy(r, "/telemetry")) expect(seqs).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it("publishes buffered events before telemetry that was buffered earlier", async () => {
    const b = await broker();
    const r = await sub(b.url);
    const outbox = makeOutbox();
    enqueue(outbox, "door-1", "telemetry", 50);
    enqueue(outbox, "door-1", "event", 5);
    publisher(outbox, options(b.url, { maxInFlight: 4 })).start();
    await r.waitFor((m) => m.filter((x) => x.topic.includes("/device/")).length >= 55);
    const kinds = r.messages.filter((x) => x.topic.includes("/device/")).map((x) => x.topic.split("/").pop());
    expect(kinds.slice(0, 5)).toEqual(["event", "event", "event", "event", "event"]);
  });

  it("never has more messages awaiting PUBACK than max_in_flight", async () => {
    let held = 0;
    let maxHeld = 0;
    const b = await broker({
      authorizePublish: (client, packet, callback) => {
        if (!client?.id.startsWith("test-") || !packet.topic.includes("/device/")) return callback(null);
        held++;
        maxHeld = Math.max(maxHeld, held);
        setTimeout(() => {
          held--;
          callback(null);
        }, 5);
      },
    });
    const outbox = makeOutbox();
    enqueue(outbox, "cam-1", "telemetry", 200);
    publisher(outbox, options(b.url, { maxInFlight: 8 })).start();
    await expectEventually(() => expect(outbox.stats().depth.telemetry).toBe(0));
    expect(maxHeld).toBeGreaterThan(1);
    expect(maxHeld).toBeLessThanOrEqual(8);
  });

  it("publishes an alarm at once while the in-flight window is full of telemetry awaiting PUBACK", async () => {
    const b = await startHeldAcksBroker((topic) => topic.endsWith("/telemetry"));
    cleanups.push(() => b.close());
    const outbox = makeOutbox();
    enqueue(outbox, "cam-1", "telemetry", 50);
    publisher(outbox, options(b.url, { maxInFlight: 4, publishTimeoutMs: 30_000 })).start();
    await expectEventually(() => expect(b.held).toBe(4));
    enqueue(outbox, "panic-rx-1", "alarm", 1);
    await expectEventually(() => expect(outbox.stats().depth.alarm).toBe(0));
    const alarm = b.received.find((m) => m.topic.endsWith("/alarm"));
    // On the first connection, its window still full: not after a reconnect gave up on the telemetry.
    expect(alarm).toMatchObject({ heldAtArrival: 4, connection: 1 });
    expect(b.received.filter((m) => m.topic.endsWith("/telemetry"))).toHaveLength(4);
    b.releaseAll();
    await expectEventually(() => expect(outbox.stats().depth.telemetry).toBe(0));
  });

  it("publishes an alarm before the call that stored it returns, and anything else on the next turn", async () => {
    const b = await startHeldAcksBroker(() => true);
    cleanups.push(() => b.close());
    const outbox = makeOutbox();
    const p = publisher(outbox, options(b.url, { publishTimeoutMs: 30_000 }));
    p.start();
    await expectEventually(() => expect(p.state().connected).toBe(true));
    enqueue(outbox, "cam-1", "telemetry", 1);
    enqueue(outbox, "panic-rx-1", "alarm", 1);
    // Handed to the connection already: not waiting for other callbacks of this turn.
    expect(p.state().inFlight).toBe(1);
    await expectEventually(() => expect(p.state().inFlight).toBe(2));
    await expectEventually(() => expect(b.received.map((m) => m.topic.split("/").pop())).toEqual(["status", "alarm", "telemetry"]));
    b.releaseAll();
    await expectEventually(() => expect(outbox.stats().depth).toEqual({ alarm: 0, event: 0, telemetry: 0 }));
  });

  it(`while alarms are coming in, everything else shares ${ALARM_BUSY_WINDOW} in-flight slots; ${ALARM_CALM_MS} ms after the last, the whole window again`, async () => {
    const b = await startHeldAcksBroker((topic) => topic.endsWith("/telemetry"));
    cleanups.push(() => b.close());
    const outbox = makeOutbox();
    let mono = 1_000_000;
    const clock = { now: () => Date.now(), monotonic: () => mono };
    const p = new Publisher({ outbox, log, clock, options: options(b.url, { maxInFlight: 32, publishTimeoutMs: 30_000 }) });
    cleanups.push(() => p.stop(500));
    p.start();
    await expectEventually(() => expect(p.state().connected).toBe(true));
    enqueue(outbox, "panic-rx-1", "alarm", 1);
    enqueue(outbox, "cam-1", "telemetry", 100);
    await expectEventually(() => expect(outbox.stats().depth.alarm).toBe(0));
    await expectEventually(() => expect(b.held).toBe(ALARM_BUSY_WINDOW));
    // The alarm's PUBACK refilled the window: still the narrow one.
    await new Promise((r) => setImmediate(r));
    expect(p.state().inFlight).toBe(ALARM_BUSY_WINDOW);
    mono += ALARM_CALM_MS;
    enqueue(outbox, "cam-1", "telemetry", 1);
    await expectEventually(() => expect(b.held).toBe(32));
    b.releaseAll();
    await expectEventually(() => expect(outbox.stats().depth.telemetry).toBe(0));
  });

  it("keeps messages while the broker is down and delivers all of them, in order, once it is back", async () => {
    const first = await startEmbeddedBroker({ host: "127.0.0.1", port: 0, log });
    const port = first.port;
    const outbox = makeOutbox();
    const p = publisher(outbox, options(first.url));
    p.start();
    await expectEventually(() => expect(p.state().connected).toBe(true));
    await first.close();
    await expectEventually(() => expect(p.state().connected).toBe(false));
    enqueue(outbox, "door-1", "telemetry", 40);
    enqueue(outbox, "door-1", "event", 3);
    expect(outbox.stats().depth.telemetry).toBe(40);
    const second = await broker({}, port);
    const r = await sub(second.url);
    await r.waitFor((m) => m.filter((x) => x.topic.includes("/device/")).length >= 43);
    expect(seqsBy(r, "/telemetry").get("door-1")).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(seqsBy(r, "/event").get("door-1")).toEqual([41, 42, 43]);
  });

  it("retries a message whose PUBACK never came on a new connection, and loses nothing", async () => {
    let swallowed = 0;
    const b = await broker({
      authorizePublish: (client, packet, callback) => {
        // The first attempt at seq 3 never gets an answer: no PUBACK.
        if (client?.id.startsWith("test-") && packet.payload.toString().includes('"seq":3,') && swallowed++ === 0) return;
        callback(null);
      },
    });
    const r = await sub(b.url);
    const outbox = makeOutbox();
    enqueue(outbox, "door-1", "event", 5);
    const p = publisher(outbox, options(b.url, { publishTimeoutMs: 300, maxInFlight: 1 }));
    p.start();
    await expectEventually(() => expect(outbox.stats().depth.event).toBe(0));
    // PUBACK comes before the broker forwards to subscribers: wait for the last one to arrive.
    await r.waitFor(() => (seqsBy(r, "/event").get("door-1") ?? []).includes(5));
    const seqs = [...new Set(seqsBy(r, "/event").get("door-1"))];
    expect(seqs).toEqual([1, 2, 3, 4, 5]);
    expect(swallowed).toBeGreaterThanOrEqual(2);
  });

  it("publishes a retained birth on connect, and the broker publishes the Last Will when the connection dies", async () => {
    const b = await broker();
    const r = await sub(b.url);
    const p = publisher(makeOutbox(), options(b.url));
    p.start();
    await r.waitFor((m) => m.some((x) => x.topic.endsWith("/status") && x.payload.includes('"online"')));
    const agentClient = await new Promise<Client>((resolve) => {
      const find = () => {
        const c = Object.values((b.aedes as unknown as { clients: Record<string, Client> }).clients).find((x) => x.id.startsWith("test-"));
        if (c) resolve(c);
        else setTimeout(find, 10);
      };
      find();
    });
    agentClient.conn.destroy();
    await r.waitFor((m) => m.some((x) => x.topic.endsWith("/status") && x.payload.includes("connection_lost")));
    // …and it comes back by itself with a new birth message.
    await r.waitFor((m) => m.filter((x) => x.topic.endsWith("/status") && x.payload.includes('"connected"')).length >= 2);
  });

  it("publishes its shutdown status on stop", async () => {
    const b = await broker();
    const r = await sub(b.url);
    const p = publisher(makeOutbox(), options(b.url));
    p.start();
    await expectEventually(() => expect(p.state().connected).toBe(true));
    await p.stop(1000);
    await r.waitFor((m) => m.some((x) => x.payload.includes('"shutdown"')));
  });

  it("stops within its timeout even when the broker never answers", async () => {
    const outbox = makeOutbox();
    // A port nobody listens on: the publisher keeps retrying in the background.
    const p = publisher(outbox, options("mqtt://127.0.0.1:1", { reconnectMinMs: 20 }));
    p.start();
    await expectEventually(() => expect(p.state().lastError?.code).toBe("connect"));
    const t0 = performance.now();
    await p.stop(400);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it("reports an unconfirmed connection when the broker does not echo its own status back", async () => {
    const b = await broker({
      // Like a Mosquitto ACL under MQTT 3.1.1: the publish is acked, then silently not delivered.
      authorizeForward: (_client, packet) => (packet.topic.endsWith("/gateway/g/status") ? null : packet),
    });
    const p = publisher(makeOutbox(), options(b.url, { echoCheckMs: 200 }));
    p.start();
    await expectEventually(() => expect(p.state().lastError?.code).toBe("unconfirmed"));
    expect(p.state().lastError?.message).toMatch(/ACL/);
  });
});

async function expectEventually(assertion: () => void, timeout = 10_000): Promise<void> {
  await vi.waitFor(assertion, { timeout, interval: 20 });
}
