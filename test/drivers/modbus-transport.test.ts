import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ModbusError, toModbusError } from "../../drivers/modbus/errors.js";
import { builtinProfile } from "../../drivers/modbus/profiles/index.js";
import { readUnit, scanUnits } from "../../drivers/modbus/reader.js";
import { type Endpoint, ModbusTransport, type TransportSettings } from "../../drivers/modbus/transport.js";
import { DoorControllerSim } from "../../scripts/sim/modbus-door.js";
import { type ModbusSim, type ModbusSimOptions, startModbusSim } from "../../scripts/sim/modbus-server.js";
import { freePort } from "../helpers/net.js";
import { type PtyPair, socatPair } from "../scripts/modbus-helpers.js";

const log = pino({ level: "silent" });
const door = builtinProfile("generic-door");
if (door === undefined) throw new Error("generic-door profile missing");

let pty: PtyPair;
beforeAll(async () => {
  pty = await socatPair();
});
afterAll(() => pty.close());

const sims: ModbusSim[] = [];
const transports: ModbusTransport[] = [];
afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.close()));
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

/** A simulator with door controllers on units 1 and 2 (distinct serials), registers 0-9 holding unit*100+i on unit 3. */
async function sim(opts: ModbusSimOptions = {}): Promise<ModbusSim> {
  const s = await startModbusSim({ units: [1, 2, 3], ...opts });
  sims.push(s);
  new DoorControllerSim(s.bank(1), { serial: 1001 });
  new DoorControllerSim(s.bank(2), { serial: 2002 });
  s.bank(3).define("holdingRegisters", 0, [300, 301, 302, 303, 304, 305, 306, 307, 308, 309]);
  return s;
}

function transport(endpoint: Endpoint, settings: Partial<TransportSettings> = {}): ModbusTransport {
  const t = new ModbusTransport(endpoint, { timeoutMs: 1000, log, backoffInitialMs: 50, ...settings });
  transports.push(t);
  return t;
}

const tcp = (s: ModbusSim): Endpoint => ({ transport: "tcp", host: "127.0.0.1", port: s.tcpPort as number });

/** How many requests the simulator is working on at once, at most. */
function concurrency(s: ModbusSim): { max: number } {
  const seen = { active: 0, max: 0 };
  const original = s.process.bind(s);
  s.process = async (unit, pdu, rtu) => {
    seen.active++;
    seen.max = Math.max(seen.max, seen.active);
    try {
      return await original(unit, pdu, rtu);
    } finally {
      seen.active--;
    }
  };
  return seen;
}

async function rejection(p: Promise<unknown>): Promise<ModbusError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof ModbusError)) throw new Error(`expected a ModbusError, got ${String(e)}`);
  return e;
}

describe("modbus transport and reader against the door simulator", () => {
  it("reads the generic door profile over Modbus TCP in four requests and follows a door change", async () => {
    const s = await sim();
    const t = transport(tcp(s));
    const first = await readUnit(t, 1, door);
    expect(first.points.door_position?.value).toBe("closed");
    expect(first.points.lock_state?.value).toBe("locked");
    expect(first.points.battery_voltage).toEqual({ raw: 1365, value: 13.65, unit: "V" });
    expect(first.points.serial_number?.value).toBe(1001);
    expect(first.points.mains_power?.value).toBe(true);
    expect(first.timings.map((x) => x.group.functionCode)).toEqual([1, 2, 3, 4]);
    expect(first.errors).toEqual([]);
    new DoorControllerSim(s.bank(1), { serial: 1001 }).force();
    const second = await readUnit(t, 1, door);
    expect(second.points.door_position?.value).toBe("open");
    expect(second.points.forced_open_alarm?.value).toBe(true);
    expect(s.stats().connections).toBe(1);
  });

  it("pipelines requests on one Modbus TCP connection", async () => {
    const s = await sim();
    const seen = concurrency(s);
    s.setFault(3, { kind: "slow", delayMs: 100 });
    const t = transport(tcp(s));
    const answers = await Promise.all([0, 1, 2, 3, 4].map((a) => t.read({ unit: 3, table: "holding", address: a, count: 1 })));
    expect(answers.map((a) => a.values)).toEqual([[300], [301], [302], [303], [304]]);
    expect(seen.max).toBeGreaterThan(1);
    expect(s.stats().connections).toBe(1);
  });

  it.each(["serial", "rtu_over_tcp"] as const)("never overlaps requests on RTU (%s), even for different unit ids", async (via) => {
    const s = await sim(via === "serial" ? { tcpPort: null, rtu: { path: pty.a, baud: 9600 } } : { tcpPort: null, rtuTcpPort: 0 });
    const seen = concurrency(s);
    s.setFault(3, { kind: "slow", delayMs: 20 });
    const endpoint: Endpoint =
      via === "serial"
        ? { transport: "rtu", path: pty.b, baud_rate: 9600, parity: "none", data_bits: 8, stop_bits: 1 }
        : { transport: "rtu_over_tcp", host: "127.0.0.1", port: s.rtuTcpPort as number };
    const t = transport(endpoint);
    const reads = [0, 1, 2, 3].map((a) => t.read({ unit: 3, table: "holding", address: a, count: 2 }));
    const doors = [1, 2].map((u) => readUnit(t, u, door));
    const [answers, polls] = await Promise.all([Promise.all(reads), Promise.all(doors)]);
    expect(answers.map((a) => a.values)).toEqual([[300, 301], [301, 302], [302, 303], [303, 304]]);
    expect(polls.map((r) => r.points.serial_number?.value)).toEqual([1001, 2002]);
    expect(seen.max).toBe(1);
    expect(t.stats.maxInFlightSeen).toBe(1);
  });

  it("keeps no finished request behind on a long-lived connection (modbus-serial would keep up to 256 per connection)", async () => {
    const s = await sim();
    const t = transport(tcp(s), { timeoutMs: 300 });
    for (let i = 0; i < 30; i++) {
      await Promise.all(Array.from({ length: 20 }, () => t.read({ unit: 3, table: "holding", address: 0, count: 2 })));
    }
    // Answered, timed out (unit 9 is silent) and aborted requests alike.
    await rejection(t.read({ unit: 9, table: "holding", address: 0, count: 1 }));
    await rejection(t.read({ unit: 3, table: "holding", address: 0, count: 1 }, { signal: AbortSignal.abort() }));
    expect(t.stats).toMatchObject({ connected: true, inFlight: 0, libraryTransactions: 0 });
  });

  it("reports a unit id that does not answer as a timeout while the connection stays up", async () => {
    const s = await sim();
    const t = transport(tcp(s), { timeoutMs: 200 });
    const started = performance.now();
    const e = await rejection(t.read({ unit: 9, table: "holding", address: 0, count: 1 }));
    expect(e.code).toBe("timeout");
    expect(e.message).toMatch(/unit 9 did not answer within 200 ms \(the connection is up\)/);
    expect(performance.now() - started).toBeLessThan(1000);
    expect((await t.read({ unit: 3, table: "holding", address: 0, count: 1 })).values).toEqual([300]);
  });

  it("fails every pending request at once when the connection drops, then reconnects", async () => {
    const s = await sim();
    const port = s.tcpPort as number;
    const t = transport(tcp(s), { timeoutMs: 10_000 });
    s.setFault(3, { kind: "slow", delayMs: 10_000 });
    const pending = [0, 1, 2].map((a) => rejection(t.read({ unit: 3, table: "holding", address: a, count: 1 })));
    await expect.poll(() => s.stats().requests).toBe(3);
    const started = performance.now();
    await s.close();
    const errors = await Promise.all(pending);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(errors.map((e) => e.code)).toEqual(["protocol", "protocol", "protocol"]);
    expect(errors[0]?.message).toMatch(/connection lost: the endpoint closed the connection/);
    const back = await sim({ tcpPort: port });
    expect((await t.read({ unit: 3, table: "holding", address: 2, count: 1 })).values).toEqual([302]);
    expect(back.stats().connections).toBe(1);
  });

  it.each([
    [1, "config", false],
    [2, "config", false],
    [3, "config", false],
    [4, "protocol", true],
    [6, "busy", true],
    [0x0a, "gateway_path", true],
    [0x0b, "gateway_target", true],
  ])("maps exception %i to reason %s (retryable: %s)", async (code, reason, retryable) => {
    const s = await sim();
    s.setFault(3, { kind: "exception", code });
    const e = await rejection(transport(tcp(s)).read({ unit: 3, table: "holding", address: 4, count: 2 }));
    expect([e.code, e.retryable, e.exception, e.request?.address]).toEqual([reason, retryable, code, 4]);
    expect(e.message).toContain("unit 3 FC 3 holding 4-5");
  });

  it("names the points an illegal-address read costs, and still returns the others", async () => {
    const s = await sim();
    s.setFault(1, { kind: "exception", code: 2, fn: 4 });
    const r = await readUnit(transport(tcp(s)), 1, door);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]?.code).toBe("config");
    expect(r.errors[0]?.message).toMatch(/exception 02 .*\(points battery_voltage, firmware_version, serial_number, uptime, door_state/);
    expect(r.missing).toContain("battery_voltage");
    expect(r.points.door_position?.value).toBe("closed");
  });

  it("retries a busy unit with backoff and succeeds", async () => {
    const s = await sim();
    s.setFault(3, { kind: "busy", times: 2 });
    const profile = { ...door, points: { x: { table: "holding" as const, address: 0, type: "u16" as const } } };
    const r = await readUnit(transport(tcp(s)), 3, profile, { busyBackoffMs: 10 });
    expect(r.points.x?.value).toBe(300);
    expect(r.timings[0]?.attempts).toBe(3);
  });

  it("says gateway_target when the gateway answers for an absent unit, and a whole-unit failure ends the poll", async () => {
    const s = await sim({ tcpPort: null, rtuTcpPort: 0, unknownUnit: "target-failed" });
    const t = transport({ transport: "rtu_over_tcp", host: "127.0.0.1", port: s.rtuTcpPort as number });
    const e = await rejection(readUnit(t, 7, door));
    expect(e.code).toBe("gateway_target");
    expect(e.message).toMatch(/the device behind it is not answering/);
  });

  it("reports a garbled RTU answer as a protocol error", async () => {
    const s = await sim({ tcpPort: null, rtuTcpPort: 0 });
    s.setFault(3, { kind: "crc" });
    const e = await rejection(transport({ transport: "rtu_over_tcp", host: "127.0.0.1", port: s.rtuTcpPort as number }).read({ unit: 3, table: "holding", address: 0, count: 1 }));
    expect([e.code, e.message]).toEqual(["protocol", expect.stringMatching(/garbled answer \(CRC error\)/)]);
  });

  it("reports a refused connection, then waits out the backoff without hammering the endpoint", async () => {
    const t = transport({ transport: "tcp", host: "127.0.0.1", port: await freePort() }, { backoffInitialMs: 60_000 });
    const first = await rejection(t.read({ unit: 1, table: "holding", address: 0, count: 1 }));
    const second = await rejection(t.read({ unit: 1, table: "holding", address: 0, count: 1 }));
    expect([first.code, second.code]).toEqual(["refused", "refused"]);
    expect(second.message).toMatch(/next connect attempt in \d+ ms/);
    expect(t.stats.failures).toBe(1);
  });

  it("rejects promptly when the caller's signal aborts", async () => {
    const s = await sim();
    s.setFault(3, { kind: "slow", delayMs: 5000 });
    const t = transport(tcp(s), { timeoutMs: 10_000 });
    const ac = new AbortController();
    const p = rejection(t.read({ unit: 3, table: "holding", address: 0, count: 1 }, { signal: ac.signal }));
    await expect.poll(() => s.stats().requests).toBe(1);
    ac.abort();
    const e = await p;
    expect([e.code, e.message]).toEqual(["timeout", expect.stringMatching(/deadline reached/)]);
  });

  it("does not let a slow unit on one endpoint stall another endpoint", async () => {
    const slow = await sim();
    const fast = await sim();
    slow.setFault(3, { kind: "slow", delayMs: 3000 });
    const slowT = transport(tcp(slow), { timeoutMs: 5000 });
    const fastT = transport(tcp(fast));
    const stuck = slowT.read({ unit: 3, table: "holding", address: 0, count: 1 });
    await expect.poll(() => slow.stats().requests).toBe(1);
    const started = performance.now();
    expect((await fastT.read({ unit: 3, table: "holding", address: 0, count: 1 })).values).toEqual([300]);
    expect(performance.now() - started).toBeLessThan(500);
    await slowT.close();
    expect((await rejection(stuck)).code).toBe("protocol");
  });

  it("closes the connection after each poll when asked to (single-client devices)", async () => {
    const s = await sim();
    const t = transport(tcp(s), { closeAfterPoll: true });
    await readUnit(t, 1, door);
    expect(t.stats.connected).toBe(false);
    await readUnit(t, 2, door);
    expect(s.stats().connections).toBe(2);
  });

  it("finds the unit ids that answer behind an endpoint", async () => {
    const s = await sim({ tcpPort: null, rtuTcpPort: 0 });
    const t = transport({ transport: "rtu_over_tcp", host: "127.0.0.1", port: s.rtuTcpPort as number });
    const found = await scanUnits(t, [1, 2, 3, 4, 5], AbortSignal.timeout(5000), { timeoutMs: 150 });
    expect(found.map((f) => [f.unit, f.present])).toEqual([
      [1, true],
      [2, true],
      [3, true],
      [4, false],
      [5, false],
    ]);
  });
});

describe("modbus error mapping", () => {
  it("reads modbus-serial's plain-object timeout and Port Not Open, and socket errors", () => {
    expect(toModbusError({ name: "TransactionTimedOutError", message: "Timed out", errno: "ETIMEDOUT" }, "tcp://x:502").code).toBe("timeout");
    expect(toModbusError({ name: "PortNotOpenError", message: "Port Not Open", errno: "ECONNREFUSED" }, "tcp://x:502").code).toBe("protocol");
    expect(toModbusError(Object.assign(new Error("x"), { code: "ECONNREFUSED" }), "tcp://x:502").code).toBe("refused");
    expect(toModbusError(Object.assign(new Error("x"), { code: "EHOSTUNREACH" }), "tcp://x:502").code).toBe("unreachable");
    expect(toModbusError(new Error("Error: No such file or directory, cannot open /dev/ttyUSB9"), "rtu:/dev/ttyUSB9").code).toBe("unreachable");
    expect(toModbusError(Object.assign(new Error("Modbus exception 5"), { modbusCode: 5 }), "x").code).toBe("busy");
  });
});
