/**
 * DC-09 frames (drivers/dc09/frame.ts, stream.ts): the CRC against the
 * catalogue and the spec's examples, reading and building the public vectors
 * of other implementations, every error reason, bounded input, and garbage.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Dc09Error } from "../../drivers/dc09/errors.js";
import {
  crc16,
  decodeFrame,
  encodeFrame,
  formatTimestamp,
  MAX_FRAME_BYTES,
  parseFrame,
  parseTimestamp,
} from "../../drivers/dc09/frame.js";
import { parseKey } from "../../drivers/dc09/crypto.js";
import { FrameSplitter } from "../../drivers/dc09/stream.js";
import { bytesOf, VECTORS } from "./dc09-vectors.js";

/** The reason of the Dc09Error fn throws (fails the test if it throws anything else, or nothing). */
function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(Dc09Error);
    return (e as Dc09Error).reason;
  }
  throw new Error("expected a Dc09Error, nothing was thrown");
}

/** A valid frame around a body, for building broken ones. */
function frameOf(body: string, crc = crc16(Buffer.from(body, "latin1")), len = body.length): Buffer {
  return bytesOf(`\n${crc.toString(16).toUpperCase().padStart(4, "0")}0${len.toString(16).toUpperCase().padStart(3, "0")}${body}\r`);
}

describe("CRC-16 of DC-09 frames", () => {
  it("is CRC-16/ARC: the catalogue check value of \"123456789\" is 0xBB3D", () => {
    expect(crc16(Buffer.from("123456789"))).toBe(0xbb3d);
  });

  it("matches the corrected DC-07 table: entry 100 is 0xEB01 (North Latitude DC-09 Q&A erratum)", () => {
    // The table entry for byte n is the CRC register after shifting n in from 0.
    expect(crc16(Buffer.from([100]))).toBe(0xeb01);
  });

  it("gives the spec's example CRCs 87CD (ADM-CID) and CE11 (SIA-DCS), not CRC-CCITT's", () => {
    expect(crc16(Buffer.from('"ADM-CID"9876R579BDFL789ABC#12345A[#12345A|1110 00 129]'))).toBe(0x87cd);
    expect(crc16(Buffer.from('"SIA-DCS"9876R579BDFL789ABC#12345A[#12345A|NFA129]'))).toBe(0xce11);
  });
});

describe("reading frames of other implementations", () => {
  for (const v of VECTORS) {
    it(`reads ${JSON.stringify(v.frame.slice(1, 40))}… (${v.source.split(",")[0]})`, () => {
      const f = decodeFrame(bytesOf(v.frame), () => (v.key === undefined ? undefined : parseKey(v.key)));
      expect(f).toEqual({
        token: v.token,
        encrypted: v.encrypted,
        sequence: v.sequence,
        receiver: v.receiver,
        line: v.line,
        account: v.account,
        data: v.data,
        extended: v.extended ?? [],
        timestamp: v.timestamp === undefined ? undefined : new Date(v.timestamp),
      });
    });
  }
});

describe("building frames", () => {
  for (const v of VECTORS) {
    it(`rebuilds ${JSON.stringify(v.frame.slice(1, 40))}… byte for byte (hex in upper case)`, () => {
      const built = encodeFrame(
        {
          token: v.token as "ACK",
          encrypted: v.encrypted,
          sequence: v.sequence,
          receiver: v.receiver,
          line: v.line,
          account: v.account,
          accountMarker: v.token === "NAK" ? "A" : "#",
          data: v.data,
          extended: v.extended ?? [],
          timestamp: v.timestamp === undefined ? undefined : new Date(v.timestamp),
        },
        v.key === undefined ? {} : { key: parseKey(v.key), pad: Uint8Array.from(v.pad ?? []) },
      );
      // Our CRC and length fields are upper case; the encrypted part is upper-case hex.
      const expected = v.frame.slice(0, 9).toUpperCase() + v.frame.slice(9);
      expect(built.toString("latin1")).toBe(expected);
    });
  }

  it("writes an unencrypted event frame that decodes to what was put in", () => {
    const input = { token: "ADM-CID" as const, sequence: 42, receiver: "12", line: "3", account: "1234", data: "#1234|1120 01 015", timestamp: new Date("2026-03-04T05:06:07Z") };
    const bytes = encodeFrame(input);
    expect(bytes.toString("latin1")).toMatch(/^\n[0-9A-F]{4}0[0-9A-F]{3}"ADM-CID"0042R12L3#1234\[#1234\|1120 01 015\]_05:06:07,03-04-2026\r$/);
    expect(decodeFrame(bytes)).toMatchObject({ ...input, encrypted: false, extended: [] });
  });

  it("refuses inputs no frame can carry", () => {
    expect(() => encodeFrame({ token: "NULL", sequence: 10000, account: "1234" })).toThrow(/sequence/);
    expect(() => encodeFrame({ token: "NULL", sequence: 1, account: "12G4" })).toThrow(/account/);
    expect(() => encodeFrame({ token: "SIA-DCS", sequence: 1, account: "1234", data: "a]b" })).toThrow(/data/);
    expect(() => encodeFrame({ token: "NULL", encrypted: true, sequence: 1, account: "1234", timestamp: new Date() })).toThrow(/key/);
    expect(() => encodeFrame({ token: "SIA-DCS", sequence: 1, account: "1234", data: "x".repeat(5000) })).toThrow(/exceeds/);
  });
});

describe("timestamps", () => {
  it("are written as HH:MM:SS,MM-DD-YYYY in UTC and read back", () => {
    const at = new Date("2026-11-23T07:08:09Z");
    expect(formatTimestamp(at)).toBe("07:08:09,11-23-2026");
    expect(parseTimestamp("07:08:09,11-23-2026")).toEqual(at);
  });

  it("are refused when malformed or not a real date, with reason timestamp", () => {
    for (const t of ["7:08:09,11-23-2026", "07:08:09 11-23-2026", "24:00:00,01-01-2026", "12:00:00,02-30-2026", "12:60:00,01-01-2026", ""]) {
      expect(reasonOf(() => parseTimestamp(t))).toBe("timestamp");
    }
    expect(reasonOf(() => decodeFrame(frameOf('"NULL"0001L0#1234[]_12:00:00,13-01-2026')))).toBe("timestamp");
  });
});

describe("frames that are refused, with their reason", () => {
  const good = '"ADM-CID"0001L0#1234[#1234|1120 01 015]';

  it("a CRC that does not match the body: crc", () => {
    expect(reasonOf(() => parseFrame(frameOf(good, crc16(Buffer.from(good)) ^ 1)))).toBe("crc");
  });

  it("a length field that does not match the body, or is not 0LLL: length", () => {
    expect(reasonOf(() => parseFrame(frameOf(good, undefined, good.length + 1)))).toBe("length");
    const bad = bytesOf(`\n${crc16(Buffer.from(good)).toString(16).toUpperCase().padStart(4, "0")}1${good.length.toString(16).padStart(3, "0")}${good}\r`);
    expect(reasonOf(() => parseFrame(bad))).toBe("length");
  });

  it("missing <LF> or <CR>, or a header that is not DC-09: format", () => {
    const ok = frameOf(good);
    expect(reasonOf(() => parseFrame(ok.subarray(1)))).toBe("format");
    expect(reasonOf(() => parseFrame(ok.subarray(0, ok.length - 1)))).toBe("format");
    expect(reasonOf(() => parseFrame(frameOf('"ADM-CID"01L0#1234[#1234|1120 01 015]')))).toBe("format");
    expect(reasonOf(() => parseFrame(frameOf('"ADM-CID"0001L0#12Z4[]')))).toBe("format");
    expect(reasonOf(() => decodeFrame(frameOf('"ADM-CID"0001L0#1234[#1234|1120 01 015')))).toBe("format");
    expect(reasonOf(() => decodeFrame(frameOf('"ADM-CID"0001L0#1234[#1234|1120 01 015]junk')))).toBe("format");
  });

  it("an ID token the receiver does not process: unknown_token, with the header for a DUH", () => {
    try {
      parseFrame(frameOf('"SIA-DCX"0007R1L2#ABC[#ABC|NPA1]'));
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ reason: "unknown_token", header: { token: "SIA-DCX", sequence: 7, receiver: "1", line: "2", account: "ABC" } });
    }
    expect(reasonOf(() => parseFrame(frameOf('"RSP"0007L0#1234[]')))).toBe("unknown_token");
    expect(reasonOf(() => parseFrame(frameOf('"*NAK"0000R0L0A0[00]')))).toBe("unknown_token");
  });

  it("an encrypted frame with no key for its account: encryption", () => {
    const v = VECTORS.find((x) => x.token === "SIA-DCS" && x.encrypted);
    expect(reasonOf(() => decodeFrame(bytesOf(v?.frame ?? "")))).toBe("encryption");
  });

  it("input longer than the largest frame: length, refused without reading it", () => {
    const huge = Buffer.alloc(MAX_FRAME_BYTES + 1, 0x41);
    huge[0] = 0x0a;
    expect(reasonOf(() => parseFrame(huge))).toBe("length");
    expect(reasonOf(() => parseFrame(Buffer.alloc(50 * 1024 * 1024)))).toBe("length");
  });

  it("throws nothing but Dc09Errors on random bytes and on mutated valid frames", () => {
    const samples = VECTORS.map((v) => bytesOf(v.frame));
    const keyFor = () => parseKey("ABCDABCDABCDABCDABCDABCDABCDABCD");
    let refused = 0;
    for (let i = 0; i < 3000; i++) {
      let input: Buffer;
      if (i % 3 === 0) {
        input = randomBytes(i % 200);
      } else {
        input = Buffer.from(samples[i % samples.length] as Buffer);
        for (let k = 0; k < 1 + (i % 4); k++) input[(i * 7 + k * 13) % input.length] = (i * 31 + k) & 0xff;
      }
      try {
        decodeFrame(input, keyFor);
      } catch (e) {
        expect(e).toBeInstanceOf(Dc09Error);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(2000);
  });
});

describe("cutting a byte stream into frames", () => {
  const a = bytesOf(VECTORS[0]?.frame ?? "");
  const b = bytesOf(VECTORS[1]?.frame ?? "");

  it("finds frames split across chunks and several frames in one chunk", () => {
    const s = new FrameSplitter();
    const all = Buffer.concat([a, b, a]);
    const out = [...s.push(all.subarray(0, 5)), ...s.push(all.subarray(5, a.length + 3)), ...s.push(all.subarray(a.length + 3))];
    expect(out.map((x) => (x.type === "frame" ? x.bytes.toString("latin1") : x))).toEqual([a, b, a].map((x) => x.toString("latin1")));
    expect(s.pending).toBe(0);
  });

  it("drops NUL padding silently, reports other junk, and restarts at an <LF> inside junk", () => {
    const s = new FrameSplitter();
    const out = s.push(Buffer.concat([Buffer.from([0, 0]), a, Buffer.from("junk\nmore junk"), b, Buffer.from([0])]));
    expect(out.filter((x) => x.type === "frame").length).toBe(2);
    expect(out.filter((x) => x.type === "discarded")).toEqual([
      { type: "discarded", bytes: 4, why: "not_a_frame" },
      { type: "discarded", bytes: 10, why: "not_a_frame" },
    ]);
  });

  it("keeps a frame with a wrong length field whole, so it can be refused and answered", () => {
    const body = '"NULL"0001L0#1234[]';
    const wrong = frameOf(body, undefined, body.length + 5);
    const out = new FrameSplitter().push(wrong);
    expect(out).toEqual([{ type: "frame", bytes: wrong }]);
    expect(reasonOf(() => parseFrame(wrong))).toBe("length");
  });

  it("holds at most one frame's worth of bytes when no <CR> comes", () => {
    const s = new FrameSplitter();
    const out = [...s.push(Buffer.from("\n")), ...s.push(Buffer.alloc(3000, 0x41)), ...s.push(Buffer.alloc(3000, 0x41))];
    // The first MAX_FRAME_BYTES from the <LF> are too long for a frame; the rest has no <LF>: junk.
    expect(out[0]).toEqual({ type: "discarded", bytes: MAX_FRAME_BYTES, why: "too_long" });
    expect(out.every((x) => x.type === "discarded")).toBe(true);
    expect(out.reduce((n, x) => n + (x.type === "discarded" ? x.bytes : 0), 0)).toBe(6001);
    expect(s.pending).toBe(0);
    // And it recovers: the next frame comes out.
    expect(s.push(a).filter((x) => x.type === "frame")).toHaveLength(1);
  });
});
