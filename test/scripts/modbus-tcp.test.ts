import { afterEach, describe, expect, it, vi } from "vitest";
import { type ModbusSim, type ModbusSimOptions, startModbusSim } from "../../scripts/sim/modbus-server.js";
import { bitsOf, MbapClient, read, registersOf, tcpWire, type Wire, writeCoil, writeCoils, writeRegister, writeRegisters } from "./modbus-helpers.js";

const sims: ModbusSim[] = [];
const wires: Wire[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const w of wires.splice(0)) w.destroy();
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

/** A simulator with units 1 and 2, each with 16 of every table, and a client on its Modbus TCP port. */
async function setup(opts: ModbusSimOptions = {}): Promise<{ sim: ModbusSim; client: MbapClient }> {
  const sim = await startModbusSim({ units: [1, 2], ...opts });
  sims.push(sim);
  for (const u of [1, 2]) {
    sim.bank(u)
      .define("coils", 0, 0, 16)
      .define("discreteInputs", 0, [1, 0, 1, 1, 0, 0, 0, 0, 1])
      .define("holdingRegisters", 0, Array.from({ length: 16 }, (_, i) => u * 100 + i))
      .define("inputRegisters", 0, [0xbeef, 0x0102]);
  }
  const wire = await tcpWire(sim.tcpPort as number);
  wires.push(wire);
  return { sim, client: new MbapClient(wire) };
}

describe("Modbus TCP simulator, seen by a raw MBAP client", () => {
  it("listens on an ephemeral port and echoes transaction id, protocol 0 and unit id", async () => {
    const { sim, client } = await setup();
    expect(sim.tcpPort).toBeGreaterThan(0);
    const tid = client.send(2, read(3, 0, 1), 0xabcd);
    const r = await client.response();
    expect(r).toMatchObject({ tid, protocol: 0, unit: 2 });
    expect([...r.pdu]).toEqual([3, 2, 0, 200]);
  });

  it("reads coils (01) and discrete inputs (02) as LSB-first packed bits", async () => {
    const { sim, client } = await setup();
    sim.bank(1).set("coils", 0, [1, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
    const coils = await client.request(1, read(1, 0, 10));
    expect([...coils.subarray(0, 2)]).toEqual([1, 2]);
    expect(bitsOf(coils, 10)).toEqual([1, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
    expect(bitsOf(await client.request(1, read(2, 0, 9)), 9)).toEqual([1, 0, 1, 1, 0, 0, 0, 0, 1]);
  });

  it("reads holding (03) and input (04) registers big-endian", async () => {
    const { client } = await setup();
    expect(registersOf(await client.request(1, read(3, 14, 2)))).toEqual([114, 115]);
    expect(registersOf(await client.request(2, read(4, 0, 2)))).toEqual([0xbeef, 0x0102]);
  });

  it("writes a coil (05) and a register (06), echoing the request, and the values read back", async () => {
    const { sim, client } = await setup();
    expect([...(await client.request(1, writeCoil(3, true)))]).toEqual([...writeCoil(3, true)]);
    expect([...(await client.request(1, writeRegister(5, 0xfffe)))]).toEqual([...writeRegister(5, 0xfffe)]);
    expect(sim.bank(1).get("coils", 3)).toBe(1);
    expect(registersOf(await client.request(1, read(3, 5, 1)))).toEqual([0xfffe]);
    await client.request(1, writeCoil(3, false));
    expect(sim.bank(1).get("coils", 3)).toBe(0);
  });

  it("writes multiple coils (15) and registers (16), answering address and quantity", async () => {
    const { sim, client } = await setup();
    expect([...(await client.request(1, writeCoils(2, [1, 1, 0, 1, 0, 0, 0, 0, 1])))]).toEqual([15, 0, 2, 0, 9]);
    expect(bitsOf(await client.request(1, read(1, 2, 9)), 9)).toEqual([1, 1, 0, 1, 0, 0, 0, 0, 1]);
    expect([...(await client.request(1, writeRegisters(10, [7, 8, 9])))]).toEqual([16, 0, 10, 0, 3]);
    expect([10, 11, 12].map((a) => sim.bank(1).get("holdingRegisters", a))).toEqual([7, 8, 9]);
    expect(sim.bank(2).get("holdingRegisters", 10)).toBe(210);
  });

  it("answers exceptions 01, 02 and 03 with the function code's high bit set", async () => {
    const { client } = await setup();
    expect([...(await client.request(1, Buffer.from([0x07])))]).toEqual([0x87, 1]);
    expect([...(await client.request(1, read(4, 1, 2)))]).toEqual([0x84, 2]);
    expect([...(await client.request(1, read(3, 0, 126)))]).toEqual([0x83, 3]);
    expect([...(await client.request(1, writeRegister(16, 1)))]).toEqual([0x86, 2]);
  });

  it("answers pipelined requests in arrival order, each with its own transaction id, even when an earlier one is slow", async () => {
    const { sim, client } = await setup();
    sim.setFault(1, { kind: "slow", delayMs: 150 });
    const tids = [
      client.send(1, read(3, 0, 1), 7),
      client.send(2, read(3, 1, 1), 8),
      client.send(2, writeRegister(0, 5), 9),
      client.send(2, read(3, 0, 1), 10),
    ];
    const answers = [await client.response(), await client.response(), await client.response(), await client.response()];
    expect(answers.map((a) => a.tid)).toEqual(tids);
    expect(answers.map((a) => registersOf(a.pdu)[0] ?? a.pdu.readUInt16BE(3))).toEqual([100, 201, 5, 5]);
  });

  it("splits requests that arrive in one chunk and joins requests that arrive byte by byte", async () => {
    const { client } = await setup();
    const frame = (tid: number) => Buffer.from([0, tid, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1]);
    for (const b of frame(1)) client.wire.send(Buffer.from([b]));
    client.wire.send(Buffer.concat([frame(2), frame(3)]));
    expect([(await client.response()).tid, (await client.response()).tid, (await client.response()).tid]).toEqual([1, 2, 3]);
  });

  it("ignores frames of another protocol id and still answers the next Modbus one", async () => {
    const { sim, client } = await setup();
    client.wire.send(Buffer.from([0, 1, 0, 7, 0, 6, 1, 3, 0, 0, 0, 1]));
    client.send(1, read(3, 0, 1), 2);
    expect((await client.response()).tid).toBe(2);
    expect(sim.stats().requests).toBe(1);
  });

  it("says nothing for a unit id it does not host, so the next answer is for the next request", async () => {
    const { sim, client } = await setup();
    client.send(9, read(3, 0, 1), 1);
    client.send(1, read(3, 0, 1), 2);
    expect((await client.response()).tid).toBe(2);
    expect(sim.stats().requests).toBe(2);
  });

  it("answers 0A or 0B for an unknown unit id when configured as a gateway", async () => {
    const { sim, client } = await setup({ unknownUnit: "target-failed" });
    expect([...(await client.request(9, read(3, 0, 1)))]).toEqual([0x83, 0x0b]);
    sim.unknownUnit = "path-unavailable";
    expect([...(await client.request(9, read(1, 0, 1)))]).toEqual([0x81, 0x0a]);
    expect(registersOf(await client.request(1, read(3, 0, 1)))).toEqual([100]);
  });
});

describe("Modbus TCP fault injection, per unit id", () => {
  it("no-answer: the unit stays silent while another unit on the same connection answers", async () => {
    const { sim, client } = await setup();
    sim.setFault(1, { kind: "no-answer" });
    client.send(1, read(3, 0, 1), 1);
    client.send(2, read(3, 0, 1), 2);
    expect((await client.response()).tid).toBe(2);
    expect(client.wire.pending()).toHaveLength(0);
    sim.setFault(1, { kind: "none" });
    expect(registersOf(await client.request(1, read(3, 0, 1)))).toEqual([100]);
  });

  it("fault cycle: the unit is silent in its no-answer phase and answers in the next; removing the unit ends the cycle", async () => {
    const { sim, client } = await setup();
    // Only the cycle's timers are faked: the sockets run for real.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    sim.setFault(1, { cycle: [{ fault: { kind: "no-answer" }, forMs: 20_000 }, { fault: { kind: "none" }, forMs: 40_000 }] });
    client.send(1, read(3, 0, 1), 1);
    client.send(2, read(3, 0, 1), 2);
    expect((await client.response()).tid).toBe(2);
    expect(client.wire.pending()).toHaveLength(0);
    vi.advanceTimersByTime(20_000);
    expect(registersOf(await client.request(1, read(3, 0, 1)))).toEqual([100]);
    sim.removeUnit(1);
    expect(sim.fault(1)).toEqual({ kind: "none" });
    expect(vi.getTimerCount()).toBe(0);
  });

  it("exception: answers the configured code only for the configured function and range", async () => {
    const { sim, client } = await setup();
    sim.setFault(1, { kind: "exception", code: 4, fn: 3, from: 8, to: 9 });
    expect([...(await client.request(1, read(3, 6, 4)))]).toEqual([0x83, 4]);
    expect(registersOf(await client.request(1, read(3, 0, 2)))).toEqual([100, 101]);
    expect(bitsOf(await client.request(1, read(1, 8, 1)), 1)).toEqual([0]);
    sim.setFault(2, { kind: "exception", code: 0x0b });
    expect([...(await client.request(2, read(2, 0, 1)))]).toEqual([0x82, 0x0b]);
  });

  it("slow: answers no sooner than the configured delay", async () => {
    const { sim, client } = await setup();
    sim.setFault(2, { kind: "slow", delayMs: 200 });
    const t0 = performance.now();
    expect(registersOf(await client.request(2, read(3, 0, 1)))).toEqual([200]);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(195);
  });

  it("drop: closes the connection without answering, after answering what came before", async () => {
    const { sim, client } = await setup();
    sim.setFault(2, { kind: "drop" });
    client.send(1, read(3, 0, 1), 1);
    client.send(2, read(3, 0, 1), 2);
    expect((await client.response()).tid).toBe(1);
    await expect(client.wire.take(1)).rejects.toThrow(/closed/);
    const again = new MbapClient(await tcpWire(sim.tcpPort as number));
    wires.push(again.wire);
    expect(registersOf(await again.request(1, read(3, 0, 1)))).toEqual([100]);
  });

  it("garbage: answers bytes that are not a Modbus TCP frame", async () => {
    const { sim, client } = await setup();
    sim.setFault(1, { kind: "garbage", bytes: Buffer.from("not modbus") });
    client.send(1, read(3, 0, 1));
    expect((await client.wire.take(10)).toString()).toBe("not modbus");
  });

  it("busy x2: answers 06 twice, then the registers", async () => {
    const { sim, client } = await setup();
    sim.setFault(1, { kind: "busy", times: 2 });
    expect([...(await client.request(1, read(3, 0, 1)))]).toEqual([0x83, 6]);
    expect([...(await client.request(1, writeRegister(0, 1)))]).toEqual([0x86, 6]);
    expect(registersOf(await client.request(1, read(3, 0, 1)))).toEqual([100]);
    expect(sim.fault(1)).toEqual({ kind: "none" });
  });

  it("crc: has no effect on Modbus TCP, which carries no CRC", async () => {
    const { sim, client } = await setup();
    sim.setFault(1, { kind: "crc" });
    expect(registersOf(await client.request(1, read(3, 0, 1)))).toEqual([100]);
  });

  it("close: drops open connections and stops listening", async () => {
    const { sim, client } = await setup();
    await sim.close();
    await expect(client.wire.take(1)).rejects.toThrow(/closed/);
    await expect(tcpWire(sim.tcpPort as number)).rejects.toThrow(/ECONNREFUSED/);
  });
});
