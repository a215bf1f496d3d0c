/**
 * The steps of a traced Modbus poll (`campus-agent probe`), for every
 * Modbus-based kind: opening the connection, waiting for the bus, each read
 * with its raw words or bits and the points it decoded. Built only when the
 * poll is traced.
 */
import type { TraceStep } from "../contract.js";
import { bitString, errorLine, hexWords, hostPort, roundMs, type StepSpec } from "../trace.js";
import type { DecodedPoint } from "./decode.js";
import { describeRequest, type ModbusError, type ReadRequest } from "./errors.js";
import { firmwareText } from "./identity.js";
import { BIT_TABLES, type Profile, type Table } from "./profile.js";
import type { Endpoint } from "./transport.js";

/** How a read's decoded points read in its step's detail; each kind may say it in its own words. */
export type DescribePoints = (points: readonly (readonly [string, DecodedPoint])[], profile: Profile) => string;

/** "tcp connect 10.0.0.5:502", "tcp connect 10.0.0.9:4001 (rtu gateway)", "open serial /dev/ttyUSB0 9600 8N1". */
export function connectStep(e: Endpoint, where: readonly string[]): StepSpec<unknown> {
  if (e.transport === "rtu") {
    const frame = `${e.data_bits}${e.parity[0]?.toUpperCase() ?? "N"}${e.stop_bits}`;
    return { step: `open serial ${e.path} ${e.baud_rate} ${frame}`, where, done: () => ({ detail: "port open" }) };
  }
  const gateway = e.transport === "rtu_over_tcp" ? " (rtu gateway)" : "";
  return { step: `tcp connect ${hostPort(e.host, e.port)}${gateway}`, where, done: () => ({ detail: "connected" }) };
}

/** "rtu bus /dev/ttyUSB0 wait": a request waited for the endpoint's requests of other polls (`ahead` of them). */
export function waitStep(e: Endpoint, ahead: number, where: string): StepSpec<unknown> {
  const step =
    e.transport === "rtu"
      ? `rtu bus ${e.path} wait`
      : e.transport === "rtu_over_tcp"
        ? `rtu gateway ${hostPort(e.host, e.port)} wait`
        : `tcp ${hostPort(e.host, e.port)} wait for a request slot`;
  return { step, where, done: () => ({ detail: `${ahead} request${ahead === 1 ? "" : "s"} ahead` }) };
}

const TABLE_WORDS: Readonly<Record<Table, string>> = { coil: "coils", discrete_input: "discrete inputs", holding: "holding", input: "input" };

/** "read holding 0-9 (unit 1)". */
function readName(req: ReadRequest): string {
  const range = req.count > 1 ? `${req.address}-${req.address + req.count - 1}` : `${req.address}`;
  return `read ${TABLE_WORDS[req.table]} ${range} (unit ${req.unit})`;
}

/** A read that answered: its words in hex or its bits, and its points as `describe` says them. */
export function readStep(req: ReadRequest, ms: number, values: readonly number[] | readonly boolean[], detail: string): TraceStep {
  const raw = BIT_TABLES.has(req.table) ? bitString(values as readonly boolean[]) : hexWords(values as readonly number[]);
  return { step: readName(req), ms: roundMs(ms), ok: true, detail, raw };
}

/** A read that failed, and whether it is tried again (busy) after `retryInMs`. */
export function failedReadStep(req: ReadRequest, ms: number, err: ModbusError, where: string, retryInMs?: number): TraceStep {
  const retry = retryInMs === undefined ? "" : `; retrying in ${retryInMs} ms`;
  return { step: readName(req), ms: roundMs(ms), ok: false, detail: `${errorLine(err, `${where} ${describeRequest(req)}`, where)}${retry}` };
}

/**
 * "door_position: closed, battery_voltage: 13.65 V, firmware_version: 2.3 (515), door_state: ? (raw value 7 is
 * not in the enum …)": the firmware as the asset register gets it (its profile's format), with the number read.
 */
export const describePoints: DescribePoints = (points, profile) =>
  points
    .map(([name, p]) => {
      if (p.value === null) return `${name}: ? (${p.problem ?? `raw ${String(p.raw)}`})`;
      if (name === "firmware_version") {
        const version = firmwareText(p, profile.points.firmware_version?.format);
        if (version !== undefined && version !== String(p.raw)) return `${name}: ${version} (${String(p.raw)})`;
      }
      return `${name}: ${typeof p.value === "string" && p.value === "" ? '""' : String(p.value)}${p.unit === undefined ? "" : ` ${p.unit}`}`;
    })
    .join(", ");
