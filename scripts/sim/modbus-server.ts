/**
 * A Modbus server hosting any number of unit ids, each with its own register
 * bank and fault, reachable at once over:
 * - Modbus TCP (MBAP framing, "Modbus Messaging on TCP/IP Implementation
 *   Guide V1.0b" 3.1.3), pipelined requests answered in arrival order;
 * - RTU over TCP, as serial-to-Ethernet gateways carry it (modbus-rtu.ts);
 * - RTU on a serial line, here a PTY path (modbus-rtu.ts).
 * All transports share the same banks, like a controller with both an
 * Ethernet port and an RS-485 port.
 *
 * Node builtins only (see modbus-pdu.ts for why not modbus-serial).
 */
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { FaultTable, type ModbusFault, type ModbusFaultSpec } from "./modbus-faults.js";
import { EXCEPTION, exceptionPdu, handlePdu, mbapFrame, RegisterBank, requestRange } from "./modbus-pdu.js";
import { openRtuSerial, RtuFramer, type RtuLink, rtuSilenceMs, writeRtuAnswer } from "./modbus-rtu.js";
import { listenOn } from "./process.js";

/**
 * How a request for a unit id the server does not host is treated:
 * silent (a device behind a gateway that is not there simply never answers),
 * or, acting as a gateway (spec 7), exception 0A "gateway path unavailable"
 * or 0B "gateway target device failed to respond".
 */
export const UNKNOWN_UNIT = ["silent", "path-unavailable", "target-failed"] as const;
export type UnknownUnit = (typeof UNKNOWN_UNIT)[number];

export interface ModbusSimOptions {
  /** Listen address of the TCP transports (default 127.0.0.1). */
  host?: string;
  /** Modbus TCP port: 0 (default) picks a free one; null: no Modbus TCP. */
  tcpPort?: number | null;
  /** RTU-over-TCP port: 0 picks a free one; null/undefined (default): none. */
  rtuTcpPort?: number | null;
  /** RTU on this serial device (e.g. one end of a socat PTY pair); 8N1 at `baud`. */
  rtu?: { path: string; baud?: number };
  /** Unit ids hosted, each with an empty bank (more can be added with addUnit). */
  units?: number[];
  unknownUnit?: UnknownUnit;
}

/** What to do with one request, decided by unit, fault and bank. */
export type Outcome =
  | { send: "pdu"; pdu: Buffer; corruptCrc: boolean } |
  { send: "nothing" } |
  { send: "drop" } |
  { send: "garbage"; bytes: Buffer };

export interface ModbusStats {
  connections: number;
  /** Well-formed requests received, whatever the answer. */
  requests: number;
  /** RTU frames discarded for a bad CRC or as unparseable. */
  badFrames: number;
}

export async function startModbusSim(opts: ModbusSimOptions = {}): Promise<ModbusSim> {
  const sim = new ModbusSim(opts);
  try {
    await sim.start();
  } catch (e) {
    await sim.close();
    throw e;
  }
  return sim;
}

export class ModbusSim {
  readonly host: string;
  /** Bound ports, known once started (undefined when that transport is off). */
  tcpPort: number | undefined;
  rtuTcpPort: number | undefined;
  private readonly banks = new Map<number, RegisterBank>();
  private readonly faults = new FaultTable();
  private readonly servers: net.Server[] = [];
  private readonly sockets = new Set<net.Socket>();
  private serial: RtuLink | undefined;
  private readonly abort = new AbortController();
  private readonly counts: ModbusStats = { connections: 0, requests: 0, badFrames: 0 };
  unknownUnit: UnknownUnit;

  constructor(private readonly opts: ModbusSimOptions) {
    this.host = opts.host ?? "127.0.0.1";
    this.unknownUnit = opts.unknownUnit ?? "silent";
    for (const u of opts.units ?? []) this.addUnit(u);
  }

  async start(): Promise<void> {
    const tcp = this.opts.tcpPort === undefined ? 0 : this.opts.tcpPort;
    if (tcp !== null) this.tcpPort = await this.listen(tcp, (s) => this.serveMbap(s));
    const rtuTcp = this.opts.rtuTcpPort;
    if (rtuTcp !== undefined && rtuTcp !== null) this.rtuTcpPort = await this.listen(rtuTcp, (s) => this.serveRtuTcp(s));
    if (this.opts.rtu) {
      const baud = this.opts.rtu.baud ?? 9600;
      this.serial = openRtuSerial(this.opts.rtu.path, rtuSilenceMs(baud), (unit, pdu) => this.process(unit, pdu, true), () => {
        this.counts.badFrames++;
      });
    }
  }

  /** Host a unit id; returns its bank (the existing one if already hosted). */
  addUnit(unit: number, bank = new RegisterBank()): RegisterBank {
    if (!Number.isInteger(unit) || unit < 0 || unit > 255) throw new Error(`unit id ${unit} is outside 0..255`);
    const existing = this.banks.get(unit);
    if (existing) return existing;
    this.banks.set(unit, bank);
    return bank;
  }

  /** Stop hosting a unit id; its fault (and fault cycle) goes with it. */
  removeUnit(unit: number): void {
    this.banks.delete(unit);
    this.faults.set(unit, { kind: "none" });
  }

  units(): number[] {
    return [...this.banks.keys()];
  }

  bank(unit: number): RegisterBank {
    const b = this.banks.get(unit);
    if (!b) throw new Error(`unit ${unit} is not hosted`);
    return b;
  }

  /** A fault, or a cycle of timed faults (modbus-faults.ts), replacing the unit's current one. */
  setFault(unit: number, fault: ModbusFaultSpec): void {
    this.faults.set(unit, fault);
  }

  /** The fault in force now (the current phase of a cycle). */
  fault(unit: number): ModbusFault {
    return this.faults.get(unit);
  }

  stats(): ModbusStats {
    return { ...this.counts };
  }

  async close(): Promise<void> {
    this.abort.abort();
    this.faults.stopCycles();
    for (const s of this.sockets) s.destroy();
    this.serial?.close();
    await Promise.all(this.servers.splice(0).map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
  }

  /**
   * One request, after framing: unit check, then fault, then the bank.
   * On RTU, address 0 is a broadcast (Modbus over Serial Line V1.02, 2.1):
   * every unit executes it and none answers.
   */
  async process(unit: number, pdu: Buffer, rtu: boolean): Promise<Outcome> {
    this.counts.requests++;
    if (rtu && unit === 0) {
      for (const b of this.banks.values()) handlePdu(b, pdu);
      return { send: "nothing" };
    }
    const bank = this.banks.get(unit);
    const fn = pdu[0] ?? 0;
    if (!bank) {
      if (this.unknownUnit === "silent") return { send: "nothing" };
      const code = this.unknownUnit === "path-unavailable" ? EXCEPTION.GATEWAY_PATH_UNAVAILABLE : EXCEPTION.GATEWAY_TARGET_FAILED;
      return { send: "pdu", pdu: exceptionPdu(fn, code), corruptCrc: false };
    }
    const range = requestRange(pdu) ?? { fn, address: 0, count: 0 };
    const v = this.faults.verdict(unit, range.fn, range.address, range.count);
    switch (v.do) {
      case "silent": return { send: "nothing" };
      case "drop": return { send: "drop" };
      case "garbage": return { send: "garbage", bytes: v.bytes };
      case "exception": return { send: "pdu", pdu: exceptionPdu(fn, v.code), corruptCrc: false };
      case "answer":
        if (v.delayMs > 0) {
          try {
            await sleep(v.delayMs, undefined, { signal: this.abort.signal });
          } catch {
            return { send: "nothing" };
          }
        }
        // The bank is read when the answer is due, so a slow answer reports the state at that moment.
        return { send: "pdu", pdu: handlePdu(bank, pdu), corruptCrc: v.corruptCrc };
    }
  }

  private async listen(port: number, onSocket: (s: net.Socket) => void): Promise<number> {
    const server = net.createServer((s) => {
      this.counts.connections++;
      this.sockets.add(s);
      s.setNoDelay(true);
      s.on("close", () => this.sockets.delete(s));
      // Clients go away mid-request (timeouts, tests): nothing to report.
      s.on("error", () => s.destroy());
      onSocket(s);
    });
    const bound = await listenOn(server, this.host, port);
    this.servers.push(server);
    return bound;
  }

  /**
   * Modbus TCP. Requests are handled concurrently (a slow unit does not hold
   * the others' work) but answered in arrival order, matched by transaction id.
   */
  private serveMbap(socket: net.Socket): void {
    let buf = Buffer.alloc(0);
    let chain = Promise.resolve();
    socket.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 7) {
        const length = buf.readUInt16BE(4);
        // Length counts the unit id and the PDU (at most 253 bytes): anything else cannot be resynchronised.
        if (length < 2 || length > 254) {
          socket.destroy();
          return;
        }
        if (buf.length < 6 + length) return;
        const transaction = buf.readUInt16BE(0);
        const protocol = buf.readUInt16BE(2);
        const unit = buf[6] as number;
        const pdu = Buffer.from(buf.subarray(7, 6 + length));
        buf = buf.subarray(6 + length);
        // Protocol id 0 is Modbus; a server ignores other protocols' frames.
        if (protocol !== 0) continue;
        const outcome = this.process(unit, pdu, false);
        chain = chain.then(async () => {
          const o = await outcome;
          if (socket.destroyed) return;
          if (o.send === "drop") socket.destroy();
          else if (o.send === "garbage") socket.write(o.bytes);
          // No CRC on Modbus TCP: a crc fault leaves the answer intact.
          else if (o.send === "pdu") socket.write(mbapFrame(transaction, unit, o.pdu));
        });
      }
    });
  }

  /** RTU frames in a TCP stream; a gateway serialises them, so answers go in order too. */
  private serveRtuTcp(socket: net.Socket): void {
    let chain = Promise.resolve();
    const framer = new RtuFramer(rtuSilenceMs(9600), (unit, pdu) => {
      const outcome = this.process(unit, pdu, true);
      chain = chain.then(async () => {
        const o = await outcome;
        if (socket.destroyed) return;
        if (o.send === "drop") socket.destroy();
        else writeRtuAnswer((b) => socket.write(b), unit, o);
      });
    }, () => {
      this.counts.badFrames++;
    });
    socket.on("data", (chunk: Buffer) => framer.push(chunk));
    socket.on("close", () => framer.stop());
  }
}
