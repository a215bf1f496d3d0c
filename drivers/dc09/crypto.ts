/**
 * DC-09 encryption of the part of a frame after "[" (ANSI/SIA DC-09-2013
 * 5.4.6 and 5.5.1.7): AES-128/192/256 in CBC mode, initialisation vector all
 * zeros, no padding scheme of AES's own (no PKCS#7): the sender prepends pad
 * characters so the plaintext fills whole 16-byte blocks, ends the pad with
 * "|", and sends the ciphertext as hex.
 *
 *   plaintext  = <pad> "|" <data> "]" [<x-data>]... "_" <timestamp>
 *   on the wire: "[" + HEX(AES-CBC(key, IV=0, plaintext))
 *
 * Choices, where sources differ:
 * - Pad length 1..16: always at least one pad character, 16 when the rest
 *   already fills whole blocks. The Swissdotnet Java library
 *   (twanchai/sia-dc-09-library, AesCbcCipherAlgorithm) and pysiaalarm do
 *   the same. We read any length, 0 included.
 * - Pad characters: the standard asks for pseudo-random ones and excludes
 *   "|", "[" and "]" (the Swissdotnet RandomPaddingGenerator lists exactly
 *   those). We send printable ASCII (0x20-0x7E) without those three, since
 *   some receivers decode the plaintext as text; we read any byte values
 *   (the Swissdotnet vectors have binary pads).
 * - The key is configured as hex (32, 48 or 64 digits), as panels and
 *   receivers (ioBroker.sia) take it; pysiaalarm's ASCII keys are a
 *   different convention we do not follow.
 * - ioBroker.sia 2.0.4 encrypts its ACKs with PKCS#7 padding on top and a
 *   space before the timestamp; we do not accept that (not the standard).
 *
 * Pure: node:crypto only, the random source is injectable.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { Dc09Error, type FrameHeader } from "./errors.js";

const ZERO_IV = Buffer.alloc(16);
const BLOCK = 16;
const PIPE = 0x7c;

/** Bytes a pad must not contain: "|" ends the pad, "[" and "]" delimit blocks. */
const PAD_FORBIDDEN = new Set([0x7c, 0x5b, 0x5d]);

/** A configured key: hex → bytes, checked for an AES size. Throws a plain Error (config time, not wire data). */
export function parseKey(hex: string): Buffer {
  if (!/^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{48}|[0-9a-fA-F]{64})$/.test(hex)) {
    throw new Error(`DC-09 key must be 32, 48 or 64 hex digits (AES-128/192/256), got ${hex.length} characters`);
  }
  return Buffer.from(hex, "hex");
}

function algorithm(key: Buffer): string {
  if (key.length !== 16 && key.length !== 24 && key.length !== 32) throw new Error(`AES key must be 16, 24 or 32 bytes, got ${key.length}`);
  return `aes-${key.length * 8}-cbc`;
}

/** Random pad characters: printable ASCII except "|", "[" and "]". */
export function randomPad(length: number): Buffer {
  const out = Buffer.alloc(length);
  let filled = 0;
  while (filled < length) {
    for (const b of randomBytes(length * 2)) {
      const c = 0x20 + (b % 0x5f);
      if (filled < length && !PAD_FORBIDDEN.has(c)) out[filled++] = c;
    }
  }
  return out;
}

/** How many pad characters make pad + "|" + content fill whole blocks: 1..16. */
export function padLength(contentLength: number): number {
  const over = (contentLength + 1) % BLOCK;
  return over === 0 ? BLOCK : BLOCK - over;
}

/**
 * Encrypt the content that follows "[" (data, "]", x-data, timestamp), as
 * latin1 bytes; returns upper-case hex. `pad` overrides the random pad (test
 * vectors); it must have the length padLength() gives.
 */
export function encryptContent(key: Buffer, content: string, pad?: Uint8Array): string {
  const body = Buffer.from(content, "latin1");
  const n = padLength(body.length);
  const p = pad === undefined ? randomPad(n) : Buffer.from(pad);
  if (p.length !== n) throw new Error(`pad must be ${n} bytes for ${body.length} bytes of content, got ${p.length}`);
  if (p.some((b) => PAD_FORBIDDEN.has(b))) throw new Error('pad must not contain "|", "[" or "]"');
  const cipher = createCipheriv(algorithm(key), key, ZERO_IV);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(Buffer.concat([p, Buffer.from([PIPE]), body])), cipher.final()]).toString("hex").toUpperCase();
}

/**
 * Decrypt the hex after "[" and drop the pad: returns the content (latin1).
 * A wrong key gives bytes without a "|" in the first block, or content that
 * is not text: both are an "encryption" error, as is hex of the wrong shape.
 */
export function decryptContent(key: Buffer, hex: string, header?: FrameHeader): string {
  const fail = (why: string) => new Dc09Error("encryption", `cannot decrypt: ${why}`, header === undefined ? undefined : { header });
  if (hex.length === 0 || hex.length % (BLOCK * 2) !== 0) throw fail(`${hex.length} hex digits is not a whole number of 16-byte blocks`);
  if (!/^[0-9A-Fa-f]+$/.test(hex)) throw fail("not hex");
  let plain: Buffer;
  try {
    const decipher = createDecipheriv(algorithm(key), key, ZERO_IV);
    decipher.setAutoPadding(false);
    plain = Buffer.concat([decipher.update(Buffer.from(hex, "hex")), decipher.final()]);
  } catch (e) {
    throw new Dc09Error("encryption", "cannot decrypt", { ...(header === undefined ? {} : { header }), cause: e });
  }
  // The pad is at most 16 bytes, so the "|" that ends it is within the first 17.
  const bar = plain.subarray(0, BLOCK + 1).indexOf(PIPE);
  if (bar < 0) throw fail('no "|" after the pad (wrong key?)');
  const content = plain.subarray(bar + 1);
  // The content is ASCII (x-data may carry Windows-1252 text); control bytes mean a wrong key.
  if (content.some((b) => b < 0x20 || b === 0x7f)) throw fail("content is not text (wrong key?)");
  return content.toString("latin1");
}
