/**
 * One DC-09 listening socket: a TCP server or a UDP socket on one
 * host:port. It cuts frames (FrameSplitter, bounded per connection), hands
 * each to `onFrame` synchronously and sends back the bytes it returns (an
 * answer) or nothing. Bounded: at most `maxConnections` TCP connections
 * (more are closed at once), a connection idle for `idleMs` is closed, a
 * connection's pending bytes never exceed one frame (MAX_FRAME_BYTES), and
 * a sender that does not read its answers is not read from until it does.
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, isIPv6, type Server, type Socket } from "node:net";
import type { Logger } from "pino";
import { FrameSplitter } from "../dc09/index.js";

export type Transport = "tcp" | "udp";

export interface ListenerOptions {
  host: string;
  port: number;
  transport: Transport;
  maxConnections: number;
  idleMs: number;
}

/** Called once per frame; returns the answer to send, or undefined to send nothing. */
export type FrameHandler = (bytes: Buffer, transport: Transport) => Buffer | undefined;

export interface ListenerStats {
  /** Runs of bytes that were not frames (or too long), discarded. */
  discarded: number;
  connections: number;
  refusedConnections: number;
}

export class Dc09Listener {
  readonly stats: ListenerStats = { discarded: 0, connections: 0, refusedConnections: 0 };
  private server: Server | undefined;
  private udp: UdpSocket | undefined;
  private readonly sockets = new Set<Socket>();
  private boundPort = 0;

  private constructor(
    readonly opts: ListenerOptions,
    private readonly onFrame: FrameHandler,
    private readonly log: Logger,
  ) {}

  /** Open and bind; rejects with the system error (EADDRINUSE, EACCES…) when it cannot. */
  static async open(opts: ListenerOptions, onFrame: FrameHandler, log: Logger): Promise<Dc09Listener> {
    const l = new Dc09Listener(opts, onFrame, log);
    if (opts.transport === "tcp") await l.openTcp();
    else await l.openUdp();
    return l;
  }

  /** The port bound (the configured one, or the one the system chose for port 0). */
  get port(): number {
    return this.boundPort;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    const server = this.server;
    const udp = this.udp;
    this.server = undefined;
    this.udp = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
  }

  private handle(bytes: Buffer): Buffer | undefined {
    try {
      return this.onFrame(bytes, this.opts.transport);
    } catch (err) {
      // The handler decides every answer; an exception here is a bug: answer nothing (the panel retries).
      this.log.error({ err }, "DC-09 frame handler failed; no answer sent");
      return undefined;
    }
  }

  private openTcp(): Promise<void> {
    const server = createServer({ noDelay: true }, (sock) => this.onConnection(sock));
    server.maxConnections = this.opts.maxConnections;
    server.on("drop", () => {
      this.stats.refusedConnections++;
    });
    return new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: this.opts.host, port: this.opts.port }, () => {
        server.off("error", reject);
        server.on("error", (err) => this.log.warn({ err }, "DC-09 TCP listener error"));
        const addr = server.address();
        this.boundPort = typeof addr === "object" && addr !== null ? addr.port : this.opts.port;
        this.server = server;
        resolve();
      });
    });
  }

  private onConnection(sock: Socket): void {
    this.stats.connections++;
    this.sockets.add(sock);
    const splitter = new FrameSplitter();
    sock.setTimeout(this.opts.idleMs, () => sock.destroy());
    sock.on("error", () => {}); // "close" follows
    sock.on("close", () => this.sockets.delete(sock));
    sock.on("data", (chunk: Buffer) => {
      for (const item of splitter.push(chunk)) {
        if (item.type === "discarded") {
          this.stats.discarded++;
          continue;
        }
        const answer = this.handle(item.bytes);
        // A sender that does not read its answers must not grow our write buffer: stop reading until it drains.
        if (answer !== undefined && !sock.destroyed && !sock.write(answer) && !sock.isPaused()) {
          sock.pause();
          sock.once("drain", () => sock.resume());
        }
      }
    });
  }

  private openUdp(): Promise<void> {
    const udp = createSocket({ type: isIPv6(this.opts.host) ? "udp6" : "udp4" });
    udp.on("message", (msg, rinfo) => {
      // A datagram is a frame (maybe with padding): nothing is carried over to the next one.
      for (const item of new FrameSplitter().push(msg)) {
        if (item.type === "discarded") {
          this.stats.discarded++;
          continue;
        }
        const answer = this.handle(item.bytes);
        if (answer !== undefined) udp.send(answer, rinfo.port, rinfo.address, () => {});
      }
    });
    return new Promise<void>((resolve, reject) => {
      udp.once("error", (err) => {
        udp.close();
        reject(err);
      });
      udp.bind({ address: this.opts.host, port: this.opts.port }, () => {
        udp.removeAllListeners("error");
        udp.on("error", (err) => this.log.warn({ err }, "DC-09 UDP listener error"));
        this.boundPort = udp.address().port;
        this.udp = udp;
        resolve();
      });
    });
  }
}
