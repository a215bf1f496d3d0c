import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parse } from "yaml";
import { buildConfigSchema } from "../../config/schema.js";
import { systemClock } from "../../agent/clock.js";
import { type DeviceRef, type Driver, DriverError, type Reading, type TraceStep } from "../../drivers/contract.js";
import { type ModbusOptions, modbusDoorDriver, modbusOptionsSchema } from "../../drivers/modbus/index.js";
import { genericDoor } from "../../drivers/modbus/profiles/generic-door.js";
import { DoorControllerSim } from "../../scripts/sim/modbus-door.js";
import { type ModbusSim, startModbusSim } from "../../scripts/sim/modbus-server.js";
import { socatPair } from "../scripts/modbus-helpers.js";

const log = pino({ level: "silent" });
const samplePath = fileURLToPath(new URL("../../drivers/modbus/sample.yaml", import.meta.url));

const sims: ModbusSim[] = [];
const drivers: Driver<ModbusOptions>[] = [];
afterEach(async () => {
  await Promise.all(drivers.splice(0).map((d) => d.close?.()));
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

/** A simulator with door controllers on units 1 (serial 1001, firmware 2.3) and 2 (serial 2002). */
async function sim(): Promise<{ s: ModbusSim; door1: DoorControllerSim; door2: DoorControllerSim }> {
  const s = await startModbusSim({ units: [1, 2] });
  sims.push(s);
  const door1 = new DoorControllerSim(s.bank(1), { serial: 1001, firmware: [2, 3] });
  const door2 = new DoorControllerSim(s.bank(2), { serial: 2002 });
  return { s, door1, door2 };
}

function driver(): Driver<ModbusOptions> {
  const d = modbusDoorDriver.create({ log, clock: systemClock });
  drivers.push(d);
  return d;
}

function device(s: ModbusSim, id: string, unit: number, extra: Record<string, unknown> = {}): DeviceRef<ModbusOptions> {
  const options = modbusOptionsSchema.parse({ transport: "tcp", host: "127.0.0.1", port: s.tcpPort, unit_id: unit, profile: "generic-door", ...extra });
  return { id, timeoutMs: 2000, options };
}

const poll = (d: Driver<ModbusOptions>, dev: DeviceRef<ModbusOptions>) => d.poll(dev, { signal: AbortSignal.timeout(dev.timeoutMs), log });

describe("modbus-door driver against the door simulator", () => {
  it("reads a healthy door as ok, closed and locked, with battery voltage and identity", async () => {
    const { s } = await sim();
    const r = await poll(driver(), device(s, "door-1", 1));
    expect(r.health).toBe("ok");
    expect(r.reason).toBe("ok");
    expect(r.metrics).toMatchObject({ door_position: "closed", lock_state: "locked", mains_power: true, tamper: false, battery_low: false, reads: 4, read_errors: 0 });
    expect(r.metrics.battery_voltage).toBeCloseTo(13.65);
    expect(r.metrics.read_ms).toEqual(expect.any(Number));
    expect(r.identity).toEqual({ serial: "1001", firmware: "2.3" });
  });

  it("reads the firmware as the profile's format says, also below 256: generic-door's 0x0009 is 0.9, not 9", async () => {
    const s = await startModbusSim({ units: [1] });
    sims.push(s);
    new DoorControllerSim(s.bank(1), { serial: 7, firmware: [0, 9] });
    const r = await poll(driver(), device(s, "door-1", 1));
    expect(r.identity).toEqual({ serial: "7", firmware: "0.9" });
  });

  it("reports the profile's vendor and model as the door's manufacturer and model", async () => {
    const { s } = await sim();
    const acme = { ...genericDoor, name: "acme-dc-1", vendor: "ACME Access", model: "DC-1" };
    const r = await poll(driver(), device(s, "door-1", 1, { profile: acme }));
    expect(r.identity).toEqual({ serial: "1001", firmware: "2.3", manufacturer: "ACME Access", model: "DC-1" });
  });

  it("identify() reads only the identity registers, in one request for generic-door", async () => {
    const { s, door1 } = await sim();
    const before = s.stats().requests;
    const identity = await driver().identify?.(device(s, "door-1", 1), { signal: AbortSignal.timeout(2000), log });
    expect(identity).toEqual({ serial: "1001", firmware: "2.3" });
    expect(s.stats().requests - before).toBe(1);
    // A swapped controller answers with its own serial at the next inventory run.
    door1.bank.define("inputRegisters", 2, [0, 4242]);
    expect(await driver().identify?.(device(s, "door-1", 1), { signal: AbortSignal.timeout(2000), log })).toMatchObject({ serial: "4242" });
  });

  it("identify() of a profile without identity points reports what the profile says, without a request", async () => {
    const { s } = await sim();
    const before = s.stats().requests;
    const io = await driver().identify?.(device(s, "io-1", 1, { profile: { name: "io", vendor: "ACME I/O", model: "IO-8", points: { in_1: { table: "discrete_input", address: 0, type: "bool" } } } }), {
      signal: AbortSignal.timeout(2000),
      log,
    });
    expect(io).toEqual({ manufacturer: "ACME I/O", model: "IO-8" });
    expect(s.stats().requests).toBe(before);
  });

  it("shows the door open after the simulator forces it", async () => {
    const { s, door1 } = await sim();
    const d = driver();
    const dev = device(s, "door-1", 1);
    expect((await poll(d, dev)).metrics.door_position).toBe("closed");
    door1.force();
    const r = await poll(d, dev);
    expect(r.metrics).toMatchObject({ door_position: "open", forced_open_alarm: true, door_state: "forced_open" });
  });

  it("reports lost mains power as degraded with reason mains_lost", async () => {
    const { s, door1 } = await sim();
    door1.powerLoss();
    const r = await poll(driver(), device(s, "door-1", 1));
    expect([r.health, r.reason]).toEqual(["degraded", "mains_lost"]);
    expect(r.reasonText).toMatch(/mains power lost/);
  });

  it("reports a drained battery as degraded with reason battery_low", async () => {
    const { s, door1 } = await sim();
    door1.batteryDrain();
    const r = await poll(driver(), device(s, "door-1", 1));
    expect([r.health, r.reason]).toEqual(["degraded", "battery_low"]);
    expect(r.reasonText).toMatch(/battery low \(11 V\)/);
  });

  it("reports tamper as degraded with reason tamper, ahead of lost mains power, and names both", async () => {
    const { s, door1 } = await sim();
    door1.tamper();
    door1.powerLoss();
    const r = await poll(driver(), device(s, "door-1", 1));
    expect([r.health, r.reason]).toEqual(["degraded", "tamper"]);
    expect(r.reasonText).toMatch(/tamper.*; mains power lost/);
  });

  it("reports points whose read failed as degraded with reason config, naming them", async () => {
    const { s } = await sim();
    s.setFault(1, { kind: "exception", code: 2, fn: 3 });
    const r = await poll(driver(), device(s, "door-1", 1));
    expect([r.health, r.reason]).toEqual(["degraded", "config"]);
    expect(r.reasonText).toMatch(/held_open_limit, battery_low_threshold/);
    expect(r.metrics).toMatchObject({ door_position: "closed", read_errors: 1 });
    expect(r.metrics).not.toHaveProperty("held_open_limit");
  });

  it("throws a timeout DriverError within the deadline when the unit does not answer", async () => {
    const { s } = await sim();
    const dev = { ...device(s, "door-9", 9, { request_timeout_ms: 200 }), timeoutMs: 1500 };
    const started = performance.now();
    const e = await poll(driver(), dev).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(DriverError);
    expect((e as DriverError).code).toBe("timeout");
    expect(performance.now() - started).toBeLessThan(dev.timeoutMs);
  });

  it("shares one connection between two devices on the same endpoint", async () => {
    const { s } = await sim();
    const d = driver();
    const [a, b] = await Promise.all([poll(d, device(s, "door-1", 1)), poll(d, device(s, "door-2", 2))]);
    expect([a.identity?.serial, b.identity?.serial]).toEqual(["1001", "2002"]);
    await poll(d, device(s, "door-1", 1));
    expect(s.stats().connections).toBe(1);
  });

  it("closes an endpoint's connection when its last device is forgotten", async () => {
    const { s } = await sim();
    const d = driver();
    await poll(d, device(s, "door-1", 1));
    await poll(d, device(s, "door-2", 2));
    d.forget?.("door-1");
    await poll(d, device(s, "door-2", 2));
    expect(s.stats().connections).toBe(1);
    d.forget?.("door-2");
    await poll(d, device(s, "door-1", 1));
    expect(s.stats().connections).toBe(2);
  });

  it("leaves no sockets behind after close", async () => {
    const handles = () => process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap" || r === "TCPServerWrap" || r === "Timeout").length;
    const before = handles();
    const { s } = await sim();
    const d = modbusDoorDriver.create({ log, clock: systemClock });
    await poll(d, device(s, "door-1", 1));
    expect(s.stats().connections).toBe(1);
    await d.close?.();
    await s.close();
    sims.splice(0);
    // Sockets of earlier tests may still be closing: never more than before this test began.
    await vi.waitFor(() => expect(handles()).toBeLessThanOrEqual(before));
  });
});

describe("modbus-door driver, traced (campus-agent probe)", () => {
  /** A poll as `campus-agent probe` makes it: the steps traced, and what the poll gave. */
  async function tracedPoll(d: Driver<ModbusOptions>, dev: DeviceRef<ModbusOptions>): Promise<{ steps: TraceStep[]; outcome: Reading | DriverError }> {
    const steps: TraceStep[] = [];
    const trace = (st: TraceStep) => void steps.push(st);
    const outcome = await d.poll(dev, { signal: AbortSignal.timeout(dev.timeoutMs), log, trace }).catch((e: unknown) => e as DriverError);
    return { steps, outcome };
  }
  const hex = (words: number[]) => words.map((w) => `0x${w.toString(16).padStart(4, "0")}`).join(" ");
  const words = (bank: DoorControllerSim["bank"], table: "holdingRegisters" | "inputRegisters", from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, i) => bank.get(table, from + i));

  it("reports the connect, then every read with the words or bits the simulator holds and the points they decode to", async () => {
    const { s, door1 } = await sim();
    door1.powerLoss();
    const { steps, outcome } = await tracedPoll(driver(), device(s, "door-1", 1));
    expect((outcome as Reading).reason).toBe("mains_lost");
    expect(steps.map((st) => [st.step, st.ok, st.raw])).toEqual([
      [`tcp connect 127.0.0.1:${s.tcpPort}`, true, undefined],
      ["read coils 0 (unit 1)", true, "1"],
      ["read discrete inputs 0-6 (unit 1)", true, "0 0 0 0 0 0 0"],
      ["read holding 0-1 (unit 1)", true, hex(words(door1.bank, "holdingRegisters", 0, 1))],
      ["read input 0-8 (unit 1)", true, hex(words(door1.bank, "inputRegisters", 0, 8))],
    ]);
    expect(steps[3]?.raw).toBe("0x001e 0x047e");
    expect(steps.map((st) => st.detail)).toEqual([
      "connected",
      "lock_state: locked",
      "door_position: closed, request_to_exit: false, tamper: false, mains_power: false, forced_open_alarm: false, held_open_alarm: false, battery_low: false",
      "held_open_limit: 30 s, battery_low_threshold: 11.5 V",
      expect.stringMatching(/^battery_voltage: 13\.65 V, firmware_version: 2\.3 \(515\), serial_number: 1001, uptime: \d+ s, door_state: closed, temperature: 21\.5 °C, status_bits: \d+$/),
    ]);
    expect(Math.max(...steps.slice(1).map((st) => st.ms))).toBe((outcome as Reading).metrics.read_ms);
  });

  it("gives the same reading traced as untraced", async () => {
    const { s } = await sim();
    const d = driver();
    const timeless = (r: Reading) => ({ ...r, responseTimeMs: 0, reasonText: "", metrics: { ...r.metrics, read_ms: 0, uptime: 0 } });
    const plain = await poll(d, device(s, "door-1", 1));
    const { outcome } = await tracedPoll(d, device(s, "door-1", 1));
    expect(timeless(outcome as Reading)).toEqual(timeless(plain));
  });

  it("reports a refused connection as one failed connect step saying so, not a failed step per read, and then its backoff", async () => {
    const s = await startModbusSim({ units: [1] });
    const port = s.tcpPort as number;
    await s.close();
    const dev = modbusOptionsSchema.parse({ transport: "tcp", host: "127.0.0.1", port, profile: "generic-door" });
    const d = driver();
    const { steps, outcome } = await tracedPoll(d, { id: "door-1", timeoutMs: 2000, options: dev });
    expect(steps).toEqual([{ step: `tcp connect 127.0.0.1:${port}`, ms: expect.any(Number) as unknown, ok: false, detail: "connection refused (nothing listening on that port)" }]);
    expect(outcome).toMatchObject({ code: "refused" });
    // At once again: the connect waits for its backoff, and the step says so.
    const again = await tracedPoll(d, { id: "door-1", timeoutMs: 2000, options: dev });
    expect(again.steps).toMatchObject([{ step: `tcp connect 127.0.0.1:${port}`, ok: false, detail: expect.stringMatching(/^connection refused \(nothing listening on that port\) \(next connect attempt in \d+ ms\)$/) as unknown }]);
  });

  it("reports a unit that does not answer as a failed read at its request timeout", async () => {
    const { s } = await sim();
    const { steps, outcome } = await tracedPoll(driver(), device(s, "door-9", 9, { request_timeout_ms: 200 }));
    expect(steps).toMatchObject([
      { step: `tcp connect 127.0.0.1:${s.tcpPort}`, ok: true },
      { step: expect.stringMatching(/^read .* \(unit 9\)$/) as unknown, ok: false, detail: "unit 9 did not answer within 200 ms (the connection is up)" },
    ]);
    expect(steps[1]?.ms).toBeGreaterThanOrEqual(190);
    expect(outcome).toMatchObject({ code: "timeout" });
  });

  it("reports an exception as a failed read naming it, and still decodes the other reads", async () => {
    const { s } = await sim();
    s.setFault(1, { kind: "exception", code: 2, fn: 3 });
    const { steps } = await tracedPoll(driver(), device(s, "door-1", 1));
    expect(steps.map((st) => [st.step, st.ok])).toEqual([
      [`tcp connect 127.0.0.1:${s.tcpPort}`, true],
      ["read coils 0 (unit 1)", true],
      ["read discrete inputs 0-6 (unit 1)", true],
      ["read holding 0-1 (unit 1)", false],
      ["read input 0-8 (unit 1)", true],
    ]);
    expect(steps[3]?.detail).toBe("exception 02 illegal data address: the device has no such register (check the profile)");
  });

  it("traces identify(): a busy answer is a failed attempt that says it is retried, then the read that worked", async () => {
    const { s } = await sim();
    s.setFault(1, { kind: "busy", times: 1 });
    const steps: TraceStep[] = [];
    const identity = await driver().identify?.(device(s, "door-1", 1), { signal: AbortSignal.timeout(2000), log, trace: (st) => steps.push(st) });
    expect(identity).toEqual({ serial: "1001", firmware: "2.3" });
    expect(steps.map((st) => [st.step, st.ok, st.detail, st.raw])).toEqual([
      [`tcp connect 127.0.0.1:${s.tcpPort}`, true, "connected", undefined],
      ["read input 1-3 (unit 1)", false, "exception 0x06 server busy: retry later; retrying in 100 ms", undefined],
      ["read input 1-3 (unit 1)", true, "firmware_version: 2.3 (515), serial_number: 1001", "0x0203 0x0000 0x03e9"],
    ]);
  });

  it("on an RS-485 bus, opens the serial port, and reports waiting for the bus while another controller's poll has it", async () => {
    const pty = await socatPair();
    try {
      const s = await startModbusSim({ units: [1, 2], tcpPort: null, rtu: { path: pty.a, baud: 9600 } });
      sims.push(s);
      new DoorControllerSim(s.bank(1), { serial: 1001 });
      new DoorControllerSim(s.bank(2), { serial: 2002 });
      const d = driver();
      const bus = (id: string, unit: number) => device(s, id, unit, { transport: "rtu", host: undefined, port: undefined, path: pty.b, baud_rate: 9600 });
      const first = await tracedPoll(d, bus("door-1", 1));
      expect(first.steps.map((st) => st.step)).toEqual([
        `open serial ${pty.b} 9600 8N1`,
        "read coils 0 (unit 1)",
        "read discrete inputs 0-6 (unit 1)",
        "read holding 0-1 (unit 1)",
        "read input 0-8 (unit 1)",
      ]);
      // door-1's four reads take the bus first: door-2's poll waits for them.
      const [, second] = await Promise.all([poll(d, bus("door-1", 1)), tracedPoll(d, bus("door-2", 2))]);
      expect(second.steps.map((st) => [st.step, st.ok])).toEqual([
        [`rtu bus ${pty.b} wait`, true],
        ["read coils 0 (unit 2)", true],
        ["read discrete inputs 0-6 (unit 2)", true],
        ["read holding 0-1 (unit 2)", true],
        ["read input 0-8 (unit 2)", true],
      ]);
      expect(second.steps[0]?.detail).toBe("4 requests ahead");
      expect(second.steps[0]?.ms).toBeGreaterThan(0);
      await d.close?.();
    } finally {
      await pty.close();
    }
  });
});

describe("modbus-door options and helpers", () => {
  it("sample.yaml validates as devices of a campus config", () => {
    const sample = parse(readFileSync(samplePath, "utf8")) as { devices: { options: unknown }[] };
    expect(sample.devices.length).toBe(3);
    const schema = buildConfigSchema([modbusDoorDriver]);
    const cfg = schema.parse({ campus: { id: "demo" }, gateway: { id: "gw1" }, devices: sample.devices });
    expect(cfg.devices.map((d) => d.kind)).toEqual(["modbus-door", "modbus-door", "modbus-door"]);
    const transports = sample.devices.map((d) => modbusOptionsSchema.parse(d.options).transport);
    expect(transports).toEqual(["tcp", "rtu", "rtu_over_tcp"]);
  });
});
