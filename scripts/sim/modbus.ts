/**
 * Modbus door-controller simulator: the public entry point and its CLI.
 *
 *   node dist/scripts/sim/modbus.js [--host 127.0.0.1] [--tcp-port N|off]
 *     [--rtu-tcp-port N] [--rtu /path/to/pty --baud 9600]
 *     [--units 1,2,3] [--unknown-unit silent|path-unavailable|target-failed]
 *     [--word-order high-first|low-first] [--scenario file.json]
 *     [--fault unit:kind[:arg]]...        (see modbus-faults.ts)
 *     [--fault-cycle unit:kind[:arg]:ms,kind[:arg]:ms]...
 *                                         (e.g. 2:none:40000,no-answer:20000:
 *                                          unit 2 silent 20 s every minute)
 *
 * Every unit id is a DoorControllerSim (layout in modbus-door.ts) with serial
 * number 100000 + unit. Prints one line once serving:
 *   READY {"port":N,"rtuTcpPort":N|null,"rtu":path|null,"units":[...]}
 * then one "STEP {...}" line per scenario step; stops on SIGTERM/SIGINT or
 * when stdin (a pipe from a parent) closes.
 *
 * Node builtins only.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { DoorControllerSim, type WordOrder } from "./modbus-door.js";
import { type ModbusFaultSpec, parseFaultArg, parseFaultCycleArg } from "./modbus-faults.js";
import { parseScenario, runScenario, type Scenario } from "./modbus-scenario.js";
import { type ModbusSimOptions, startModbusSim, UNKNOWN_UNIT, type UnknownUnit } from "./modbus-server.js";
import { isMain, untilShutdown } from "./process.js";

export { DoorControllerSim, GENERIC_DOOR_LAYOUT, DOOR_ACTIONS } from "./modbus-door.js";
export type { DoorAction, DoorControllerOptions, DoorState, WordOrder } from "./modbus-door.js";
export { describeModbusFault, FAULT_KINDS, parseFaultArg, parseFaultCycleArg } from "./modbus-faults.js";
export type { ModbusFault, ModbusFaultPhase, ModbusFaultSpec, FaultKind } from "./modbus-faults.js";
export { crc16, EXCEPTION, FC, mbapFrame, RegisterBank, rtuFrame, TABLES } from "./modbus-pdu.js";
export type { Table } from "./modbus-pdu.js";
export { parseScenario, runScenario } from "./modbus-scenario.js";
export type { Scenario, ScenarioRun, ScenarioStep } from "./modbus-scenario.js";
export { ModbusSim, startModbusSim, UNKNOWN_UNIT } from "./modbus-server.js";
export type { ModbusSimOptions, ModbusStats, UnknownUnit } from "./modbus-server.js";

export interface DoorSimArgs {
  sim: ModbusSimOptions;
  units: number[];
  wordOrder: WordOrder;
  /** --fault and --fault-cycle, in that order (a later one for the same unit replaces an earlier one). */
  faults: { unit: number; fault: ModbusFaultSpec }[];
  scenarioFile?: string;
}

/** CLI arguments → options. Exported so the parsing is tested without a process. */
export function parseDoorSimArgs(argv: string[]): DoorSimArgs {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      host: { type: "string", default: "127.0.0.1" },
      "tcp-port": { type: "string", default: "0" },
      "rtu-tcp-port": { type: "string" },
      rtu: { type: "string" },
      baud: { type: "string", default: "9600" },
      units: { type: "string", default: "1" },
      "unknown-unit": { type: "string", default: "silent" },
      "word-order": { type: "string", default: "high-first" },
      scenario: { type: "string" },
      fault: { type: "string", multiple: true, default: [] },
      "fault-cycle": { type: "string", multiple: true, default: [] },
    },
  });
  const int = (name: string, s: string, min: number, max: number): number => {
    const n = Number(s);
    if (s === "" || !Number.isInteger(n) || n < min || n > max) throw new Error(`--${name}: expected an integer in ${min}..${max}, got "${s}"`);
    return n;
  };
  const oneOf = <T extends string>(name: string, s: string, allowed: readonly T[]): T => {
    if ((allowed as readonly string[]).includes(s)) return s as T;
    throw new Error(`--${name}: expected one of ${allowed.join(", ")}; got "${s}"`);
  };
  const units = [...new Set(v.units.split(",").map((u) => int("units", u.trim(), 1, 247)))];
  const sim: ModbusSimOptions = {
    host: v.host,
    tcpPort: v["tcp-port"] === "off" ? null : int("tcp-port", v["tcp-port"], 0, 65535),
    units,
    unknownUnit: oneOf<UnknownUnit>("unknown-unit", v["unknown-unit"], UNKNOWN_UNIT),
  };
  if (v["rtu-tcp-port"] !== undefined) sim.rtuTcpPort = int("rtu-tcp-port", v["rtu-tcp-port"], 0, 65535);
  if (v.rtu !== undefined) sim.rtu = { path: v.rtu, baud: int("baud", v.baud, 300, 921600) };
  const parsed = <T>(name: string, parse: (s: string) => T) => (s: string): T => {
    try {
      return parse(s);
    } catch (e) {
      throw new Error(`--${name}: ${(e as Error).message}`, { cause: e });
    }
  };
  const faults: DoorSimArgs["faults"] = [
    ...v.fault.map(parsed("fault", parseFaultArg)),
    ...v["fault-cycle"].map(parsed("fault-cycle", parseFaultCycleArg)),
  ];
  const out: DoorSimArgs = { sim, units, wordOrder: oneOf<WordOrder>("word-order", v["word-order"], ["high-first", "low-first"]), faults };
  if (v.scenario !== undefined) out.scenarioFile = v.scenario;
  return out;
}

function loadScenario(file: string): Scenario {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`--scenario ${file}: ${(e as Error).message}`, { cause: e });
  }
  return parseScenario(json);
}

async function main(): Promise<void> {
  let args: DoorSimArgs;
  let scenario: Scenario | undefined;
  try {
    args = parseDoorSimArgs(process.argv.slice(2));
    if (args.scenarioFile !== undefined) scenario = loadScenario(args.scenarioFile);
  } catch (e) {
    process.stderr.write(`modbus: ${(e as Error).message}\n`);
    process.exit(2);
  }
  // Handlers first: until they exist, a SIGTERM right after READY would kill us uncleanly.
  const stop = untilShutdown({ watchParent: true });
  const sim = await startModbusSim(args.sim);
  const doors = new Map(args.units.map((u) => [u, new DoorControllerSim(sim.bank(u), { serial: 100000 + u, wordOrder: args.wordOrder })]));
  for (const { unit, fault } of args.faults) sim.setFault(unit, fault);
  const run = scenario ? runScenario(doors, scenario, (s) => process.stdout.write(`STEP ${JSON.stringify(s)}\n`)) : undefined;
  const ready = { port: sim.tcpPort ?? null, rtuTcpPort: sim.rtuTcpPort ?? null, rtu: args.sim.rtu?.path ?? null, units: args.units };
  process.stdout.write(`READY ${JSON.stringify(ready)}\n`);
  await stop;
  run?.stop();
  await sim.close();
}

if (isMain(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`modbus: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
