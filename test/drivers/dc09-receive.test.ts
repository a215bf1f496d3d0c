/**
 * The receiver's decision (drivers/dc09/receive.ts): which answer to which
 * message, the events it reports, and the checks behind it (validate.ts,
 * responses.ts). Time is a fixed Date; no sockets.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { encryptContent, parseKey } from "../../drivers/dc09/crypto.js";
import { crc16, decodeFrame, encodeFrame, type FrameInput } from "../../drivers/dc09/frame.js";
import { receive, type ReceiverOptions } from "../../drivers/dc09/receive.js";
import { buildAck, buildDuh, buildNak } from "../../drivers/dc09/responses.js";
import { AccountPolicy, checkTimestamp, SequenceTracker } from "../../drivers/dc09/validate.js";
import { bytesOf, VECTORS } from "./dc09-vectors.js";

const NOW = new Date("2026-11-23T10:00:00Z");
const KEY_HEX = "000102030405060708090A0B0C0D0E0F";
const KEY = parseKey(KEY_HEX);
const accounts = new AccountPolicy([{ account: "1234" }, { account: "BEEF", key: KEY_HEX }]);

function receiver(options: Partial<ReceiverOptions> = {}) {
  const tracker = new SequenceTracker();
  return (bytes: Uint8Array, now = NOW) => receive(bytes, { options: { accounts, ...options }, tracker, now });
}

const cid = (over: Partial<FrameInput> = {}): FrameInput => ({ token: "ADM-CID", sequence: 1, line: "0", account: "1234", data: "#1234|1120 01 015", ...over });
const enc = (over: Partial<FrameInput> = {}) => encodeFrame({ ...cid({ account: "BEEF", data: "#BEEF|1120 01 015", encrypted: true, timestamp: NOW }), ...over }, { key: KEY });

describe("what the receiver answers", () => {
  it("ACKs a Contact ID panic, echoing sequence, receiver, line and account, and reports it", () => {
    const r = receiver()(encodeFrame(cid({ sequence: 77, receiver: "2A", line: "3" })));
    expect(r).toMatchObject({ status: "event", answer: "ACK" });
    expect(r.response.toString("latin1")).toMatch(/^\n[0-9A-F]{8}"ACK"0077R2AL3#1234\[\]\r$/);
    expect(r.events).toEqual([{
      protocol: "ADM-CID", account: "1234", receiver: "2A", line: "3", sequence: 77, timestamp: null, encrypted: false,
      kind: "panic", qualifier: "new", code: "120", description: "Panic alarm", partition: 1, zone: 15, user: null, text: null,
      raw: "#1234|1120 01 015",
    }]);
  });

  it("ACKs a SIA DCS message and reports each of its events", () => {
    const r = receiver()(encodeFrame(cid({ token: "SIA-DCS", data: "#1234|Nri01/PA015/XT016" })));
    expect(r.answer).toBe("ACK");
    expect(r.events.map((e) => [e.protocol, e.kind, e.zone])).toEqual([["SIA-DCS", "panic", 15], ["SIA-DCS", "low_battery", 16]]);
  });

  it("ACKs a NULL link test without events", () => {
    const r = receiver()(encodeFrame({ token: "NULL", sequence: 0, line: "0", account: "1234" }));
    expect(r).toMatchObject({ status: "link_test", answer: "ACK", events: [] });
  });

  it("answers an encrypted message with an encrypted ACK carrying the receiver's time", () => {
    const r = receiver()(enc({ sequence: 9 }));
    expect(r).toMatchObject({ status: "event", answer: "ACK" });
    expect(r.events[0]).toMatchObject({ encrypted: true, timestamp: NOW.toISOString(), kind: "panic" });
    const ack = decodeFrame(r.response, () => KEY);
    expect(ack).toMatchObject({ token: "ACK", encrypted: true, sequence: 9, account: "BEEF", timestamp: NOW, data: "" });
  });

  it("ACKs a retransmission again but reports it as a duplicate, not as a new event", () => {
    const rx = receiver();
    const frame = encodeFrame(cid({ sequence: 5 }));
    expect(rx(frame).status).toBe("event");
    const again = rx(frame);
    expect(again).toMatchObject({ status: "duplicate", answer: "ACK" });
    // Same number, other content: the panel restarted its counter; a new event.
    expect(rx(encodeFrame(cid({ sequence: 5, data: "#1234|3120 01 015" }))).status).toBe("event");
  });

  it("NAKs with its own time a CRC error, a wrong length, garbage, and an over-long frame", () => {
    const good = encodeFrame(cid());
    const badCrc = Buffer.from(good);
    badCrc[1] = badCrc[1] === 0x30 ? 0x31 : 0x30;
    const body = good.subarray(9, good.length - 1);
    const badLen = bytesOf(`\n${crc16(body).toString(16).toUpperCase().padStart(4, "0")}0${(body.length + 1).toString(16).padStart(3, "0")}${body.toString("latin1")}\r`);
    for (const [bytes, reason] of [[badCrc, "crc"], [badLen, "length"], [Buffer.from("\nhello\r"), "length"], [Buffer.from("\nhello world, not DC-09\r"), "format"], [Buffer.alloc(5000, 10), "length"]] as const) {
      const r = receiver()(bytes);
      expect(r, reason).toMatchObject({ status: "rejected", answer: "NAK", error: { reason } });
      expect(r.response.equals(buildNak(NOW))).toBe(true);
    }
  });

  it("NAKs an encrypted message stamped outside +20 s / -40 s, and one without a timestamp", () => {
    const rx = receiver();
    expect(rx(enc({ sequence: 1, timestamp: new Date(NOW.getTime() + 20_000) })).answer).toBe("ACK");
    expect(rx(enc({ sequence: 2, timestamp: new Date(NOW.getTime() - 40_000) })).answer).toBe("ACK");
    expect(rx(enc({ sequence: 3, timestamp: new Date(NOW.getTime() + 21_000) }))).toMatchObject({ answer: "NAK", error: { reason: "timestamp" } });
    expect(rx(enc({ sequence: 4, timestamp: new Date(NOW.getTime() - 41_000) }))).toMatchObject({ answer: "NAK", error: { reason: "timestamp" } });
    // Without a timestamp: only a hand-made frame can be that (encodeFrame refuses).
    const noTs = Buffer.from(`"*ADM-CID"0005L0#BEEF[${encryptContent(KEY, "#BEEF|1120 01 015]")}`, "latin1");
    expect(rx(wrap(noTs))).toMatchObject({ answer: "NAK", error: { reason: "timestamp" } });
  });

  it("checks plain messages' timestamps only when asked to", () => {
    const stale = encodeFrame(cid({ timestamp: new Date(NOW.getTime() - 3_600_000) }));
    expect(receiver()(stale).answer).toBe("ACK");
    expect(receiver({ timestampCheck: "when_present" })(stale)).toMatchObject({ answer: "NAK", error: { reason: "timestamp" } });
    expect(receiver({ timestampCheck: "when_present", window: { aheadMs: 0, behindMs: 4_000_000 } })(stale).answer).toBe("ACK");
  });

  it("DUHs, echoing the header, an unknown token, an account not allowed, and data it cannot read", () => {
    const cases: [Buffer, string][] = [
      [wrap(Buffer.from('"RSP"0003L0#1234[#1234|NPA015]')), "unknown_token"],
      [encodeFrame({ token: "ACK", sequence: 3, line: "0", account: "1234" }), "unknown_token"],
      [encodeFrame(cid({ sequence: 3, account: "9999" })), "account"],
      [encodeFrame(cid({ sequence: 3, data: "#1234|9120 01 015" })), "data"],
      [encodeFrame(cid({ sequence: 3, token: "SIA-DCS", data: "#1234|Nri01" })), "data"],
    ];
    for (const [bytes, reason] of cases) {
      const r = receiver()(bytes);
      expect(r, reason).toMatchObject({ status: "rejected", answer: "DUH", error: { reason } });
      expect(decodeFrame(r.response)).toMatchObject({ token: "DUH", sequence: 3, line: "0", encrypted: false });
    }
  });

  it("DUHs encryption trouble: no key, plain from an account with a key, and a wrong key", () => {
    const noKey = encodeFrame(cid({ encrypted: true, timestamp: NOW }), { key: KEY });
    const plainFromKeyed = encodeFrame(cid({ account: "BEEF", data: "#BEEF|1120 01 015" }));
    const wrongKey = encodeFrame(cid({ account: "BEEF", encrypted: true, timestamp: NOW }), { key: parseKey("FF".repeat(16)) });
    for (const bytes of [noKey, plainFromKeyed, wrongKey]) expect(receiver()(bytes)).toMatchObject({ answer: "DUH", error: { reason: "encryption" } });
  });

  it("takes the encrypted Swissdotnet *SIA-DCS vector from its allowed account when the clock fits", () => {
    const v = VECTORS.find((x) => x.token === "SIA-DCS" && x.encrypted);
    const policy = new AccountPolicy([{ account: v?.account ?? "", key: v?.key ?? "" }]);
    const r = receive(bytesOf(v?.frame ?? ""), { options: { accounts: policy }, tracker: new SequenceTracker(), now: new Date(v?.timestamp ?? "") });
    expect(r).toMatchObject({ status: "event", answer: "ACK" });
    expect(r.events[0]).toMatchObject({ code: "HB", kind: "other", zone: 3, receiver: "C0FFD", line: "1234" });
  });
});

describe("garbage", () => {
  it("never makes receive() throw: every input gets a NAK or a DUH", () => {
    const rx = receiver();
    const samples = [encodeFrame(cid()), enc(), ...VECTORS.map((v) => bytesOf(v.frame))];
    for (let i = 0; i < 2000; i++) {
      const input = Buffer.from(samples[i % samples.length] as Buffer);
      for (let k = 0; k <= i % 3; k++) input[(i * 11 + k * 17) % input.length] = (i * 37 + k) & 0xff;
      const r = rx(i % 4 === 0 ? randomBytes(i % 300) : input);
      if (r.answer === "ACK") expect(r.status).not.toBe("rejected");
      else expect(r.error).toBeDefined();
    }
  });
});

describe("the answers' bytes", () => {
  it("builds the Swissdotnet encrypted ACK and NAK vectors exactly", () => {
    const v = VECTORS.find((x) => x.token === "ACK" && x.encrypted && x.sequence === 1);
    const ack = buildAck(
      { encrypted: true, sequence: 1, receiver: "5678", line: "1234", account: "080027E62A64" },
      { now: new Date(v?.timestamp ?? ""), key: parseKey(v?.key ?? ""), pad: Uint8Array.from(v?.pad ?? []) },
    );
    expect(ack.toString("latin1")).toBe(v?.frame);
    expect(buildNak(new Date("2015-04-14T16:09:09Z")).toString("latin1")).toBe('\n3C830025"NAK"0000R0L0A0[]_16:09:09,04-14-2015\r');
  });

  it("leaves absent receiver and line fields out of ACK and DUH", () => {
    expect(buildAck({ encrypted: false, sequence: 1, receiver: undefined, line: undefined, account: "1234" }, { now: NOW }).toString("latin1")).toMatch(/"ACK"0001#1234\[\]\r$/);
    expect(buildDuh({ encrypted: false, sequence: 1, receiver: undefined, line: undefined, account: "1234" }).toString("latin1")).toMatch(/"DUH"0001#1234\[\]\r$/);
    expect(buildAck({ encrypted: false, sequence: 1, receiver: undefined, line: "0", account: "1234" }, { now: NOW, timestamp: true }).toString("latin1"))
      .toMatch(/"ACK"0001L0#1234\[\]_10:00:00,11-23-2026\r$/);
  });
});

describe("receiver checks", () => {
  it("the timestamp window is +20 s / -40 s by default and configurable", () => {
    const at = (ms: number) => new Date(NOW.getTime() + ms);
    expect(checkTimestamp(at(20_000), NOW)).toEqual({ ok: true, skewMs: 20_000 });
    expect(checkTimestamp(at(20_001), NOW)).toEqual({ ok: false, skewMs: 20_001, why: "ahead" });
    expect(checkTimestamp(at(-40_001), NOW)).toEqual({ ok: false, skewMs: -40_001, why: "behind" });
    expect(checkTimestamp(at(-50_000), NOW, { aheadMs: 0, behindMs: 60_000 }).ok).toBe(true);
  });

  it("the sequence tracker forgets after rememberMs, and keeps bounded memory", () => {
    const t = new SequenceTracker({ maxAccounts: 3, perAccount: 2, rememberMs: 1000 });
    expect(t.check("a1", 1, "x", 0)).toBe("new");
    expect(t.check("A1", 1, "x", 500)).toBe("duplicate");
    expect(t.check("a1", 1, "x", 2000)).toBe("new");
    expect(t.check("a1", 2, "x", 2000)).toBe("new");
    expect(t.check("a1", 3, "x", 2000)).toBe("new");
    // Only the last two of a1 are kept: 1 is forgotten.
    expect(t.check("a1", 1, "x", 2001)).toBe("new");
    for (let i = 0; i < 100; i++) t.check(`acct${i}`, 1, "x", 3000);
    expect(t.size).toBe(3);
  });

  it("the account policy checks accounts and keys when configured", () => {
    expect(accounts.allows("beef")).toBe(true);
    expect(accounts.keyFor("beef")).toEqual(KEY);
    expect(accounts.keyFor("1234")).toBeUndefined();
    expect(() => new AccountPolicy([{ account: "12" }])).toThrow(/3-16 hex/);
    expect(() => new AccountPolicy([{ account: "1234" }, { account: "1234" }])).toThrow(/twice/);
    expect(() => new AccountPolicy([{ account: "1234", key: "00" }])).toThrow(/hex digits/);
  });
});

/** Envelope (CRC, length, LF/CR) around a body. */
function wrap(body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`\n${crc16(body).toString(16).toUpperCase().padStart(4, "0")}0${body.length.toString(16).toUpperCase().padStart(3, "0")}`), body, Buffer.from("\r")]);
}
