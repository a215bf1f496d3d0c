/**
 * A simulated DC-09 panel / communicator ("premises equipment"): sends
 * events and NULL link tests to a receiver over TCP or UDP, one message at a
 * time, waits for the answer, retries, and reports every attempt with its
 * latency.
 *
 * Retries (DC-09-2013 leaves the numbers to configuration; these are the
 * choices, and common panel defaults):
 * - No answer within `ackTimeoutMs` (default 20 s): send again, same
 *   sequence number (it is the same message; the receiver ACKs it again and
 *   reports it once), fresh timestamp and pad, up to `attempts` (default 3).
 * - NAK: the receiver's timestamp sets our clock offset (5.5.3.2: the NAK
 *   carries the receiver's time so the panel can correct its own), then send
 *   again as above.
 * - DUH: stop; the receiver cannot process this message and resending it
 *   would not change that (5.5.3.3).
 * - An ACK or DUH with another sequence number is not ours (a late answer to
 *   an earlier transmission): counted as a stray, and we keep waiting.
 * A message sent with a fault is sent once, and its answer reported.
 *
 * TCP: one connection, opened on first use and again after the receiver
 * closes it (2013 allows keeping it open; some receivers close after each
 * ACK). UDP: one socket, answers come back to it.
 *
 * Node builtins only; the encoder is this simulator's own (dc09-wire.ts).
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createConnection, isIPv6, type Socket } from "node:net";
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { SIM_FAULTS, type SimEventName, simEventData, type SimFault, type SimFormat } from "./dc09-events.js";
import { type SimAnswer, simBody, simEnvelope, SimFrameReader, type SimMessage, simReadAnswer } from "./dc09-wire.js";

export interface Dc09SenderOptions {
  host: string;
  port: number;
  transport: "tcp" | "udp";
  /** 3-16 hex digits. */
  account: string;
  /** "R" field (hex), if any. */
  receiver?: string;
  /** "L" field (hex), if any. Default "0". */
  line?: string;
  /** AES key, 32/48/64 hex digits: messages are sent encrypted. */
  key?: string;
  format?: SimFormat;
  /** Partition in events, default 1. */
  partition?: number;
  ackTimeoutMs?: number;
  /** Transmissions of one message, the first included. */
  attempts?: number;
  /** First sequence number, 1-9999. Default 1. */
  firstSequence?: number;
  /** The panel's clock. Default: the machine's. */
  now?: () => Date;
}

export interface SendRequest {
  /** What to report, or "null" for a link test. */
  event: SimEventName | "null";
  zone?: number;
  user?: number;
  partition?: number;
  fault?: SimFault;
}

export type AttemptAnswer = "ACK" | "NAK" | "DUH" | "timeout" | "invalid" | "error";

export interface AttemptReport {
  attempt: number;
  answer: AttemptAnswer;
  /** From the write to the answer (or to giving up), ms. */
  latencyMs: number;
  /** What was wrong (invalid answer, socket error). */
  detail?: string;
  /** The receiver's clock in a NAK or encrypted ACK, ISO 8601. */
  receiverTime?: string;
}

export interface SendReport {
  event: SimEventName | "null";
  fault?: SimFault;
  token: string;
  sequence: number;
  encrypted: boolean;
  /** The last attempt's answer. */
  result: AttemptAnswer;
  attempts: AttemptReport[];
  /** Answers that were not for this message. */
  strays: number;
}

type Waited = { frame: Buffer } | { timeout: true } | { closed: true };

export class Dc09Sender {
  private readonly opts: Required<Omit<Dc09SenderOptions, "receiver" | "key">> & Pick<Dc09SenderOptions, "receiver">;
  private readonly key: Buffer | undefined;
  private nextSeq: number;
  /** Receiver clock minus ours, learnt from NAKs. */
  private clockOffsetMs = 0;
  private lastFrame: Buffer | undefined;
  private lastSeq = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private tcp: Socket | undefined;
  private udp: UdpSocket | undefined;
  private waiter: ((frame: Buffer) => void) | undefined;
  /** Called when the TCP connection goes away while an answer is awaited. */
  private onConnectionLost: (() => void) | undefined;
  private closed = false;

  constructor(opts: Dc09SenderOptions) {
    if (!/^[0-9A-Fa-f]{3,16}$/.test(opts.account)) throw new Error(`account "${opts.account}" must be 3-16 hex digits`);
    if (opts.key !== undefined && !/^(?:[0-9A-Fa-f]{32}|[0-9A-Fa-f]{48}|[0-9A-Fa-f]{64})$/.test(opts.key)) throw new Error("key must be 32, 48 or 64 hex digits");
    this.key = opts.key === undefined ? undefined : Buffer.from(opts.key, "hex");
    this.opts = {
      host: opts.host,
      port: opts.port,
      transport: opts.transport,
      account: opts.account,
      receiver: opts.receiver,
      line: opts.line ?? "0",
      format: opts.format ?? "cid",
      partition: opts.partition ?? 1,
      ackTimeoutMs: opts.ackTimeoutMs ?? 20_000,
      attempts: opts.attempts ?? 3,
      firstSequence: opts.firstSequence ?? 1,
      now: opts.now ?? (() => new Date()),
    };
    this.nextSeq = this.opts.firstSequence;
  }

  /** Send one message (queued behind any in flight); resolves with what happened. */
  send(req: SendRequest): Promise<SendReport> {
    if (req.fault !== undefined && !(SIM_FAULTS as readonly string[]).includes(req.fault)) return Promise.reject(new Error(`unknown fault "${req.fault}"`));
    const run = this.queue.then(() => this.transmit(req));
    this.queue = run.catch(() => {});
    return run;
  }

  /** Close the sockets; the message awaiting its answer and those still queued fail. */
  async close(): Promise<void> {
    this.closed = true;
    // Stop waiting now (its attempts then fail at write), not at the answer's timeout.
    this.onConnectionLost?.();
    this.tcp?.destroy();
    this.tcp = undefined;
    const udp = this.udp;
    this.udp = undefined;
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
  }

  private async transmit(req: SendRequest): Promise<SendReport> {
    if (this.closed) throw new Error("sender is closed");
    const fault = req.fault;
    let sequence: number;
    if (fault === "replay") {
      if (this.lastFrame === undefined) throw new Error("nothing to replay yet: send a message without a fault first");
      sequence = this.lastSeq;
    } else {
      sequence = this.nextSeq;
      this.nextSeq = this.nextSeq >= 9999 ? 1 : this.nextSeq + 1;
    }
    const params = {
      account: this.opts.account,
      partition: req.partition ?? this.opts.partition,
      ...(req.zone === undefined ? {} : { zone: req.zone }),
      ...(req.user === undefined ? {} : { user: req.user }),
    };
    const { token, data } = req.event === "null" ? { token: "NULL", data: "" } : simEventData(this.opts.format, req.event, params);
    const encrypted = this.key !== undefined || fault === "wrong-key";
    const report: SendReport = { event: req.event, token, sequence, encrypted, result: "timeout", attempts: [], strays: 0 };
    if (fault !== undefined) report.fault = fault;
    const maxAttempts = fault === undefined ? this.opts.attempts : 1;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const frame = fault === "replay" ? (this.lastFrame as Buffer) : this.build(token, data, sequence, fault);
      // "replay" re-sends the last message that went out intact, not a broken one.
      if (attempt === 1 && fault === undefined) {
        this.lastFrame = frame;
        this.lastSeq = sequence;
      }
      const started = performance.now();
      const waiting = this.waitAnswer(sequence, report);
      try {
        await this.write(frame);
      } catch (e) {
        waiting.cancel();
        report.attempts.push({ attempt, answer: "error", latencyMs: performance.now() - started, detail: (e as Error).message });
        report.result = "error";
        continue;
      }
      const got = await waiting.answer;
      const latencyMs = Math.round((performance.now() - started) * 1000) / 1000;
      if ("timeout" in got) {
        report.attempts.push({ attempt, answer: "timeout", latencyMs });
        report.result = "timeout";
        continue;
      }
      if ("closed" in got) {
        // The receiver closed the connection without answering (or just after its last answer,
        // before we saw it close): send again at once, on a new connection.
        report.attempts.push({ attempt, answer: "error", latencyMs, detail: "connection closed before the answer" });
        report.result = "error";
        continue;
      }
      const a = simReadAnswer(got.frame, this.key);
      if (typeof a === "string") {
        report.attempts.push({ attempt, answer: "invalid", latencyMs, detail: a });
        report.result = "invalid";
        continue;
      }
      const entry: AttemptReport = { attempt, answer: a.token as AttemptAnswer, latencyMs };
      if (a.receiverTime) entry.receiverTime = a.receiverTime.toISOString();
      report.attempts.push(entry);
      report.result = entry.answer;
      if (a.token === "NAK") {
        if (a.receiverTime) this.clockOffsetMs = a.receiverTime.getTime() - this.opts.now().getTime();
        continue;
      }
      break; // ACK or DUH
    }
    return report;
  }

  private build(token: string, data: string, sequence: number, fault: SimFault | undefined): Buffer {
    if (fault === "garbage") {
      const junk = [...randomBytes(40)].filter((b) => b !== 0x0a && b !== 0x0d);
      return Buffer.concat([Buffer.from([0x0a]), Buffer.from(junk), Buffer.from([0x0d])]);
    }
    const now = new Date(this.opts.now().getTime() + this.clockOffsetMs - (fault === "stale-timestamp" ? 600_000 : 0));
    const m: SimMessage = {
      token: fault === "unknown-token" ? "ZZZ-TST" : token,
      sequence,
      receiver: this.opts.receiver,
      line: this.opts.line,
      account: this.opts.account,
      data: fault === "bad-data" ? `#${this.opts.account}|${token === "ADM-CID" ? "9999 99 999" : "N!?"}` : data,
      time: now,
      key: fault === "wrong-key" ? randomBytes(this.key?.length ?? 16) : this.key,
    };
    const body = simBody(m);
    if (fault === "bad-crc") return simEnvelope(body, { crcXor: 0x0001 });
    if (fault === "bad-length") return simEnvelope(body, { lengthDelta: 1 });
    return simEnvelope(body);
  }

  /** The next answer for this message (NAK, or ACK/DUH with our sequence number), a timeout, or the TCP connection lost. */
  private waitAnswer(sequence: number, report: SendReport): { answer: Promise<Waited>; cancel: () => void } {
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      this.waiter = undefined;
      this.onConnectionLost = undefined;
    };
    const answer = new Promise<Waited>((resolve) => {
      timer = setTimeout(() => {
        done();
        resolve({ timeout: true });
      }, this.opts.ackTimeoutMs);
      this.waiter = (frame) => {
        const a: SimAnswer | string = simReadAnswer(frame, this.key);
        if (typeof a !== "string" && a.token !== "NAK" && a.sequence !== sequence) {
          report.strays++;
          return;
        }
        done();
        resolve({ frame });
      };
      this.onConnectionLost = () => {
        done();
        resolve({ closed: true });
      };
    });
    return { answer, cancel: done };
  }

  private onFrame(frame: Buffer): void {
    this.waiter?.(frame);
  }

  private async write(frame: Buffer): Promise<void> {
    // Closed while a message was under way: no new socket for its next attempt.
    if (this.closed) throw new Error("sender is closed");
    if (this.opts.transport === "udp") {
      const udp = this.udp ?? this.openUdp();
      await new Promise<void>((resolve, reject) => udp.send(frame, this.opts.port, this.opts.host, (err) => (err ? reject(err) : resolve())));
      return;
    }
    const tcp = this.tcp ?? (await this.openTcp());
    await new Promise<void>((resolve, reject) => tcp.write(frame, (err) => (err ? reject(err) : resolve())));
  }

  private openUdp(): UdpSocket {
    const udp = createSocket(isIPv6(this.opts.host) ? "udp6" : "udp4");
    udp.on("message", (msg) => {
      for (const f of new SimFrameReader().push(msg)) this.onFrame(f);
    });
    udp.on("error", () => {}); // a send error is reported by send's callback
    this.udp = udp;
    return udp;
  }

  private openTcp(): Promise<Socket> {
    return new Promise<Socket>((resolve, reject) => {
      const sock = createConnection({ host: this.opts.host, port: this.opts.port });
      sock.setNoDelay(true);
      const reader = new SimFrameReader();
      sock.once("error", reject);
      sock.once("connect", () => {
        sock.off("error", reject);
        sock.on("error", () => {}); // "close" follows; the next write reconnects
        this.tcp = sock;
        resolve(sock);
      });
      sock.on("data", (chunk: Buffer) => {
        for (const f of reader.push(chunk)) this.onFrame(f);
      });
      // The receiver may close after each answer: forget the connection as soon as it ends.
      const lost = () => {
        if (this.tcp !== sock) return;
        this.tcp = undefined;
        this.onConnectionLost?.();
      };
      sock.on("end", lost);
      sock.on("close", lost);
    });
  }
}
