/**
 * `campus-agent test-alarm` for a DC-09 account: the agent sends one
 * message to its own listener, as the panel would, and reads the answer.
 * One frame out, one answer back, timed; TCP or UDP; bounded by the
 * request's signal.
 */
import { createSocket } from "node:dgram";
import { connect, isIPv6 } from "node:net";
import { performance } from "node:perf_hooks";
import type { TestAlarmStep } from "../contract.js";
import { DriverError } from "../contract.js";
import { FrameSplitter, parseFrame } from "../dc09/index.js";
import type { Transport } from "./listener.js";
import { roundMs } from "../trace.js";

export interface SendOnce {
  transport: Transport;
  host: string;
  port: number;
  frame: Buffer;
  signal: AbortSignal;
}

export interface SentOnce {
  /** The answer's token: ACK, NAK, DUH (or what else came back). */
  answer: string;
  steps: TestAlarmStep[];
}

const ms = (from: number) => roundMs(performance.now() - from);

/** Send `frame`, resolve with the first answer frame. Rejects (DriverError) on a socket error, a close or the signal. */
export function sendOnce(req: SendOnce): Promise<SentOnce> {
  return req.transport === "tcp" ? overTcp(req) : overUdp(req);
}

/** The first answer frame in `bytes` (a TCP chunk or a datagram), or undefined; throws when it is not a DC-09 frame. */
function firstAnswer(splitter: FrameSplitter, bytes: Buffer): string | undefined {
  for (const item of splitter.push(bytes)) {
    if (item.type !== "frame") continue;
    try {
      return parseFrame(item.bytes).header.token;
    } catch (e) {
      throw new DriverError("protocol", `the answer is not a DC-09 frame: ${(e as Error).message}`, { cause: e });
    }
  }
  return undefined;
}

/**
 * One exchange on a socket: `start` opens it and calls `done` once (an
 * answer, or an error); the socket is closed through `close` whatever the
 * outcome, and the request's signal ends it with a timeout.
 */
function exchange(req: SendOnce, start: (done: (err: Error | undefined, out?: SentOnce) => void) => { close(): void }): Promise<SentOnce> {
  return new Promise<SentOnce>((resolve, reject) => {
    let settled = false;
    const handle: { close?: () => void } = {};
    const done = (err: Error | undefined, out?: SentOnce) => {
      if (settled) return;
      settled = true;
      req.signal.removeEventListener("abort", onAbort);
      handle.close?.();
      if (err !== undefined) reject(err);
      else if (out !== undefined) resolve(out);
    };
    const onAbort = () => done(new DriverError("timeout", `no answer from ${req.host}:${req.port} (${req.transport}) before the deadline`));
    if (req.signal.aborted) return onAbort();
    req.signal.addEventListener("abort", onAbort, { once: true });
    const opened = start(done);
    handle.close = () => opened.close();
    if (settled) opened.close();
  });
}

const unreachable = (req: SendOnce, e: NodeJS.ErrnoException) =>
  new DriverError("listen", `cannot reach the DC-09 listener at ${req.host}:${req.port} (${req.transport}): ${e.code ?? e.message}`, { cause: e });

function overTcp(req: SendOnce): Promise<SentOnce> {
  return exchange(req, (done) => {
    const steps: TestAlarmStep[] = [];
    const started = performance.now();
    let sentAt = started;
    const sock = connect({ host: req.host, port: req.port, noDelay: true });
    const splitter = new FrameSplitter();
    sock.once("connect", () => {
      steps.push({ step: "connect", ms: ms(started), detail: `tcp ${req.host}:${req.port}` });
      sentAt = performance.now();
      sock.write(req.frame);
    });
    sock.on("data", (chunk: Buffer) => {
      try {
        const answer = firstAnswer(splitter, chunk);
        if (answer === undefined) return;
        steps.push({ step: "answer", ms: ms(sentAt), detail: `${answer} (stored before the answer)` });
        done(undefined, { answer, steps });
      } catch (e) {
        done(e as Error);
      }
    });
    sock.once("error", (e: NodeJS.ErrnoException) => done(unreachable(req, e)));
    sock.once("close", () => done(new DriverError("protocol", `the DC-09 listener at ${req.host}:${req.port} closed the connection without an answer`)));
    return { close: () => sock.destroy() };
  });
}

function overUdp(req: SendOnce): Promise<SentOnce> {
  return exchange(req, (done) => {
    const udp = createSocket(isIPv6(req.host) ? "udp6" : "udp4");
    const sentAt = performance.now();
    udp.on("message", (msg, rinfo) => {
      if (rinfo.port !== req.port) return;
      try {
        const answer = firstAnswer(new FrameSplitter(), msg);
        if (answer !== undefined) done(undefined, { answer, steps: [{ step: "answer", ms: ms(sentAt), detail: `${answer} (stored before the answer)` }] });
      } catch (e) {
        done(e as Error);
      }
    });
    udp.once("error", (e: NodeJS.ErrnoException) => done(unreachable(req, e)));
    udp.send(req.frame, req.port, req.host);
    return { close: () => udp.close() };
  });
}
