/**
 * The simulator and the agent's codec against an independent DC-09
 * implementation: iobroker.sia 2.0.4 (npm, MIT; a DC-09 receiver for
 * ioBroker, TypeScript, its own CRC table and AES code).
 *
 * It cannot be a devDependency here (it pulls @iobroker/adapter-core, axios
 * and node-ssh, and the package files are not ours to change), so:
 *
 * 1. Always: test/fixtures/dc09/iobroker-sia-2.0.4.json holds what
 *    iobroker.sia made of frames from our simulator, captured once. These
 *    tests check that the simulator still makes exactly those frames (so
 *    iobroker.sia's acceptance still holds) and that the codec reads the
 *    frames, and iobroker.sia's answers, as iobroker.sia did.
 * 2. When DC09_IOBROKER_SIA names an unpacked iobroker.sia package, the
 *    simulator also talks to iobroker.sia's own UDP and TCP receivers:
 *
 *      mkdir -p /tmp/iob && cd /tmp/iob && npm pack iobroker.sia@2.0.4 && tar xzf iobroker.sia-2.0.4.tgz
 *      cd package && npm install --omit=dev --ignore-scripts --no-package-lock
 *      DC09_IOBROKER_SIA=/tmp/iob/package npx vitest run --project unit test/scripts/dc09-independent.test.ts
 *
 * What iobroker.sia does differently from the standard (why some checks
 * below expect a refusal): its encrypted ACK adds PKCS#7 padding after the
 * DC-09 pad (a whole extra block); it answers a NULL message with an empty
 * frame (so NULL is not tried live).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseKey } from "../../drivers/dc09/crypto.js";
import { Dc09Error } from "../../drivers/dc09/errors.js";
import { decodeFrame } from "../../drivers/dc09/frame.js";
import { simEventData } from "../../scripts/sim/dc09-events.js";
import { Dc09Sender } from "../../scripts/sim/dc09-sender.js";
import { simFrame, simReadAnswer } from "../../scripts/sim/dc09-wire.js";

interface Capture {
  key: string;
  time: string;
  cases: {
    format: "cid" | "sia";
    event: "panic" | "low-battery" | "duress" | "panic-restore";
    encrypted: boolean;
    zone: number;
    user: number;
    sequence: number;
    frame: string;
    iobroker: { id: string; seq: string; lpref: string; act: string; data_message: string; ts: string; calc_crc: string; calc_len: string };
    answer: string;
  }[];
  nak: string;
}

const capture = JSON.parse(readFileSync(new URL("../fixtures/dc09/iobroker-sia-2.0.4.json", import.meta.url), "utf8")) as Capture;
const KEY = parseKey(capture.key);
const bytes = (s: string) => Buffer.from(s, "latin1");

describe("frames iobroker.sia 2.0.4 accepted (captured)", () => {
  it("are still what the simulator makes from the same inputs, byte for byte", () => {
    for (const c of capture.cases) {
      const { token, data } = simEventData(c.format, c.event, { account: c.iobroker.act, partition: 1, zone: c.zone, user: c.user });
      const pad = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => 0x80 + i * 7));
      const content = `${data}]_00:00:00,00-00-0000`; // only its length matters for the pad
      const frame = simFrame({
        token, sequence: c.sequence, line: "0", account: c.iobroker.act, data, time: new Date(capture.time),
        ...(c.encrypted ? { key: KEY, pad: pad(16 - ((content.length + 1) % 16)) } : {}),
      });
      expect(frame.toString("latin1"), `${c.format} ${c.event}`).toBe(c.frame);
    }
  });

  it("are read by the agent's codec as iobroker.sia read them: token, sequence, line, account, data, timestamp, CRC, length", () => {
    for (const c of capture.cases) {
      const f = decodeFrame(bytes(c.frame), () => KEY);
      const io = c.iobroker;
      expect({ id: `${f.encrypted ? "*" : ""}${f.token}`, seq: String(f.sequence).padStart(4, "0"), lpref: f.line, act: f.account, data_message: f.data })
        .toEqual({ id: io.id, seq: io.seq, lpref: io.lpref, act: io.act, data_message: io.data_message });
      expect(f.timestamp).toEqual(new Date(capture.time));
      expect(c.frame.slice(1, 9)).toBe(io.calc_crc + io.calc_len);
    }
  });

  it("got plain ACKs and a NAK from iobroker.sia that the codec and the simulator both read", () => {
    for (const c of capture.cases.filter((x) => !x.encrypted)) {
      expect(decodeFrame(bytes(c.answer))).toMatchObject({ token: "ACK", sequence: c.sequence, line: "0", account: c.iobroker.act, data: "" });
      expect(simReadAnswer(bytes(c.answer))).toMatchObject({ token: "ACK", sequence: c.sequence });
    }
    expect(decodeFrame(bytes(capture.nak))).toMatchObject({ token: "NAK", sequence: 0, receiver: "0", line: "0", account: "0" });
    expect(simReadAnswer(bytes(capture.nak))).toMatchObject({ token: "NAK", receiverTime: expect.any(Date) });
  });

  it("got encrypted ACKs with PKCS#7 on top: the simulator takes them as ACKs, the strict codec refuses them", () => {
    for (const c of capture.cases.filter((x) => x.encrypted)) {
      expect(simReadAnswer(bytes(c.answer), KEY)).toMatchObject({ token: "ACK", encrypted: true, sequence: c.sequence });
      expect(() => decodeFrame(bytes(c.answer), () => KEY)).toThrow(Dc09Error);
    }
  });
});

const IOB = process.env.DC09_IOBROKER_SIA;

describe.skipIf(IOB === undefined)("the simulator against iobroker.sia's own receivers (DC09_IOBROKER_SIA)", () => {
  interface IobSia {
    setAccounts(a: { accountnumber: string; password: string; hex: boolean; aes: boolean }[]): void;
    serverStartUDP(): void;
    serverStartTCP(): void;
    on(ev: "sia", fn: (msg: { id: string; act: string; data_message: string } | undefined, err: string | undefined) => void): void;
    serverudp: import("node:dgram").Socket;
    servertcp: import("node:net").Server;
  }
  const stops: (() => void)[] = [];
  afterEach(() => {
    for (const s of stops.splice(0)) s();
  });

  async function start(transport: "udp" | "tcp") {
    const req = createRequire(join(IOB ?? "", "package.json"));
    const { sia } = req("./build/lib/sia.js") as { sia: new (p: object) => IobSia };
    const quiet = { info: () => {}, debug: () => {}, error: () => {} };
    const rx = new sia({ host: "127.0.0.1", port: 0, timeout: 20, sockend: true, logger: quiet });
    rx.setAccounts([{ accountnumber: "1234", password: "", hex: false, aes: false }, { accountnumber: "BEEF", password: capture.key, hex: true, aes: true }]);
    const seen: { id: string; data: string }[] = [];
    rx.on("sia", (msg) => {
      if (msg) seen.push({ id: msg.id, data: msg.data_message });
    });
    const server = transport === "udp" ? rx.serverudp : rx.servertcp;
    const listening = new Promise<void>((resolve) => server.once("listening", () => resolve()));
    if (transport === "udp") rx.serverStartUDP();
    else rx.serverStartTCP();
    await listening;
    const port = (server.address() as { port: number }).port;
    stops.push(() => (transport === "udp" ? rx.serverudp.close() : rx.servertcp.close()));
    return { port, seen };
  }

  for (const transport of ["udp", "tcp"] as const) {
    it(`over ${transport}: plain and encrypted panics are ACKed, a bad CRC is NAKed`, async () => {
      const { port, seen } = await start(transport);
      const plain = new Dc09Sender({ host: "127.0.0.1", port, transport, account: "1234", ackTimeoutMs: 2000, attempts: 1 });
      const enc = new Dc09Sender({ host: "127.0.0.1", port, transport, account: "BEEF", key: capture.key, format: "sia", ackTimeoutMs: 2000, attempts: 1 });
      stops.push(() => void plain.close(), () => void enc.close());
      expect((await plain.send({ event: "panic", zone: 15 })).result).toBe("ACK");
      expect((await enc.send({ event: "panic", zone: 15 })).result).toBe("ACK");
      expect((await plain.send({ event: "panic", fault: "bad-crc" })).result).toBe("NAK");
      expect(seen).toEqual([{ id: "ADM-CID", data: "#1234|1120 01 015" }, { id: "*SIA-DCS", data: "#BEEF|Nri01/PA015" }]);
    });
  }
});
