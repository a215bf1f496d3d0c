/**
 * Fault injection for the Modbus simulator, one fault per unit id, settable at
 * runtime. What each does to a request addressed to that unit:
 *
 * - none        answer normally
 * - no-answer   read the request, never answer (a dead device behind a gateway)
 * - exception   answer with exception `code`; only for function `fn` and for
 *               requests whose address range overlaps from..to, when given
 * - slow        answer normally, delayMs later
 * - drop        close the connection (TCP and RTU-over-TCP) without answering;
 *               on a serial line there is no connection to drop: no answer
 * - garbage     answer with bytes that are not a Modbus frame
 * - crc         RTU framings only: answer with a corrupted CRC. Modbus TCP has
 *               no CRC, so there the answer is sent intact
 * - busy        answer exception 06 (server busy) `times` times, then normally
 *               (the fault then becomes none)
 *
 * A fault can also be a cycle of timed phases, repeated from the moment it is
 * set, like the cameras' and network devices' cycles: { cycle: [{ fault:
 * { kind: "none" }, forMs: 40000 }, { fault: { kind: "no-answer" }, forMs:
 * 20000 }] } is a controller that answers nothing 20 s every minute.
 *
 * Node builtins only.
 */
import { EXCEPTION } from "./modbus-pdu.js";

export type ModbusFault =
  | { kind: "none" } |
  { kind: "no-answer" } |
  { kind: "exception"; code: number; fn?: number; from?: number; to?: number } |
  { kind: "slow"; delayMs: number } |
  { kind: "drop" } |
  { kind: "garbage"; bytes?: Buffer } |
  { kind: "crc" } |
  { kind: "busy"; times: number };
export type FaultKind = ModbusFault["kind"];

/** One phase of a fault cycle: `fault` for `forMs`. */
export interface ModbusFaultPhase {
  fault: ModbusFault;
  forMs: number;
}
/** A fault, or phases repeated from the moment they are set. */
export type ModbusFaultSpec = ModbusFault | { cycle: readonly ModbusFaultPhase[] };

export const FAULT_KINDS: readonly FaultKind[] = ["none", "no-answer", "exception", "slow", "drop", "garbage", "crc", "busy"];

/** What the transport must do with one request. */
export type Verdict =
  | { do: "answer"; delayMs: number; corruptCrc: boolean } |
  { do: "exception"; code: number } |
  { do: "silent" } |
  { do: "drop" } |
  { do: "garbage"; bytes: Buffer };

/** Not a valid MBAP header (protocol id 0xFFFF) nor a frame with a valid CRC. */
export const DEFAULT_GARBAGE = Buffer.from([0x13, 0x37, 0xff, 0xff, 0x00, 0x02, 0xde, 0xad, 0xbe, 0xef]);

export class FaultTable {
  private readonly faults = new Map<number, ModbusFault>();
  /** The timer of each unit's running cycle: when its current phase ends. */
  private readonly cycles = new Map<number, NodeJS.Timeout>();

  /** Set a unit's fault, or start its cycle; either replaces what the unit had (cycle included). */
  set(unit: number, spec: ModbusFaultSpec): void {
    if ("cycle" in spec) {
      // Checked whole before anything changes: a bad phase must not leave half a cycle running.
      if (spec.cycle.length === 0 || spec.cycle.some((p) => !(Number.isInteger(p.forMs) && p.forMs > 0))) {
        throw new Error("a fault cycle needs at least one phase, each with an integer forMs > 0");
      }
      for (const p of spec.cycle) validate(p.fault);
    } else {
      validate(spec);
    }
    this.stopCycle(unit);
    if (!("cycle" in spec)) return this.put(unit, spec);
    const phases = spec.cycle;
    const enter = (i: number) => {
      const phase = phases[i % phases.length] as ModbusFaultPhase;
      this.put(unit, phase.fault);
      const timer = setTimeout(() => enter(i + 1), phase.forMs);
      // The cycle must not keep a process (a test, a closing campus) alive.
      timer.unref();
      this.cycles.set(unit, timer);
    };
    enter(0);
  }

  get(unit: number): ModbusFault {
    return this.faults.get(unit) ?? { kind: "none" };
  }

  /** Stop every cycle (the server is closing); the faults in force stay as they are. */
  stopCycles(): void {
    for (const unit of [...this.cycles.keys()]) this.stopCycle(unit);
  }

  private stopCycle(unit: number): void {
    clearTimeout(this.cycles.get(unit));
    this.cycles.delete(unit);
  }

  /** A fault already validated. Busy is copied: its countdown must not change the caller's object (or a cycle's next round). */
  private put(unit: number, fault: ModbusFault): void {
    if (fault.kind === "none") this.faults.delete(unit);
    else this.faults.set(unit, fault.kind === "busy" ? { ...fault } : fault);
  }

  /** Decide for one request; counts down busy. */
  verdict(unit: number, fn: number, address: number, count: number): Verdict {
    const f = this.faults.get(unit);
    const normal: Verdict = { do: "answer", delayMs: 0, corruptCrc: false };
    if (!f) return normal;
    switch (f.kind) {
      case "none": return normal;
      case "no-answer": return { do: "silent" };
      case "drop": return { do: "drop" };
      case "garbage": return { do: "garbage", bytes: f.bytes ?? DEFAULT_GARBAGE };
      case "slow": return { do: "answer", delayMs: f.delayMs, corruptCrc: false };
      case "crc": return { do: "answer", delayMs: 0, corruptCrc: true };
      case "busy":
        if (f.times <= 0) return normal;
        if (--f.times === 0) this.faults.delete(unit);
        return { do: "exception", code: EXCEPTION.SERVER_BUSY };
      case "exception": {
        if (f.fn !== undefined && f.fn !== fn) return normal;
        const last = address + Math.max(count, 1) - 1;
        if (f.from !== undefined && last < f.from) return normal;
        if (f.to !== undefined && address > f.to) return normal;
        return { do: "exception", code: f.code };
      }
    }
  }
}

function validate(f: ModbusFault): void {
  const int = (v: number, lo: number, hi: number, what: string) => {
    if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`fault ${f.kind}: ${what} must be an integer in ${lo}..${hi}, got ${v}`);
  };
  if (f.kind === "exception") {
    int(f.code, 1, 0x7f, "code");
    if (f.fn !== undefined) int(f.fn, 1, 0x7f, "fn");
    if (f.from !== undefined) int(f.from, 0, 0xffff, "from");
    if (f.to !== undefined) int(f.to, 0, 0xffff, "to");
  }
  if (f.kind === "slow") int(f.delayMs, 0, 3_600_000, "delayMs");
  if (f.kind === "busy") int(f.times, 1, 1_000_000, "times");
}

/**
 * "unit:kind[:arg]" as given on the command line, e.g. 2:no-answer,
 * 1:exception:2, 1:exception:2:3:0-9 (code 2 for function 3 on addresses
 * 0..9), 3:slow:1500, 1:busy:3, 4:drop, 4:garbage, 5:crc. Codes and function
 * numbers may be decimal or 0x hex.
 */
export function parseFaultArg(s: string): { unit: number; fault: ModbusFault } {
  const [unitText = "", kind = "", ...args] = s.split(":");
  const num = (v: string | undefined, what: string): number => {
    const n = v === undefined || v === "" ? NaN : Number(v);
    if (!Number.isInteger(n)) throw new Error(`"${s}": ${what} must be an integer, got "${v ?? ""}"`);
    return n;
  };
  const unit = num(unitText, "unit id");
  if (unit < 0 || unit > 255) throw new Error(`"${s}": unit id must be 0..255`);
  let fault: ModbusFault;
  switch (kind) {
    case "none": case "no-answer": case "drop": case "garbage": case "crc":
      fault = { kind };
      break;
    case "slow":
      fault = { kind, delayMs: num(args[0], "delay ms") };
      break;
    case "busy":
      fault = { kind, times: num(args[0], "times") };
      break;
    case "exception": {
      fault = { kind, code: num(args[0], "exception code") };
      if (args[1] !== undefined) fault.fn = num(args[1], "function code");
      if (args[2] !== undefined) {
        const [from, to = from] = args[2].split("-");
        fault.from = num(from, "from address");
        fault.to = num(to, "to address");
      }
      break;
    }
    default: throw new Error(`"${s}": unknown fault kind "${kind}"; expected one of ${FAULT_KINDS.join(", ")}`);
  }
  validate(fault);
  return { unit, fault };
}

/**
 * "unit:kind[:arg]:ms,kind[:arg]:ms..." as given on the command line: a
 * fault cycle for one unit, each phase a fault as parseFaultArg takes it
 * followed by how long it lasts. 3:none:40000,no-answer:20000 is unit 3
 * answering nothing 20 s every minute.
 */
export function parseFaultCycleArg(s: string): { unit: number; fault: ModbusFaultSpec } {
  const colon = s.indexOf(":");
  const unitText = colon < 0 ? s : s.slice(0, colon);
  const cycle = s.slice(colon + 1).split(",").map((part): ModbusFaultPhase => {
    const at = part.lastIndexOf(":");
    const forMs = Number(part.slice(at + 1));
    if (at < 0 || !Number.isInteger(forMs) || forMs <= 0) throw new Error(`"${s}": phase "${part}": expected kind[:arg]:ms with ms > 0`);
    return { fault: parseFaultArg(`${unitText}:${part.slice(0, at)}`).fault, forMs };
  });
  return { unit: parseFaultArg(`${unitText}:none`).unit, fault: { cycle } };
}

/** A fault in words, for logs: "no-answer", or "none 40 s, then no-answer 20 s". */
export function describeModbusFault(spec: ModbusFaultSpec): string {
  if ("cycle" in spec) return spec.cycle.map((p) => `${p.fault.kind} ${p.forMs / 1000} s`).join(", then ");
  return spec.kind;
}
