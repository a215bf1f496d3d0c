/**
 * panic-dc09: the options, the mapping of DC-09 events to alarms and
 * events (pure), and the receiver driver over real sockets (port 0) with the
 * DC-09 sender simulator, a fake report() and an injected monotonic clock.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { type AddressInfo, createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { Clock } from "../../agent/clock.js";
import type { DeviceRef, DriverReport, TraceStep } from "../../drivers/contract.js";
import type { AlarmEvent } from "../../drivers/dc09/index.js";
import { createDc09Receiver, type Dc09ReceiverDriver } from "../../drivers/panic-dc09/index.js";
import { type Dc09Memory, mapEvents, PANEL_EVENT_KINDS, parseDc09Memory } from "../../drivers/panic-dc09/mapping.js";
import { PANEL_EVENTS } from "../../agent/mqtt/contract.js";
import { type PanicDc09Options, type PanicDc09OptionsInput, panicDc09OptionsSchema, resolveKey } from "../../drivers/panic-dc09/options.js";
import { DRIVERS } from "../../drivers/registry.js";
import { Dc09Sender, type Dc09SenderOptions } from "../../scripts/sim/dc09-sender.js";
import { freePort } from "../helpers/net.js";

const log = pino({ level: "silent" });
const KEY = "000102030405060708090A0B0C0D0E0F";
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const issues = (input: unknown) => {
  const r = panicDc09OptionsSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
};

describe("panic-dc09 options", () => {
  it("fills the defaults: loopback, both transports, supervision 120 s, the standard's timestamp check", () => {
    const o = panicDc09OptionsSchema.parse({ listen: { port: 7000 }, account: "1234" });
    expect(o.listen).toEqual({ host: "127.0.0.1", port: 7000, protocols: ["tcp", "udp"], max_connections: 32, idle_timeout_s: 300 });
    expect(o.supervision_s).toBe(120);
    expect(o.timestamp_check).toBe("encrypted");
  });

  it("refuses an inline key, and reports it with the other problems, each by path", () => {
    const found = issues({ listen: { port: 99999 }, account: "12", key: KEY });
    expect(found).toEqual(
      expect.arrayContaining([
        "key: inline keys are not accepted: put it in a file (key_file) or an environment variable (key_env)",
        expect.stringMatching(/^listen\.port: /),
        expect.stringMatching(/^account: expected the panel's account/),
      ]),
    );
  });

  it("takes a key from an absolute file or an environment variable, not both, and never a relative path", () => {
    expect(issues({ listen: { port: 1 }, account: "1234", key_file: "/etc/campus-agent/dc09.key" })).toEqual([]);
    expect(issues({ listen: { port: 1 }, account: "1234", key_env: "DC09_KEY" })).toEqual([]);
    expect(issues({ listen: { port: 1 }, account: "1234", key_file: "dc09.key" })).toEqual(["key_file: expected an absolute path"]);
    expect(issues({ listen: { port: 1 }, account: "1234", key_file: "/k", key_env: "K" })).toEqual(["key_env: set key_file or key_env, not both"]);
    expect(issues({ listen: { port: 1, protocols: [] }, account: "1234" })).toEqual(["listen.protocols: listen on tcp, udp or both"]);
  });

  it("reads the key at start, trimmed, and says where a bad one is without showing it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dc09-key-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "key");
    writeFileSync(file, `${KEY}\n`);
    const base = { listen: { port: 1 }, account: "1234" };
    expect(await resolveKey(panicDc09OptionsSchema.parse({ ...base, key_file: file }))).toBe(KEY);
    expect(await resolveKey(panicDc09OptionsSchema.parse({ ...base, key_env: "K" }), { K: KEY })).toBe(KEY);
    expect(await resolveKey(panicDc09OptionsSchema.parse(base))).toBeUndefined();
    await expect(resolveKey(panicDc09OptionsSchema.parse({ ...base, key_env: "K" }), {})).rejects.toMatchObject({ code: "config", message: "environment variable K (the DC-09 key) is not set" });
    writeFileSync(file, "not-a-key-0123");
    const err = await resolveKey(panicDc09OptionsSchema.parse({ ...base, key_file: file })).catch((e: unknown) => e as Error);
    expect(err).toMatchObject({ code: "config", message: `key_file ${file} does not hold an AES key: expected 32, 48 or 64 hex digits` });
    expect((err as Error).message).not.toContain("0123");
  });

  it("is a registered kind with supervision polling defaults and no Modbus profile", () => {
    const f = DRIVERS.find((d) => d.kind === "panic-dc09");
    expect(f?.pollDefaults).toEqual({ interval_ms: 5000, timeout_ms: 1000 });
    expect(f?.modbusProfileOption).toBeUndefined();
  });
});

const T0 = Date.UTC(2026, 10, 23, 9, 0, 0);

function ev(over: Partial<AlarmEvent>): AlarmEvent {
  return {
    protocol: "ADM-CID",
    account: "1234",
    receiver: null,
    line: "0",
    sequence: 1,
    timestamp: null,
    encrypted: false,
    kind: "panic",
    qualifier: "new",
    code: "120",
    description: "Panic alarm",
    zone: 15,
    user: null,
    partition: 1,
    text: null,
    raw: "#1234|1120 01 015",
    ...over,
  };
}

/** The mapping, remembering through JSON as the outbox does. */
function mapper() {
  let memory: Dc09Memory = parseDc09Memory(undefined);
  let n = 0;
  return (e: Partial<AlarmEvent>) => {
    const r = mapEvents(memory, [ev(e)], T0, { zones: { "015": { name: "Room 114 pendant", location: { building: "A", room: "114" } } } }, () => `id-${++n}`);
    memory = parseDc09Memory(JSON.parse(JSON.stringify(r.memory)));
    return r;
  };
}

describe("panic-dc09 mapping", () => {
  it("publishes only panel events the MQTT contract documents", () => {
    expect([...PANEL_EVENT_KINDS].sort()).toEqual([...PANEL_EVENTS].sort());
  });

  it.each([
    ["panic", "panic"],
    ["duress", "duress"],
    ["emergency", "emergency"],
    ["medical", "medical"],
    ["fire", "fire"],
    ["burglary", "intrusion"],
  ] as const)("a new %s is an alarm of type %s, with the zone's name and the panel's time", (kind, type) => {
    const r = mapper()({ kind, timestamp: "2026-11-23T08:59:58.000Z" });
    expect(r.events).toEqual([]);
    expect(r.alarms).toEqual([
      expect.objectContaining({
        id: "id-1",
        phase: "alarm",
        type,
        test: false,
        at: T0,
        occurredAt: Date.parse("2026-11-23T08:59:58Z"),
        zone: { id: "15", name: "Room 114 pendant", location: { building: "A", room: "114" } },
        source: expect.objectContaining({ protocol: "dc09", format: "ADM-CID", account: "1234", code: "120", qualifier: "new", sequence: 1, partition: 1, encrypted: false, raw: "#1234|1120 01 015" }) as unknown,
      }),
    ]);
  });

  it.each(["test", "low_battery", "supervision_loss", "ac_loss", "comm_trouble", "trouble", "tamper", "opening", "closing", "other"] as const)(
    "%s is a panel_event device event, not an alarm",
    (kind) => {
      const r = mapper()({ kind, code: "999", user: 3, qualifier: "restore" });
      expect(r.alarms).toEqual([]);
      expect(r.events).toEqual([
        expect.objectContaining({
          type: "panel_event",
          details: expect.objectContaining({ event: kind, qualifier: "restore", code: "999", account: "1234", user: "3", partition: 1, zone: expect.objectContaining({ id: "15" }) as unknown }) as unknown,
        }),
      ]);
    },
  );

  it.each([
    ["ADM-CID", "601"],
    ["SIA-DCS", "RX"],
  ] as const)("a manual test report (%s %s) is a test alarm of type test, never kept open", (protocol, code) => {
    const map = mapper();
    const r = map({ kind: "test", protocol, code, description: "Manual trigger test", zone: null });
    expect(r.events).toEqual([]);
    expect(r.alarms).toEqual([expect.objectContaining({ id: "id-1", phase: "alarm", type: "test", test: true, source: expect.objectContaining({ code }) as unknown })]);
    expect(r.alarms[0]?.text).toMatch(/do not dispatch/);
    expect(r.memory.open).toEqual([]);
  });

  it.each([
    ["a periodic test (CID 602)", { kind: "test", code: "602" }],
    ["a periodic test (SIA RP)", { kind: "test", protocol: "SIA-DCS", code: "RP" }],
    ["the restore of a manual test", { kind: "test", code: "601", qualifier: "restore" }],
  ] as const)("%s stays a panel_event: link health, not an alarm", (_, e) => {
    const r = mapper()(e);
    expect(r.alarms).toEqual([]);
    expect(r.events).toEqual([expect.objectContaining({ type: "panel_event", details: expect.objectContaining({ event: "test" }) as unknown })]);
  });

  it("a trouble stays open per kind and zone until its restore, across a restart; the worst one is listed first by reason", () => {
    const map = mapper();
    map({ kind: "low_battery", code: "384", description: "RF low battery", zone: 15 });
    const missing = map({ kind: "supervision_loss", code: "381", description: "Loss of supervision - RF", zone: 16 });
    expect(missing.memory.troubles).toEqual([
      { kind: "low_battery", zone: 15, text: "RF low battery, zone 15 (Room 114 pendant)", at: T0 },
      { kind: "supervision_loss", zone: 16, text: "Loss of supervision - RF, zone 16", at: T0 },
    ]);
    // Again while open: still one; another zone's restore: nothing ended.
    expect(map({ kind: "low_battery", zone: 15, qualifier: "still_present" }).memory.troubles).toHaveLength(2);
    expect(map({ kind: "low_battery", zone: 17, qualifier: "restore" }).memory.troubles).toHaveLength(2);
    expect(map({ kind: "low_battery", zone: 15, qualifier: "restore" }).memory.troubles.map((t) => t.kind)).toEqual(["supervision_loss"]);
    // Tests, openings and the like are not troubles.
    expect(map({ kind: "opening", zone: null }).memory.troubles.map((t) => t.kind)).toEqual(["supervision_loss"]);
  });

  it("drops stored troubles that do not look right, and reads memory written before troubles were kept", () => {
    const m = parseDc09Memory({ v: 1, open: [], seen: [], troubles: [{ kind: "tamper", zone: 3, text: "Tamper", at: 1 }, { kind: "panic", zone: 1, text: "x", at: 1 }, { kind: "ac_loss" }, "junk"] });
    expect(m.troubles).toEqual([{ kind: "tamper", zone: 3, text: "Tamper", at: 1 }]);
    expect(parseDc09Memory({ v: 1, open: [], seen: [] }).troubles).toEqual([]);
  });

  it("a restore ends the open alarm of the same kind and zone, even after a restart; another zone's restore names none", () => {
    const map = mapper();
    map({ kind: "panic", zone: 15 });
    map({ kind: "medical", zone: 15 });
    expect(map({ kind: "panic", zone: 16, qualifier: "restore" }).alarms[0]).not.toHaveProperty("ends");
    const restore = map({ kind: "panic", zone: 15, qualifier: "restore" });
    expect(restore.alarms).toEqual([expect.objectContaining({ phase: "restore", type: "panic", ends: "id-1" })]);
    expect(restore.memory.open.map((o) => o.id)).toEqual(["id-2"]);
  });

  it("still present is nothing while the alarm is open, an alarm when it is not known", () => {
    const map = mapper();
    map({ kind: "fire", zone: 3 });
    expect(map({ kind: "fire", zone: 3, qualifier: "still_present" }).alarms).toEqual([]);
    expect(map({ kind: "fire", zone: 4, qualifier: "still_present" }).alarms).toEqual([
      expect.objectContaining({ phase: "alarm", type: "fire", source: expect.objectContaining({ still_present: true }) as unknown }),
    ]);
  });

  it("a cancel ends the latest open alarm of its partition, with that alarm's type", () => {
    const map = mapper();
    map({ kind: "panic", zone: 1, partition: 1 });
    map({ kind: "medical", zone: 2, partition: 2 });
    const cancel = map({ kind: "cancel", code: "406", zone: null, user: 7, partition: 1 });
    expect(cancel.alarms).toEqual([expect.objectContaining({ phase: "cancel", type: "panic", ends: "id-1", user: "7" })]);
    expect(map({ kind: "cancel", zone: null, partition: 1 }).alarms[0]).toMatchObject({ phase: "cancel", type: "other" });
  });

  it("a second press of a button already in alarm is a new alarm, and the restore ends the newest", () => {
    const map = mapper();
    map({ kind: "panic" });
    expect(map({ kind: "panic" }).alarms).toEqual([expect.objectContaining({ id: "id-2", phase: "alarm" })]);
    expect(map({ kind: "panic", qualifier: "restore" }).alarms[0]).toMatchObject({ ends: "id-2" });
  });
});

/** A monotonic clock the test moves; wall time is real (encrypted messages are checked against it). */
function testClock(): Clock & { advance(ms: number): void } {
  let mono = 1_000_000;
  return { now: () => Date.now(), monotonic: () => mono, advance: (ms) => void (mono += ms) };
}

interface Harness {
  driver: Dc09ReceiverDriver;
  clock: ReturnType<typeof testClock>;
  log: string[];
  reports: { deviceId: string; report: DriverReport }[];
  memory: Map<string, unknown>;
  /** Make the next n report() calls throw. */
  failNext(n: number): void;
}

function harness(memory = new Map<string, unknown>()): Harness {
  const clock = testClock();
  const order: string[] = [];
  const reports: Harness["reports"] = [];
  let failures = 0;
  const driver = createDc09Receiver({
    log,
    clock,
    env: { DC09_KEY: KEY },
    report: (deviceId, report) => {
      if (failures > 0) {
        failures--;
        order.push("report-failed");
        throw new Error("disk I/O error");
      }
      order.push("report");
      reports.push({ deviceId, report });
      memory.set(deviceId, JSON.parse(JSON.stringify(report.memory)));
    },
    memoryOf: (id) => memory.get(id),
  });
  cleanups.push(() => driver.close?.());
  return { driver, clock, log: order, reports, memory, failNext: (n) => void (failures = n) };
}

function device(id: string, options: Omit<PanicDc09OptionsInput, "listen"> & { listen?: Partial<PanicDc09OptionsInput["listen"]> }): DeviceRef<PanicDc09Options> {
  return { id, timeoutMs: 1000, options: panicDc09OptionsSchema.parse({ ...options, listen: { port: 0, ...options.listen } }) };
}

const pollCtx = () => ({ signal: AbortSignal.timeout(5000), log });

async function started(h: Harness, dev: DeviceRef<PanicDc09Options>) {
  await h.driver.poll(dev, pollCtx());
  const ports = h.driver.portsOf(dev.id);
  if (ports === undefined) throw new Error("not started");
  return ports;
}

function sender(h: Harness, port: number, over: Partial<Dc09SenderOptions> = {}): Dc09Sender {
  const s = new Dc09Sender({ host: "127.0.0.1", port, transport: "tcp", account: "1234", ackTimeoutMs: 3000, attempts: 1, ...over });
  // Record when an answer reaches the sender, in the same log as report().
  const target = s as unknown as { onFrame(frame: Buffer): void };
  const onFrame = target.onFrame.bind(s);
  target.onFrame = (frame) => {
    h.log.push(`answer:${frame.toString("latin1").match(/"(\*?[A-Z]+)"/)?.[1] ?? "?"}`);
    onFrame(frame);
  };
  cleanups.push(() => s.close());
  return s;
}

describe("panic-dc09 receiver", () => {
  it.each(["tcp", "udp"] as const)("over %s, a panic is stored through report() before the ACK reaches the sender", async (transport) => {
    const h = harness();
    const dev = device("rx-office", { account: "1234", zones: { 15: { name: "Room 114 pendant" } } });
    const ports = await started(h, dev);
    const s = sender(h, ports[transport] ?? 0, { transport });
    const sent = await s.send({ event: "panic", zone: 15 });
    expect(sent.result).toBe("ACK");
    expect(h.log).toEqual(["report", "answer:ACK"]);
    expect(h.reports).toHaveLength(1);
    expect(h.reports[0]?.deviceId).toBe("rx-office");
    expect(h.reports[0]?.report.alarms).toEqual([
      expect.objectContaining({ phase: "alarm", type: "panic", test: false, zone: { id: "15", name: "Room 114 pendant" }, source: expect.objectContaining({ account: "1234", code: "120", sequence: 1 }) as unknown }),
    ]);
    const reading = await h.driver.poll(dev, pollCtx());
    expect(reading).toMatchObject({ health: "ok", metrics: { messages: 1, open_alarms: 1, rejected: 0 } });
  });

  it("a pendant reported missing leaves the receiver degraded (pendant_missing), naming the zone, until its restore", async () => {
    const h = harness();
    const dev = device("rx-office", { account: "1234", listen: { protocols: ["tcp"] }, zones: { 15: { name: "Room 114 pendant" } } });
    const ports = await started(h, dev);
    const panel = sender(h, ports.tcp ?? 0);
    expect((await panel.send({ event: "supervision-loss", zone: 15 })).result).toBe("ACK");
    expect(await h.driver.poll(dev, pollCtx())).toMatchObject({
      health: "degraded",
      reason: "pendant_missing",
      reasonText: "Loss of supervision - RF, zone 15 (Room 114 pendant)",
      metrics: { open_troubles: 1 },
    });
    expect((await panel.send({ event: "supervision-restore", zone: 15 })).result).toBe("ACK");
    expect(await h.driver.poll(dev, pollCtx())).toMatchObject({ health: "ok", reason: "ok", metrics: { open_troubles: 0 } });
  });

  it("a restore names the alarm it ends, also when the receiver restarted in between", async () => {
    const memory = new Map<string, unknown>();
    const first = harness(memory);
    const dev = device("rx-office", { account: "1234" });
    const ports = await started(first, dev);
    await sender(first, ports.tcp ?? 0).send({ event: "panic", zone: 15 });
    const alarmId = first.reports[0]?.report.alarms?.[0]?.id;
    await first.driver.close?.();

    const second = harness(memory);
    const ports2 = await started(second, device("rx-office", { account: "1234" }));
    const sent = await sender(second, ports2.tcp ?? 0, { firstSequence: 2 }).send({ event: "panic-restore", zone: 15 });
    expect(sent.result).toBe("ACK");
    expect(second.reports[0]?.report.alarms).toEqual([expect.objectContaining({ phase: "restore", type: "panic", ends: alarmId })]);
    expect(second.memory.get("rx-office")).toMatchObject({ open: [] });
  });

  it("takes encrypted messages from an account whose key is in a file, and refuses its plain ones", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dc09-key-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "key"), `${KEY}\n`);
    const h = harness();
    const ports = await started(h, device("rx-office", { account: "1234", key_file: join(dir, "key") }));
    const enc = await sender(h, ports.tcp ?? 0, { key: KEY }).send({ event: "medical", zone: 3 });
    expect(enc).toMatchObject({ encrypted: true, result: "ACK" });
    expect(h.log).toEqual(["report", "answer:*ACK"]);
    expect(h.reports[0]?.report.alarms?.[0]).toMatchObject({ type: "medical", source: { encrypted: true } });
    const plain = await sender(h, ports.tcp ?? 0, { firstSequence: 5 }).send({ event: "panic" });
    expect(plain.result).toBe("DUH");
    expect(h.reports).toHaveLength(1);
  });

  it("stays online while NULL link tests arrive, and goes offline with reason supervision after supervision_s of silence", async () => {
    const h = harness();
    const dev = device("rx-office", { account: "1234", supervision_s: 60 });
    const ports = await started(h, dev);
    const s = sender(h, ports.udp ?? 0, { transport: "udp" });
    h.clock.advance(50_000);
    expect((await s.send({ event: "null" })).result).toBe("ACK");
    h.clock.advance(50_000);
    const reading = await h.driver.poll(dev, pollCtx());
    expect(reading).toMatchObject({ health: "ok", metrics: { link_tests: 1, last_heard_s: 50 } });
    expect(h.reports).toEqual([]); // a link test stores nothing
    h.clock.advance(10_001);
    await expect(h.driver.poll(dev, pollCtx())).rejects.toMatchObject({ code: "supervision", message: "no message or link test for 60 s (supervision_s 60)" });
    expect((await s.send({ event: "null" })).result).toBe("ACK");
    await expect(h.driver.poll(dev, pollCtx())).resolves.toMatchObject({ health: "ok" });
  });

  it("sends no ACK when report() throws, and takes the panel's retry as new", async () => {
    const h = harness();
    const ports = await started(h, device("rx-office", { account: "1234" }));
    h.failNext(1);
    const sent = await sender(h, ports.tcp ?? 0, { ackTimeoutMs: 400, attempts: 2 }).send({ event: "panic", zone: 15 });
    expect(sent.attempts.map((a) => a.answer)).toEqual(["timeout", "ACK"]);
    expect(h.log).toEqual(["report-failed", "report", "answer:ACK"]);
    expect(h.reports).toHaveLength(1);
  });

  it("answers NAK to a bad CRC and DUH to an unknown account, and reports nothing", async () => {
    const h = harness();
    const dev = device("rx-office", { account: "1234" });
    const ports = await started(h, dev);
    expect((await sender(h, ports.tcp ?? 0).send({ event: "panic", fault: "bad-crc" })).result).toBe("NAK");
    expect((await sender(h, ports.tcp ?? 0, { account: "9999" }).send({ event: "panic" })).result).toBe("DUH");
    expect((await sender(h, ports.udp ?? 0, { transport: "udp", account: "9999" }).send({ event: "panic" })).result).toBe("DUH");
    expect(h.reports).toEqual([]);
  });

  it("ACKs a retransmission without reporting it again, also after a restart between storing and ACKing", async () => {
    const memory = new Map<string, unknown>();
    const first = harness(memory);
    // UDP: the panel's socket outlives the receiver's restart (over TCP it would reconnect first).
    const ports = await started(first, device("rx-office", { account: "1234", listen: { protocols: ["udp"] } }));
    const s = sender(first, ports.udp ?? 0, { transport: "udp" });
    expect((await s.send({ event: "panic", zone: 15 })).result).toBe("ACK");
    expect((await s.send({ event: "panic", fault: "replay" })).result).toBe("ACK");
    expect(first.reports).toHaveLength(1);
    await first.driver.close?.();

    // As if the agent had died after the commit, before the ACK: the panel sends the same message again.
    const second = harness(memory);
    await started(second, device("rx-office", { account: "1234", listen: { port: ports.udp ?? 0, protocols: ["udp"] } }));
    expect((await s.send({ event: "panic", fault: "replay" })).result).toBe("ACK");
    expect(second.reports).toEqual([]);
    expect(await second.driver.poll(device("rx-office", { account: "1234", listen: { protocols: ["udp"] } }), pollCtx())).toMatchObject({ metrics: { duplicates: 1 } });
  });

  it("dispatches accounts sharing one address to their devices, and closes the listener when the last is forgotten", async () => {
    const h = harness();
    const a = device("rx-a", { account: "1234", listen: { protocols: ["tcp"] } });
    const pa = await started(h, a);
    // Same host, port (0 here: the one rx-a got) and transport: one listener.
    const shared = device("rx-b", { account: "abcd", listen: { protocols: ["tcp"] } });
    const pb = await started(h, shared);
    expect(pb.tcp).toBe(pa.tcp);
    expect((await sender(h, pa.tcp ?? 0, { account: "ABCD" }).send({ event: "fire", zone: 2 })).result).toBe("ACK");
    expect((await sender(h, pa.tcp ?? 0, { account: "1234" }).send({ event: "panic", zone: 1 })).result).toBe("ACK");
    expect(h.reports.map((r) => [r.deviceId, r.report.alarms?.[0]?.type])).toEqual([
      ["rx-b", "fire"],
      ["rx-a", "panic"],
    ]);
    h.driver.forget?.("rx-b");
    expect((await sender(h, pa.tcp ?? 0, { account: "ABCD", firstSequence: 9 }).send({ event: "fire" })).result).toBe("DUH");
    h.driver.forget?.("rx-a");
    await expect.poll(() => connects(pa.tcp ?? 0)).toBe(false);
  });

  it("opens one listener for several accounts watched at once on one address, and every account is taken", async () => {
    const h = harness();
    const port = await freePort();
    const devs = ["1001", "1002", "1003", "1004", "1005"].map((acct) => device(`rx-${acct}`, { account: acct, listen: { port, protocols: ["tcp"] } }));
    // As the agent does when the config loads: all at once, no poll yet.
    for (const d of devs) h.driver.watch?.(d);
    await expect.poll(() => devs.every((d) => h.driver.portsOf(d.id)?.tcp === port)).toBe(true);
    for (const [i, d] of devs.entries()) {
      expect((await sender(h, port, { account: d.options.account }).send({ event: "panic", zone: i + 1 })).result).toBe("ACK");
    }
    expect(h.reports.map((r) => r.deviceId)).toEqual(devs.map((d) => d.id));
  });

  it("answers DUH to a message for another receiver or line number, and reports nothing", async () => {
    const h = harness();
    const ports = await started(h, device("rx-office", { account: "1234", receiver: "12", line: "3", listen: { protocols: ["tcp"] } }));
    expect((await sender(h, ports.tcp ?? 0, { receiver: "99", line: "3" }).send({ event: "panic" })).result).toBe("DUH");
    expect((await sender(h, ports.tcp ?? 0, { receiver: "12", line: "4", firstSequence: 2 }).send({ event: "panic" })).result).toBe("DUH");
    expect(h.reports).toEqual([]);
    expect((await sender(h, ports.tcp ?? 0, { receiver: "12", line: "3", firstSequence: 3 }).send({ event: "panic" })).result).toBe("ACK");
    expect(h.reports).toHaveLength(1);
  });

  it("says listen when its port is taken, and takes it once it is free again", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen({ host: "127.0.0.1", port: 0 }, resolve));
    const port = (blocker.address() as AddressInfo).port;
    const h = harness();
    const dev = device("rx-office", { account: "1234", listen: { port, protocols: ["tcp"] } });
    await expect(h.driver.poll(dev, pollCtx())).rejects.toMatchObject({ code: "listen", message: expect.stringMatching(/EADDRINUSE/) as unknown });
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    await expect(h.driver.poll(dev, pollCtx())).resolves.toMatchObject({ health: "ok" });
    expect((await sender(h, port).send({ event: "panic" })).result).toBe("ACK");
  });

  it("moves to its new address when its options change (forget, then watch with the new ones)", async () => {
    const h = harness();
    const before = await started(h, device("rx-office", { account: "1234", listen: { protocols: ["tcp"] } }));
    const port = await freePort();
    h.driver.forget?.("rx-office");
    h.driver.watch?.(device("rx-office", { account: "1234", listen: { port, protocols: ["tcp"] } }));
    await expect.poll(() => h.driver.portsOf("rx-office")?.tcp).toBe(port);
    expect((await sender(h, port).send({ event: "panic" })).result).toBe("ACK");
    await expect.poll(() => connects(before.tcp ?? 0)).toBe(false);
  });

  it("refuses a second device with the same account on the same address", async () => {
    const h = harness();
    await started(h, device("rx-a", { account: "1234", listen: { protocols: ["udp"] } }));
    await expect(h.driver.poll(device("rx-b", { account: "1234", listen: { protocols: ["udp"] } }), pollCtx())).rejects.toMatchObject({ code: "config" });
  });
});

describe("panic-dc09 receiver, traced (campus-agent probe)", () => {
  const traced = async (driver: Dc09ReceiverDriver, dev: DeviceRef<PanicDc09Options>) => {
    const steps: TraceStep[] = [];
    const outcome = await driver.poll(dev, { ...pollCtx(), trace: (st) => steps.push(st) }).catch((e: unknown) => e as Error);
    return { steps, outcome, say: steps.map((st) => [st.step, st.ok, st.detail]) };
  };
  /** The driver as the CLI runs it while the agent is stopped: no report(). */
  const alone = () => {
    const driver = createDc09Receiver({ log, clock: testClock(), env: { DC09_KEY: KEY } });
    cleanups.push(() => driver.close?.());
    return driver;
  };

  it("starting, it reports the key read and each listener bound; running, the listeners, supervision with the counts, open troubles and alarms", async () => {
    const h = harness();
    const dev = device("rx-office", { account: "1234", key_env: "DC09_KEY", zones: { 15: { name: "Room 114 pendant" } } });
    const first = await traced(h.driver, dev);
    const ports = h.driver.portsOf("rx-office") ?? {};
    expect(first.say).toEqual([
      ["read key (key_env DC09_KEY)", true, "AES-128 key"],
      ["listen tcp 127.0.0.1:0", true, `bound, port ${ports.tcp}`],
      ["listen udp 127.0.0.1:0", true, `bound, port ${ports.udp}`],
      ["supervision (supervision_s 120)", true, "no message or link test yet, listening for 0 s"],
      ["open troubles", true, "none"],
      ["open alarms", true, "none"],
    ]);
    const panel = sender(h, ports.tcp ?? 0, { key: KEY });
    expect((await panel.send({ event: "supervision-loss", zone: 15 })).result).toBe("ACK");
    expect((await panel.send({ event: "panic", zone: 15 })).result).toBe("ACK");
    expect((await panel.send({ event: "null" })).result).toBe("ACK");
    h.clock.advance(4_000);
    const second = await traced(h.driver, dev);
    const alarmAt = new Date(h.reports[1]?.report.alarms?.[0]?.at ?? 0).toISOString();
    expect(second.say).toEqual([
      ["listener tcp 127.0.0.1:0", true, `listening, port ${ports.tcp}`],
      ["listener udp 127.0.0.1:0", true, `listening, port ${ports.udp}`],
      ["supervision (supervision_s 120)", true, "last message or link test 4 s ago; 2 messages, 1 link tests, 0 duplicates, 0 rejected, 0 not stored"],
      ["open troubles", true, "Loss of supervision - RF, zone 15 (Room 114 pendant)"],
      ["open alarms", true, `panic zone 15 since ${alarmAt}`],
    ]);
    expect(second.outcome).toMatchObject({ health: "degraded", reason: "pendant_missing" });
  });

  it("reports supervision lost as a failed step with the reason the poll then fails with", async () => {
    const h = harness();
    const dev = device("rx-office", { account: "1234", supervision_s: 60 });
    await started(h, dev);
    h.clock.advance(61_000);
    const { steps, outcome } = await traced(h.driver, dev);
    expect(steps.find((st) => !st.ok)).toEqual({ step: "supervision (supervision_s 60)", ms: 0, ok: false, detail: "no message or link test for 61 s (supervision_s 60)" });
    expect(outcome).toMatchObject({ code: "supervision", message: "no message or link test for 61 s (supervision_s 60)" });
  });

  it("running alone, the poll still answers and says events get no ACK; a panel's alarm then gets none, its link test does", async () => {
    const driver = alone();
    const dev = device("rx-office", { account: "1234", listen: { protocols: ["tcp"] } });
    const { say, outcome } = await traced(driver, dev);
    expect(outcome).toMatchObject({ health: "ok", reasonText: "listening, no message yet (0 s)" });
    expect(say.at(-1)).toEqual(["store and acknowledge", true, expect.stringMatching(/^not here: running without the agent, nothing can be stored, so events get no ACK/)]);
    const port = driver.portsOf("rx-office")?.tcp ?? 0;
    const panel = new Dc09Sender({ host: "127.0.0.1", port, transport: "tcp", account: "1234", ackTimeoutMs: 300, attempts: 1 });
    cleanups.push(() => panel.close());
    expect((await panel.send({ event: "panic", zone: 15 })).result).toBe("timeout");
    expect((await panel.send({ event: "null" })).result).toBe("ACK");
    expect(await driver.poll(dev, pollCtx())).toMatchObject({ metrics: { messages: 0, link_tests: 1, report_failures: 1 } });
  });

  it("running alone on a port already taken, the listen step fails and the error says whose it most likely is", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen({ host: "127.0.0.1", port: 0 }, resolve));
    cleanups.push(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
    const port = (blocker.address() as AddressInfo).port;
    const said = "EADDRINUSE (taken, most likely by the running agent's own receiver: see campus-agent status)";
    const { steps, outcome } = await traced(alone(), device("rx-office", { account: "1234", listen: { port, protocols: ["tcp"] } }));
    expect(steps).toEqual([{ step: `listen tcp 127.0.0.1:${port}`, ms: expect.any(Number) as unknown, ok: false, detail: said }]);
    expect(outcome).toMatchObject({ code: "listen", message: `cannot listen on tcp 127.0.0.1:${port}: ${said}` });
  });
});

describe("panic-dc09 test alarm (campus-agent test-alarm)", () => {
  const ask = (h: Harness, dev: DeviceRef<PanicDc09Options>) => {
    if (h.driver.testAlarm === undefined) throw new Error("no testAlarm");
    return h.driver.testAlarm(dev, { signal: AbortSignal.timeout(5000) });
  };

  it.each([
    ["plain over tcp", { protocols: ["tcp"] as ("tcp" | "udp")[] }, {}],
    ["plain over udp", { protocols: ["udp"] as ("tcp" | "udp")[] }, {}],
    ["encrypted with the account's key", { protocols: ["tcp"] as ("tcp" | "udp")[] }, { key_env: "DC09_KEY" }],
    ["to a listener on every address (reached through loopback)", { protocols: ["tcp"] as ("tcp" | "udp")[], host: "0.0.0.0" }, {}],
  ])("%s: a manual test goes through the agent's own listener and is stored as a test alarm before the ACK", async (_, listen, key) => {
    const h = harness();
    const dev = device("rx-office", { account: "1234", receiver: "2", line: "3", ...key, listen });
    await started(h, dev);
    const r = await ask(h, dev);
    expect(h.reports).toHaveLength(1);
    const alarm = h.reports[0]?.report.alarms?.[0];
    expect(alarm).toMatchObject({ id: r.alarmId, phase: "alarm", type: "test", test: true, source: { code: "601", account: "1234", requested_by: "campus-agent test-alarm", encrypted: "key_env" in key } });
    expect(r.via).toMatch(new RegExp(`^DC-09 manual test \\(ADM-CID 601.* over ${listen.protocols[0]} 127\\.0\\.0\\.1:\\d+$`));
    expect(r.steps.map((s) => s.step)).toEqual(listen.protocols[0] === "tcp" ? ["connect", "answer"] : ["answer"]);
    // It counts as a message heard from the account, and leaves nothing open.
    expect(await h.driver.poll(dev, pollCtx())).toMatchObject({ metrics: { messages: 1, open_alarms: 0 } });
  });

  it("a panel's own message with the same sequence number is not marked as requested by the CLI", async () => {
    const h = harness();
    const dev = device("rx-office", { account: "1234", listen: { protocols: ["tcp"] } });
    const ports = await started(h, dev);
    await ask(h, dev);
    const seq = Number(h.reports[0]?.report.alarms?.[0]?.source.sequence);
    await sender(h, ports.tcp ?? 0, { firstSequence: seq }).send({ event: "manual-test" });
    expect(h.reports[1]?.report.alarms?.[0]).toMatchObject({ type: "test", test: true });
    expect(h.reports[1]?.report.alarms?.[0]?.source).not.toHaveProperty("requested_by");
  });

  it("fails, saying so, when the test could not be stored: no ACK comes back", async () => {
    const h = harness();
    const dev = device("rx-office", { account: "1234", listen: { protocols: ["tcp"] } });
    await started(h, dev);
    h.failNext(1);
    await expect(h.driver.testAlarm?.(dev, { signal: AbortSignal.timeout(300) })).rejects.toMatchObject({ code: "timeout" });
    expect(h.reports).toEqual([]);
  });
});

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}
