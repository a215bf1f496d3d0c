import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type ModbusSim, startModbusSim } from "../../scripts/sim/modbus-server.js";
import { bitsOf, ptyWire, type PtyPair, read, registersOf, rtu, RtuClient, socatPair, tcpWire, type Wire, writeCoils, writeRegister } from "./modbus-helpers.js";

let pty: PtyPair;
beforeAll(async () => {
  pty = await socatPair();
});
afterAll(() => pty.close());

const sims: ModbusSim[] = [];
const wires: Wire[] = [];
afterEach(async () => {
  for (const w of wires.splice(0)) w.destroy();
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

function fill(sim: ModbusSim): void {
  for (const u of sim.units()) {
    sim.bank(u).define("coils", 0, 0, 8).define("holdingRegisters", 0, [u * 100, u * 100 + 1, u * 100 + 2]);
  }
}

/** Units 1 and 2 on the PTY line (serial) and on RTU-over-TCP; a master on each. */
async function setup(): Promise<{ sim: ModbusSim; serial: RtuClient; gateway: RtuClient }> {
  const sim = await startModbusSim({ units: [1, 2], tcpPort: null, rtuTcpPort: 0, rtu: { path: pty.a, baud: 9600 } });
  sims.push(sim);
  fill(sim);
  const serialWire = ptyWire(pty.b);
  const tcp = await tcpWire(sim.rtuTcpPort as number);
  wires.push(serialWire, tcp);
  return { sim, serial: new RtuClient(serialWire), gateway: new RtuClient(tcp) };
}

describe.each(["serial", "gateway"] as const)("Modbus RTU simulator over %s, seen by a raw RTU master", (via) => {
  it("answers with the unit's address and a CRC the master verifies", async () => {
    const c = (await setup())[via];
    c.send(2, read(3, 0, 3));
    const r = await c.response();
    expect(r).toMatchObject({ unit: 2, crcOk: true });
    expect(registersOf(r.pdu)).toEqual([200, 201, 202]);
  });

  it("executes writes (05/06/15/16 path) and reads them back through the same line", async () => {
    const { sim, ...clients } = await setup();
    const c = clients[via];
    expect([...(await c.request(1, writeRegister(2, 4242)))]).toEqual([...writeRegister(2, 4242)]);
    expect([...(await c.request(1, writeCoils(0, [0, 1, 1])))]).toEqual([15, 0, 0, 0, 3]);
    expect(bitsOf(await c.request(1, read(1, 0, 3)), 3)).toEqual([0, 1, 1]);
    expect(sim.bank(1).get("holdingRegisters", 2)).toBe(4242);
  });

  it("ignores a request with a bad CRC, then answers the next good one", async () => {
    const { sim, ...clients } = await setup();
    const c = clients[via];
    const bad = rtu(1, read(3, 0, 1));
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0x55;
    c.wire.send(bad);
    expect(registersOf(await c.request(1, read(3, 1, 1)))).toEqual([101]);
    expect(sim.stats()).toMatchObject({ requests: 1, badFrames: 1 });
  });

  it("joins a request split across writes and answers a unit it hosts only", async () => {
    const { sim, ...clients } = await setup();
    const c = clients[via];
    const frame = rtu(9, read(3, 0, 1));
    c.wire.send(frame.subarray(0, 3));
    c.wire.send(frame.subarray(3));
    expect(registersOf(await c.request(2, read(3, 2, 1)))).toEqual([202]);
    expect(sim.stats().requests).toBe(2);
  });

  it("executes a broadcast write (address 0) on every unit without answering", async () => {
    const { sim, ...clients } = await setup();
    const c = clients[via];
    c.send(0, writeRegister(0, 7));
    expect(registersOf(await c.request(1, read(3, 0, 1)))).toEqual([7]);
    expect(sim.bank(2).get("holdingRegisters", 0)).toBe(7);
  });

  it("answers 01 for an unknown function code once the line goes quiet, CRC intact", async () => {
    const c = (await setup())[via];
    c.send(1, Buffer.from([0x41, 0x00]));
    expect(await c.response()).toMatchObject({ unit: 1, crcOk: true, pdu: Buffer.from([0xc1, 1]) });
  });

  it("crc fault: answers a whole frame whose CRC fails", async () => {
    const { sim, ...clients } = await setup();
    const c = clients[via];
    sim.setFault(1, { kind: "crc" });
    c.send(1, read(3, 0, 1));
    const r = await c.response();
    expect(r).toMatchObject({ unit: 1, crcOk: false });
    expect(registersOf(r.pdu)).toEqual([100]);
  });

  it("no-answer, garbage and busy faults act on their unit only", async () => {
    const { sim, ...clients } = await setup();
    const c = clients[via];
    sim.setFault(1, { kind: "no-answer" });
    c.send(1, read(3, 0, 1));
    expect(registersOf(await c.request(2, read(3, 0, 1)))).toEqual([200]);
    sim.setFault(1, { kind: "busy", times: 1 });
    expect([...(await c.request(1, read(3, 0, 1)))]).toEqual([0x83, 6]);
    expect(registersOf(await c.request(1, read(3, 0, 1)))).toEqual([100]);
    sim.setFault(2, { kind: "garbage", bytes: Buffer.from([0xaa, 0xbb, 0xcc]) });
    c.send(2, read(3, 0, 1));
    expect([...(await c.wire.take(3))]).toEqual([0xaa, 0xbb, 0xcc]);
  });
});

describe("RTU drop fault", () => {
  it("closes an RTU-over-TCP connection, and is silence on a serial line", async () => {
    const { sim, serial, gateway } = await setup();
    sim.setFault(1, { kind: "drop" });
    gateway.send(1, read(3, 0, 1));
    await expect(gateway.wire.take(1)).rejects.toThrow(/closed/);
    serial.send(1, read(3, 0, 1));
    expect(registersOf(await serial.request(2, read(3, 0, 1)))).toEqual([200]);
  });
});
