/**
 * The DC-09 sender simulator's own encoder and answer reader: what a panel
 * or communicator puts on the wire (ANSI/SIA DC-09-2013 5.5.1) and how it
 * reads the receiver's ACK / NAK / DUH (5.5.3).
 *
 * Deliberately NOT drivers/dc09: a simulator sharing the agent's codec could
 * only agree with it. This one is written differently on purpose: the CRC
 * from a lookup table (the DC-07 way) instead of bit by bit, timestamps cut
 * out of toISOString(), and pad bytes drawn from all 256 byte values but
 * "|", "[" and "]" (as the Swissdotnet library does) where the codec sends
 * printable ones. Tests check both against each other and against public
 * vectors (test/scripts/dc09-wire.test.ts).
 *
 * Node builtins only.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

/** CRC-16/ARC lookup table (reflected polynomial 0xA001), as DC-07 prints it (with its 0xEB01 erratum fixed). */
const CRC_TABLE: Uint16Array = (() => {
  const t = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    t[n] = c;
  }
  return t;
})();

export function simCrc(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) crc = (crc >>> 8) ^ (CRC_TABLE[(crc ^ b) & 0xff] as number);
  return crc;
}

/** "_HH:MM:SS,MM-DD-YYYY" (UTC), from the ISO form. */
export function simTimestamp(at: Date): string {
  const iso = at.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  return `_${iso.slice(11, 19)},${iso.slice(5, 7)}-${iso.slice(8, 10)}-${iso.slice(0, 4)}`;
}

const hex = (n: number, width: number) => n.toString(16).toUpperCase().padStart(width, "0");

/** Wrap a body: <LF> CRC 0LLL body <CR>. `lengthDelta` lies about the length (fault injection). */
export function simEnvelope(body: Buffer, opts: { crcXor?: number; lengthDelta?: number } = {}): Buffer {
  const crc = simCrc(body) ^ (opts.crcXor ?? 0);
  const head = `\n${hex(crc, 4)}0${hex(body.length + (opts.lengthDelta ?? 0), 3)}`;
  return Buffer.concat([Buffer.from(head, "latin1"), body, Buffer.from("\r", "latin1")]);
}

/** Pad bytes: any value but "|" (ends the pad), "[" and "]". */
function simPad(n: number): Buffer {
  const out: number[] = [];
  while (out.length < n) for (const b of randomBytes(n)) if (out.length < n && b !== 0x7c && b !== 0x5b && b !== 0x5d) out.push(b);
  return Buffer.from(out);
}

/** AES-CBC, zero IV, pad + "|" + clear so that it fills whole blocks (1-16 pad bytes); hex out. */
export function simEncrypt(key: Buffer, clear: string, pad?: Buffer): string {
  const n = 16 - ((Buffer.byteLength(clear, "latin1") + 1) % 16);
  const p = pad ?? simPad(n);
  const cipher = createCipheriv(`aes-${key.length * 8}-cbc`, key, Buffer.alloc(16));
  cipher.setAutoPadding(false);
  const out = Buffer.concat([cipher.update(Buffer.concat([p, Buffer.from(`|${clear}`, "latin1")])), cipher.final()]);
  return out.toString("hex").toUpperCase();
}

/** What a simulated panel sends. */
export interface SimMessage {
  /** "SIA-DCS", "ADM-CID", "NULL", or anything (fault injection). */
  token: string;
  sequence: number;
  receiver?: string | undefined;
  line?: string | undefined;
  account: string;
  /** The data block's content without brackets ("" for NULL). */
  data: string;
  extended?: string[];
  /** Timestamp; required (and always sent) when encrypting. */
  time?: Date | undefined;
  /** Encrypt with this key (the token gets its "*"). */
  key?: Buffer | undefined;
  /** Fixed pad bytes (test vectors). */
  pad?: Buffer;
}

/** The body from the first `"` to the byte before <CR>. */
export function simBody(m: SimMessage): Buffer {
  const tail = `${m.data}]${(m.extended ?? []).map((x) => `[${x}]`).join("")}${m.time ? simTimestamp(m.time) : ""}`;
  const head = `"${m.key ? "*" : ""}${m.token}"${String(m.sequence).padStart(4, "0")}${m.receiver === undefined ? "" : `R${m.receiver}`}` +
    `${m.line === undefined ? "" : `L${m.line}`}#${m.account}[`;
  return Buffer.from(head + (m.key ? simEncrypt(m.key, tail, m.pad) : tail), "latin1");
}

export function simFrame(m: SimMessage): Buffer {
  return simEnvelope(simBody(m));
}

/** The receiver's answer, as the simulated panel reads it. */
export interface SimAnswer {
  token: string;
  encrypted: boolean;
  sequence: number;
  account: string;
  /** The receiver's clock, when the answer carries a timestamp (NAK, encrypted ACK). */
  receiverTime?: Date;
}

/** Read one answer frame; returns a string saying what is wrong when it cannot. */
export function simReadAnswer(frame: Buffer, key?: Buffer): SimAnswer | string {
  if (frame.length < 10 || frame[0] !== 0x0a || frame[frame.length - 1] !== 0x0d) return "not a frame";
  const body = frame.subarray(9, frame.length - 1);
  const head = frame.toString("latin1", 1, 9);
  if (Number.parseInt(head.slice(4), 16) !== body.length || head[4] !== "0") return `length field ${head.slice(4)} for ${body.length} bytes`;
  if (Number.parseInt(head.slice(0, 4), 16) !== simCrc(body)) return `CRC ${head.slice(0, 4)} does not match`;
  const m = /^"(\*?)([A-Z-]+)"(\d{4})(?:R[0-9A-Fa-f]+)?(?:L[0-9A-Fa-f]+)?[#A]([0-9A-Fa-f]+)\[(.*)$/s.exec(body.toString("latin1"));
  if (!m) return "header not understood";
  const [, star, token, seq, account] = m as unknown as [string, string, string, string, string];
  let rest = m[5] ?? "";
  if (star === "*") {
    if (!key) return "encrypted answer and no key";
    try {
      const d = createDecipheriv(`aes-${key.length * 8}-cbc`, key, Buffer.alloc(16));
      d.setAutoPadding(false);
      const clear = Buffer.concat([d.update(Buffer.from(rest, "hex")), d.final()]);
      const bar = clear.indexOf(0x7c);
      if (bar < 0) return "cannot decrypt the answer";
      rest = clear.subarray(bar + 1).toString("latin1");
    } catch {
      return "cannot decrypt the answer";
    }
  }
  const answer: SimAnswer = { token, encrypted: star === "*", sequence: Number(seq), account };
  const ts = /_(\d\d):(\d\d):(\d\d),(\d\d)-(\d\d)-(\d{4})$/.exec(rest);
  if (ts) answer.receiverTime = new Date(`${ts[6]}-${ts[4]}-${ts[5]}T${ts[1]}:${ts[2]}:${ts[3]}Z`);
  return answer;
}

/**
 * Frames out of a TCP stream: from <LF> to the next <CR>, at most 4105
 * bytes (the largest DC-09 frame); anything else is dropped.
 */
export class SimFrameReader {
  private pending = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.pending = Buffer.concat([this.pending, chunk]);
    const frames: Buffer[] = [];
    for (;;) {
      const start = this.pending.indexOf(0x0a);
      if (start < 0) {
        this.pending = Buffer.alloc(0);
        return frames;
      }
      const end = this.pending.indexOf(0x0d, start);
      if (end < 0) {
        this.pending = this.pending.subarray(start);
        if (this.pending.length > 4105) this.pending = Buffer.alloc(0);
        return frames;
      }
      frames.push(Buffer.from(this.pending.subarray(start, end + 1)));
      this.pending = this.pending.subarray(end + 1);
    }
  }
}
