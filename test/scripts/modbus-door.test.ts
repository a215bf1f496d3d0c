import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { DoorControllerSim, GENERIC_DOOR_LAYOUT as L } from "../../scripts/sim/modbus-door.js";
import { RegisterBank } from "../../scripts/sim/modbus-pdu.js";
import { parseScenario, runScenario } from "../../scripts/sim/modbus-scenario.js";
import { type ModbusSim, startModbusSim } from "../../scripts/sim/modbus-server.js";
import { compileSimulators, startUntilReady, type Started } from "./helpers.js";
import { bitsOf, MbapClient, read, registersOf, tcpWire, type Wire, writeCoil, writeRegister } from "./modbus-helpers.js";

const DI = L.discreteInputs;
const IR = L.inputRegisters;

const sims: ModbusSim[] = [];
const wires: Wire[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const w of wires.splice(0)) w.destroy();
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

/** One door controller on unit 1, read by a raw Modbus TCP client. */
async function door(opts: ConstructorParameters<typeof DoorControllerSim>[1] = {}) {
  const sim = await startModbusSim({ units: [1] });
  sims.push(sim);
  const d = new DoorControllerSim(sim.bank(1), opts);
  const wire = await tcpWire(sim.tcpPort as number);
  wires.push(wire);
  const client = new MbapClient(wire);
  const inputs = async () => bitsOf(await client.request(1, read(2, 0, 7)), 7);
  const lock = async () => bitsOf(await client.request(1, read(1, 0, 1)), 1)[0];
  const irs = async () => registersOf(await client.request(1, read(4, 0, 9)));
  return { d, client, inputs, lock, irs };
}

describe("door controller model on the generic layout", () => {
  it("starts closed, locked, on mains, with firmware, serial and battery in the documented registers", async () => {
    const { inputs, lock, irs } = await door({ serial: 0x0001_86a1, firmware: [2, 3], batteryVx100: 1365 });
    expect(await inputs()).toEqual([0, 0, 0, 1, 0, 0, 0]);
    expect(await lock()).toBe(1);
    const r = await irs();
    expect(r[IR.battery_v_x100]).toBe(1365);
    expect(r[IR.firmware]).toBe(0x0203);
    expect(r.slice(IR.serial, IR.serial + 2)).toEqual([0x0001, 0x86a1]);
    expect(r[IR.door_state]).toBe(L.doorStates.closed);
    expect(r[IR.status_bits]).toBe((1 << DI.mains_ok) | (1 << L.statusLockBit));
  });

  it("open unlocks and opens; close relocks and clears the alarms", async () => {
    const { d, inputs, lock, irs } = await door();
    d.open();
    expect((await inputs())[DI.door_open]).toBe(1);
    expect(await lock()).toBe(0);
    expect((await irs())[IR.door_state]).toBe(L.doorStates.open);
    d.close();
    expect(await inputs()).toEqual([0, 0, 0, 1, 0, 0, 0]);
    expect(await lock()).toBe(1);
  });

  it("force opens while locked without REX and latches the forced alarm until close", async () => {
    const { d, inputs, lock, irs } = await door();
    d.force();
    const di = await inputs();
    expect([di[DI.door_open], di[DI.request_to_exit], di[DI.forced_alarm]]).toEqual([1, 0, 1]);
    expect(await lock()).toBe(1);
    expect((await irs())[IR.door_state]).toBe(L.doorStates.forced_open);
    d.close();
    expect((await inputs())[DI.forced_alarm]).toBe(0);
  });

  it("hold sets the held alarm and the held-open state; tamper, power loss and battery drain show in their inputs", async () => {
    const { d, inputs, irs } = await door();
    d.hold();
    d.tamper();
    d.powerLoss();
    d.batteryDrain();
    const di = await inputs();
    expect([di[DI.held_alarm], di[DI.tamper], di[DI.mains_ok], di[DI.battery_low]]).toEqual([1, 1, 0, 1]);
    const r = await irs();
    expect(r[IR.door_state]).toBe(L.doorStates.held_open);
    expect(r[IR.battery_v_x100]).toBe(1100);
    d.powerRestore();
    d.batterySet(1300);
    d.tamper(false);
    expect(await inputs()).toEqual([1, 0, 0, 1, 0, 1, 0]);
  });

  it("follows a client writing the lock coil and the battery-low threshold", async () => {
    const { d, client, irs } = await door();
    await client.request(1, writeCoil(L.coils.lock, false));
    expect((await irs())[IR.status_bits] >> L.statusLockBit).toBe(0);
    await client.request(1, writeRegister(L.holdingRegisters.battery_low_x100, 1400));
    expect(bitsOf(await client.request(1, read(2, DI.battery_low, 1)), 1)).toEqual([1]);
    expect(d.state()).toBe("closed");
  });

  it("reports uptime as a u32 in the configured word order, from power-up and again after reboot", async () => {
    let now = 1_000_000;
    const { d, irs } = await door({ wordOrder: "low-first", now: () => now });
    now += 70_000 * 1000;
    expect((await irs()).slice(IR.uptime_s, IR.uptime_s + 2)).toEqual([70_000 & 0xffff, 70_000 >>> 16]);
    d.reboot();
    now += 5000;
    expect((await irs()).slice(IR.uptime_s, IR.uptime_s + 2)).toEqual([5, 0]);
  });
});

describe("door scenarios", () => {
  it("applies each step at its time, to its unit or to every unit", async () => {
    vi.useFakeTimers();
    const doors = new Map([1, 2].map((u) => [u, new DoorControllerSim(new RegisterBank())]));
    const seen: string[] = [];
    const run = runScenario(doors, parseScenario([{ at_ms: 100, action: "force", unit: 2 }, { at_ms: 200, action: "tamper" }]), (s) => seen.push(s.action));
    await vi.advanceTimersByTimeAsync(99);
    expect(doors.get(2)?.state()).toBe("closed");
    await vi.advanceTimersByTimeAsync(1);
    expect([doors.get(1)?.state(), doors.get(2)?.state()]).toEqual(["closed", "forced_open"]);
    await vi.advanceTimersByTimeAsync(100);
    await run.done;
    expect([1, 2].map((u) => doors.get(u)?.bank.get("discreteInputs", DI.tamper))).toEqual([1, 1]);
    expect(seen).toEqual(["force", "tamper"]);
  });

  it("repeats a looping scenario until stopped", async () => {
    vi.useFakeTimers();
    const doors = new Map([[1, new DoorControllerSim(new RegisterBank())]]);
    const seen: string[] = [];
    const run = runScenario(doors, parseScenario({ steps: [{ at_ms: 0, action: "open" }, { at_ms: 10, action: "close" }], loop_ms: 50 }), (s) => seen.push(s.action));
    await vi.advanceTimersByTimeAsync(120);
    run.stop();
    await run.done;
    await vi.advanceTimersByTimeAsync(200);
    expect(seen).toEqual(["open", "close", "open", "close", "open", "close"]);
  });

  it("refuses a scenario step for a unit without a door controller", () => {
    expect(() => runScenario(new Map(), parseScenario([{ at_ms: 0, action: "open", unit: 3 }]))).toThrow(/unit 3 has no door controller/);
  });
});

describe("door simulator CLI", () => {
  let build: ReturnType<typeof compileSimulators>;
  let proc: Started | undefined;
  beforeAll(() => {
    build = compileSimulators();
  });
  afterAll(async () => {
    if (proc && proc.child.exitCode === null) {
      proc.child.kill("SIGTERM");
      await proc.exited;
    }
    build.remove();
  });

  it("prints READY with its port, runs the scenario file, applies --fault, and exits cleanly on SIGTERM", async () => {
    const scenario = join(import.meta.dirname, "../fixtures/modbus/door-scenario.json");
    proc = await startUntilReady(join(build.dir, "scripts/sim/modbus.js"), ["--units", "1,2", "--scenario", scenario, "--fault", "2:exception:4:4"]);
    const ready = JSON.parse(proc.ready.slice("READY ".length)) as { port: number; units: number[] };
    expect(ready.units).toEqual([1, 2]);
    const p = proc;
    // The last step of the fixture is battery_drain: wait for its STEP line.
    await new Promise<void>((resolve) => {
      const check = () => {
        if (p.stdout().includes("battery_drain")) resolve();
        else p.child.stdout.once("data", check);
      };
      check();
    });
    const wire = await tcpWire(ready.port);
    wires.push(wire);
    const c = new MbapClient(wire);
    expect(bitsOf(await c.request(1, read(2, 0, 7)), 7)).toEqual([1, 0, 1, 0, 0, 0, 1]);
    expect(bitsOf(await c.request(2, read(2, 0, 7)), 7)).toEqual([1, 0, 1, 1, 1, 0, 0]);
    expect([...(await c.request(2, read(4, 0, 1)))]).toEqual([0x84, 4]);
    expect(registersOf(await c.request(1, read(4, IR.serial, 2)))).toEqual([1, 100001 - 65536]);
    p.child.kill("SIGTERM");
    expect(await p.exited).toEqual({ code: 0, signal: null });
  });
});
