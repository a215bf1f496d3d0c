/**
 * A minimal Modbus client written for the tests, independent of the simulator
 * code it checks: its own MBAP and RTU framing, its own CRC (bitwise, from the
 * serial-line spec's description), raw bytes in and out. Plus a socat PTY pair
 * standing in for an RS-485 line.
 */
import { spawn } from "node:child_process";
import { constants, mkdtempSync, openSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tty from "node:tty";

/** Bytes received, read by exact counts. */
export class Wire {
  private buf = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  closed = false;

  constructor(private readonly writer: (b: Buffer) => void, readonly destroy: () => void) {}

  push(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    this.wake?.();
  }

  end(): void {
    this.closed = true;
    this.wake?.();
  }

  send(b: Buffer): void {
    this.writer(b);
  }

  /** Everything received and not yet taken. */
  pending(): Buffer {
    return this.buf;
  }

  /** The next n bytes; rejects if the peer closes first. */
  async take(n: number): Promise<Buffer> {
    while (this.buf.length < n) {
      if (this.closed) throw new Error(`connection closed with ${this.buf.length}/${n} bytes`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return Buffer.from(out);
  }
}

export function tcpWire(port: number): Promise<Wire> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port }, () => resolve(wire));
    const wire = new Wire((b) => s.write(b), () => s.destroy());
    s.on("data", (c: Buffer) => wire.push(c));
    s.on("close", () => wire.end());
    s.on("error", reject);
  });
}

/** The master's end of a PTY line. */
export function ptyWire(path: string): Wire {
  const fd = openSync(path, constants.O_RDWR | constants.O_NOCTTY);
  const input = new tty.ReadStream(fd);
  input.setRawMode(true);
  const output = new tty.WriteStream(fd);
  const wire = new Wire((b) => output.write(b), () => {
    input.destroy();
    output.destroy();
  });
  input.on("data", (c: Buffer) => wire.push(c));
  return wire;
}

// --- request PDUs ---
export const read = (fn: number, address: number, count: number) => u8(fn, ...u16(address), ...u16(count));
export const writeCoil = (address: number, on: boolean) => u8(5, ...u16(address), ...(on ? [0xff, 0] : [0, 0]));
export const writeRegister = (address: number, v: number) => u8(6, ...u16(address), ...u16(v));
export function writeCoils(address: number, bits: number[]): Buffer {
  const bytes = Array<number>(Math.ceil(bits.length / 8)).fill(0);
  bits.forEach((b, i) => {
    if (b) bytes[i >> 3] = (bytes[i >> 3] as number) | (1 << (i & 7));
  });
  return u8(15, ...u16(address), ...u16(bits.length), bytes.length, ...bytes);
}
export const writeRegisters = (address: number, vs: number[]) => u8(16, ...u16(address), ...u16(vs.length), vs.length * 2, ...vs.flatMap(u16));

// --- response PDUs ---
export function bitsOf(pdu: Buffer, count: number): number[] {
  return Array.from({ length: count }, (_, i) => ((pdu[2 + (i >> 3)] as number) >> (i & 7)) & 1);
}
export function registersOf(pdu: Buffer): number[] {
  return Array.from({ length: (pdu[1] as number) / 2 }, (_, i) => pdu.readUInt16BE(2 + 2 * i));
}

function u8(...bytes: number[]): Buffer {
  return Buffer.from(bytes);
}
function u16(v: number): [number, number] {
  return [(v >> 8) & 0xff, v & 0xff];
}

/** Modbus TCP client: sends with chosen transaction ids, reads whole MBAP frames. */
export class MbapClient {
  private nextTid = 1;
  constructor(readonly wire: Wire) {}

  send(unit: number, pdu: Buffer, tid = this.nextTid++): number {
    this.wire.send(Buffer.concat([u8(...u16(tid), 0, 0, ...u16(pdu.length + 1), unit), pdu]));
    return tid;
  }

  async response(): Promise<{ tid: number; protocol: number; unit: number; pdu: Buffer }> {
    const head = await this.wire.take(7);
    const pdu = await this.wire.take(head.readUInt16BE(4) - 1);
    return { tid: head.readUInt16BE(0), protocol: head.readUInt16BE(2), unit: head[6] as number, pdu };
  }

  async request(unit: number, pdu: Buffer): Promise<Buffer> {
    const tid = this.send(unit, pdu);
    const r = await this.response();
    if (r.tid !== tid) throw new Error(`transaction ${r.tid}, expected ${tid}`);
    return r.pdu;
  }
}

export function crc(bytes: Uint8Array): number {
  let c = 0xffff;
  for (const b of bytes) {
    c ^= b;
    for (let i = 0; i < 8; i++) c = (c & 1) !== 0 ? (c >>> 1) ^ 0xa001 : c >>> 1;
  }
  return c;
}

export function rtu(unit: number, pdu: Buffer): Buffer {
  const body = Buffer.concat([u8(unit), pdu]);
  const c = crc(body);
  return Buffer.concat([body, u8(c & 0xff, c >> 8)]);
}

/** Modbus RTU master: one request at a time, responses cut by their function code. */
export class RtuClient {
  constructor(readonly wire: Wire) {}

  send(unit: number, pdu: Buffer): void {
    this.wire.send(rtu(unit, pdu));
  }

  async response(): Promise<{ unit: number; pdu: Buffer; crcOk: boolean }> {
    const head = await this.wire.take(3);
    const fn = head[1] as number;
    const rest = fn & 0x80 ? 2 : fn <= 4 ? (head[2] as number) + 2 : 5;
    const frame = Buffer.concat([head, await this.wire.take(rest)]);
    const body = frame.subarray(0, frame.length - 2);
    return { unit: frame[0] as number, pdu: body.subarray(1), crcOk: crc(body) === frame.readUInt16LE(frame.length - 2) };
  }

  async request(unit: number, pdu: Buffer): Promise<Buffer> {
    this.send(unit, pdu);
    const r = await this.response();
    if (!r.crcOk || r.unit !== unit) throw new Error(`bad answer: unit ${r.unit}, crc ok ${r.crcOk}`);
    return r.pdu;
  }
}

export interface PtyPair {
  /** The simulator's end and the master's end. */
  a: string;
  b: string;
  close(): Promise<void>;
}

/** socat PTY pair (8N1, raw); resolves once socat says it is transferring data. */
export function socatPair(): Promise<PtyPair> {
  const dir = mkdtempSync(join(tmpdir(), "modbus-pty-"));
  const a = join(dir, "a");
  const b = join(dir, "b");
  const child = spawn("socat", ["-d", "-d", `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: ["ignore", "ignore", "pipe"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const close = async () => {
    child.kill("SIGTERM");
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  return new Promise((resolve, reject) => {
    let err = "";
    child.stderr.on("data", (c: Buffer) => {
      err += c.toString();
      if (err.includes("starting data transfer loop")) resolve({ a, b, close });
    });
    void exited.then(() => reject(new Error(`socat exited: ${err}`)));
  });
}
