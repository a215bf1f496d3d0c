/**
 * Turning what modbus-serial, node:net and serialport report into DriverErrors
 * with a reason code. Pure: tests feed it synthetic errors.
 *
 * modbus-serial reports a Modbus exception response (function code | 0x80,
 * Modbus Application Protocol v1.1b3 §7) as an Error with `modbusCode`, and
 * its timeouts and "Port Not Open" as plain objects with `errno` and
 * `message`, not Errors (PRODUCT.md).
 */
import { DriverError } from "../contract.js";
import { CLOSED, errnoCode, UNREACHABLE } from "../net-errors.js";
import type { Table } from "./profile.js";

/** One read, as the transport sends it. */
export interface ReadRequest {
  unit: number;
  table: Table;
  /** 0-based address. */
  address: number;
  count: number;
}

/** Exception codes of §7 that have a reason of their own. */
export const EXCEPTION = {
  ILLEGAL_FUNCTION: 0x01,
  ILLEGAL_DATA_ADDRESS: 0x02,
  ILLEGAL_DATA_VALUE: 0x03,
  SERVER_DEVICE_FAILURE: 0x04,
  ACKNOWLEDGE: 0x05,
  SERVER_DEVICE_BUSY: 0x06,
  GATEWAY_PATH_UNAVAILABLE: 0x0a,
  GATEWAY_TARGET_FAILED: 0x0b,
} as const;

/** A failed Modbus request: a DriverError that keeps the request and the exception code, if any. */
export class ModbusError extends DriverError {
  readonly request: ReadRequest | undefined;
  /** The exception code of the device's exception response (§7), when it sent one. */
  readonly exception: number | undefined;
  constructor(code: string, message: string, options: { retryable?: boolean; cause?: unknown; request?: ReadRequest; exception?: number }) {
    super(code, message, options);
    this.request = options.request;
    this.exception = options.exception;
  }
}

const FC: Readonly<Record<Table, number>> = { coil: 1, discrete_input: 2, holding: 3, input: 4 };

export function describeRequest(r: ReadRequest): string {
  const last = r.address + r.count - 1;
  return `unit ${r.unit} FC ${FC[r.table]} ${r.table} ${r.address}${r.count > 1 ? `-${last}` : ""}`;
}

/** The exception code of a modbus-serial error, if it is an exception response. */
export function exceptionCode(err: unknown): number | undefined {
  const c = (err as { modbusCode?: unknown } | null)?.modbusCode;
  return typeof c === "number" ? c : undefined;
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  const m = (err as { message?: unknown } | null)?.message;
  return typeof m === "string" ? m : String(err);
}

/**
 * Classify a failed request. `where` names the endpoint; `request` (when the
 * failure belongs to one read) is named in the message and kept on the error.
 */
export function toModbusError(err: unknown, where: string, request?: ReadRequest): ModbusError {
  if (err instanceof ModbusError) return err;
  const what = request === undefined ? where : `${where} ${describeRequest(request)}`;
  const make = (reason: string, message: string, retryable = true, exception?: number) =>
    new ModbusError(reason, `${what}: ${message}`, { retryable, cause: err, request, exception });
  if (err instanceof DriverError) return make(err.code, err.message, err.retryable);

  const ex = exceptionCode(err);
  if (ex !== undefined) return fromException(ex, make);

  const message = messageOf(err);
  const code = errnoCode(err) ?? (err as { errno?: unknown } | null)?.errno;
  // modbus-serial's "Port Not Open" carries errno ECONNREFUSED: it means our connection is gone, not a refusal.
  if (message === "Port Not Open") return make("protocol", "the connection closed before the request was sent");
  if (code === "ETIMEDOUT" || message === "Timed out") return make("timeout", "no answer within the timeout");
  if (message === "TCP Connection Timed Out") return make("timeout", "the connection could not be made within the timeout");
  if (code === "ECONNREFUSED") return make("refused", "connection refused (nothing listening on that port)");
  if (typeof code === "string" && UNREACHABLE.has(code)) return make("unreachable", `no route to the endpoint (${code})`);
  if (code === "ENOTFOUND") return make("dns", "the name does not resolve", false);
  if (code === "EAI_AGAIN") return make("dns", "the name server did not answer");
  if (typeof code === "string" && CLOSED.has(code)) return make("protocol", `the connection was reset (${code})`);
  // serialport open errors: "Error: No such file or directory, cannot open /dev/ttyUSB0"
  if (code === "ENOENT" || /No such file or directory/.test(message)) return make("unreachable", `serial port not found (${message})`);
  if (code === "EACCES" || /Permission denied/.test(message)) return make("config", `no permission to open the serial port (${message})`, false);
  if (/CRC error|Data length error|Unexpected data|Invalid/i.test(message)) return make("protocol", `garbled answer (${message})`);
  return make("internal", `unexpected error: ${message}`);
}

function fromException(ex: number, make: (reason: string, message: string, retryable?: boolean, exception?: number) => ModbusError) {
  const hex = `0x${ex.toString(16).padStart(2, "0")}`;
  switch (ex) {
    // §7 01/02/03: the request is wrong for this device: the profile or the unit id is wrong. Not retryable.
    case EXCEPTION.ILLEGAL_FUNCTION:
      return make("config", "exception 01 illegal function: the device does not support this function code", false, ex);
    case EXCEPTION.ILLEGAL_DATA_ADDRESS:
      return make("config", "exception 02 illegal data address: the device has no such register (check the profile)", false, ex);
    case EXCEPTION.ILLEGAL_DATA_VALUE:
      return make("config", "exception 03 illegal data value: the device refuses this quantity (check the profile)", false, ex);
    case EXCEPTION.SERVER_DEVICE_FAILURE:
      return make("protocol", "exception 04 server device failure: the device reports an internal error", true, ex);
    // 05 Acknowledge: accepted but not done yet; for a read it means "ask again later", like busy.
    case EXCEPTION.ACKNOWLEDGE:
    case EXCEPTION.SERVER_DEVICE_BUSY:
      return make("busy", `exception ${hex} server busy: retry later`, true, ex);
    case EXCEPTION.GATEWAY_PATH_UNAVAILABLE:
      return make("gateway_path", "exception 0A gateway path unavailable: the gateway answers but has no path to this unit", true, ex);
    case EXCEPTION.GATEWAY_TARGET_FAILED:
      return make("gateway_target", "exception 0B gateway target failed to respond: the gateway is fine, the device behind it is not answering", true, ex);
    default:
      return make("protocol", `exception ${hex}`, true, ex);
  }
}
