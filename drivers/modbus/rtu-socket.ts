/**
 * RTU frames over a TCP socket, as serial-to-Ethernet gateways in transparent
 * mode carry them: the RTU frame with its CRC, no MBAP header. (modbus-serial's
 * "TcpRTUBufferedPort" sends MBAP frames despite its name, and its
 * connectRTUSocket passes TCP chunks on unassembled.) This port, given to
 * ModbusRTU, reassembles answers by the length the request implies, as
 * modbus-serial's RTU buffered serial port does: RTU has no length field
 * (Modbus over Serial Line V1.02 §2.5.1).
 */
import { EventEmitter } from "node:events";
import type net from "node:net";

const EXCEPTION_LENGTH = 5;
const MAX_BUFFER = 512;

export class RtuSocketPort extends EventEmitter {
  private buf = Buffer.alloc(0);
  private unit = 0;
  private fn = 0;
  private expected = 0;
  private open_ = true;

  constructor(private readonly socket: net.Socket) {
    super();
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("close", () => {
      this.open_ = false;
      this.emit("close");
    });
  }

  get isOpen(): boolean {
    return this.open_;
  }

  open(callback: (err?: Error) => void): void {
    callback(this.open_ ? undefined : new Error("socket closed"));
  }

  close(callback?: () => void): void {
    this.socket.end();
    callback?.();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** A request frame: remember who must answer, and how long the answer is (§6.1-6.4 response layouts). */
  write(frame: Buffer): void {
    this.unit = frame[0] ?? 0;
    this.fn = frame[1] ?? 0;
    const count = frame.length >= 6 ? frame.readUInt16BE(4) : 0;
    // address + fn + byte count + data + CRC
    this.expected = this.fn === 1 || this.fn === 2 ? 5 + Math.ceil(count / 8) : this.fn === 3 || this.fn === 4 ? 5 + 2 * count : 8;
    this.buf = Buffer.alloc(0);
    this.socket.write(frame);
  }

  private receive(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    if (this.buf.length > MAX_BUFFER) this.buf = this.buf.subarray(-MAX_BUFFER);
    for (let i = 0; i + EXCEPTION_LENGTH <= this.buf.length; i++) {
      if (this.buf[i] !== this.unit) continue;
      const fn = this.buf[i + 1];
      const length = fn === this.fn ? this.expected : fn === (this.fn | 0x80) ? EXCEPTION_LENGTH : 0;
      if (length === 0) continue;
      if (i + length > this.buf.length) return;
      const frame = this.buf.subarray(i, i + length);
      this.buf = this.buf.subarray(i + length);
      // ModbusRTU checks the CRC: a corrupted frame becomes its "CRC error".
      this.emit("data", Buffer.from(frame));
      return;
    }
  }
}
