/**
 * A simulated network device: one TCP port answering minimal HTTP/1.1, with
 * fault injection. Used in-process by tests and by the demo campus, and as a
 * CLI (see the bottom of this file).
 *
 * Behaviours (chosen per connection, when it arrives):
 * - normal     answer every request with http.status after http.delayMs
 * - slow       the same, slowDelayMs later
 * - unhealthy  answer with unhealthyStatus (503): alive but unwell
 * - garbage    answer the first bytes received with bytes that are not HTTP
 * - blackhole  accept, read, never answer
 * - reset      accept, then reset the connection at once
 * - refuse     stop listening: connects are refused; open connections are dropped
 * A cycle of phases ({ cycle: [{ behaviour, forMs }, ...] }) repeats from the
 * moment it is set: flap() builds the usual "down N s every M s" one.
 *
 * Node builtins only: the compiled file must run without node_modules.
 */
import { STATUS_CODES } from "node:http";
import net from "node:net";
import tls from "node:tls";
import { parseArgs } from "node:util";
import { isMain, listenOn, untilShutdown } from "./process.js";

export const BEHAVIOURS = ["normal", "slow", "unhealthy", "garbage", "blackhole", "reset", "refuse"] as const;
export type Behaviour = (typeof BEHAVIOURS)[number];
export interface Phase {
  behaviour: Behaviour;
  forMs: number;
}
export type BehaviourSpec = Behaviour | { cycle: readonly Phase[] };

/** Up for upMs, then `down` (default: refusing connections) for downMs, repeated. */
export function flap(upMs: number, downMs: number, down: Behaviour = "refuse"): BehaviourSpec {
  return {
    cycle: [
      { behaviour: "normal", forMs: upMs },
      { behaviour: down, forMs: downMs },
    ],
  };
}

export interface NetDeviceHttp {
  /** Status of a normal answer (default 200). */
  status?: number;
  /** Added before every answer (default 0). */
  delayMs?: number;
  /** Body of a normal answer (default "OK\n"). */
  body?: string;
  /** Answer with this many filler bytes instead of body (huge-body tests). */
  bodyBytes?: number;
}

export interface NetDeviceOptions {
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** 0 (default) picks a free port. */
  tcpPort?: number;
  http?: NetDeviceHttp;
  /** Speak HTTPS with this PEM key and certificate. */
  tls?: { key: string | Buffer; cert: string | Buffer };
  behaviour?: BehaviourSpec;
  /** Extra delay of the "slow" behaviour (default 1500 ms). */
  slowDelayMs?: number;
  /** Status of the "unhealthy" behaviour (default 503). */
  unhealthyStatus?: number;
  /** What "garbage" sends (default: a binary banner). */
  garbage?: string | Buffer;
  /** Connections idle this long are dropped, so clients that vanish cost nothing (default 60 s). */
  idleTimeoutMs?: number;
}

export interface NetDevice {
  readonly host: string;
  readonly port: number;
  /** Base URL, e.g. http://127.0.0.1:41234/ (any path gets the same answer). */
  readonly url: string;
  /** The behaviour in force now (the current phase of a cycle). */
  behaviour(): Behaviour;
  /** Resolves once the new behaviour is in force (for refuse: the port is closed). */
  setBehaviour(spec: BehaviourSpec): Promise<void>;
  /** Connections accepted and requests read since start. */
  stats(): { connections: number; requests: number };
  close(): Promise<void>;
}

const DEFAULT_GARBAGE = Buffer.concat([Buffer.from([0x00, 0xff, 0xfe, 0x15, 0x03]), Buffer.from(" not http at all\r\n\r\n")]);
const MAX_HEAD_BYTES = 16 * 1024;
const FILLER = Buffer.alloc(64 * 1024, "x");

export async function startNetDevice(opts: NetDeviceOptions = {}): Promise<NetDevice> {
  const sim = new NetDeviceSim(opts);
  await sim.start(opts.behaviour ?? "normal");
  return sim;
}

class NetDeviceSim implements NetDevice {
  readonly host: string;
  port: number;
  private server: net.Server | undefined;
  private current: Behaviour = "normal";
  private readonly sockets = new Set<net.Socket>();
  private cycleTimer: NodeJS.Timeout | undefined;
  /** Behaviour changes run one after another: a cycle tick and setBehaviour must not interleave listen/close. */
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private counts = { connections: 0, requests: 0 };

  constructor(private readonly opts: NetDeviceOptions) {
    this.host = opts.host ?? "127.0.0.1";
    this.port = opts.tcpPort ?? 0;
  }

  get url(): string {
    const host = this.host.includes(":") ? `[${this.host}]` : this.host;
    return `${this.opts.tls ? "https" : "http"}://${host}:${this.port}/`;
  }

  behaviour(): Behaviour {
    return this.current;
  }

  stats() {
    return { ...this.counts };
  }

  async start(spec: BehaviourSpec): Promise<void> {
    // Listen first even when starting as "refuse", so an ephemeral port is chosen and known.
    await this.listen();
    await this.setBehaviour(spec);
  }

  setBehaviour(spec: BehaviourSpec): Promise<void> {
    clearTimeout(this.cycleTimer);
    this.cycleTimer = undefined;
    if (typeof spec === "string") return this.enqueue(spec);
    if (spec.cycle.length === 0 || spec.cycle.some((p) => !(p.forMs > 0))) {
      return Promise.reject(new Error("a cycle needs at least one phase, each with forMs > 0"));
    }
    const enter = (i: number): Promise<void> => {
      const phase = spec.cycle[i % spec.cycle.length] as Phase;
      this.cycleTimer = setTimeout(() => void enter(i + 1), phase.forMs);
      // The cycle must not keep a test process (or a closing campus) alive.
      this.cycleTimer.unref();
      return this.enqueue(phase.behaviour);
    };
    return enter(0);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.cycleTimer);
    await this.chain;
    await this.stopListening();
  }

  private enqueue(b: Behaviour): Promise<void> {
    const next = this.chain.then(() => this.apply(b));
    // A failed transition (port taken while refusing) must not block later ones.
    this.chain = next.catch((e: unknown) => {
      process.emitWarning(`netdevice ${this.host}:${this.port}: ${(e as Error).message}`);
    });
    return next;
  }

  private async apply(b: Behaviour): Promise<void> {
    if (this.closed) return;
    this.current = b;
    if (b === "refuse") await this.stopListening();
    else if (!this.server) await this.listen();
  }

  private async listen(): Promise<void> {
    const server = this.opts.tls
      ? tls.createServer({ key: this.opts.tls.key, cert: this.opts.tls.cert }).on("secureConnection", (s) => this.onSocket(s))
      : net.createServer((s) => this.onSocket(s));
    // A client that fails the TLS handshake (an untrusting client) is expected.
    server.on("tlsClientError", () => {});
    this.port = await listenOn(server, this.host, this.port);
    this.server = server;
  }

  private stopListening(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (!server) return Promise.resolve();
    // server.close() stops accepting at once; its callback waits for the
    // (already destroyed) connections to finish closing.
    return new Promise((resolve) => server.close(() => resolve()));
  }

  private onSocket(socket: net.Socket): void {
    const b = this.current;
    this.counts.connections++;
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    // Clients vanish mid-answer (deadlines, capped bodies): nothing to report.
    socket.on("error", () => socket.destroy());
    socket.setTimeout(this.opts.idleTimeoutMs ?? 60_000, () => socket.destroy());
    if (b === "reset") {
      // resetAndDestroy sends RST; a TLS socket has no TCP handle of its own to reset.
      if (socket instanceof tls.TLSSocket) socket.destroy();
      else socket.resetAndDestroy();
      return;
    }
    let head = "";
    let answered = false;
    socket.on("data", (chunk: Buffer) => {
      if (answered) return;
      if (b === "garbage") {
        answered = true;
        socket.end(this.opts.garbage ?? DEFAULT_GARBAGE);
        return;
      }
      head += chunk.toString("latin1");
      if (head.length > MAX_HEAD_BYTES) {
        socket.destroy();
        return;
      }
      if (!head.includes("\r\n\r\n")) return;
      answered = true;
      this.counts.requests++;
      if (b === "blackhole") return;
      const method = head.slice(0, head.indexOf(" "));
      const delay = (this.opts.http?.delayMs ?? 0) + (b === "slow" ? (this.opts.slowDelayMs ?? 1500) : 0);
      const timer = setTimeout(() => this.answer(socket, method, b), delay);
      socket.once("close", () => clearTimeout(timer));
    });
  }

  private answer(socket: net.Socket, method: string, b: Behaviour): void {
    const h = this.opts.http ?? {};
    const unhealthy = b === "unhealthy";
    const status = unhealthy ? (this.opts.unhealthyStatus ?? 503) : (h.status ?? 200);
    const phrase = STATUS_CODES[status] ?? "Status";
    // The configured body is the device's normal answer; an unhealthy one says why.
    const text = unhealthy ? `${phrase}\n` : (h.body ?? (status === 200 ? "OK\n" : `${phrase}\n`));
    const filler = unhealthy ? undefined : h.bodyBytes;
    const length = filler ?? Buffer.byteLength(text);
    socket.write(
      `HTTP/1.1 ${status} ${phrase}\r\n` +
      `Content-Type: text/plain\r\nContent-Length: ${length}\r\nServer: campus-sim-netdevice\r\nConnection: close\r\n\r\n`,
    );
    if (method === "HEAD") socket.end();
    else if (filler === undefined) socket.end(text);
    else pumpFiller(socket, filler);
  }
}

/** Write n filler bytes, respecting backpressure, stopping if the client goes away. */
function pumpFiller(socket: net.Socket, n: number): void {
  let left = n;
  const pump = () => {
    while (left > 0 && !socket.destroyed) {
      const chunk = left >= FILLER.length ? FILLER : FILLER.subarray(0, left);
      left -= chunk.length;
      if (!socket.write(chunk)) {
        socket.once("drain", pump);
        return;
      }
    }
    if (!socket.destroyed) socket.end();
  };
  pump();
}

/** CLI arguments → options. Exported so the parsing is tested without a process. */
export function parseNetDeviceArgs(argv: string[]): NetDeviceOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "0" },
      behaviour: { type: "string", default: "normal" },
      "up-ms": { type: "string", default: "40000" },
      "down-ms": { type: "string", default: "20000" },
      "down-behaviour": { type: "string", default: "refuse" },
      cycle: { type: "string" },
      status: { type: "string" },
      "delay-ms": { type: "string" },
      body: { type: "string" },
      "body-bytes": { type: "string" },
      "slow-ms": { type: "string" },
      "unhealthy-status": { type: "string" },
    },
  });
  const int = (name: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name}: expected a non-negative integer, got "${v}"`);
    return n;
  };
  const behaviourOf = (name: string, v: string): Behaviour => {
    if ((BEHAVIOURS as readonly string[]).includes(v)) return v as Behaviour;
    throw new Error(`--${name}: expected one of ${BEHAVIOURS.join(", ")}${name === "behaviour" ? ", flap" : ""}; got "${v}"`);
  };
  let behaviour: BehaviourSpec;
  if (values.cycle !== undefined) {
    // --cycle normal:40000,refuse:20000
    behaviour = {
      cycle: values.cycle.split(",").map((p) => {
        const [b = "", forMs] = p.split(":");
        return { behaviour: behaviourOf("cycle", b), forMs: int("cycle", forMs) ?? 0 };
      }),
    };
  } else if (values.behaviour === "flap") {
    behaviour = flap(
      int("up-ms", values["up-ms"]) ?? 0,
      int("down-ms", values["down-ms"]) ?? 0,
      behaviourOf("down-behaviour", values["down-behaviour"]),
    );
  } else {
    behaviour = behaviourOf("behaviour", values.behaviour);
  }
  const http: NetDeviceHttp = {};
  const status = int("status", values.status);
  if (status !== undefined) http.status = status;
  const delayMs = int("delay-ms", values["delay-ms"]);
  if (delayMs !== undefined) http.delayMs = delayMs;
  if (values.body !== undefined) http.body = values.body;
  const bodyBytes = int("body-bytes", values["body-bytes"]);
  if (bodyBytes !== undefined) http.bodyBytes = bodyBytes;
  const opts: NetDeviceOptions = { host: values.host, tcpPort: int("port", values.port) ?? 0, behaviour, http };
  const slow = int("slow-ms", values["slow-ms"]);
  if (slow !== undefined) opts.slowDelayMs = slow;
  const unhealthy = int("unhealthy-status", values["unhealthy-status"]);
  if (unhealthy !== undefined) opts.unhealthyStatus = unhealthy;
  return opts;
}

async function main(): Promise<void> {
  let opts: NetDeviceOptions;
  try {
    opts = parseNetDeviceArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`netdevice: ${(e as Error).message}\n`);
    process.exit(2);
  }
  // Handlers first: until they exist, a SIGTERM right after READY would kill us uncleanly.
  const stop = untilShutdown({ watchParent: false });
  const dev = await startNetDevice(opts);
  process.stdout.write(`READY ${JSON.stringify({ url: dev.url, port: dev.port })}\n`);
  await stop;
  await dev.close();
}

if (isMain(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`netdevice: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
