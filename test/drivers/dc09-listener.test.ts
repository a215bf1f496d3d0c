/**
 * The DC-09 listening socket (drivers/panic-dc09/listener.ts) over real
 * sockets on 127.0.0.1, port 0: the idle timeout, the connection limit, what
 * it does with bytes that are not frames, UDP answers, a handler that
 * throws, and close(). Frames come from the simulator's own encoder
 * (scripts/sim/dc09-wire.ts); answers are decided by drivers/dc09 receive().
 * Then the same limits through the driver's options (listen.max_connections,
 * listen.idle_timeout_s).
 *
 * Timing: the idle timeout is what is under test, so elapsed times are
 * measured (from before the connection was opened, which can only make them
 * longer) and compared with generous tolerances; everything else waits on
 * socket events.
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createConnection, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { setTimeout as delay } from "node:timers/promises";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { AccountPolicy, MAX_FRAME_BYTES, receive, SequenceTracker } from "../../drivers/dc09/index.js";
import { createDc09Receiver } from "../../drivers/panic-dc09/index.js";
import { Dc09Listener, type FrameHandler, type ListenerOptions } from "../../drivers/panic-dc09/listener.js";
import { type PanicDc09OptionsInput, panicDc09OptionsSchema } from "../../drivers/panic-dc09/options.js";
import { type SimAnswer, simFrame, SimFrameReader, simReadAnswer } from "../../scripts/sim/dc09-wire.js";

const log = pino({ level: "silent" });
const ACCOUNTS = new AccountPolicy([{ account: "1234" }]);

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A NULL link test from account 1234, as a panel sends it. */
function nullFrame(sequence: number): Buffer {
  return simFrame({ token: "NULL", sequence, account: "1234", line: "0", data: "", time: new Date() });
}

/** Things that arrive one by one (answers), awaited in order. */
class Inbox<T> {
  readonly items: T[] = [];
  private taken = 0;
  private waiter: (() => void) | undefined;

  push(item: T): void {
    this.items.push(item);
    this.waiter?.();
  }

  /** The next item not yet taken; rejects when `abort` resolves first. */
  async next(abort?: Promise<unknown>, what = "an answer"): Promise<T> {
    while (this.taken >= this.items.length) {
      const arrived = new Promise<"item">((resolve) => (this.waiter = () => resolve("item")));
      const why = await Promise.race([arrived, ...(abort ? [abort.then(() => "aborted" as const)] : [])]);
      this.waiter = undefined;
      if (why === "aborted" && this.taken >= this.items.length) throw new Error(`connection closed before ${what}`);
    }
    return this.items[this.taken++] as T;
  }
}

/** Open a listener whose handler records each frame and answers it with receive() (ACK to a NULL from account 1234). */
async function openListener(over: Partial<ListenerOptions> = {}, handler?: FrameHandler, logger = log) {
  const tracker = new SequenceTracker();
  const frames: Buffer[] = [];
  const onFrame: FrameHandler =
    handler ??
    ((bytes) => {
      frames.push(bytes);
      return receive(bytes, { options: { accounts: ACCOUNTS }, tracker, now: new Date() }).response;
    });
  const listener = await Dc09Listener.open({ host: "127.0.0.1", port: 0, transport: "tcp", maxConnections: 8, idleMs: 30_000, ...over }, onFrame, logger);
  cleanups.push(() => listener.close());
  return { listener, frames };
}

interface TcpPeer {
  sock: Socket;
  /** performance.now() just before the connection was opened. */
  openedAt: number;
  answers: Inbox<SimAnswer | string>;
  /** Resolves with performance.now() when the socket closes. */
  closed: Promise<number>;
  isClosed(): boolean;
  /** Whether the other end closed its side (FIN) before the socket closed. */
  gotEnd(): boolean;
  /** Send a NULL link test and wait for the next answer; rejects if the connection closes first. */
  ask(sequence: number): Promise<SimAnswer | string>;
}

/** A panel's TCP connection (writes are queued until it connects). */
function tcpPeer(port: number): TcpPeer {
  const openedAt = performance.now();
  const sock = createConnection({ host: "127.0.0.1", port });
  sock.on("error", () => {}); // "close" follows
  cleanups.push(() => sock.destroy());
  const reader = new SimFrameReader();
  const answers = new Inbox<SimAnswer | string>();
  sock.on("data", (chunk: Buffer) => {
    for (const f of reader.push(chunk)) answers.push(simReadAnswer(f));
  });
  let isClosed = false;
  let gotEnd = false;
  sock.on("end", () => (gotEnd = true));
  const closed = new Promise<number>((resolve) =>
    sock.once("close", () => {
      isClosed = true;
      resolve(performance.now());
    }),
  );
  return {
    sock,
    openedAt,
    answers,
    closed,
    isClosed: () => isClosed,
    gotEnd: () => gotEnd,
    ask: (sequence) => {
      sock.write(nullFrame(sequence));
      return answers.next(closed, `the answer to link test ${sequence}`);
    },
  };
}

async function connectedPeer(port: number): Promise<TcpPeer> {
  const p = tcpPeer(port);
  await new Promise<void>((resolve, reject) => {
    p.sock.once("connect", resolve);
    p.sock.once("error", reject);
  });
  return p;
}

async function udpPeer() {
  const sock: UdpSocket = createSocket("udp4");
  const answers = new Inbox<SimAnswer | string>();
  sock.on("message", (msg) => {
    for (const f of new SimFrameReader().push(msg)) answers.push(simReadAnswer(f));
  });
  await new Promise<void>((resolve) => sock.bind(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise<void>((resolve) => sock.close(() => resolve())));
  return {
    answers,
    send: (bytes: Buffer, port: number) => new Promise<void>((resolve, reject) => sock.send(bytes, port, "127.0.0.1", (err) => (err ? reject(err) : resolve()))),
  };
}

const ack = (sequence: number) => expect.objectContaining({ token: "ACK", sequence }) as unknown;

describe("DC-09 listener: idle TCP connections", () => {
  const IDLE_MS = 400;

  it("closes a connection that sends nothing for idleMs, and not well before", async () => {
    const { listener } = await openListener({ idleMs: IDLE_MS });
    const peer = tcpPeer(listener.port);
    const elapsed = (await peer.closed) - peer.openedAt;
    expect(elapsed).toBeGreaterThanOrEqual(IDLE_MS - 100);
    expect(elapsed).toBeLessThan(IDLE_MS + 5000);
    expect(peer.gotEnd()).toBe(true); // the listener closed it, not an error on our side
    expect(peer.answers.items).toEqual([]);
    expect(listener.stats.connections).toBe(1);
  });

  it("keeps a connection open past idleMs while it sends link tests more often, and closes it idleMs after the last one", async () => {
    const idleMs = 1000; // long enough that a stall of the (shared, busy) event loop does not pass for silence
    const { listener } = await openListener({ idleMs });
    const peer = await connectedPeer(listener.port);
    const start = performance.now();
    let sequence = 0;
    let lastActivity = start;
    while (performance.now() - start < 2.5 * idleMs) {
      sequence++;
      expect(await peer.ask(sequence)).toEqual(ack(sequence));
      lastActivity = performance.now(); // the listener's answer: its last activity on this connection
      await delay(100); // the panel's pace: a link test every ~100 ms
    }
    expect(performance.now() - start).toBeGreaterThanOrEqual(2.5 * idleMs);
    expect(peer.isClosed()).toBe(false);
    const silent = (await peer.closed) - lastActivity;
    expect(silent).toBeGreaterThanOrEqual(idleMs - 200);
    expect(silent).toBeLessThan(idleMs + 5000);
    expect(peer.gotEnd()).toBe(true);
  });
});

describe("DC-09 listener: maxConnections", () => {
  it("closes the connection beyond maxConnections at once, unanswered, counts it, and accepts a new one after another closes", async () => {
    const { listener, frames } = await openListener({ maxConnections: 2, idleMs: 60_000 });
    const a = await connectedPeer(listener.port);
    const b = await connectedPeer(listener.port);
    // An answer means the listener has taken the connection (not just the kernel).
    expect(await a.ask(1)).toEqual(ack(1));
    expect(await b.ask(2)).toEqual(ack(2));

    const c = tcpPeer(listener.port);
    c.sock.write(nullFrame(3)); // a panel sends as soon as it is connected
    const elapsed = (await c.closed) - c.openedAt;
    expect(elapsed).toBeLessThan(10_000); // at once: far below the idle timeout (60 s)
    expect(c.answers.items).toEqual([]);
    expect(frames).toHaveLength(2); // its link test never reached the handler
    expect(listener.stats).toMatchObject({ connections: 2, refusedConnections: 1 });

    // The two within the limit are still served.
    expect(await a.ask(4)).toEqual(ack(4));
    expect(await b.ask(5)).toEqual(ack(5));

    // b leaves (gracefully: its close completes once the listener has closed its side too); a newcomer gets its place.
    b.sock.end();
    await b.closed;
    const d = await connectedPeer(listener.port);
    expect(await d.ask(6)).toEqual(ack(6));
    expect(d.isClosed()).toBe(false);
    expect(a.isClosed()).toBe(false);
    expect(listener.stats).toMatchObject({ connections: 3, refusedConnections: 1 });
  });
});

describe("DC-09 listener: bytes that are not frames", () => {
  it("discards garbage and an over-long frame on a TCP connection without handing them over, and answers the next frame on it", async () => {
    const { listener, frames } = await openListener();
    const peer = await connectedPeer(listener.port);
    peer.sock.write(Buffer.from("GET / HTTP/1.0 ", "latin1"));
    // <LF> and more than the largest frame before its <CR>: nothing of it may reach the handler.
    peer.sock.write(Buffer.concat([Buffer.from([0x0a]), Buffer.alloc(MAX_FRAME_BYTES + 200, 0x41), Buffer.from([0x0d])]));
    expect(await peer.ask(7)).toEqual(ack(7));
    expect(frames.map((f) => f.toString("latin1"))).toEqual([expect.stringMatching(/^\n[0-9A-F]{8}"NULL"0007L0#1234\[\]_[0-9:,-]{19}\r$/)]);
    // The garbage, the first MAX_FRAME_BYTES of the long run, and its tail (more if the kernel split a run).
    expect(listener.stats.discarded).toBeGreaterThanOrEqual(3);
    expect(peer.isClosed()).toBe(false);
  });

  it("takes each UDP datagram on its own: halves of a frame in two datagrams are not joined", async () => {
    const { listener, frames } = await openListener({ transport: "udp" });
    const peer = await udpPeer();
    const whole = nullFrame(8);
    await peer.send(whole.subarray(0, 20), listener.port);
    await peer.send(whole.subarray(20), listener.port);
    await peer.send(nullFrame(9), listener.port);
    // Datagrams on loopback arrive in order: had the halves been joined, the first answer would be to 8.
    expect(await peer.answers.next()).toEqual(ack(9));
    expect(frames).toHaveLength(1);
    expect(listener.stats.discarded).toBeGreaterThanOrEqual(1); // the second half (no <LF>)
  });
});

describe("DC-09 listener: a sender that does not read its answers", () => {
  it("stops reading from it while its answers back up, so our write buffer stays bounded, and answers everything once it reads", async () => {
    // Big answers (1 KiB) to few frames: 20,000 of them outgrow what loopback's socket buffers hold (~4 MB here).
    const total = 20_000;
    const answer = Buffer.alloc(1024, 0x41);
    let handled = 0;
    const { listener } = await openListener({}, () => {
      handled++;
      return answer;
    });
    const sock = createConnection({ host: "127.0.0.1", port: listener.port });
    cleanups.push(() => sock.destroy());
    await new Promise((r) => sock.once("connect", r));
    sock.pause(); // never reads: the answers pile up on the agent's side
    sock.write(Buffer.concat(Array.from({ length: total }, (_, i) => nullFrame((i % 9999) + 1))));
    const server = () => [...(listener as unknown as { sockets: Set<Socket> }).sockets][0];
    await expect.poll(() => server()?.isPaused(), { timeout: 10_000 }).toBe(true);
    expect(handled).toBeLessThan(total);
    // What is queued is bounded by one read's answers (64 KiB of frames), not by what the sender sent.
    expect(server()?.writableLength ?? 0).toBeLessThan(4 * 1024 * 1024);
    let received = 0;
    sock.on("data", (chunk: Buffer) => void (received += chunk.length));
    sock.resume();
    await expect.poll(() => received, { timeout: 20_000 }).toBe(total * answer.length);
    expect(handled).toBe(total);
  });
});

describe("DC-09 listener: UDP", () => {
  it("answers each datagram to the address and port it came from", async () => {
    const { listener } = await openListener({ transport: "udp" });
    const one = await udpPeer();
    const two = await udpPeer();
    await one.send(nullFrame(11), listener.port);
    await two.send(nullFrame(12), listener.port);
    expect(await one.answers.next()).toEqual(ack(11));
    expect(await two.answers.next()).toEqual(ack(12));
    await one.send(nullFrame(13), listener.port);
    expect(await one.answers.next()).toEqual(ack(13));
    expect(two.answers.items).toHaveLength(1);
  });

  it("rejects open() with EADDRINUSE when its UDP port is taken, and binds it once it is free", async () => {
    const blocker = createSocket("udp4");
    await new Promise<void>((resolve) => blocker.bind(0, "127.0.0.1", resolve));
    const port = blocker.address().port;
    const opts: ListenerOptions = { host: "127.0.0.1", port, transport: "udp", maxConnections: 8, idleMs: 30_000 };
    await expect(Dc09Listener.open(opts, () => undefined, log)).rejects.toMatchObject({ code: "EADDRINUSE" });
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    const { listener } = await openListener({ transport: "udp", port });
    expect(listener.port).toBe(port);
    const peer = await udpPeer();
    await peer.send(nullFrame(14), port);
    expect(await peer.answers.next()).toEqual(ack(14));
  });
});

describe("DC-09 listener: handler failures and close()", () => {
  it("sends nothing for a frame whose handler throws, logs it as an error, and keeps serving the connection", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "error" }, { write: (s: string) => void lines.push(s) });
    const tracker = new SequenceTracker();
    const { listener } = await openListener({}, (bytes) => {
      const r = receive(bytes, { options: { accounts: ACCOUNTS }, tracker, now: new Date() });
      if (r.frame?.sequence === 21) throw new Error("store failed");
      return r.response;
    }, logger);
    const peer = await connectedPeer(listener.port);
    peer.sock.write(nullFrame(21));
    expect(await peer.ask(22)).toEqual(ack(22)); // the first answer is 22's: 21 got none
    expect(peer.answers.items).toHaveLength(1);
    expect(lines.map((l) => JSON.parse(l) as { level: number; msg: string })).toEqual([
      expect.objectContaining({ level: 50, msg: "DC-09 frame handler failed; no answer sent" }),
    ]);
  });

  it("close() closes the open TCP connections and stops accepting new ones", async () => {
    const { listener } = await openListener();
    const a = await connectedPeer(listener.port);
    const b = await connectedPeer(listener.port);
    expect(await a.ask(31)).toEqual(ack(31));
    expect(await b.ask(32)).toEqual(ack(32));
    await listener.close();
    await Promise.all([a.closed, b.closed]);
    expect(a.gotEnd() && b.gotEnd()).toBe(true);
    const late = createConnection({ host: "127.0.0.1", port: listener.port });
    cleanups.push(() => late.destroy());
    await expect(new Promise((resolve, reject) => late.once("connect", resolve).once("error", reject))).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });
});

describe("panic-dc09 driver: listen.max_connections and listen.idle_timeout_s", () => {
  it("closes a TCP connection beyond max_connections at once, and one silent for idle_timeout_s after that long", async () => {
    const driver = createDc09Receiver({ log, clock: { now: () => Date.now(), monotonic: () => performance.now() } });
    cleanups.push(() => driver.close?.());
    const listen: PanicDc09OptionsInput["listen"] = { port: 0, protocols: ["tcp"], max_connections: 1, idle_timeout_s: 1 };
    const dev = { id: "rx-office", timeoutMs: 1000, options: panicDc09OptionsSchema.parse({ account: "1234", listen }) };
    await driver.poll(dev, { signal: AbortSignal.timeout(5000), log });
    const port = driver.portsOf(dev.id)?.tcp ?? 0;

    const first = await connectedPeer(port);
    expect(await first.ask(1)).toEqual(ack(1));
    const lastActivity = performance.now();
    const second = tcpPeer(port);
    second.sock.write(nullFrame(2));
    await second.closed;
    expect(first.isClosed()).toBe(false); // the second went first: refused, not timed out
    expect(second.answers.items).toEqual([]);

    const silent = (await first.closed) - lastActivity;
    expect(silent).toBeGreaterThanOrEqual(1000 - 200);
    expect(silent).toBeLessThan(1000 + 5000);
    expect(first.gotEnd()).toBe(true);
  });
});
