/**
 * The server side of the Modbus application protocol, on raw register banks:
 * one RegisterBank per unit id, and handlePdu() turning a request PDU into a
 * response PDU (or an exception response). Transports (MBAP over TCP, RTU
 * over a serial line or TCP) live in modbus-server.ts and modbus-rtu.ts.
 *
 * References are to the "MODBUS Application Protocol Specification V1.1b3"
 * (section 6 per function code, section 7 for exceptions).
 *
 * Node builtins only, and deliberately NOT modbus-serial: that is our driver's
 * library, and a simulator sharing it could only agree with the driver.
 */

/** The four primary tables (spec 4.3 "MODBUS Data model"). */
export const TABLES = ["coils", "discreteInputs", "holdingRegisters", "inputRegisters"] as const;
export type Table = (typeof TABLES)[number];

/** Exception codes (spec 7 "MODBUS Exception Responses"). */
export const EXCEPTION = {
  ILLEGAL_FUNCTION: 0x01,
  ILLEGAL_DATA_ADDRESS: 0x02,
  ILLEGAL_DATA_VALUE: 0x03,
  SERVER_DEVICE_FAILURE: 0x04,
  SERVER_BUSY: 0x06,
  GATEWAY_PATH_UNAVAILABLE: 0x0a,
  GATEWAY_TARGET_FAILED: 0x0b,
} as const;

/** Function codes this server implements (spec 6.1–6.6, 6.11, 6.12). */
export const FC = {
  READ_COILS: 0x01,
  READ_DISCRETE_INPUTS: 0x02,
  READ_HOLDING_REGISTERS: 0x03,
  READ_INPUT_REGISTERS: 0x04,
  WRITE_SINGLE_COIL: 0x05,
  WRITE_SINGLE_REGISTER: 0x06,
  WRITE_MULTIPLE_COILS: 0x0f,
  WRITE_MULTIPLE_REGISTERS: 0x10,
} as const;

/** Quantity limits of each request (spec 6.1–6.4, 6.11, 6.12): a PDU is at most 253 bytes. */
const MAX_READ_BITS = 2000;
const MAX_READ_REGISTERS = 125;
const MAX_WRITE_BITS = 1968;
const MAX_WRITE_REGISTERS = 123;

/**
 * One unit's four tables, sparse: only defined addresses exist, and a request
 * touching any undefined address gets exception 02, as real devices answer for
 * holes in their map. Bits are stored as 0/1, registers as u16.
 */
export class RegisterBank {
  private readonly tables: Record<Table, Map<number, number>> = {
    coils: new Map(),
    discreteInputs: new Map(),
    holdingRegisters: new Map(),
    inputRegisters: new Map(),
  };

  /** Called before every read, so a model can refresh live values (uptime). */
  beforeRead: (() => void) | undefined;
  /** Called after every write from a client, with what was written. */
  afterWrite: ((table: Table, address: number, values: number[]) => void) | undefined;

  /** Make addresses exist, set to the given values (a number fills count addresses). */
  define(table: Table, address: number, values: number[] | number, count = 1): this {
    const list = typeof values === "number" ? Array<number>(count).fill(values) : values;
    list.forEach((v, i) => this.tables[table].set(checkAddress(address + i), normalise(table, v)));
    return this;
  }

  /** Set existing addresses (the model's and the tests' way in; no exception, an error). */
  set(table: Table, address: number, values: number[] | number): void {
    const list = typeof values === "number" ? [values] : values;
    list.forEach((v, i) => {
      if (!this.tables[table].has(address + i)) throw new Error(`${table} ${address + i} is not defined`);
      this.tables[table].set(address + i, normalise(table, v));
    });
  }

  get(table: Table, address: number): number {
    const v = this.tables[table].get(address);
    if (v === undefined) throw new Error(`${table} ${address} is not defined`);
    return v;
  }

  has(table: Table, address: number, count = 1): boolean {
    for (let a = address; a < address + count; a++) if (!this.tables[table].has(a)) return false;
    return true;
  }
}

function checkAddress(a: number): number {
  if (!Number.isInteger(a) || a < 0 || a > 0xffff) throw new Error(`address ${a} is outside 0..65535`);
  return a;
}

function normalise(table: Table, v: number): number {
  if (table === "coils" || table === "discreteInputs") return v ? 1 : 0;
  if (!Number.isInteger(v) || v < -0x8000 || v > 0xffff) throw new Error(`register value ${v} does not fit 16 bits`);
  return v & 0xffff;
}

/** Exception response PDU: function code with bit 7 set, then the code (spec 7). */
export function exceptionPdu(fn: number, code: number): Buffer {
  return Buffer.from([(fn | 0x80) & 0xff, code]);
}

class ModbusException extends Error {
  constructor(readonly code: number) {
    super(`modbus exception ${code}`);
  }
}

/** Function code, first address and quantity of a request, for fault matching. Undefined if too short. */
export function requestRange(pdu: Buffer): { fn: number; address: number; count: number } | undefined {
  if (pdu.length < 1) return undefined;
  const fn = pdu[0] as number;
  if (pdu.length < 3) return { fn, address: 0, count: 0 };
  const single = fn === FC.WRITE_SINGLE_COIL || fn === FC.WRITE_SINGLE_REGISTER;
  return { fn, address: pdu.readUInt16BE(1), count: single || pdu.length < 5 ? 1 : pdu.readUInt16BE(3) };
}

/** Answer one request PDU against one bank: a normal response or an exception response. */
export function handlePdu(bank: RegisterBank, pdu: Buffer): Buffer {
  const fn = pdu[0] ?? 0;
  try {
    return dispatch(bank, fn, pdu);
  } catch (e) {
    if (e instanceof ModbusException) return exceptionPdu(fn, e.code);
    // A bug in a model hook is what a real device reports as 04 (spec 7: "unrecoverable error").
    return exceptionPdu(fn, EXCEPTION.SERVER_DEVICE_FAILURE);
  }
}

function dispatch(bank: RegisterBank, fn: number, pdu: Buffer): Buffer {
  switch (fn) {
    case FC.READ_COILS: return readBits(bank, "coils", pdu);
    case FC.READ_DISCRETE_INPUTS: return readBits(bank, "discreteInputs", pdu);
    case FC.READ_HOLDING_REGISTERS: return readRegisters(bank, "holdingRegisters", pdu);
    case FC.READ_INPUT_REGISTERS: return readRegisters(bank, "inputRegisters", pdu);
    case FC.WRITE_SINGLE_COIL: return writeSingleCoil(bank, pdu);
    case FC.WRITE_SINGLE_REGISTER: return writeSingleRegister(bank, pdu);
    case FC.WRITE_MULTIPLE_COILS: return writeMultipleCoils(bank, pdu);
    case FC.WRITE_MULTIPLE_REGISTERS: return writeMultipleRegisters(bank, pdu);
    default: throw new ModbusException(EXCEPTION.ILLEGAL_FUNCTION);
  }
}

/**
 * The spec's state diagrams check in this order: quantity (03), then address
 * range (02), then execution (04). A malformed length is also reported as 03.
 */
function addressAndQuantity(bank: RegisterBank, table: Table, pdu: Buffer, max: number): [number, number] {
  if (pdu.length < 5) throw new ModbusException(EXCEPTION.ILLEGAL_DATA_VALUE);
  const address = pdu.readUInt16BE(1);
  const count = pdu.readUInt16BE(3);
  if (count < 1 || count > max) throw new ModbusException(EXCEPTION.ILLEGAL_DATA_VALUE);
  if (address + count > 0x10000 || !bank.has(table, address, count)) throw new ModbusException(EXCEPTION.ILLEGAL_DATA_ADDRESS);
  return [address, count];
}

/** 6.1 (0x01) and 6.2 (0x02): byte count, then bits packed LSB first, padded with zeros. */
function readBits(bank: RegisterBank, table: Table, pdu: Buffer): Buffer {
  const [address, count] = addressAndQuantity(bank, table, pdu, MAX_READ_BITS);
  bank.beforeRead?.();
  const bytes = Math.ceil(count / 8);
  const out = Buffer.alloc(2 + bytes);
  out[0] = pdu[0] as number;
  out[1] = bytes;
  for (let i = 0; i < count; i++) {
    if (bank.get(table, address + i)) out[2 + (i >> 3)] = (out[2 + (i >> 3)] as number) | (1 << (i & 7));
  }
  return out;
}

/** 6.3 (0x03) and 6.4 (0x04): byte count, then registers big-endian. */
function readRegisters(bank: RegisterBank, table: Table, pdu: Buffer): Buffer {
  const [address, count] = addressAndQuantity(bank, table, pdu, MAX_READ_REGISTERS);
  bank.beforeRead?.();
  const out = Buffer.alloc(2 + 2 * count);
  out[0] = pdu[0] as number;
  out[1] = 2 * count;
  for (let i = 0; i < count; i++) out.writeUInt16BE(bank.get(table, address + i), 2 + 2 * i);
  return out;
}

/** 6.5 (0x05): value 0xFF00 is ON, 0x0000 OFF, anything else 03; the response echoes the request. */
function writeSingleCoil(bank: RegisterBank, pdu: Buffer): Buffer {
  if (pdu.length !== 5) throw new ModbusException(EXCEPTION.ILLEGAL_DATA_VALUE);
  const address = pdu.readUInt16BE(1);
  const value = pdu.readUInt16BE(3);
  if (value !== 0xff00 && value !== 0x0000) throw new ModbusException(EXCEPTION.ILLEGAL_DATA_VALUE);
  if (!bank.has("coils", address)) throw new ModbusException(EXCEPTION.ILLEGAL_DATA_ADDRESS);
  write(bank, "coils", address, [value ? 1 : 0]);
  return Buffer.from(pdu);
}

/** 6.6 (0x06): the response echoes the request. */
function writeSingleRegister(bank: RegisterBank, pdu: Buffer): Buffer {
  if (pdu.length !== 5) throw new ModbusException(EXCEPTION.ILLEGAL_DATA_VALUE);
  const address = pdu.readUInt16BE(1);
  if (!bank.has("holdingRegisters", address)) throw new ModbusException(EXCEPTION.ILLEGAL_DATA_ADDRESS);
  write(bank, "holdingRegisters", address, [pdu.readUInt16BE(3)]);
  return Buffer.from(pdu);
}

/** 6.11 (0x0F): byte count must equal ceil(N/8); the response is address and quantity. */
function writeMultipleCoils(bank: RegisterBank, pdu: Buffer): Buffer {
  const [address, count] = addressAndQuantity(bank, "coils", checkByteCount(pdu, (n) => Math.ceil(n / 8), MAX_WRITE_BITS), MAX_WRITE_BITS);
  const values = Array.from({ length: count }, (_, i) => ((pdu[6 + (i >> 3)] as number) >> (i & 7)) & 1);
  write(bank, "coils", address, values);
  return pdu.subarray(0, 5);
}

/** 6.12 (0x10): byte count must equal 2×N; the response is address and quantity. */
function writeMultipleRegisters(bank: RegisterBank, pdu: Buffer): Buffer {
  const [address, count] = addressAndQuantity(bank, "holdingRegisters", checkByteCount(pdu, (n) => 2 * n, MAX_WRITE_REGISTERS), MAX_WRITE_REGISTERS);
  const values = Array.from({ length: count }, (_, i) => pdu.readUInt16BE(6 + 2 * i));
  write(bank, "holdingRegisters", address, values);
  return pdu.subarray(0, 5);
}

function checkByteCount(pdu: Buffer, expected: (n: number) => number, max: number): Buffer {
  if (pdu.length < 6) throw new ModbusException(EXCEPTION.ILLEGAL_DATA_VALUE);
  const n = pdu.readUInt16BE(3);
  if (n < 1 || n > max || pdu[5] !== expected(n) || pdu.length !== 6 + expected(n)) throw new ModbusException(EXCEPTION.ILLEGAL_DATA_VALUE);
  return pdu;
}

function write(bank: RegisterBank, table: Table, address: number, values: number[]): void {
  bank.set(table, address, values);
  bank.afterWrite?.(table, address, values);
}

/**
 * CRC-16/MODBUS (Modbus over Serial Line V1.02, 6.2.2): reflected polynomial
 * 0xA001, initial 0xFFFF; appended low byte first.
 */
export function crc16(buf: Uint8Array): number {
  let crc = 0xffff;
  for (const byte of buf) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** An RTU frame: address, PDU, CRC low byte first. */
export function rtuFrame(unit: number, pdu: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from([unit]), pdu]);
  const crc = Buffer.alloc(2);
  crc.writeUInt16LE(crc16(body));
  return Buffer.concat([body, crc]);
}

/** An MBAP frame (Modbus Messaging on TCP/IP V1.0b, 3.1.3): transaction, protocol 0, length, unit, PDU. */
export function mbapFrame(transaction: number, unit: number, pdu: Buffer): Buffer {
  const head = Buffer.alloc(7);
  head.writeUInt16BE(transaction & 0xffff, 0);
  head.writeUInt16BE(0, 2);
  head.writeUInt16BE(pdu.length + 1, 4);
  head[6] = unit;
  return Buffer.concat([head, pdu]);
}
