/**
 * The simulator's own DC-09 encoder (scripts/sim/dc09-wire.ts, dc09-events.ts)
 * against public vectors of other implementations, and against the agent's
 * codec (drivers/dc09) in both directions: what the simulator sends the
 * codec reads, what the codec answers the simulator reads.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { crc16, decodeFrame } from "../../drivers/dc09/frame.js";
import { parseKey } from "../../drivers/dc09/crypto.js";
import { parseContactId } from "../../drivers/dc09/contact-id.js";
import { buildAck, buildDuh, buildNak } from "../../drivers/dc09/responses.js";
import { parseSiaDcs } from "../../drivers/dc09/sia-dcs.js";
import { SIM_EVENT_NAMES, SIM_EVENTS, simEventData } from "../../scripts/sim/dc09-events.js";
import { simCrc, simFrame, simReadAnswer, simTimestamp } from "../../scripts/sim/dc09-wire.js";
import { VECTORS } from "../drivers/dc09-vectors.js";

const KEYS = {
  aes128: "000102030405060708090A0B0C0D0E0F",
  aes192: "000102030405060708090A0B0C0D0E0F1011121314151617",
  aes256: "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
};

describe("the simulator's encoder against public vectors", () => {
  it("computes the CRC of the spec's examples and the CRC-16/ARC check value", () => {
    expect(simCrc(Buffer.from("123456789"))).toBe(0xbb3d);
    expect(simCrc(Buffer.from('"ADM-CID"9876R579BDFL789ABC#12345A[#12345A|1110 00 129]'))).toBe(0x87cd);
  });

  it("agrees with the codec's bitwise CRC on random input", () => {
    for (let i = 0; i < 200; i++) {
      const b = randomBytes(i * 3);
      expect(simCrc(b)).toBe(crc16(b));
    }
  });

  it("rebuilds every '#'-account vector of other implementations byte for byte, encrypted ones with their pads", () => {
    const usable = VECTORS.filter((v) => v.token !== "NAK");
    for (const v of usable) {
      const built = simFrame({
        token: v.token,
        sequence: v.sequence,
        receiver: v.receiver,
        line: v.line,
        account: v.account,
        data: v.data,
        extended: v.extended ?? [],
        time: v.timestamp === undefined ? undefined : new Date(v.timestamp),
        key: v.key === undefined ? undefined : Buffer.from(v.key, "hex"),
        ...(v.pad === undefined ? {} : { pad: Buffer.from(v.pad) }),
      });
      expect(built.toString("latin1"), v.frame).toBe(v.frame.slice(0, 9).toUpperCase() + v.frame.slice(9));
    }
  });

  it("formats timestamps as _HH:MM:SS,MM-DD-YYYY in UTC", () => {
    expect(simTimestamp(new Date("2015-04-14T16:08:12Z"))).toBe("_16:08:12,04-14-2015");
  });
});

describe("what the simulator sends, read by the agent's codec", () => {
  const at = new Date("2026-11-23T10:00:00Z");

  for (const format of ["cid", "sia"] as const) {
    it(`every ${format} event decodes to the kind its Contact ID code means, plain and encrypted (AES-128/192/256)`, () => {
      for (const name of SIM_EVENT_NAMES) {
        if (format === "sia" && SIM_EVENTS[name].sia === null) continue;
        const { token, data } = simEventData(format, name, { account: "1234", partition: 2, zone: 15, user: 7 });
        const cid = parseContactId(simEventData("cid", name, { account: "1234", partition: 2, zone: 15, user: 7 }).data);
        for (const key of [undefined, KEYS.aes128, KEYS.aes192, KEYS.aes256]) {
          const frame = simFrame({ token, sequence: 42, line: "0", account: "1234", data, time: at, key: key === undefined ? undefined : Buffer.from(key, "hex") });
          const f = decodeFrame(frame, () => (key === undefined ? undefined : parseKey(key)));
          expect(f).toMatchObject({ token, encrypted: key !== undefined, sequence: 42, line: "0", account: "1234", data, timestamp: at });
          const [meaning] = token === "ADM-CID" ? [parseContactId(f.data)] : parseSiaDcs(f.data);
          expect({ kind: meaning?.kind, qualifier: meaning?.qualifier, zone: meaning?.zone, user: meaning?.user, partition: meaning?.partition }, `${format} ${name}`)
            .toEqual({ kind: cid.kind, qualifier: cid.qualifier, zone: cid.zone, user: cid.user, partition: 2 });
        }
      }
    });
  }

  it("SIA DCS has no code for supervision loss here: the simulator says so rather than send a wrong one", () => {
    expect(() => simEventData("sia", "supervision-loss", { account: "1234" })).toThrow(/Contact ID/);
  });
});

describe("what the codec answers, read by the simulator", () => {
  const now = new Date("2026-11-23T10:00:00Z");
  const key = parseKey(KEYS.aes256);

  it("reads an ACK, an encrypted ACK with the receiver's time, a NAK and a DUH", () => {
    const req = { encrypted: false, sequence: 12, receiver: "1", line: "0", account: "1234" };
    expect(simReadAnswer(buildAck(req, { now }))).toEqual({ token: "ACK", encrypted: false, sequence: 12, account: "1234" });
    expect(simReadAnswer(buildAck({ ...req, encrypted: true }, { now, key }), key)).toEqual({ token: "ACK", encrypted: true, sequence: 12, account: "1234", receiverTime: now });
    expect(simReadAnswer(buildNak(now))).toEqual({ token: "NAK", encrypted: false, sequence: 0, account: "0", receiverTime: now });
    expect(simReadAnswer(buildDuh(req))).toEqual({ token: "DUH", encrypted: false, sequence: 12, account: "1234" });
  });

  it("reads the Swissdotnet encrypted ACK vectors, and refuses damaged answers", () => {
    for (const v of VECTORS.filter((x) => x.token === "ACK" && x.encrypted)) {
      const k = Buffer.from(v.key ?? "", "hex");
      expect(simReadAnswer(Buffer.from(v.frame, "latin1"), k)).toMatchObject({ token: "ACK", sequence: v.sequence, receiverTime: new Date(v.timestamp ?? "") });
    }
    const nak = buildNak(now);
    const bad = Buffer.from(nak);
    bad[3] = bad[3] === 0x30 ? 0x31 : 0x30;
    expect(simReadAnswer(bad)).toMatch(/CRC/);
    expect(simReadAnswer(nak.subarray(0, nak.length - 1))).toBe("not a frame");
  });
});
