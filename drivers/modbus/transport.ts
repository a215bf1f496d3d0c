/**
 * One shared Modbus connection per endpoint, whatever the unit ids behind it.
 *
 * - Modbus TCP (MBAP framing, "Modbus Messaging on TCP/IP Implementation Guide
 *   V1.0b" §3.1.3): the transaction id matches answers to requests, so
 *   requests are pipelined, up to `maxInFlight` at once.
 * - RTU on a serial bus, and RTU over TCP through a serial gateway: an RTU
 *   frame carries no transaction id ("Modbus over Serial Line V1.02" §2.1: one
 *   request at a time on the bus), so requests go strictly one at a time. A
 *   request the caller abandoned (abort) keeps the bus until modbus-serial's
 *   own timeout ends it, so its late answer cannot be taken for the next one.
 *
 * Every request has modbus-serial's timeout, a backstop deadline of our own
 * and the caller's AbortSignal. We own the socket (linkTCP), because
 * modbus-serial leaves pending requests hanging when the connection drops:
 * on close, every pending request fails at once. Connects are lazy and, after
 * a failure, retried with exponential backoff. No I/O in the constructor.
 */
import net from "node:net";
import modbusSerial from "modbus-serial";
import type { ModbusRTU as Client } from "modbus-serial/ModbusRTU.js";
import type { Logger } from "pino";
import { type ReadRequest, toModbusError, ModbusError, describeRequest } from "./errors.js";
import { BIT_TABLES } from "./profile.js";
import { RtuSocketPort } from "./rtu-socket.js";
import { Slots } from "./slots.js";
import { type Trace, traced } from "../trace.js";
import { connectStep, waitStep } from "./trace.js";

// modbus-serial is CommonJS: under NodeNext its default import is module.exports, whose `default` is the class.
const ModbusRTU = modbusSerial.default;

export type Endpoint =
  | { transport: "tcp"; host: string; port: number } |
  { transport: "rtu_over_tcp"; host: string; port: number } |
  { transport: "rtu"; path: string; baud_rate: number; parity: "none" | "even" | "odd"; data_bits: 7 | 8; stop_bits: 1 | 2 };

export interface TransportSettings {
  /** Deadline of one request, from when it is sent. */
  timeoutMs: number;
  /** Deadline of opening the connection. Default: timeoutMs. */
  connectTimeoutMs?: number;
  /** Requests in flight at once on Modbus TCP (1-256). RTU is always 1. Default 16. */
  maxInFlight?: number;
  /** Close the connection when no poll is running (devices that accept a single client). */
  closeAfterPoll?: boolean;
  /** First wait before reconnecting after a failed connect; doubles up to backoffMaxMs. Default 500. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  log: Logger;
}

export interface ReadAnswer {
  /** Registers (FC 3/4) or bits (FC 1/2, exactly `count` of them). */
  values: number[] | boolean[];
  /** From sending the request to its answer. */
  ms: number;
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** Overrides the transport's timeoutMs for this request (scans use a short one). */
  timeoutMs?: number;
  /**
   * A traced poll (`campus-agent probe`): report waiting for a free slot (the
   * RTU bus), when the request has to, and opening the connection (or why it
   * cannot be opened now), when there is none. The reader gives it to a
   * poll's first request only: the others wait for the poll's own reads and
   * for the connection the first one opens.
   */
  trace?: Trace | undefined;
}

/** The key of an endpoint: one connection per key. */
export function endpointKey(e: Endpoint): string {
  if (e.transport === "rtu") return `rtu:${e.path}`;
  return `${e.transport === "tcp" ? "tcp" : "rtu+tcp"}://${e.host.includes(":") ? `[${e.host}]` : e.host}:${e.port}`;
}

interface Pending {
  fail(err: ModbusError): void;
}

interface Connection {
  client: Client;
  pending: Set<Pending>;
  /** Close on purpose; pending requests fail. */
  destroy(): void;
}

type Callback = (err: unknown, res?: { data: number[] | boolean[] }) => void;

/**
 * modbus-serial keeps every request it sent in `_transactions`, keyed by
 * the port's transaction id, and never deletes one: on Modbus TCP the ids
 * cycle through 256, so a connection holds up to 256 finished requests,
 * each with its timer and our callback's closures (measured: ~150 MB of
 * heap for 200 controllers polled every second). Not in its typings: read
 * through this narrow view, and only ever delete the entry that still
 * holds our own callback.
 */
interface ClientInternals {
  _port?: { _transactionIdWrite?: unknown };
  _transactions?: Record<string, { next?: unknown; _timeoutHandle?: ReturnType<typeof setTimeout> } | undefined>;
}

/** The key under which modbus-serial will keep the next request written on this client. */
function nextTransactionKey(client: Client): string | undefined {
  const id = (client as unknown as ClientInternals)._port?._transactionIdWrite;
  return typeof id === "number" ? String(id) : undefined;
}

/** Drop a finished request from modbus-serial's table (see ClientInternals), if it is still ours there. */
function forgetTransaction(client: Client, key: string | undefined, callback: Callback): void {
  const table = (client as unknown as ClientInternals)._transactions;
  const t = key === undefined ? undefined : table?.[key];
  if (table === undefined || key === undefined || t?.next !== callback) return;
  clearTimeout(t._timeoutHandle);
  delete table[key];
}

// modbus-serial answers a late response's transaction after its timeout; our backstop only guards against it never calling back.
const BACKSTOP_GRACE_MS = 250;

export class ModbusTransport {
  readonly key: string;
  readonly serial: boolean;
  private readonly slots: Slots;
  private conn: Connection | undefined;
  private connecting: Promise<Connection> | undefined;
  private failures = 0;
  private retryAt = 0;
  private lastError: ModbusError | undefined;
  private activePolls = 0;
  private closed = false;
  private inFlight = 0;
  private maxInFlightSeen = 0;

  constructor(
    readonly endpoint: Endpoint,
    private readonly settings: TransportSettings,
  ) {
    this.key = endpointKey(endpoint);
    this.serial = endpoint.transport !== "tcp";
    this.slots = new Slots(this.serial ? 1 : Math.min(256, Math.max(1, settings.maxInFlight ?? 16)));
  }

  /** Counters for tests and diagnostics. */
  get stats(): { connected: boolean; inFlight: number; queued: number; maxInFlightSeen: number; failures: number; libraryTransactions: number } {
    const { inFlight, maxInFlightSeen, failures } = this;
    const table = this.conn === undefined ? undefined : (this.conn.client as unknown as ClientInternals)._transactions;
    const libraryTransactions = table === undefined ? 0 : Object.keys(table).length;
    return { connected: this.conn !== undefined, inFlight, queued: this.slots.waiting, maxInFlightSeen, failures, libraryTransactions };
  }

  /** Read `count` registers or bits from one unit (FC 1-4). Rejects with a ModbusError. */
  async read(req: ReadRequest, opts: RequestOptions = {}): Promise<ReadAnswer> {
    const { signal, trace } = opts;
    if (this.closed) throw new ModbusError("internal", `${this.key}: transport closed`, { retryable: false, request: req });
    if (signal?.aborted) throw this.abortError(req, signal);
    const failure = (e: unknown) => (signal?.aborted ? this.abortError(req, signal) : toModbusError(e, this.key, req));
    const acquire = () =>
      this.slots.acquire(signal).catch((e: unknown) => {
        throw failure(e);
      });
    const queued = trace !== undefined && this.slots.full;
    const where = () => `${this.key} ${describeRequest(req)}`;
    const release = await (queued ? traced(trace, () => waitStep(this.endpoint, this.slots.inUse + this.slots.waiting, where()), acquire) : acquire());
    const had = this.conn ?? this.connecting;
    const opening = this.open();
    const connect = () =>
      raceSignal(opening, signal).catch((e: unknown) => {
        throw failure(e);
      });
    let conn: Connection;
    try {
      conn = await (had === undefined ? traced(trace, () => connectStep(this.endpoint, [where(), this.key]), connect) : connect());
    } catch (e) {
      release();
      throw e;
    }
    return this.send(conn, req, opts.timeoutMs ?? this.settings.timeoutMs, signal, release);
  }

  /** Run one poll. With closeAfterPoll, the connection closes when no poll is left running. */
  async withPoll<T>(fn: () => Promise<T>): Promise<T> {
    this.activePolls++;
    try {
      return await fn();
    } finally {
      this.activePolls--;
      if (this.activePolls === 0 && this.settings.closeAfterPoll === true) this.conn?.destroy();
    }
  }

  /** Close the connection and fail everything pending; later reads fail. */
  close(): Promise<void> {
    this.closed = true;
    this.slots.close(new ModbusError("internal", `${this.key}: transport closed`, { retryable: false }));
    this.conn?.destroy();
    return this.connecting?.then(() => undefined, () => undefined) ?? Promise.resolve();
  }

  private send(conn: Connection, req: ReadRequest, timeoutMs: number, signal: AbortSignal | undefined, release: () => void): Promise<ReadAnswer> {
    return new Promise<ReadAnswer>((resolve, reject) => {
      conn.client.setTimeout(timeoutMs);
      // Where modbus-serial will keep this request, to drop it once done.
      const txKey = nextTransactionKey(conn.client);
      const started = performance.now();
      let answered = false;
      let libDone = false;
      this.inFlight++;
      this.maxInFlightSeen = Math.max(this.maxInFlightSeen, this.inFlight);
      const settle = (err: ModbusError | undefined, answer?: ReadAnswer) => {
        if (answered) return;
        answered = true;
        signal?.removeEventListener("abort", onAbort);
        if (err !== undefined) reject(err);
        else if (answer !== undefined) resolve(answer);
      };
      // The request no longer occupies the connection: free its slot.
      const done = () => {
        if (libDone) return;
        libDone = true;
        clearTimeout(backstop);
        forgetTransaction(conn.client, txKey, callback);
        conn.pending.delete(pending);
        this.inFlight--;
        release();
      };
      const pending: Pending = { fail: (err) => (done(), settle(err)) };
      conn.pending.add(pending);
      const backstop = setTimeout(() => {
        done();
        settle(new ModbusError("timeout", `${this.key} ${describeRequest(req)}: no answer within ${timeoutMs} ms`, { request: req }));
      }, timeoutMs + BACKSTOP_GRACE_MS);
      const onAbort = () => {
        settle(this.abortError(req, signal));
        // RTU: the answer may still come; keep the bus until modbus-serial's timeout ends the request.
        if (!this.serial) done();
      };
      signal?.addEventListener("abort", onAbort, { once: true });

      const callback: Callback = (err, res) => {
        done();
        if (err !== undefined && err !== null) {
          const e = toModbusError(err, this.key, req);
          if (e.code === "timeout" && this.conn === conn) {
            settle(new ModbusError("timeout", `${this.key} ${describeRequest(req)}: unit ${req.unit} did not answer within ${timeoutMs} ms (the connection is up)`, { request: req, cause: err }));
          } else settle(e);
          return;
        }
        this.failures = 0;
        const data = res?.data ?? [];
        // FC 1/2 answers are whole bytes of bits (§6.1): keep the `count` asked for.
        const values = BIT_TABLES.has(req.table) ? (data as boolean[]).slice(0, req.count) : (data as number[]);
        settle(undefined, { values, ms: performance.now() - started });
      };
      const c = conn.client;
      // The callback API takes the unit id per call: setID() would race between pipelined requests.
      if (req.table === "coil") c.writeFC1(req.unit, req.address, req.count, callback);
      else if (req.table === "discrete_input") c.writeFC2(req.unit, req.address, req.count, callback);
      else if (req.table === "holding") c.writeFC3(req.unit, req.address, req.count, callback);
      else c.writeFC4(req.unit, req.address, req.count, callback);
    });
  }

  private abortError(req: ReadRequest, signal: AbortSignal | undefined): ModbusError {
    return new ModbusError("timeout", `${this.key} ${describeRequest(req)}: deadline reached before the device answered`, { request: req, cause: signal?.reason });
  }

  /** The open connection, opening it (once, shared) when there is none. */
  private open(): Promise<Connection> {
    if (this.conn !== undefined) return Promise.resolve(this.conn);
    if (this.connecting !== undefined) return this.connecting;
    const wait = this.retryAt - Date.now();
    if (wait > 0 && this.lastError !== undefined) {
      const last = this.lastError;
      return Promise.reject(new ModbusError(last.code, `${last.message} (next connect attempt in ${Math.ceil(wait)} ms)`, { retryable: true, cause: last }));
    }
    const attempt = this.connect().then(
      (conn) => {
        this.connecting = undefined;
        if (this.closed) {
          conn.destroy();
          throw new ModbusError("internal", `${this.key}: transport closed`, { retryable: false });
        }
        this.conn = conn;
        this.lastError = undefined;
        return conn;
      },
      (e: unknown) => {
        this.connecting = undefined;
        const err = toModbusError(e, this.key);
        this.failures++;
        const base = this.settings.backoffInitialMs ?? 500;
        const delay = Math.min(this.settings.backoffMaxMs ?? 30_000, base * 2 ** (this.failures - 1));
        this.retryAt = Date.now() + delay * (0.8 + 0.4 * Math.random());
        this.lastError = err;
        this.settings.log.debug({ endpoint: this.key, err: err.message, retry_in_ms: delay }, "modbus connect failed");
        throw err;
      },
    );
    this.connecting = attempt;
    return attempt;
  }

  private async connect(): Promise<Connection> {
    const e = this.endpoint;
    const deadlineMs = this.settings.connectTimeoutMs ?? this.settings.timeoutMs;
    let client = new ModbusRTU();
    const pending = new Set<Pending>();
    let conn: Connection | undefined;
    const dropped = (why: string, cause?: unknown) => {
      if (conn === undefined) return;
      const c = conn;
      conn = undefined;
      if (this.conn === c) this.conn = undefined;
      const err = toModbusError(new ModbusError("protocol", `connection lost: ${why}`, { cause }), this.key);
      for (const p of [...pending]) p.fail(err);
    };
    // modbus-serial re-emits serial port errors; an unhandled 'error' event would crash the process.
    client.on("error", (err: unknown) => this.settings.log.debug({ endpoint: this.key, err }, "modbus port error"));

    if (e.transport === "rtu") {
      const serialOptions = { baudRate: e.baud_rate, parity: e.parity, dataBits: e.data_bits, stopBits: e.stop_bits };
      await withDeadline(client.connectRTUBuffered(e.path, serialOptions), deadlineMs, () => client.close(() => {}));
      client.on("close", () => dropped("serial port closed"));
      conn = { client, pending, destroy: () => (dropped("closed by the agent"), client.close(() => {})) };
    } else {
      const socket = await connectSocket(e.host, e.port, deadlineMs);
      socket.on("error", (err) => this.settings.log.debug({ endpoint: this.key, err }, "modbus socket error"));
      socket.on("close", () => dropped("the endpoint closed the connection"));
      if (e.transport === "tcp") await client.linkTCP(socket, { port: e.port });
      else {
        client = new ModbusRTU(new RtuSocketPort(socket));
        client.on("error", (err: unknown) => this.settings.log.debug({ endpoint: this.key, err }, "modbus port error"));
        await openPort(client);
      }
      conn = { client, pending, destroy: () => (dropped("closed by the agent"), socket.destroy()) };
    }
    return conn;
  }
}

/** ModbusRTU.open() with a port that carries raw RTU frames on the socket (see rtu-socket.ts). */
function openPort(client: Client): Promise<void> {
  return new Promise((resolve, reject) => client.open((err?: Error) => (err ? reject(err) : resolve())));
}

function connectSocket(host: string, port: number, deadlineMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error("TCP Connection Timed Out"), { code: "ETIMEDOUT" }));
    }, deadlineMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(socket);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}

function withDeadline<T>(p: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      onTimeout();
      reject(Object.assign(new Error("TCP Connection Timed Out"), { code: "ETIMEDOUT" }));
    }, ms);
    p.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (err: unknown) => (clearTimeout(timer), reject(err)),
    );
  });
}

function raceSignal<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => (signal.removeEventListener("abort", onAbort), resolve(v)),
      (err: unknown) => (signal.removeEventListener("abort", onAbort), reject(err)),
    );
  });
}

/**
 * One transport per endpoint, shared by the devices behind it (unit ids on
 * one serial line, one gateway, one controller), reference-counted: a
 * device acquires the transport of its endpoint, and the connection is
 * closed when the last device using it is released. The endpoint's
 * settings are those given by the first device that opened it.
 */
export class EndpointPool {
  private readonly byKey = new Map<string, { transport: ModbusTransport; devices: Set<string> }>();
  private readonly keyOf = new Map<string, string>();
  constructor(private readonly log: Logger) {}

  acquire(deviceId: string, endpoint: Endpoint, settings: Omit<TransportSettings, "log">): ModbusTransport {
    const key = endpointKey(endpoint);
    const previous = this.keyOf.get(deviceId);
    // The device moved (options changed without a release): leave the old endpoint first.
    if (previous !== undefined && previous !== key) void this.release(deviceId);
    let shared = this.byKey.get(key);
    if (shared === undefined) {
      shared = { transport: new ModbusTransport(endpoint, { ...settings, log: this.log.child({ endpoint: key }) }), devices: new Set() };
      this.byKey.set(key, shared);
    }
    shared.devices.add(deviceId);
    this.keyOf.set(deviceId, key);
    return shared.transport;
  }

  /** Drop a device; close its endpoint's connection when no device is left on it. */
  release(deviceId: string): Promise<void> {
    const key = this.keyOf.get(deviceId);
    this.keyOf.delete(deviceId);
    const shared = key === undefined ? undefined : this.byKey.get(key);
    if (key === undefined || shared === undefined) return Promise.resolve();
    shared.devices.delete(deviceId);
    if (shared.devices.size > 0) return Promise.resolve();
    this.byKey.delete(key);
    return shared.transport.close();
  }

  /** Endpoints open, for tests and diagnostics. */
  get size(): number {
    return this.byKey.size;
  }

  async close(): Promise<void> {
    const all = [...this.byKey.values()];
    this.byKey.clear();
    this.keyOf.clear();
    await Promise.all(all.map((s) => s.transport.close()));
  }
}
