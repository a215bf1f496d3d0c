/**
 * Modbus RTU framing (Modbus over Serial Line V1.02, 2.5.1) for the simulator:
 * a request framer, the answer writer, and a serial line on a PTY.
 *
 * Framing choice. The standard separates frames by a silent interval of 3.5
 * character times (t3.5: 11 bits per character, fixed 1.75 ms above 19200
 * baud). On a PTY or inside a TCP stream that timing does not exist: bytes
 * arrive in chunks whose gaps depend on the kernel and on the event loop, so a
 * frame can be split by more than t3.5 and two frames can arrive in one chunk.
 * So the framer cuts frames by the length each request function code implies
 * (fixed 8 bytes for 0x01–0x06; 9 + byte count for 0x0F and 0x10) and checks
 * the CRC. Silence is used only to resynchronise: bytes that do not complete a
 * frame within max(t3.5, 20 ms) are taken as one frame of an unknown function
 * (answered 01 if its CRC is good) or discarded. A frame with a bad CRC gets
 * no answer, as real slaves do (2.5.1.2): the master times out. The framer
 * then slides byte by byte to the next position where a frame with a good CRC
 * starts (a false match is a 1 in 65536 chance per position).
 *
 * Node builtins only.
 */
import { constants, openSync } from "node:fs";
import tty from "node:tty";
import { FC, rtuFrame } from "./modbus-pdu.js";
import type { Outcome } from "./modbus-server.js";

/** Largest RTU frame: address + 253-byte PDU + CRC (2.5.1). */
const MAX_RTU_FRAME = 256;
/** Floor of the resynchronisation silence: event-loop jitter exceeds t3.5 at high baud. */
const MIN_RESYNC_MS = 20;

/** t3.5 in ms for a baud rate (2.5.1.1), floored for resynchronisation. */
export function rtuSilenceMs(baud: number): number {
  const t35 = baud > 19200 ? 1.75 : (3.5 * 11 * 1000) / baud;
  return Math.max(MIN_RESYNC_MS, Math.ceil(t35));
}

/** Bytes a request frame of this function code needs, given what has arrived; undefined if unknown. */
function expectedLength(buf: Buffer): number | undefined {
  const fn = buf[1];
  if (fn === undefined) return MAX_RTU_FRAME;
  if (fn >= FC.READ_COILS && fn <= FC.WRITE_SINGLE_REGISTER) return 8;
  if (fn === FC.WRITE_MULTIPLE_COILS || fn === FC.WRITE_MULTIPLE_REGISTERS) {
    const count = buf[6];
    return count === undefined ? MAX_RTU_FRAME : 9 + count;
  }
  return undefined;
}

function crcOk(frame: Buffer): boolean {
  if (frame.length < 4) return false;
  return rtuFrame(frame[0] as number, frame.subarray(1, frame.length - 2)).equals(frame);
}

/** Cuts RTU requests out of a byte stream; calls onFrame(unit, pdu) for each good one. */
export class RtuFramer {
  private buf = Buffer.alloc(0);
  private timer: NodeJS.Timeout | undefined;
  /** Inside a run of bytes that start no valid frame (counted as one bad frame). */
  private skipping = false;

  constructor(
    private readonly silenceMs: number,
    private readonly onFrame: (unit: number, pdu: Buffer) => void,
    private readonly onBadFrame: () => void,
  ) {}

  push(chunk: Buffer): void {
    clearTimeout(this.timer);
    this.buf = Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (this.buf.length < 2) break;
      const need = expectedLength(this.buf);
      // An unknown function code right after a bad frame is more garbage, not a frame start.
      if (need === undefined && !this.skipping) break;
      if (need !== undefined && this.buf.length < need) break;
      const frame = this.buf.subarray(0, need ?? 0);
      if (need === undefined || !crcOk(frame)) {
        // Slide one byte and look for a frame start again: a master that does
        // not wait out the silence after a bad frame still gets its next answer.
        if (!this.skipping) this.onBadFrame();
        this.skipping = true;
        this.buf = this.buf.subarray(1);
        continue;
      }
      this.skipping = false;
      this.buf = this.buf.subarray(need);
      this.onFrame(frame[0] as number, Buffer.from(frame.subarray(1, need - 2)));
    }
    if (this.buf.length > MAX_RTU_FRAME) this.discard();
    else if (this.buf.length > 0) this.timer = setTimeout(() => this.onSilence(), this.silenceMs);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.buf = Buffer.alloc(0);
  }

  /** The line went quiet with an incomplete or unknown frame buffered. */
  private onSilence(): void {
    const frame = this.buf;
    const wasSkipping = this.skipping;
    this.buf = Buffer.alloc(0);
    this.skipping = false;
    if (expectedLength(frame) === undefined && crcOk(frame)) {
      this.onFrame(frame[0] as number, Buffer.from(frame.subarray(1, frame.length - 2)));
    } else if (!wasSkipping) {
      this.onBadFrame();
    }
  }

  private discard(): void {
    this.buf = Buffer.alloc(0);
    if (!this.skipping) this.onBadFrame();
    this.skipping = false;
  }
}

/** Send an outcome as RTU bytes (a drop on a serial line is silence). */
export function writeRtuAnswer(write: (b: Buffer) => void, unit: number, o: Outcome): void {
  if (o.send === "garbage") write(o.bytes);
  if (o.send !== "pdu") return;
  const frame = rtuFrame(unit, o.pdu);
  // Flip the CRC's low byte: the frame arrives whole, and fails the check.
  if (o.corruptCrc) frame[frame.length - 2] = (frame[frame.length - 2] as number) ^ 0xff;
  write(frame);
}

export interface RtuLink {
  close(): void;
}

/**
 * Serve RTU on a serial device path. A PTY is a TTY, which net.Socket refuses
 * ("Unsupported fd type: TTY"), and fs streams on it would block a libuv pool
 * thread in read() until data arrives; tty.ReadStream/WriteStream are
 * event-driven and close cleanly. Raw mode: no echo, no line discipline.
 * O_NOCTTY: the device must not become our controlling terminal.
 */
export function openRtuSerial(
  path: string,
  silenceMs: number,
  handle: (unit: number, pdu: Buffer) => Promise<Outcome>,
  onBadFrame: () => void,
): RtuLink {
  const fd = openSync(path, constants.O_RDWR | constants.O_NOCTTY);
  const input = new tty.ReadStream(fd);
  input.setRawMode(true);
  const output = new tty.WriteStream(fd);
  // The other end going away (socat stopped) ends the line; nothing to report.
  input.on("error", () => {});
  output.on("error", () => {});
  // One request at a time is the master's job on a bus; answers still go out in order.
  let chain = Promise.resolve();
  const framer = new RtuFramer(silenceMs, (unit, pdu) => {
    const outcome = handle(unit, pdu);
    chain = chain.then(async () => writeRtuAnswer((b) => output.write(b), unit, await outcome));
  }, onBadFrame);
  input.on("data", (chunk: Buffer) => framer.push(chunk));
  return {
    close() {
      framer.stop();
      input.destroy();
      output.destroy();
    },
  };
}
