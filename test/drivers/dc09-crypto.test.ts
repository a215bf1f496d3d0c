/**
 * DC-09 encryption (drivers/dc09/crypto.ts): AES-CBC with a zero IV and the
 * pad-then-"|" layout, checked against the Swissdotnet library's encrypted
 * vectors (test/drivers/dc09-vectors.ts) and against plain node:crypto.
 */
import { createCipheriv } from "node:crypto";
import { describe, expect, it } from "vitest";
import { decryptContent, encryptContent, padLength, parseKey, randomPad } from "../../drivers/dc09/crypto.js";
import { Dc09Error } from "../../drivers/dc09/errors.js";
import { VECTORS } from "./dc09-vectors.js";

const KEY128 = parseKey("ABCDABCDABCDABCDABCDABCDABCDABCD");
const KEY192 = parseKey("000102030405060708090A0B0C0D0E0F1011121314151617");
const KEY256 = parseKey("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");

describe("DC-09 AES encryption", () => {
  it("decrypts the Swissdotnet vectors to pad, \"|\" and the clear content", () => {
    const encrypted = VECTORS.filter((v) => v.encrypted);
    expect(encrypted.length).toBeGreaterThanOrEqual(5);
    for (const v of encrypted) {
      const hex = v.frame.slice(v.frame.indexOf("[") + 1, -1);
      const content = decryptContent(parseKey(v.key ?? ""), hex);
      expect(content.startsWith(`${v.data}]`)).toBe(true);
      expect(content.endsWith(`_${v.frame.length > 0 ? tsText(v.timestamp ?? "") : ""}`)).toBe(true);
    }
  });

  it("uses a zero IV and no padding scheme of its own: the same bytes as plain AES-128-CBC", () => {
    const content = "#1234|1120 01 015]_10:00:00,01-01-2026";
    const pad = Buffer.alloc(padLength(content.length), 0x41);
    const ours = encryptContent(KEY128, content, pad);
    const c = createCipheriv("aes-128-cbc", KEY128, Buffer.alloc(16));
    c.setAutoPadding(false);
    const plain = Buffer.concat([pad, Buffer.from("|" + content)]);
    expect(ours).toBe(Buffer.concat([c.update(plain), c.final()]).toString("hex").toUpperCase());
  });

  it("pads to whole 16-byte blocks with 1 to 16 pad characters", () => {
    for (let n = 0; n < 40; n++) {
      const p = padLength(n);
      expect(p).toBeGreaterThanOrEqual(1);
      expect(p).toBeLessThanOrEqual(16);
      expect((p + 1 + n) % 16).toBe(0);
    }
    expect(padLength(15)).toBe(16);
  });

  it("pads with printable characters other than \"|\", \"[\" and \"]\"", () => {
    const pad = randomPad(4000);
    expect([...pad].every((b) => b >= 0x20 && b <= 0x7e && b !== 0x7c && b !== 0x5b && b !== 0x5d)).toBe(true);
  });

  it("round-trips with AES-128, AES-192 and AES-256 keys", () => {
    const content = "#ABC|Nri01/PA015][X115000]_23:59:59,12-31-2026";
    for (const key of [KEY128, KEY192, KEY256]) {
      const hex = encryptContent(key, content);
      expect(hex).toMatch(/^[0-9A-F]+$/);
      expect(hex.length % 32).toBe(0);
      expect(decryptContent(key, hex)).toBe(content);
    }
  });

  it("refuses a wrong key, a truncated or non-hex ciphertext with reason encryption", () => {
    const hex = encryptContent(KEY128, "#1234|1120 01 015]_10:00:00,01-01-2026");
    const wrong = parseKey("ABCDABCDABCDABCDABCDABCDABCDABCE");
    for (const [k, h] of [[wrong, hex], [KEY128, hex.slice(0, -2)], [KEY128, hex.slice(0, -1) + "Z"], [KEY128, ""], [KEY256, hex]] as const) {
      try {
        decryptContent(k, h);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(Dc09Error);
        expect((e as Dc09Error).reason).toBe("encryption");
      }
    }
  });

  it("takes keys as 32, 48 or 64 hex digits and nothing else", () => {
    expect(parseKey("00".repeat(16))).toHaveLength(16);
    expect(parseKey("00".repeat(24))).toHaveLength(24);
    expect(parseKey("00".repeat(32))).toHaveLength(32);
    for (const bad of ["", "00".repeat(15), "00".repeat(20), "ZZ".repeat(16), "AAAAAAAAAAAAAAAA"]) expect(() => parseKey(bad)).toThrow(/32, 48 or 64 hex/);
  });
});

/** ISO → DC-09 timestamp text. */
function tsText(iso: string): string {
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())},${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}-${d.getUTCFullYear()}`;
}
