/**
 * Cutting a TCP byte stream (or a UDP datagram with trailing bytes) into
 * DC-09 frames, with bounded memory.
 *
 * A frame runs from <LF> to the first <CR> after it; neither byte can occur
 * inside a frame (the body is ASCII, ciphertext is hex). Cutting on <CR>,
 * not on the 0LLL field, means a frame with a wrong length field still comes
 * out whole (and decodeFrame() refuses it with reason "length", so the sender
 * gets its NAK) instead of stalling the stream. An <LF> seen before the <CR>
 * restarts the frame there: what came before it was not a frame.
 *
 * Bytes outside frames are discarded and counted; NUL bytes between frames
 * (some panels pad with 0x00, see ioBroker.sia's deleteAppendingZero) and
 * stray <CR>/<LF> are dropped silently. Nothing is kept beyond
 * MAX_FRAME_BYTES: a "frame" that has no <CR> by then is discarded as
 * too_long without waiting for the rest of it.
 *
 * Pure: no sockets, the caller feeds chunks.
 */
import { MAX_FRAME_BYTES } from "./frame.js";

const LF = 0x0a;
const CR = 0x0d;

export type SplitItem = { type: "frame"; bytes: Buffer } | { type: "discarded"; bytes: number; why: "not_a_frame" | "too_long" };

export class FrameSplitter {
  private buf: Buffer = Buffer.alloc(0);
  /** How far buf has been searched for <CR> (from its start), so a slow frame is not rescanned. */
  private scanned = 0;

  /** Bytes held, waiting for the end of a frame. At most MAX_FRAME_BYTES. */
  get pending(): number {
    return this.buf.length;
  }

  /** Feed a chunk; get the frames (and discarded runs) it completes, in order. */
  push(chunk: Uint8Array): SplitItem[] {
    const out: SplitItem[] = [];
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    for (;;) {
      // Drop everything before the first <LF>: not part of any frame.
      const lf = this.buf.indexOf(LF);
      if (lf < 0) {
        this.discard(this.buf, out);
        this.buf = Buffer.alloc(0);
        this.scanned = 0;
        return out;
      }
      if (lf > 0) {
        this.discard(this.buf.subarray(0, lf), out);
        this.buf = this.buf.subarray(lf);
        this.scanned = 0;
      }
      const limit = Math.min(this.buf.length, MAX_FRAME_BYTES);
      let cr = -1;
      let restart = -1;
      for (let i = Math.max(1, this.scanned); i < limit; i++) {
        const b = this.buf[i];
        if (b === CR) {
          cr = i;
          break;
        }
        if (b === LF) restart = i;
      }
      if (restart > 0 && (cr < 0 || restart < cr)) {
        // A new <LF> before any <CR>: the bytes before it were not a frame.
        this.discard(this.buf.subarray(0, restart), out);
        this.buf = this.buf.subarray(restart);
        this.scanned = 0;
        continue;
      }
      if (cr >= 0) {
        out.push({ type: "frame", bytes: Buffer.from(this.buf.subarray(0, cr + 1)) });
        this.buf = this.buf.subarray(cr + 1);
        this.scanned = 0;
        continue;
      }
      if (this.buf.length >= MAX_FRAME_BYTES) {
        // No <CR> within the largest frame there can be: throw it away, resync at the next <LF>.
        // (Any <LF> within it would have restarted the frame above, so none is lost.)
        out.push({ type: "discarded", bytes: MAX_FRAME_BYTES, why: "too_long" });
        this.buf = this.buf.subarray(MAX_FRAME_BYTES);
        this.scanned = 0;
        continue;
      }
      this.scanned = this.buf.length;
      this.buf = Buffer.from(this.buf); // detach from the larger chunk it may view
      return out;
    }
  }

  private discard(bytes: Buffer, out: SplitItem[]): void {
    let n = 0;
    for (const b of bytes) if (b !== 0x00 && b !== CR && b !== LF) n++;
    if (n > 0) out.push({ type: "discarded", bytes: bytes.length, why: "not_a_frame" });
  }
}
