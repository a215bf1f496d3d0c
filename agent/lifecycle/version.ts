/**
 * Firmware version strings as vendors write them, parsed and compared: one
 * comparator for every vendor, whose rules docs/lifecycle.md lists with
 * examples. A version reads as
 *
 *   [prefix] release [pre-release] [build] [label]
 *
 * - prefix: any text before the first digit, ignored (`V5.7.3`, `v2.1`,
 *   `R1.3`, `firmware 4.30.1`).
 * - release: numbers separated by dots, compared number by number, never as
 *   text (`1.10` > `1.9`, `2.800.0000000.11` = `2.800.0.11`); missing
 *   trailing numbers are 0 (`2.1` = `2.1.0`).
 * - pre-release: `dev`, `alpha`/`a`, `beta`/`b`, `rc`/`pre`/`preview`, with
 *   an optional number, right after the release or after `-`, `.`, `_` or a
 *   space (`1.2.3-rc1`, `1.0b3`, `6.5.0.16-a2`). It sorts before the release,
 *   in that order (PEP 440's: dev < alpha < beta < rc).
 * - build: `build N` (Hikvision's `V5.7.3 build 230512`), `(N)` (`2.80.0(11)`)
 *   or `-N` / `_N` (`2.10.02_20220805`): a tiebreaker after the release and
 *   the pre-release, a missing build counting as 0.
 * - label: whatever follows (Dahua's `.R`, `, Build Date: 2022-01-10`,
 *   `+meta`), kept for display and never compared: vendors use such suffixes
 *   for channels and regions, not order.
 *
 * A string with no digit at all (`""`, `unknown`, `N/A`) is not a version:
 * parseVersion() returns undefined and compareVersions() "incomparable",
 * which the evaluation reports as `firmware_unknown`.
 *
 * Policies compare a device's version with a bound (a minimum, a blocked
 * version, a range's end) at the bound's precision: a bound that names no
 * build covers every build of its version, so `minimum: 5.7.3` accepts
 * `V5.7.3 build 230512` and `blocked: ["5.5.0"]` blocks every build of 5.5.0.
 */

/** Pre-release tags, lowest first; a release (no tag) sorts after them all. */
const PRE_RANK = { dev: 0, alpha: 1, beta: 2, rc: 3 } as const;
export type PreTag = keyof typeof PRE_RANK;

const PRE_SPELLINGS: Record<string, PreTag> = { dev: "dev", alpha: "alpha", a: "alpha", beta: "beta", b: "beta", rc: "rc", pre: "rc", preview: "rc" };

export interface Version {
  /** The string as given, trimmed: what messages show. */
  readonly text: string;
  /** Release numbers as digit strings without leading zeros, trailing zeros dropped (`2.1.0` → ["2", "1"]; `0` → []). */
  readonly release: readonly string[];
  /** Undefined for a release. `n` is "0" when the tag has no number. */
  readonly pre?: { readonly tag: PreTag; readonly n: string };
  /** Undefined when the string names no build. */
  readonly build?: string;
  /** The rest, not compared; "" when none. */
  readonly label: string;
}

export type Order = -1 | 0 | 1;

// A tag must not run on into a word: "b" in "build", "a" in "abc".
const PRE = /^[-._ ]?(dev|alpha|beta|preview|pre|rc|a|b)(?![a-z])[-._ ]?(\d*)/i;
const BUILD = [/^\s*[-._]?\s*build\s*[-._:#]?\s*(\d+)/i, /^\s*\(\s*(?:build\s*)?(\d+)\s*\)/i, /^[-_](\d+)/];

/** The version in `text`, or undefined when it has no digit (not a version at all). */
export function parseVersion(text: string): Version | undefined {
  const trimmed = text.trim();
  const first = trimmed.search(/\d/);
  if (first < 0) return undefined;
  let rest = trimmed.slice(first);
  const releaseText = /^\d+(?:\.\d+)*/.exec(rest)?.[0] ?? "";
  rest = rest.slice(releaseText.length);
  const release = releaseText.split(".").map(digits);
  while (release.length > 0 && release[release.length - 1] === "0") release.pop();

  let pre: Version["pre"];
  const p = PRE.exec(rest);
  if (p) {
    pre = { tag: PRE_SPELLINGS[p[1].toLowerCase()], n: digits(p[2] || "0") };
    rest = rest.slice(p[0].length);
  }
  let build: string | undefined;
  for (const re of BUILD) {
    const b = re.exec(rest);
    if (!b) continue;
    build = digits(b[1]);
    rest = rest.slice(b[0].length);
    break;
  }
  const label = rest.replace(/^[\s\-._,;:+]+/, "").trim();
  return { text: trimmed, release, ...(pre && { pre }), ...(build !== undefined && { build }), label };
}

/** a < b: -1, a = b: 0, a > b: 1, by release, then pre-release, then build (missing = 0). A total order. */
export function compareParsed(a: Version, b: Version): Order {
  return compareRelease(a, b) || comparePre(a, b) || compareDigits(a.build ?? "0", b.build ?? "0");
}

/** compareParsed() on two strings; "incomparable" when either is not a version (no digit). */
export function compareVersions(a: string, b: string): Order | "incomparable" {
  const va = parseVersion(a);
  const vb = parseVersion(b);
  return va === undefined || vb === undefined ? "incomparable" : compareParsed(va, vb);
}

/**
 * A version against a bound, at the bound's precision: when the bound names
 * no build, the version's build is not looked at (`5.7.3 build 9` equals the
 * bound `5.7.3`; it is above the version `5.7.3`).
 */
export function compareToBound(v: Version, bound: Version): Order {
  const order = compareRelease(v, bound) || comparePre(v, bound);
  return order !== 0 || bound.build === undefined ? order : compareDigits(v.build ?? "0", bound.build);
}

// ---------------------------------------------------------------- specs: a version or a range

export type Operator = ">=" | ">" | "<=" | "<" | "=";

export interface Comparator {
  op: Operator;
  version: Version;
}

/**
 * What a policy's `blocked` entry names: one version (matched at its own
 * precision), or a range of comparators that must all hold
 * (`>=5.5.0 <5.5.82`).
 */
export type VersionSpec = { text: string; kind: "exact"; version: Version } | { text: string; kind: "range"; comparators: Comparator[] };

/** A spec, or why the text is not one (a message for the policy's author). */
export function parseVersionSpec(text: string): VersionSpec | { error: string } {
  const trimmed = text.trim();
  if (!/^[<>=]/.test(trimmed)) {
    const version = parseVersion(trimmed);
    return version === undefined ? { error: notAVersion(text) } : { text: trimmed, kind: "exact", version };
  }
  const comparators: Comparator[] = [];
  for (const m of trimmed.matchAll(/(>=|<=|>|<|=)([^<>=]*)/g)) {
    const op = m[1] as Operator;
    const operand = m[2].trim();
    const range = `range ${JSON.stringify(trimmed)}`;
    if (operand === "") return { error: `${range}: "${op}" has no version after it` };
    const version = parseVersion(operand);
    if (version === undefined) return { error: `${range}: ${notAVersion(operand)}` };
    comparators.push({ op, version });
  }
  const empty = emptyRange(comparators);
  if (empty !== undefined) return { error: `range ${JSON.stringify(trimmed)} matches no version: ${empty}` };
  return { text: trimmed, kind: "range", comparators };
}

/** Whether `v` is the version a spec names, or inside its range. */
export function matchesSpec(v: Version, spec: VersionSpec): boolean {
  if (spec.kind === "exact") return compareToBound(v, spec.version) === 0;
  return spec.comparators.every((c) => holds(compareToBound(v, c.version), c.op));
}

function holds(order: Order, op: Operator): boolean {
  switch (op) {
    case ">=":
      return order >= 0;
    case ">":
      return order > 0;
    case "<=":
      return order <= 0;
    case "<":
      return order < 0;
    case "=":
      return order === 0;
  }
}

/** Why no version can satisfy all comparators (a lower end above an upper end), if that is plain; else undefined. */
function emptyRange(comparators: readonly Comparator[]): string | undefined {
  const lower = comparators.filter((c) => c.op !== "<" && c.op !== "<=");
  const upper = comparators.filter((c) => c.op !== ">" && c.op !== ">=");
  for (const lo of lower) {
    for (const hi of upper) {
      // Bounds of different precision (one names a build) are compared without builds, and only a plain inversion counts.
      const samePrecision = (lo.version.build === undefined) === (hi.version.build === undefined);
      const order = samePrecision ? compareParsed(lo.version, hi.version) : compareRelease(lo.version, hi.version) || comparePre(lo.version, hi.version);
      const strict = lo.op === ">" || hi.op === "<";
      if (order > 0 || (order === 0 && samePrecision && strict)) {
        return `"${lo.op}${lo.version.text}" and "${hi.op}${hi.version.text}" leave nothing between them`;
      }
    }
  }
  return undefined;
}

function notAVersion(text: string): string {
  return `${JSON.stringify(text)} is not a version (it has no digit)`;
}

// ---------------------------------------------------------------- pieces

function compareRelease(a: Version, b: Version): Order {
  const n = Math.max(a.release.length, b.release.length);
  for (let i = 0; i < n; i++) {
    const order = compareDigits(a.release[i] ?? "0", b.release[i] ?? "0");
    if (order !== 0) return order;
  }
  return 0;
}

function comparePre(a: Version, b: Version): Order {
  if (a.pre === undefined || b.pre === undefined) return a.pre === b.pre ? 0 : a.pre === undefined ? 1 : -1;
  return sign(PRE_RANK[a.pre.tag] - PRE_RANK[b.pre.tag]) || compareDigits(a.pre.n, b.pre.n);
}

/** Digit strings without leading zeros compared as numbers, of any length (build numbers like 230512 or 20230512 and beyond). */
function compareDigits(a: string, b: string): Order {
  return a.length !== b.length ? sign(a.length - b.length) : a < b ? -1 : a > b ? 1 : 0;
}

function digits(s: string): string {
  return s.replace(/^0+(?=\d)/, "");
}

function sign(n: number): Order {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}
