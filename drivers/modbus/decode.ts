/**
 * Raw Modbus data → point values. Pure: the reader fills the banks from the
 * answers of FC 1-4 and calls decode(); tests feed it banks directly.
 *
 * Registers are 16-bit big-endian (Modbus Application Protocol v1.1b3 §4.2);
 * 32-bit values take two registers in the point's word order; strings are two
 * ASCII characters per register, high byte first, ended by NUL or padding.
 */
import type { MetricValue } from "../contract.js";
import { type Point, type Profile, pointWidth, type Table, type WordOrder } from "./profile.js";

/** Raw data by table and 0-based address. Coils and inputs are booleans, registers 0-65535. */
export interface Banks {
  coil: Map<number, boolean>;
  discrete_input: Map<number, boolean>;
  holding: Map<number, number>;
  input: Map<number, number>;
}

export function emptyBanks(): Banks {
  return { coil: new Map(), discrete_input: new Map(), holding: new Map(), input: new Map() };
}

export interface DecodedPoint {
  /** The value after scale/offset, or the enum label; null when the raw value is not in the enum. */
  value: MetricValue;
  /** The raw value: a boolean, the integer or float as read, or the string. */
  raw: number | boolean | string;
  unit?: string;
  /** Set when the value could not be interpreted (raw value outside the enum). */
  problem?: string;
}

export interface Decoded {
  points: Record<string, DecodedPoint>;
  /** Points whose registers are not in the banks (their read failed). */
  missing: string[];
}

export function decode(profile: Profile, banks: Banks): Decoded {
  const points: Record<string, DecodedPoint> = {};
  const missing: string[] = [];
  for (const [name, p] of Object.entries(profile.points)) {
    const d = decodePoint(p, banks, profile.word_order);
    if (d === undefined) missing.push(name);
    else points[name] = d;
  }
  return { points, missing };
}

/** One point, or undefined when any of its registers is missing. */
export function decodePoint(p: Point, banks: Banks, defaultOrder: WordOrder = "big"): DecodedPoint | undefined {
  if (p.type === "bool") {
    const b = bitBank(banks, p.table).get(p.address);
    return b === undefined ? undefined : finish(p, b, (p.invert ?? false) !== b);
  }
  const words = registers(banks, p.table, p.address, pointWidth(p));
  if (words === undefined) return undefined;
  switch (p.type) {
    case "bit": {
      const b = ((words[0] >> (p.bit ?? 0)) & 1) === 1;
      return finish(p, b, (p.invert ?? false) !== b);
    }
    case "u16":
      return numeric(p, words[0]);
    case "i16":
      return numeric(p, (words[0] << 16) >> 16);
    case "u32":
    case "i32":
    case "float32": {
      const [hi, lo] = (p.word_order ?? defaultOrder) === "big" ? [words[0], words[1]] : [words[1], words[0]];
      const buf = Buffer.alloc(4);
      buf.writeUInt16BE(hi, 0);
      buf.writeUInt16BE(lo, 2);
      const raw = p.type === "u32" ? buf.readUInt32BE(0) : p.type === "i32" ? buf.readInt32BE(0) : buf.readFloatBE(0);
      return numeric(p, raw);
    }
    case "string": {
      const s = asciiString(words);
      return finish(p, s, s);
    }
  }
}

function numeric(p: Point, raw: number): DecodedPoint {
  if (p.enum !== undefined) {
    const label = p.enum[String(raw)];
    return label === undefined
      ? { ...finish(p, raw, null), problem: `raw value ${raw} is not in the enum (${Object.keys(p.enum).join(", ")})` }
      : finish(p, raw, label);
  }
  if (!Number.isFinite(raw)) return finish(p, raw, null);
  const scaled = raw * (p.scale ?? 1) + (p.offset ?? 0);
  // 0.1 * 123 is 12.300000000000001: keep 12 significant digits, more than any 32-bit source has.
  return finish(p, raw, p.scale === undefined && p.offset === undefined ? raw : Number(scaled.toPrecision(12)));
}

function finish(p: Point, raw: number | boolean | string, value: MetricValue): DecodedPoint {
  if (typeof raw === "boolean" && p.enum !== undefined) {
    const label = p.enum[raw ? "1" : "0"];
    return label === undefined ? { raw, value: null, problem: `raw value ${raw ? 1 : 0} is not in the enum` } : withUnit(p, { raw, value: label });
  }
  return withUnit(p, { raw, value });
}

function withUnit(p: Point, d: DecodedPoint): DecodedPoint {
  return p.unit === undefined ? d : { ...d, unit: p.unit };
}

function bitBank(banks: Banks, table: Table): Map<number, boolean> {
  return table === "coil" ? banks.coil : banks.discrete_input;
}

function registers(banks: Banks, table: Table, address: number, count: number): number[] | undefined {
  const bank = table === "holding" ? banks.holding : banks.input;
  const out: number[] = [];
  for (let a = address; a < address + count; a++) {
    const w = bank.get(a);
    if (w === undefined) return undefined;
    out.push(w);
  }
  return out;
}

/** Two characters per register, high byte first; stops at NUL, trims padding, shows non-ASCII as '?'. */
function asciiString(words: number[]): string {
  let s = "";
  for (const w of words) {
    for (const byte of [w >> 8, w & 0xff]) {
      if (byte === 0) return s.trimEnd();
      s += byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : "?";
    }
  }
  return s.trimEnd();
}
