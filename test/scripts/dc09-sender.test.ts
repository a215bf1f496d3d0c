/**
 * The DC-09 sender simulator (scripts/sim/dc09-sender.ts) over real UDP and
 * TCP sockets on 127.0.0.1, port 0, against a tiny receiver made here from
 * the agent's codec (drivers/dc09 receive()): answers, retries, clock
 * correction from a NAK, faults, and scenarios. Timeouts are short: where
 * the sender must time out, that is the behaviour under test.
 */
import { createSocket } from "node:dgram";
import { createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { receive, type ReceiveResult } from "../../drivers/dc09/receive.js";
import { buildAck } from "../../drivers/dc09/responses.js";
import { FrameSplitter } from "../../drivers/dc09/stream.js";
import { AccountPolicy, SequenceTracker } from "../../drivers/dc09/validate.js";
import { parseDc09SimArgs } from "../../scripts/sim/dc09.js";
import { parseDc09Scenario, runDc09Scenario } from "../../scripts/sim/dc09-scenario.js";
import { Dc09Sender, type Dc09SenderOptions, type SendReport } from "../../scripts/sim/dc09-sender.js";
import { listenOn } from "../../scripts/sim/process.js";

const KEY = "000102030405060708090A0B0C0D0E0F";
const ACCOUNTS = new AccountPolicy([{ account: "1234" }, { account: "BEEF", key: KEY }]);

/** What a test receiver does with each frame: the bytes to answer (default: receive()'s response), or null for silence. */
type Answerer = (result: ReceiveResult, index: number) => Buffer[] | null;

interface TestReceiver {
  port: number;
  results: ReceiveResult[];
  close(): Promise<void>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function handle(frame: Buffer, results: ReceiveResult[], tracker: SequenceTracker, answer: Answerer | undefined): Buffer[] {
  const r = receive(frame, { options: { accounts: ACCOUNTS }, tracker, now: new Date() });
  results.push(r);
  return answer ? (answer(r, results.length - 1) ?? []) : [r.response];
}

async function udpReceiver(answer?: Answerer): Promise<TestReceiver> {
  const sock = createSocket("udp4");
  const results: ReceiveResult[] = [];
  const tracker = new SequenceTracker();
  sock.on("message", (msg, from) => {
    for (const item of new FrameSplitter().push(msg)) {
      if (item.type !== "frame") continue;
      for (const out of handle(item.bytes, results, tracker, answer)) sock.send(out, from.port, from.address);
    }
  });
  await new Promise<void>((resolve) => sock.bind(0, "127.0.0.1", resolve));
  const rx = { port: sock.address().port, results, close: () => new Promise<void>((resolve) => sock.close(() => resolve())) };
  cleanups.push(rx.close);
  return rx;
}

async function tcpReceiver(opts: { answer?: Answerer; closeAfterAnswer?: boolean } = {}): Promise<TestReceiver & { connections: number }> {
  const results: ReceiveResult[] = [];
  const tracker = new SequenceTracker();
  const sockets = new Set<Socket>();
  const state = { connections: 0 };
  const server: Server = createServer((sock) => {
    state.connections++;
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    const splitter = new FrameSplitter();
    sock.on("data", (chunk: Buffer) => {
      // A receiver that closed the connection reads nothing more from it.
      if (sock.writableEnded) return;
      for (const item of splitter.push(chunk)) {
        if (item.type !== "frame") continue;
        const outs = handle(item.bytes, results, tracker, opts.answer);
        for (const out of outs) sock.write(out);
        if (opts.closeAfterAnswer && outs.length > 0) sock.end();
      }
    });
  });
  const port = await listenOn(server, "127.0.0.1", 0);
  const close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  cleanups.push(close);
  return Object.assign(state, { port, results, close });
}

function sender(port: number, opts: Partial<Dc09SenderOptions> = {}): Dc09Sender {
  const s = new Dc09Sender({ host: "127.0.0.1", port, transport: "udp", account: "1234", ackTimeoutMs: 2000, ...opts });
  cleanups.push(() => s.close());
  return s;
}

const answers = (r: SendReport) => r.attempts.map((a) => a.answer);

describe("the DC-09 sender over UDP", () => {
  it("sends a Contact ID panic, gets an ACK, and reports the latency", async () => {
    const rx = await udpReceiver();
    const r = await sender(rx.port).send({ event: "panic", zone: 15 });
    expect(r).toMatchObject({ event: "panic", token: "ADM-CID", sequence: 1, encrypted: false, result: "ACK", strays: 0 });
    expect(r.attempts).toHaveLength(1);
    expect(r.attempts[0]?.latencyMs).toBeGreaterThan(0);
    expect(r.attempts[0]?.latencyMs).toBeLessThan(2000);
    expect(rx.results[0]?.events[0]).toMatchObject({ kind: "panic", qualifier: "new", zone: 15, partition: 1, account: "1234", sequence: 1 });
  });

  it("numbers messages 1, 2, 3… and sends NULL link tests the receiver ACKs", async () => {
    const rx = await udpReceiver();
    const s = sender(rx.port);
    const reports = [await s.send({ event: "null" }), await s.send({ event: "test" }), await s.send({ event: "null" })];
    expect(reports.map((r) => [r.sequence, r.result])).toEqual([[1, "ACK"], [2, "ACK"], [3, "ACK"]]);
    expect(rx.results.map((r) => r.status)).toEqual(["link_test", "event", "link_test"]);
  });

  it("retries with the same sequence number when no answer comes, and the receiver reports the event once", async () => {
    const rx = await udpReceiver((r, i) => (i < 2 ? null : [r.response]));
    const r = await sender(rx.port, { ackTimeoutMs: 150, attempts: 3 }).send({ event: "panic", zone: 3 });
    expect(answers(r)).toEqual(["timeout", "timeout", "ACK"]);
    expect(r.result).toBe("ACK");
    expect(rx.results.map((x) => [x.frame?.sequence, x.status])).toEqual([[1, "event"], [1, "duplicate"], [1, "duplicate"]]);
  });

  it("gives up after the configured attempts when the receiver stays silent", async () => {
    const rx = await udpReceiver(() => null);
    const r = await sender(rx.port, { ackTimeoutMs: 100, attempts: 2 }).send({ event: "panic" });
    expect(answers(r)).toEqual(["timeout", "timeout"]);
    expect(r.result).toBe("timeout");
  });

  it("corrects its clock from a NAK's timestamp and is then ACKed (encrypted, clock 5 minutes slow)", async () => {
    const rx = await udpReceiver();
    const slow = () => new Date(Date.now() - 300_000);
    const r = await sender(rx.port, { account: "BEEF", key: KEY, now: slow }).send({ event: "panic", zone: 1 });
    expect(answers(r)).toEqual(["NAK", "ACK"]);
    expect(Math.abs(new Date(r.attempts[0]?.receiverTime ?? 0).getTime() - Date.now())).toBeLessThan(5000);
    expect(rx.results.map((x) => x.error?.reason ?? x.status)).toEqual(["timestamp", "event"]);
    expect(rx.results[1]?.events[0]).toMatchObject({ encrypted: true, kind: "panic" });
  });

  it("stops at a DUH: an account the receiver does not serve is not retried", async () => {
    const rx = await udpReceiver();
    const r = await sender(rx.port, { account: "9999", attempts: 3 }).send({ event: "panic" });
    expect(answers(r)).toEqual(["DUH"]);
    expect(rx.results[0]?.error?.reason).toBe("account");
  });

  it("ignores an ACK for another sequence number and waits for its own", async () => {
    const rx = await udpReceiver((r) => {
      const h = r.frame;
      if (h === undefined) return [r.response];
      return [buildAck({ ...h, sequence: (h.sequence + 500) % 10000 }, { now: new Date() }), r.response];
    });
    const r = await sender(rx.port).send({ event: "fire", zone: 2 });
    expect(r).toMatchObject({ result: "ACK", strays: 1 });
  });
});

describe("the DC-09 sender over TCP", () => {
  it("sends an encrypted SIA DCS panic and reads the encrypted ACK", async () => {
    const rx = await tcpReceiver();
    const r = await sender(rx.port, { transport: "tcp", account: "BEEF", key: KEY, format: "sia" }).send({ event: "panic", zone: 15 });
    expect(r).toMatchObject({ token: "SIA-DCS", encrypted: true, result: "ACK" });
    expect(r.attempts[0]?.receiverTime).toBeDefined();
    expect(rx.results[0]?.events[0]).toMatchObject({ protocol: "SIA-DCS", code: "PA", kind: "panic", zone: 15, encrypted: true });
  });

  it("keeps one connection for several messages, and reconnects when the receiver closes it after each answer", async () => {
    const keep = await tcpReceiver();
    const s1 = sender(keep.port, { transport: "tcp" });
    for (const e of ["panic", "panic-restore", "test"] as const) expect((await s1.send({ event: e })).result).toBe("ACK");
    expect(keep.connections).toBe(1);
    const closing = await tcpReceiver({ closeAfterAnswer: true });
    const s2 = sender(closing.port, { transport: "tcp" });
    for (const e of ["low-battery", "low-battery-restore"] as const) {
      const r = await s2.send({ event: e, zone: 4 });
      // Either it saw the first connection close before sending, or it sent into it and resent at once.
      expect(r.result).toBe("ACK");
      expect(r.attempts.every((a) => a.answer === "ACK" || a.detail === "connection closed before the answer")).toBe(true);
    }
    expect(closing.connections).toBe(2);
    expect(closing.results.map((x) => [x.events[0]?.kind, x.events[0]?.qualifier])).toEqual([["low_battery", "new"], ["low_battery", "restore"]]);
  });

  it("reports a refused connection as an error on each attempt", async () => {
    const rx = await tcpReceiver();
    await rx.close();
    const r = await sender(rx.port, { transport: "tcp", attempts: 2 }).send({ event: "panic" });
    expect(answers(r)).toEqual(["error", "error"]);
    expect(r.attempts[0]?.detail).toMatch(/ECONNREFUSED/);
  });
});

describe("bad messages on demand, and what the receiver answers", () => {
  it("NAKs a bad CRC, a bad length, garbage, and a stale encrypted timestamp", async () => {
    const rx = await tcpReceiver();
    const s = sender(rx.port, { transport: "tcp" });
    const enc = sender(rx.port, { transport: "tcp", account: "BEEF", key: KEY });
    const got: [string, string | undefined][] = [];
    for (const fault of ["bad-crc", "bad-length", "garbage"] as const) got.push([(await s.send({ event: "panic", fault })).result, rx.results.at(-1)?.error?.reason]);
    got.push([(await enc.send({ event: "panic", fault: "stale-timestamp" })).result, rx.results.at(-1)?.error?.reason]);
    expect(got).toEqual([["NAK", "crc"], ["NAK", "length"], ["NAK", expect.stringMatching(/^(format|length)$/)], ["NAK", "timestamp"]]);
  });

  it("DUHs an unknown token, a wrong key, and data that is not Contact ID", async () => {
    const rx = await udpReceiver();
    const plain = sender(rx.port);
    const enc = sender(rx.port, { account: "BEEF", key: KEY });
    const results = [
      await plain.send({ event: "panic", fault: "unknown-token" }),
      await enc.send({ event: "panic", fault: "wrong-key" }),
      await plain.send({ event: "panic", fault: "bad-data" }),
    ];
    expect(results.map((r) => [r.result, r.attempts.length])).toEqual([["DUH", 1], ["DUH", 1], ["DUH", 1]]);
    expect(rx.results.map((r) => r.error?.reason)).toEqual(["unknown_token", "encryption", "data"]);
  });

  it("replays the previous message: the receiver ACKs it and calls it a duplicate", async () => {
    const rx = await udpReceiver();
    const s = sender(rx.port);
    const first = await s.send({ event: "panic", zone: 9 });
    await s.send({ event: "panic", fault: "bad-crc" }); // a broken message in between is not what gets replayed
    const replay = await s.send({ event: "panic", fault: "replay" });
    expect([first.sequence, replay.sequence, replay.result]).toEqual([1, 1, "ACK"]);
    expect(rx.results.map((r) => r.status)).toEqual(["event", "rejected", "duplicate"]);
    // The next message gets the next number.
    expect((await s.send({ event: "null" })).sequence).toBe(3);
  });

  it("cannot replay before anything was sent", async () => {
    const rx = await udpReceiver();
    await expect(sender(rx.port).send({ event: "panic", fault: "replay" })).rejects.toThrow(/nothing to replay/);
  });
});

describe("scenarios and the command line", () => {
  it("runs a scenario's steps in order and reports each answer", async () => {
    const rx = await udpReceiver();
    const scenario = parseDc09Scenario({
      steps: [
        { at_ms: 0, send: "panic", zone: 15 },
        { at_ms: 5, send: "panic-restore", zone: 15 },
        { at_ms: 10, send: "test", fault: "bad-crc" },
      ],
    });
    const seen: string[] = [];
    const run = runDc09Scenario(sender(rx.port), scenario, (step, r) => seen.push(`${step.event}:${(r as SendReport).result}`));
    await run.done;
    expect(seen).toEqual(["panic:ACK", "panic-restore:ACK", "test:NAK"]);
  });

  it("lists every problem of a bad scenario at once", () => {
    expect(() => parseDc09Scenario({ steps: [{ at_ms: -1, send: "boom", fault: "nope", zone: 5000 }], loop_ms: "soon" }))
      .toThrow(/step 0: at_ms.*step 0: send.*step 0: fault.*step 0: zone.*loop_ms/);
  });

  it("parses the CLI: transport, account, key, events with numbers, faults", () => {
    const a = parseDc09SimArgs(["--port", "7000", "--udp", "--account", "BEEF", "--key", KEY, "--format", "sia", "--send", "panic:15", "--send", "duress:3", "--fault", "wrong-key:panic", "--null-interval-s", "30"]);
    expect(a.sender).toMatchObject({ host: "127.0.0.1", port: 7000, transport: "udp", account: "BEEF", key: KEY, format: "sia", ackTimeoutMs: 20_000, attempts: 3 });
    expect(a.sends).toEqual([{ event: "panic", zone: 15 }, { event: "duress", user: 3 }, { event: "panic", fault: "wrong-key" }]);
    expect(a.nullIntervalS).toBe(30);
    expect(() => parseDc09SimArgs(["--port", "7000", "--account", "1234"])).toThrow(/--tcp and --udp/);
    expect(() => parseDc09SimArgs(["--port", "7000", "--tcp", "--account", "1234", "--send", "boom"])).toThrow(/unknown event/);
    expect(() => parseDc09SimArgs(["--port", "7000", "--tcp", "--account", "1234", "--fault", "boom"])).toThrow(/unknown fault/);
  });
});
