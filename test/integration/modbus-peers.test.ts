/**
 * The Modbus door simulator checked by Modbus implementations that are not
 * ours, so that it cannot merely agree with our driver or our test client:
 * - Debian's mbpoll (libmodbus) over Modbus TCP and over RTU on a socat PTY pair;
 * - Debian's python3-pymodbus 3.0 (test/fixtures/modbus/pymodbus_check.py)
 *   over both as well.
 * Needs mbpoll, socat, /usr/bin/python3 with python3-pymodbus and python3-serial.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DoorControllerSim, GENERIC_DOOR_LAYOUT as L } from "../../scripts/sim/modbus-door.js";
import { type ModbusSim, startModbusSim } from "../../scripts/sim/modbus-server.js";
import { type PtyPair, socatPair } from "../scripts/modbus-helpers.js";

const PYMODBUS = join(import.meta.dirname, "../fixtures/modbus/pymodbus_check.py");

function run(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Values mbpoll printed, as "[ref]: value" lines (0-based references with -0). */
function mbpollValues(stdout: string): number[] {
  return [...stdout.matchAll(/^\[\d+\]:\s+(-?\d+)/gm)].map((m) => Number(m[1]));
}

let pty: PtyPair;
let sim: ModbusSim;
let doors: Map<number, DoorControllerSim>;
beforeAll(async () => {
  const r = await run("/usr/bin/python3", ["-c", "import pymodbus, serial"]);
  if (r.code !== 0) throw new Error(`python3-pymodbus is missing: ${r.stderr}`);
  pty = await socatPair();
});
afterAll(async () => {
  await pty.close();
});

async function start(): Promise<void> {
  sim = await startModbusSim({ units: [1, 2], rtu: { path: pty.a, baud: 9600 } });
  doors = new Map([1, 2].map((u) => [u, new DoorControllerSim(sim.bank(u), { serial: 100000 + u })]));
}
afterEach(async () => {
  await sim.close();
});

describe("Modbus door simulator, seen by mbpoll", () => {
  it("reads the door inputs, lock coil and input registers over Modbus TCP", async () => {
    await start();
    doors.get(1)?.force();
    const tcp = ["-m", "tcp", "-a", "1", "-0", "-r", "0", "-1", "-p", String(sim.tcpPort), "127.0.0.1"];
    const di = await run("mbpoll", ["-t", "1", "-c", "7", ...tcp]);
    expect(di.code).toBe(0);
    expect(mbpollValues(di.stdout)).toEqual([1, 0, 0, 1, 1, 0, 0]);
    expect(mbpollValues((await run("mbpoll", ["-t", "0", "-c", "1", ...tcp])).stdout)).toEqual([1]);
    const ir = mbpollValues((await run("mbpoll", ["-t", "3", "-c", "2", ...tcp])).stdout);
    expect(ir).toEqual([1365, 0x0203]);
  });

  it("writes holding registers and the lock coil over RTU on a PTY, and reads them back", async () => {
    await start();
    const rtu = ["-m", "rtu", "-b", "9600", "-P", "none", "-a", "2", "-0", "-r", "0", "-1", pty.b];
    expect((await run("mbpoll", ["-t", "4", ...rtu, "60", "1100"])).code).toBe(0);
    expect((await run("mbpoll", ["-t", "0", ...rtu, "0"])).code).toBe(0);
    expect(mbpollValues((await run("mbpoll", ["-t", "4", "-c", "2", ...rtu])).stdout)).toEqual([60, 1100]);
    expect(sim.bank(2).get("coils", L.coils.lock)).toBe(0);
    expect(doors.get(2)?.state()).toBe("closed");
  });

  it("times out on a unit with the no-answer fault and reads the exception of an exception fault", async () => {
    await start();
    sim.setFault(1, { kind: "no-answer" });
    sim.setFault(2, { kind: "exception", code: 2 });
    const tcp = (unit: string) => ["-m", "tcp", "-a", unit, "-0", "-r", "0", "-t", "3", "-1", "-o", "0.3", "-p", String(sim.tcpPort), "127.0.0.1"];
    const silent = await run("mbpoll", tcp("1"));
    expect(silent.code).not.toBe(0);
    expect(silent.stderr + silent.stdout).toMatch(/timed out/i);
    const exc = await run("mbpoll", tcp("2"));
    expect(exc.stderr + exc.stdout).toMatch(/Illegal data address/i);
  });
});

describe("Modbus door simulator, seen by python3-pymodbus", () => {
  it.each(["tcp", "rtu"] as const)("writes and reads every table of the door layout over %s", async (mode) => {
    await start();
    doors.get(1)?.tamper();
    const where = mode === "tcp" ? String(sim.tcpPort) : pty.b;
    const r = await run("/usr/bin/python3", [PYMODBUS, mode, where, "1"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(out).toMatchObject({
      write_registers_error: false,
      write_coil_error: false,
      coils: [0],
      // Threshold written to 12.00 V: the 13.65 V battery is not low.
      discrete_inputs: [0, 0, 1, 1, 0, 0, 0],
      holding: [45, 1200],
      bad_address_exception: 2,
    });
    const input = out.input as number[];
    expect(input.slice(0, 4)).toEqual([1365, 0x0203, 1, 100001 - 65536]);
    expect(input[L.inputRegisters.status_bits]).toBe((1 << L.discreteInputs.tamper) | (1 << L.discreteInputs.mains_ok));
  });
});
