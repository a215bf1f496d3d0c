/**
 * DC-09 frames: read and build one frame (ANSI/SIA DC-09-2013 5.5.1, "Event
 * message format"; unchanged in DC-09-2021):
 *
 *   <LF> CRC 0LLL "id" seq [Rrcvr] [Lpref] #acct [data] [x-data]... [_timestamp] <CR>
 *
 * - CRC (5.5.1.2): 4 hex digits, CRC-16 of the bytes from the first `"` to
 *   the last byte before <CR>. The algorithm is the one DC-07 tabulates:
 *   CRC-16/ARC (polynomial x^16+x^15+x^2+1 = 0x8005 reflected = 0xA001,
 *   initial value 0, no final XOR). Some public parsers claim CRC-CCITT
 *   (0x1021); the spec's own examples ("87CD" for the ADM-CID example, "CE11"
 *   for the SIA-DCS one) and every vector of the Swissdotnet and fioletoven
 *   libraries match ARC, none matches CCITT, so ARC it is. We read hex in
 *   either case and write upper case.
 * - Length (5.5.1.3): "0" then 3 hex digits, the byte count from the first
 *   `"` to the last byte before <CR>; at most 0xFFF, so a frame is at most
 *   4105 bytes (MAX_FRAME_BYTES): longer input is refused before it is read.
 * - ID token (5.5.1.4): SIA-DCS, ADM-CID, NULL from premises equipment; ACK,
 *   NAK, DUH from the receiver; "*" in front when the rest is encrypted (NAK
 *   never is, 5.5.3.2). Others (RSP, proprietary ones) are unknown_token.
 * - Sequence (5.5.1.5): 4 decimal digits, 0000-9999.
 * - Receiver "R" and account prefix / line "L" (5.5.1.6): optional, 1-6 hex
 *   digits each. Account "#": 1-16 hex digits here (the standard says 3-16;
 *   the allow-list is where a real account is checked). A NAK carries "A0"
 *   in place of "#acct"; we read both.
 * - Data "[...]" (5.5.1.7), extended data "[x...]" blocks, timestamp
 *   "_HH:MM:SS,MM-DD-YYYY" in UTC (5.5.1.8). When encrypted, everything after
 *   the first "[" is hex ciphertext (crypto.ts).
 *
 * Bytes are handled as latin1 so that x-data in Windows-1252 (which the
 * 2021 edition allows in some x-data fields, as ioBroker.sia issue #63
 * quotes it) keeps its bytes and its CRC.
 *
 * Pure. Every failure is a Dc09Error (errors.ts); nothing else is thrown on
 * bad input.
 */
import { decryptContent, encryptContent } from "./crypto.js";
import { Dc09Error, type FrameHeader } from "./errors.js";

const LF = 0x0a;
const CR = 0x0d;

/** Longest body the 0LLL field can describe. */
export const MAX_BODY_BYTES = 0xfff;
/** <LF> + CRC (4) + 0LLL (4) + body + <CR>. */
export const MAX_FRAME_BYTES = 1 + 4 + 4 + MAX_BODY_BYTES + 1;

/** Tokens sent by premises equipment (panels, communicators). */
export const EVENT_TOKENS = ["SIA-DCS", "ADM-CID", "NULL"] as const;
/** Tokens sent by the receiver (5.5.3). */
export const RESPONSE_TOKENS = ["ACK", "NAK", "DUH"] as const;
export type EventToken = (typeof EVENT_TOKENS)[number];
export type ResponseToken = (typeof RESPONSE_TOKENS)[number];
export type Dc09Token = EventToken | ResponseToken;

const KNOWN_TOKENS: ReadonlySet<string> = new Set<string>([...EVENT_TOKENS, ...RESPONSE_TOKENS]);

/** A frame read and, when it was encrypted, decrypted. */
export interface Dc09Frame extends FrameHeader {
  token: Dc09Token;
  /** Content of the first "[...]" block, without the brackets: "#1234|1120 01 015", "" for NULL/ACK. */
  data: string;
  /** Contents of the extended-data blocks that follow, without brackets: ["X115000", "Mxx…"]. */
  extended: string[];
  /** The frame's timestamp, if it has one (UTC). */
  timestamp: Date | undefined;
}

/** A frame whose CRC, length and header are right; the part after "[" not yet opened. */
export interface RawFrame {
  header: FrameHeader & { token: Dc09Token };
  /** Everything after the first "[" up to <CR>: ciphertext hex when encrypted. */
  payload: string;
}

/**
 * CRC-16/ARC, bit by bit (reflected 0xA001, init 0). The simulator computes
 * it from a table instead, so the two do not share code.
 */
export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

const pad2 = (n: number) => String(n).padStart(2, "0");

/** "HH:MM:SS,MM-DD-YYYY" in UTC (5.5.1.8), without the leading "_". */
export function formatTimestamp(at: Date): string {
  return `${pad2(at.getUTCHours())}:${pad2(at.getUTCMinutes())}:${pad2(at.getUTCSeconds())},` +
    `${pad2(at.getUTCMonth() + 1)}-${pad2(at.getUTCDate())}-${at.getUTCFullYear()}`;
}

/** Parse "HH:MM:SS,MM-DD-YYYY" (UTC); a date that does not exist (02-30) is refused. */
export function parseTimestamp(text: string, header?: FrameHeader): Date {
  const m = /^(\d{2}):(\d{2}):(\d{2}),(\d{2})-(\d{2})-(\d{4})$/.exec(text);
  const bad = () => new Dc09Error("timestamp", `malformed timestamp "${text.slice(0, 32)}"`, header === undefined ? undefined : { header });
  if (!m) throw bad();
  const [h, mi, s, mo, d, y] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const at = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  if (h > 23 || mi > 59 || s > 59 || at.getUTCFullYear() !== y || at.getUTCMonth() !== mo - 1 || at.getUTCDate() !== d) throw bad();
  return at;
}

// "id" seq [Rrcvr] [Lpref] (#acct | Aacct) "[" — the token is captured loosely so an unknown one can be named.
const HEADER = /^"(\*?)([^"[\]]{1,16})"(\d{4})(?:R([0-9A-Fa-f]{1,6}))?(?:L([0-9A-Fa-f]{1,6}))?(?:#|A)([0-9A-Fa-f]{1,16})\[/;

/**
 * Check a frame's envelope (size, LF/CR, length, CRC) and read its header.
 * The part after "[" is returned as is: openFrame() decrypts and splits it.
 */
export function parseFrame(bytes: Uint8Array): RawFrame {
  // Bounded: refuse over-long input before looking at it.
  if (bytes.length > MAX_FRAME_BYTES) throw new Dc09Error("length", `frame of ${bytes.length} bytes exceeds ${MAX_FRAME_BYTES}`);
  if (bytes.length < 10) throw new Dc09Error("length", `frame of ${bytes.length} bytes is too short`);
  if (bytes[0] !== LF) throw new Dc09Error("format", "frame does not start with <LF>");
  if (bytes[bytes.length - 1] !== CR) throw new Dc09Error("format", "frame does not end with <CR>");
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const crcText = buf.toString("latin1", 1, 5);
  const lenText = buf.toString("latin1", 5, 9);
  if (!/^[0-9A-Fa-f]{4}$/.test(crcText)) throw new Dc09Error("format", `CRC field "${crcText}" is not 4 hex digits`);
  if (!/^0[0-9A-Fa-f]{3}$/.test(lenText)) throw new Dc09Error("length", `length field "${lenText}" is not "0" and 3 hex digits`);
  const body = buf.subarray(9, buf.length - 1);
  const declared = Number.parseInt(lenText, 16);
  if (body.length !== declared) throw new Dc09Error("length", `length field says ${declared} bytes, body has ${body.length}`);
  const crc = crc16(body);
  if (crc !== Number.parseInt(crcText, 16)) throw new Dc09Error("crc", `CRC field ${crcText.toUpperCase()}, computed ${hex4(crc)}`);
  const text = body.toString("latin1");
  const m = HEADER.exec(text);
  if (!m) throw new Dc09Error("format", `header not understood: ${JSON.stringify(text.slice(0, 48))}`);
  const [all, star, token, seq, receiver, line, account] = m as unknown as [string, string, string, string, string | undefined, string | undefined, string];
  const header: FrameHeader = { token, encrypted: star === "*", sequence: Number(seq), receiver, line, account };
  if (!KNOWN_TOKENS.has(token) || (header.encrypted && token === "NAK")) {
    throw new Dc09Error("unknown_token", `ID token "${star}${token}" is not one this receiver processes`, { header });
  }
  return { header: { ...header, token: token as Dc09Token }, payload: text.slice(all.length) };
}

/**
 * Open the part after "[": decrypt it when the frame is encrypted (with the
 * account's key), then split data, extended data and timestamp.
 */
export function openFrame(raw: RawFrame, key?: Buffer): Dc09Frame {
  const { header } = raw;
  let content = raw.payload;
  if (header.encrypted) {
    if (key === undefined) throw new Dc09Error("encryption", `encrypted message for account ${header.account}, and no key for it`, { header });
    content = decryptContent(key, raw.payload, header);
  }
  const format = (why: string) => new Dc09Error("format", why, { header });
  const end = content.indexOf("]");
  if (end < 0) throw format('data block has no closing "]"');
  const data = content.slice(0, end);
  if (data.includes("[")) throw format('"[" inside the data block');
  const extended: string[] = [];
  let rest = content.slice(end + 1);
  while (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close < 0) throw format('extended data block has no closing "]"');
    const block = rest.slice(1, close);
    if (block.includes("[")) throw format('"[" inside an extended data block');
    extended.push(block);
    rest = rest.slice(close + 1);
  }
  let timestamp: Date | undefined;
  if (rest.startsWith("_")) {
    timestamp = parseTimestamp(rest.slice(1), header);
    rest = "";
  }
  if (rest !== "") throw format(`unexpected ${JSON.stringify(rest.slice(0, 24))} after the data`);
  return { ...header, data, extended, timestamp };
}

/** parseFrame + openFrame, with the key looked up by account (case-insensitively: keys are stored by upper-case account). */
export function decodeFrame(bytes: Uint8Array, keyFor: (account: string) => Buffer | undefined = () => undefined): Dc09Frame {
  const raw = parseFrame(bytes);
  return openFrame(raw, raw.header.encrypted ? keyFor(raw.header.account.toUpperCase()) : undefined);
}

/** What encodeFrame() needs. */
export interface FrameInput {
  token: Dc09Token;
  encrypted?: boolean;
  sequence: number;
  receiver?: string | undefined;
  line?: string | undefined;
  account: string;
  /** "A" only for the NAK's "A0" (5.5.3.2). Default "#". */
  accountMarker?: "#" | "A";
  data?: string;
  extended?: readonly string[];
  timestamp?: Date | undefined;
}

/**
 * Build one frame. Encrypted frames need the key; `pad` fixes the pad
 * characters (test vectors), otherwise they are random. Throws a plain Error
 * on inputs no frame can carry: a programming error, not wire data.
 */
export function encodeFrame(f: FrameInput, opts: { key?: Buffer; pad?: Uint8Array } = {}): Buffer {
  if (!Number.isInteger(f.sequence) || f.sequence < 0 || f.sequence > 9999) throw new Error(`sequence ${f.sequence} is outside 0-9999`);
  for (const [name, v, max] of [["receiver", f.receiver, 6], ["line", f.line, 6], ["account", f.account, 16]] as const) {
    if (v !== undefined && !new RegExp(`^[0-9A-Fa-f]{1,${max}}$`).test(v)) throw new Error(`${name} "${v}" must be 1-${max} hex digits`);
  }
  const data = f.data ?? "";
  const extended = f.extended ?? [];
  if (/[[\]]/.test(data) || extended.some((x) => /[[\]]/.test(x))) throw new Error('data must not contain "[" or "]"');
  const content = `${data}]${extended.map((x) => `[${x}]`).join("")}${f.timestamp === undefined ? "" : `_${formatTimestamp(f.timestamp)}`}`;
  let after: string;
  if (f.encrypted) {
    if (opts.key === undefined) throw new Error("an encrypted frame needs a key");
    if (f.timestamp === undefined) throw new Error("an encrypted frame needs a timestamp (5.5.1.8)");
    after = encryptContent(opts.key, content, opts.pad);
  } else {
    after = content;
  }
  const body = `"${f.encrypted ? "*" : ""}${f.token}"${String(f.sequence).padStart(4, "0")}` +
    `${f.receiver === undefined ? "" : `R${f.receiver}`}${f.line === undefined ? "" : `L${f.line}`}` +
    `${f.accountMarker ?? "#"}${f.account}[${after}`;
  const bytes = Buffer.from(body, "latin1");
  if (bytes.length > MAX_BODY_BYTES) throw new Error(`body of ${bytes.length} bytes exceeds ${MAX_BODY_BYTES}`);
  return Buffer.concat([Buffer.from([LF]), Buffer.from(hex4(crc16(bytes)) + `0${bytes.length.toString(16).toUpperCase().padStart(3, "0")}`, "latin1"), bytes, Buffer.from([CR])]);
}

function hex4(n: number): string {
  return n.toString(16).toUpperCase().padStart(4, "0");
}
