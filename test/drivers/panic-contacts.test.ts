/**
 * Panic receivers read as contacts: the pure engine (contacts.ts, time is a
 * number the test moves, memory through JSON as through the outbox), and the
 * driver against a simulated I/O module over Modbus TCP.
 */
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { systemClock } from "../../agent/clock.js";
import { ConfigError, parseConfig } from "../../config/load.js";
import { effectivePoll } from "../../config/schema.js";
import { DRIVERS } from "../../drivers/registry.js";
import type { DeviceAlarm, DeviceEvent, DeviceRef, Driver, DriverReport, Reading, TraceStep } from "../../drivers/contract.js";
import { evaluateContacts, parseContactMemory, testAlarmOf } from "../../drivers/panic-contacts/contacts.js";
import { type PanicContactsOptions, panicContactsDriver, panicContactsOptionsSchema } from "../../drivers/panic-contacts/index.js";
import { ContactModuleSim } from "../../scripts/sim/modbus-io.js";
import { type ModbusSim, startModbusSim } from "../../scripts/sim/modbus-server.js";

const log = pino({ level: "silent" });
const T0 = Date.UTC(2026, 10, 23, 9, 0, 0);

const OPTIONS = panicContactsOptionsSchema.parse({
  transport: "tcp",
  host: "127.0.0.1",
  inputs: {
    input_1: { meaning: "panic", zone: "15", name: "Room 114 pendant", location: { building: "A", room: "114" } },
    input_2: { meaning: "panic", alarm: "medical", zone: "16" },
    input_7: { meaning: "trouble" },
    input_8: { meaning: "tamper" },
  },
});

/** A receiver polled at chosen times, remembering like the agent does. */
function receiver(opts: PanicContactsOptions = OPTIONS) {
  let memory: unknown;
  let n = 0;
  const alarms: DeviceAlarm[] = [];
  const events: DeviceEvent[] = [];
  return {
    alarms,
    events,
    poll(atMs: number, values: Record<string, boolean | undefined>) {
      const r = evaluateContacts(parseContactMemory(memory), values, T0 + atMs, opts, () => `id-${++n}`);
      memory = JSON.parse(JSON.stringify(r.memory)) as unknown;
      alarms.push(...r.alarms);
      events.push(...r.events);
      return r;
    },
    get memory(): unknown {
      return memory;
    },
    set memory(m: unknown) {
      memory = m;
    },
  };
}
const quiet = { input_1: false, input_2: false, input_7: false, input_8: false };

describe("panic contacts", () => {
  it("a panic contact closing is an alarm at that poll, once, however long it is held", () => {
    const rx = receiver();
    rx.poll(0, quiet);
    const r = rx.poll(200, { ...quiet, input_1: true });
    expect(r.alarms).toEqual([
      expect.objectContaining({ id: "id-1", phase: "alarm", type: "panic", test: false, at: T0 + 200, zone: { id: "15", name: "Room 114 pendant", location: { building: "A", room: "114" } } }),
    ]);
    for (let t = 400; t <= 5000; t += 200) expect(rx.poll(t, { ...quiet, input_1: true }).alarms).toEqual([]);
  });

  it("reports the restore once the contact has stayed open restore_after_ms, naming the alarm it ends", () => {
    const rx = receiver();
    rx.poll(0, { ...quiet, input_1: true });
    expect(rx.poll(200, quiet).alarms).toEqual([]);
    expect(rx.poll(1000, quiet).alarms).toEqual([]);
    const restore = rx.poll(1200, quiet).alarms;
    expect(restore).toEqual([expect.objectContaining({ phase: "restore", type: "panic", ends: "id-1", id: "id-2" })]);
  });

  it("a bouncing contact is one alarm; a press after the restore is a new one", () => {
    const rx = receiver();
    rx.poll(0, quiet);
    rx.poll(200, { ...quiet, input_1: true });
    rx.poll(400, quiet);
    rx.poll(600, { ...quiet, input_1: true });
    rx.poll(800, quiet);
    rx.poll(2000, quiet);
    rx.poll(2200, { ...quiet, input_1: true });
    expect(rx.alarms.map((a) => [a.phase, a.id, a.ends])).toEqual([
      ["alarm", "id-1", undefined],
      ["restore", "id-2", "id-1"],
      ["alarm", "id-3", undefined],
    ]);
  });

  it("raises the configured alarm type, and keeps two zones' alarms apart", () => {
    const rx = receiver();
    rx.poll(0, quiet);
    const r = rx.poll(200, { ...quiet, input_1: true, input_2: true });
    expect(r.alarms.map((a) => [a.type, a.zone?.id])).toEqual([
      ["panic", "15"],
      ["medical", "16"],
    ]);
  });

  it("a panic contact found closed at the very first poll is an alarm, marked initial", () => {
    const rx = receiver();
    const r = rx.poll(0, { ...quiet, input_1: true });
    expect(r.alarms).toEqual([expect.objectContaining({ phase: "alarm", source: { protocol: "modbus-contact", input: "input_1", initial: true } })]);
  });

  it("trouble and tamper outputs are events and keep the receiver's active problems", () => {
    const rx = receiver();
    rx.poll(0, quiet);
    const r = rx.poll(200, { ...quiet, input_7: true });
    expect(r.events.map((e) => e.type)).toEqual(["receiver_trouble"]);
    expect(r.active).toEqual([{ input: "input_7", meaning: "trouble" }]);
    expect(rx.poll(400, { ...quiet, input_7: true }).events).toEqual([]);
    expect(rx.poll(600, quiet).events.map((e) => e.type)).toEqual(["receiver_trouble_cleared"]);
  });

  it("after a restart with the stored memory, a held button is not a second alarm and its restore still names it", () => {
    const rx = receiver();
    rx.poll(0, { ...quiet, input_1: true });
    const restarted = receiver();
    restarted.memory = JSON.parse(JSON.stringify(rx.memory)) as unknown;
    expect(restarted.poll(60_000, { ...quiet, input_1: true }).alarms).toEqual([]);
    restarted.poll(60_200, quiet);
    expect(restarted.poll(61_200, quiet).alarms).toEqual([expect.objectContaining({ phase: "restore", ends: "id-1" })]);
  });

  it("an input not read this poll changes nothing", () => {
    const rx = receiver();
    rx.poll(0, { ...quiet, input_1: true });
    expect(rx.poll(2000, { ...quiet, input_1: undefined }).alarms).toEqual([]);
  });

  it("refuses inputs the profile does not have, or that are not contacts", () => {
    const bad = panicContactsOptionsSchema.safeParse({ transport: "tcp", host: "h", inputs: { input_9: { meaning: "panic" } } });
    expect(bad.error?.issues.map((i) => [i.path.join("."), i.message])).toEqual([["inputs.input_9", expect.stringMatching(/profile io-8di has no point input_9/)]]);
    const notContact = panicContactsOptionsSchema.safeParse({
      transport: "tcp",
      host: "h",
      profile: { name: "p", points: { level: { table: "holding", address: 0, type: "u16" } } },
      inputs: { level: { meaning: "panic" } },
    });
    expect(notContact.error?.issues[0]?.message).toMatch(/not a contact/);
  });
});

describe("panic contacts test alarm", () => {
  it("is what the first panic input would raise, marked test and simulated, with its zone and location", () => {
    expect(testAlarmOf(OPTIONS, undefined, T0, () => "t-1")).toEqual({
      id: "t-1",
      phase: "alarm",
      type: "panic",
      test: true,
      at: T0,
      text: "test panic alarm: Room 114 pendant (zone 15), simulated input; do not dispatch",
      zone: { id: "15", name: "Room 114 pendant", location: { building: "A", room: "114" } },
      source: { protocol: "modbus-contact", input: "input_1", simulated: true, requested_by: "campus-agent test-alarm" },
    });
  });

  it("tests the named panic input with its alarm type, and refuses an input that is not a panic input, naming those that are", () => {
    expect(testAlarmOf(OPTIONS, "input_2", T0, () => "t-2")).toMatchObject({ type: "medical", test: true, zone: { id: "16" } });
    expect(() => testAlarmOf(OPTIONS, "input_7", T0, () => "x")).toThrow('input "input_7" is not a panic input: expected one of input_1, input_2');
    expect(() => testAlarmOf({ inputs: { input_7: { meaning: "trouble" } } }, undefined, T0, () => "x")).toThrow("this receiver has no panic input to test");
  });
});

describe("panic-contacts in a config", () => {
  const config = (poll?: Record<string, number>) =>
    [
      "campus: { id: c }",
      "gateway: { id: g }",
      "devices:",
      "  - id: rx-1",
      "    kind: panic-contacts",
      "    category: safety-critical",
      ...(poll ? [`    poll: ${JSON.stringify(poll)}`] : []),
      "    options: { transport: tcp, host: 10.0.0.9, inputs: { input_1: { meaning: panic } } }",
    ].join("\n");

  it("is polled every 200 ms by default, whatever the campus-wide polling defaults", () => {
    const { config: c } = parseConfig(config(), { file: "/etc/campus-agent/config.yaml", drivers: DRIVERS });
    const device = c.devices[0];
    if (device === undefined) throw new Error("no device");
    expect(effectivePoll(device, c.polling, panicContactsDriver.pollDefaults)).toMatchObject({ interval_ms: 200, timeout_ms: 150 });
  });

  it("refuses a timeout that does not fit the kind's 200 ms interval, by its path", () => {
    let problems: string[] = [];
    try {
      parseConfig(config({ timeout_ms: 500 }), { file: "/etc/campus-agent/config.yaml", drivers: DRIVERS });
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      problems = e.problems.map((p) => `${p.path}: ${p.message}`);
    }
    expect(problems).toEqual(["devices[0].poll.timeout_ms: timeout (500 ms) must be shorter than the poll interval (200 ms)"]);
  });
});

describe("panic-contacts driver against a simulated I/O module", () => {
  const sims: ModbusSim[] = [];
  const drivers: Driver<PanicContactsOptions>[] = [];
  afterEach(async () => {
    await Promise.all(drivers.splice(0).map((d) => d.close?.()));
    await Promise.all(sims.splice(0).map((s) => s.close()));
  });

  it("reads the contacts over Modbus TCP: a pressed button is an alarm, a trouble output shows degraded", async () => {
    const s = await startModbusSim({ units: [1] });
    sims.push(s);
    const module = new ContactModuleSim(s.bank(1));
    const d = panicContactsDriver.create({ log, clock: systemClock });
    drivers.push(d);
    const dev: DeviceRef<PanicContactsOptions> = { id: "rx-1", timeoutMs: 1000, options: { ...OPTIONS, port: s.tcpPort as number } };
    const poll = (memory?: unknown) => d.poll(dev, { signal: AbortSignal.timeout(1000), log, memory });
    const first = await poll();
    expect([first.health, first.alarms, first.metrics.input_1]).toEqual(["ok", [], false]);
    module.close(1);
    module.close(7);
    const second = await poll(first.memory);
    expect(second.alarms).toEqual([expect.objectContaining({ phase: "alarm", type: "panic", zone: expect.objectContaining({ id: "15" }) })]);
    expect([second.health, second.reason, second.metrics.open_alarms]).toEqual(["degraded", "receiver_trouble", 1]);
    expect(second.events?.map((e) => e.type)).toEqual(["receiver_trouble"]);
  });

  it("a traced poll reports the read with the module's bits, and the inputs as they are wired; the reading is the untraced one's", async () => {
    const s = await startModbusSim({ units: [1] });
    sims.push(s);
    const module = new ContactModuleSim(s.bank(1));
    module.close(1);
    module.close(7);
    const d = panicContactsDriver.create({ log, clock: systemClock });
    drivers.push(d);
    const dev: DeviceRef<PanicContactsOptions> = { id: "rx-1", timeoutMs: 1000, options: { ...OPTIONS, port: s.tcpPort as number } };
    const steps: TraceStep[] = [];
    const traced = await d.poll(dev, { signal: AbortSignal.timeout(1000), log, trace: (st) => steps.push(st) });
    expect(steps.map((st) => [st.step, st.ok, st.raw])).toEqual([
      [`tcp connect 127.0.0.1:${s.tcpPort}`, true, undefined],
      ["read discrete inputs 0-7 (unit 1)", true, "1 0 0 0 0 0 1 0"],
    ]);
    expect(steps[1]?.detail).toBe(
      [
        "input_1 Room 114 pendant (panic, zone 15): closed",
        "input_2 (medical, zone 16): open",
        ...[3, 4, 5, 6].map((n) => `input_${n}: open (not configured)`),
        "input_7 (trouble): closed",
        "input_8 (tamper): open",
      ].join("; "),
    );
    const plain = await d.poll(dev, { signal: AbortSignal.timeout(1000), log });
    const timeless = (r: Reading) => ({ ...r, responseTimeMs: 0, alarms: r.alarms?.map((a) => ({ ...a, id: "", at: 0 })), events: r.events?.map((e) => ({ ...e, at: 0 })) });
    const { memory: _m1, ...tracedRest } = timeless(traced);
    const { memory: _m2, ...plainRest } = timeless(plain);
    expect(tracedRest).toEqual(plainRest);
    expect(traced.alarms).toEqual([expect.objectContaining({ phase: "alarm", zone: expect.objectContaining({ id: "15" }) as unknown })]);
  });

  it("a traced poll of a module that does not answer shows the read failing at the request timeout", async () => {
    const s = await startModbusSim({ units: [1] });
    sims.push(s);
    const d = panicContactsDriver.create({ log, clock: systemClock });
    drivers.push(d);
    const dev: DeviceRef<PanicContactsOptions> = { id: "rx-5", timeoutMs: 1000, options: { ...OPTIONS, port: s.tcpPort as number, unit_id: 5 } };
    const steps: TraceStep[] = [];
    await expect(d.poll(dev, { signal: AbortSignal.timeout(1000), log, trace: (st) => steps.push(st) })).rejects.toMatchObject({ code: "timeout" });
    expect(steps).toMatchObject([
      { step: `tcp connect 127.0.0.1:${s.tcpPort}`, ok: true },
      { step: "read discrete inputs 0-7 (unit 5)", ok: false, detail: "unit 5 did not answer within 150 ms (the connection is up)" },
    ]);
  });

  it("a test alarm reads the module first, then stores the simulated input's alarm through report()", async () => {
    const s = await startModbusSim({ units: [1] });
    sims.push(s);
    new ContactModuleSim(s.bank(1));
    const reports: DriverReport[] = [];
    const d = panicContactsDriver.create({ log, clock: systemClock, report: (_, r) => void reports.push(r) });
    drivers.push(d);
    const dev: DeviceRef<PanicContactsOptions> = { id: "rx-1", timeoutMs: 1000, options: { ...OPTIONS, port: s.tcpPort as number } };
    const r = await d.testAlarm?.(dev, { input: "input_2", signal: AbortSignal.timeout(2000) });
    expect(r?.steps.map((x) => [x.step, x.detail])).toEqual([
      ["read inputs", "input_2 is open"],
      ["store", "committed to the outbox (fsync)"],
    ]);
    expect(reports).toEqual([{ alarms: [expect.objectContaining({ id: r?.alarmId, type: "medical", test: true })] }]);
  });

  it("a test alarm fails, storing nothing, when the module does not answer", async () => {
    const s = await startModbusSim({ units: [1] });
    const port = s.tcpPort as number;
    await s.close();
    const reports: DriverReport[] = [];
    const d = panicContactsDriver.create({ log, clock: systemClock, report: (_, r) => void reports.push(r) });
    drivers.push(d);
    const dev: DeviceRef<PanicContactsOptions> = { id: "rx-1", timeoutMs: 1000, options: { ...OPTIONS, port } };
    await expect(d.testAlarm?.(dev, { signal: AbortSignal.timeout(2000) })).rejects.toMatchObject({ name: "DriverError" });
    expect(reports).toEqual([]);
  });
});
