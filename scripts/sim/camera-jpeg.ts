/**
 * A small baseline JPEG encoder (ITU-T T.81), so the simulated camera serves
 * a real snapshot that any decoder accepts: JFIF APP0, 4:4:4 YCbCr, the
 * example quantisation tables of Annex K.1 scaled like libjpeg's quality,
 * and the typical Huffman tables of Annex K.3. Node builtins only.
 */

const ZIGZAG: number[] = (() => {
  // Natural (row-major) index of the k-th coefficient in zig-zag order (T.81 Figure A.6).
  const order: number[] = [];
  for (let s = 0; s < 15; s++) {
    const cells: number[] = [];
    for (let r = 0; r < 8; r++) {
      const c = s - r;
      if (c >= 0 && c < 8) cells.push(r * 8 + c);
    }
    // Odd diagonals run top-right to bottom-left, even ones the other way.
    order.push(...(s % 2 === 0 ? cells.reverse() : cells));
  }
  return order;
})();

// Annex K.1, Tables K.1 and K.2, in natural order.
const LUMA_Q = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22,
  37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const CHROMA_Q = [
  17,
  18,
  24,
  47,
  99,
  99,
  99,
  99,
  18,
  21,
  26,
  66,
  99,
  99,
  99,
  99,
  24,
  26,
  56,
  99,
  99,
  99,
  99,
  99,
  47,
  66,
  99,
  99,
  99,
  99,
  99,
  99,
  ...new Array<number>(32).fill(99),
];

interface HuffSpec {
  /** Number of codes of each length 1..16 (T.81 B.2.4.2 BITS). */
  bits: number[];
  /** Symbols in order of increasing code length (HUFFVAL). */
  values: number[];
}

// Annex K.3: Tables K.3 (DC luminance), K.4 (DC chrominance), K.5 (AC luminance), K.6 (AC chrominance).
// AC symbols are RS = run << 4 | size; 0x00 is EOB, 0xf0 is ZRL.
const DC_LUMA = checked({ bits: [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0], values: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] });
const DC_CHROMA = checked({ bits: [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0], values: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] });
const AC_LUMA = checked({
  bits: [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d],
  values: [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91,
    0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a,
    0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53,
    0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79,
    0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
    0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9,
    0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2,
    0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
  ],
});
const AC_CHROMA = checked({
  bits: [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77],
  values: [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14,
    0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17,
    0x18, 0x19, 0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a,
    0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78,
    0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3,
    0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7,
    0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2,
    0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
  ],
});

/** A table whose code counts do not match its symbols, or that repeats one, would corrupt every image. */
function checked(h: HuffSpec): HuffSpec {
  const total = h.bits.reduce((a, b) => a + b, 0);
  if (total !== h.values.length || new Set(h.values).size !== total) throw new Error("inconsistent Huffman table");
  return h;
}

/** Encode an RGB image (rgbAt returns 0–255 channels) as a baseline JFIF JPEG. */
export function encodeJpeg(width: number, height: number, rgbAt: (x: number, y: number) => [number, number, number], quality = 75): Buffer {
  const scale = quality < 50 ? 5000 / quality : 200 - 2 * quality;
  const qt = (base: number[]) => base.map((v) => Math.min(255, Math.max(1, Math.floor((v * scale + 50) / 100))));
  const qLuma = qt(LUMA_Q);
  const qChroma = qt(CHROMA_Q);
  const tables = [huffCodes(DC_LUMA), huffCodes(AC_LUMA), huffCodes(DC_CHROMA), huffCodes(AC_CHROMA)] as const;

  const out = new BitWriter();
  const prevDc = [0, 0, 0];
  const block = new Float64Array(64);
  for (let by = 0; by < height; by += 8) {
    for (let bx = 0; bx < width; bx += 8) {
      const ycc: [Float64Array, Float64Array, Float64Array] = [new Float64Array(64), new Float64Array(64), new Float64Array(64)];
      for (let i = 0; i < 64; i++) {
        // Edge blocks repeat the last row/column (T.81 A.2.4 leaves padding to the encoder).
        const [r, g, b] = rgbAt(Math.min(bx + (i % 8), width - 1), Math.min(by + (i >> 3), height - 1));
        ycc[0][i] = 0.299 * r + 0.587 * g + 0.114 * b - 128;
        ycc[1][i] = -0.168736 * r - 0.331264 * g + 0.5 * b;
        ycc[2][i] = 0.5 * r - 0.418688 * g - 0.081312 * b;
      }
      for (let c = 0; c < 3; c++) {
        fdct(ycc[c] as Float64Array, block);
        const q = c === 0 ? qLuma : qChroma;
        const [dc, ac] = c === 0 ? [tables[0], tables[1]] : [tables[2], tables[3]];
        const zz = ZIGZAG.map((n) => Math.round((block[n] as number) / (q[n] as number)));
        const diff = (zz[0] as number) - (prevDc[c] as number);
        prevDc[c] = zz[0] as number;
        writeValue(out, dc, 0, diff);
        let run = 0;
        for (let k = 1; k < 64; k++) {
          const v = zz[k] as number;
          if (v === 0) {
            run++;
            continue;
          }
          while (run > 15) {
            out.code(ac, 0xf0); // ZRL: sixteen zeros
            run -= 16;
          }
          writeValue(out, ac, run, v);
          run = 0;
        }
        if (run > 0) out.code(ac, 0x00); // EOB
      }
    }
  }
  const scan = out.finish();

  const seg = (marker: number, body: number[] | Buffer) => {
    const b = Buffer.from(body);
    return Buffer.concat([Buffer.from([0xff, marker, (b.length + 2) >> 8, (b.length + 2) & 0xff]), b]);
  };
  const dht = (cls: number, id: number, h: HuffSpec) => [(cls << 4) | id, ...h.bits, ...h.values];
  return Buffer.concat([
    Buffer.from([0xff, 0xd8]), // SOI
    seg(0xe0, [...Buffer.from("JFIF\0"), 1, 1, 0, 0, 1, 0, 1, 0, 0]), // APP0: JFIF 1.01, aspect 1:1, no thumbnail
    seg(0xdb, [0, ...ZIGZAG.map((n) => qLuma[n] as number), 1, ...ZIGZAG.map((n) => qChroma[n] as number)]),
    seg(0xc0, [8, height >> 8, height & 0xff, width >> 8, width & 0xff, 3, 1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1]),
    seg(0xc4, [...dht(0, 0, DC_LUMA), ...dht(1, 0, AC_LUMA), ...dht(0, 1, DC_CHROMA), ...dht(1, 1, AC_CHROMA)]),
    seg(0xda, [3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]),
    scan,
    Buffer.from([0xff, 0xd9]), // EOI
  ]);
}

type CodeTable = Map<number, { code: number; length: number }>;

/** Canonical codes from BITS/HUFFVAL (T.81 Annex C, Figures C.1–C.3). */
function huffCodes(h: HuffSpec): CodeTable {
  const table: CodeTable = new Map();
  let code = 0;
  let k = 0;
  for (let length = 1; length <= 16; length++) {
    for (let n = 0; n < (h.bits[length - 1] as number); n++) table.set(h.values[k++] as number, { code: code++, length });
    code <<= 1;
  }
  return table;
}

/** A coefficient as its category (size) symbol and the size low bits of its value (T.81 F.1.2.1–F.1.2.2). */
function writeValue(out: BitWriter, table: CodeTable, run: number, v: number): void {
  const size = v === 0 ? 0 : Math.floor(Math.log2(Math.abs(v))) + 1;
  out.code(table, (run << 4) | size);
  if (size > 0) out.bits(v < 0 ? v - 1 + (1 << size) : v, size);
}

class BitWriter {
  private readonly bytes: number[] = [];
  private acc = 0;
  private n = 0;

  code(table: CodeTable, symbol: number): void {
    const c = table.get(symbol);
    if (!c) throw new Error(`no Huffman code for symbol 0x${symbol.toString(16)}`);
    this.bits(c.code, c.length);
  }

  bits(value: number, count: number): void {
    for (let i = count - 1; i >= 0; i--) {
      this.acc = (this.acc << 1) | ((value >> i) & 1);
      if (++this.n === 8) this.flushByte();
    }
  }

  finish(): Buffer {
    // Pad the last byte with 1-bits (T.81 F.1.2.3).
    while (this.n !== 0) this.bits(1, 1);
    return Buffer.from(this.bytes);
  }

  private flushByte(): void {
    this.bytes.push(this.acc);
    // A 0xFF in entropy-coded data is followed by a stuffed zero byte (T.81 F.1.2.3).
    if (this.acc === 0xff) this.bytes.push(0);
    this.acc = 0;
    this.n = 0;
  }
}

const COS = Array.from({ length: 64 }, (_, i) => Math.cos(((2 * (i >> 3) + 1) * (i % 8) * Math.PI) / 16));

/** Forward DCT of one 8×8 block (T.81 A.3.3), separable: rows, then columns. */
function fdct(input: Float64Array, output: Float64Array): void {
  const tmp = new Float64Array(64);
  const c = (u: number) => (u === 0 ? Math.SQRT1_2 : 1);
  for (let y = 0; y < 8; y++) {
    for (let u = 0; u < 8; u++) {
      let s = 0;
      for (let x = 0; x < 8; x++) s += (input[y * 8 + x] as number) * (COS[x * 8 + u] as number);
      tmp[y * 8 + u] = (c(u) / 2) * s;
    }
  }
  for (let u = 0; u < 8; u++) {
    for (let v = 0; v < 8; v++) {
      let s = 0;
      for (let y = 0; y < 8; y++) s += (tmp[y * 8 + u] as number) * (COS[y * 8 + v] as number);
      output[v * 8 + u] = (c(v) / 2) * s;
    }
  }
}

/**
 * A test card: colour bars over a grey ramp, with a pattern and some noise
 * from the seed so that each camera's picture (and size, a few KB) differs.
 */
export function testCardJpeg(seed: string, width = 320, height = 240): Buffer {
  let h = 2166136261;
  for (const ch of seed) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  const noise = (x: number, y: number) => {
    let v = Math.imul(x * 374761393 + y * 668265263 + h, 1274126177) >>> 0;
    v ^= v >>> 13;
    return (v % 9) - 4;
  };
  const BARS: [number, number, number][] = [
    [235, 235, 235],
    [235, 235, 16],
    [16, 235, 235],
    [16, 235, 16],
    [235, 16, 235],
    [235, 16, 16],
    [16, 16, 235],
  ];
  const clamp = (v: number) => Math.max(0, Math.min(255, Math.round(v)));
  return encodeJpeg(width, height, (x, y) => {
    if (y < (height * 2) / 3) {
      const bar = BARS[Math.min(BARS.length - 1, Math.floor((x * BARS.length) / width))] as [number, number, number];
      const n = noise(x, y) / 2;
      return [clamp(bar[0] + n), clamp(bar[1] + n), clamp(bar[2] + n)];
    }
    const ramp = (x / width) * 255;
    const check = ((x >> 3) + (y >> 3) + (h & 7)) % 2 === 0 ? 24 : -24;
    const v = ramp + check + noise(x, y);
    return [clamp(v), clamp(v + ((h >> 3) & 31)), clamp(v - ((h >> 8) & 31))];
  });
}
