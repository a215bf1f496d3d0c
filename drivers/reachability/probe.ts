/**
 * The I/O of one reachability poll: TCP connect, optional TLS handshake and
 * one HTTP request, all under the poll's AbortSignal.
 *
 * Every socket a poll opens is registered in its PollScope, which destroys
 * them all when the poll ends, whichever way it ends (answer, error, abort).
 * Nothing is kept between polls: a dead device costs nothing between polls,
 * and an embedded web server never sees an idle connection held open.
 */
import { readFile } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import tls from "node:tls";
import type { Clock } from "../../agent/clock.js";
import { DriverError, raceAbort } from "../contract.js";
import type { HttpHead } from "../trace.js";
import { certificateError, type Phase, toDriverError } from "./errors.js";
import type { HttpCheck, Target } from "./options.js";

const USER_AGENT = "campus-edge-agent reachability";

/** Owns the sockets of one poll and destroys them on abort and at the end. */
export class PollScope {
  private readonly sockets = new Set<net.Socket>();
  private readonly onAbort = () => this.destroyAll();
  constructor(readonly signal: AbortSignal) {
    signal.addEventListener("abort", this.onAbort, { once: true });
  }

  track<S extends net.Socket>(socket: S): S {
    this.sockets.add(socket);
    // Errors are reported through the step that is waiting; one arriving after
    // that (a reset while we are destroying) must not crash the process.
    socket.on("error", () => {});
    if (this.signal.aborted) socket.destroy();
    return socket;
  }

  /** Run one step; the deadline rejects it with "timeout" even if the step never settles. */
  step<T>(phase: Phase, where: string, run: (resolve: (v: T) => void, reject: (e: unknown) => void) => void): Promise<T> {
    const inner = new Promise<T>(run).catch((e: unknown) => {
      throw toDriverError(e, phase, where);
    });
    return raceAbort(inner, this.signal);
  }

  /**
   * The TLS socket now owns the raw one: destroying it destroys both. The raw
   * socket must not be destroyed first — on Node 20, destroying the socket
   * under a connected TLSSocket and then the TLSSocket segfaults the process
   * (TLS over an existing socket ignores its closing: nodejs/node#49327).
   */
  adopt(raw: net.Socket, wrapper: tls.TLSSocket): tls.TLSSocket {
    this.sockets.delete(raw);
    return this.track(wrapper);
  }

  destroyAll(): void {
    // Newest first: a wrapper before what it wraps, should adopt() be missed.
    for (const s of [...this.sockets].reverse()) s.destroy();
    this.sockets.clear();
  }

  dispose(): void {
    this.signal.removeEventListener("abort", this.onAbort);
    this.destroyAll();
  }
}

export interface Connected {
  socket: net.Socket;
  connectMs: number;
  /** Time spent resolving the name, when the host was a name. */
  dnsMs?: number;
}

export function tcpConnect(scope: PollScope, target: Target, clock: Clock): Promise<Connected> {
  const now = () => clock.monotonic();
  const where = `tcp ${target.host}:${target.port}`;
  return scope.step<Connected>("connect", where, (resolve, reject) => {
    const start = now();
    let lookedUp: number | undefined;
    const socket = scope.track(net.connect({ host: target.host, port: target.port }));
    socket.once("lookup", (err: Error | null) => {
      if (!err) lookedUp = now();
    });
    socket.once("connect", () => {
      const end = now();
      resolve({
        socket,
        connectMs: end - (lookedUp ?? start),
        ...(lookedUp !== undefined ? { dnsMs: lookedUp - start } : {}),
      });
    });
    socket.once("error", reject);
  });
}

export interface TlsResult {
  socket: tls.TLSSocket;
  handshakeMs: number;
  certDaysLeft: number | null;
}

export async function tlsHandshake(scope: PollScope, raw: net.Socket, url: URL, check: HttpCheck, clock: Clock): Promise<TlsResult> {
  const now = () => clock.monotonic();
  const where = `tls ${url.host}`;
  let ca: Buffer | undefined;
  if (check.ca_file !== undefined) {
    try {
      ca = await raceAbort(readFile(check.ca_file), scope.signal);
    } catch (e) {
      if (e instanceof DriverError) throw e;
      throw new DriverError("config", `cannot read ca_file ${check.ca_file}: ${(e as Error).message}`, { retryable: false, cause: e });
    }
  }
  const servername = net.isIP(url.hostname) === 0 ? url.hostname : undefined;
  return scope.step<TlsResult>("tls", where, (resolve, reject) => {
    const start = now();
    // Verification is decided here, not by node: rejectUnauthorized would
    // destroy the socket with an error indistinguishable from a handshake
    // failure, and a bad certificate is not retryable while a failed
    // handshake may be.
    const socket = scope.adopt(
      raw,
      tls.connect({
        socket: raw,
        servername,
        rejectUnauthorized: false,
        ...(ca ? { ca } : {}),
        // Checked by node against servername or, for IP URLs, this host.
        host: url.hostname.replace(/^\[|\]$/g, ""),
      }),
    );
    socket.once("secureConnect", () => {
      if (check.tls_verify === "full" && !socket.authorized) {
        reject(certificateError(socket.authorizationError, where));
        return;
      }
      const validTo = socket.getPeerCertificate()?.valid_to;
      const expires = validTo ? Date.parse(validTo) : Number.NaN;
      resolve({
        socket,
        handshakeMs: now() - start,
        certDaysLeft: Number.isNaN(expires) ? null : Math.floor((expires - clock.now()) / 86_400_000),
      });
    });
    socket.once("error", reject);
  });
}

export interface HttpResult {
  status: number;
  /** Request sent to last body byte read (or headers, for HEAD / max_body_bytes 0). */
  responseMs: number;
  bodyBytes: number;
  /** The body was longer than max_body_bytes; the rest was not read. */
  bodyCapped: boolean;
  server: string | null;
  /** The response itself, for a traced poll's raw answer (its status line and headers). */
  head: HttpHead;
}

export function httpExchange(scope: PollScope, socket: net.Socket, url: URL, check: HttpCheck, clock: Clock): Promise<HttpResult> {
  const now = () => clock.monotonic();
  const where = `${check.method} ${url.href}`;
  return scope.step<HttpResult>("http", where, (resolve, reject) => {
    const start = now();
    const req = http.request({
      // The connection is ours (already connected, maybe TLS): no agent, no pool.
      createConnection: () => socket,
      method: check.method,
      host: url.hostname,
      path: `${url.pathname}${url.search}`,
      headers: { host: url.host, "user-agent": USER_AGENT, accept: "*/*", connection: "close" },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      let bodyBytes = 0;
      let settled = false;
      const finish = (bodyCapped: boolean) => {
        if (settled) return;
        settled = true;
        const server = res.headers.server;
        resolve({
          status: res.statusCode ?? 0,
          responseMs: now() - start,
          bodyBytes,
          bodyCapped,
          server: typeof server === "string" ? server.slice(0, 120) : null,
          head: res,
        });
        // Stop the download here; PollScope destroys the socket.
        res.destroy();
      };
      res.on("error", (e) => {
        if (!settled) reject(e);
      });
      res.on("aborted", () => {
        if (!settled) reject(Object.assign(new Error("response body cut short"), { code: "ECONNRESET" }));
      });
      res.on("data", (chunk: Buffer) => {
        bodyBytes += chunk.length;
        if (bodyBytes > check.max_body_bytes) {
          bodyBytes = check.max_body_bytes;
          finish(true);
        }
      });
      res.on("end", () => finish(false));
      if (check.max_body_bytes === 0 && check.method === "GET") finish(false);
    });
    req.end();
  });
}
