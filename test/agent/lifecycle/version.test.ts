import { describe, expect, test } from "vitest";
import {
  compareParsed,
  compareToBound,
  compareVersions,
  matchesSpec,
  type Order,
  parseVersion,
  parseVersionSpec,
  type Version,
  type VersionSpec,
} from "../../../agent/lifecycle/version.js";

type Expected = "<" | "=" | ">" | "incomparable";

/** Real-world vendor version strings, and how each pair must compare. */
const TABLE: [string, string, Expected, string][] = [
  // Hikvision: "V<release> build <yymmdd>"
  ["V5.7.3 build 230512", "V5.7.3 build 230512", "=", "the same Hikvision version"],
  ["V5.5.82 build 191220", "V5.7.3 build 230512", "<", "an older Hikvision release"],
  ["V5.7.3 build 230512", "V5.7.3 build 220101", ">", "a later build of the same release"],
  ["V5.7.3 build 230512", "5.7.3", ">", "a build beats no build (missing counts as 0)"],
  ["V5.4.0build 160401", "V5.4.0 build 160401", "=", "build without a space"],
  ["V5.7.3_build230512", "V5.7.3 build 230512", "=", "build after an underscore"],
  ["V5.5.82 build 191220", "V5.5.9 build 200101", ">", "82 > 9 as numbers"],
  // Dahua: "2.800.0000000.11.R", and "(N)" builds
  ["2.800.0000000.11.R", "2.800.0.11", "=", "leading zeros and the .R label do not count"],
  ["2.800.0000016.0.R", "2.800.0000000.11.R", ">", "16 in the third place beats 11 in the fourth"],
  ["2.800.0000000.11.R", "2.800.0000000.9.R", ">", "11 > 9 in the fourth place"],
  ["2.80.0(11)", "2.80.0(9)", ">", "parenthesised builds compare as numbers"],
  ["2.80.0(11)", "2.80.0", ">", "a parenthesised build beats none"],
  ["2.80.0(11)", "2.80.1", "<", "the release outranks the build"],
  // Axis
  ["10.12.65", "9.80.3.8", ">", "10 > 9 even with fewer segments"],
  ["10.12.65", "10.12.182", "<", "65 < 182 numerically, not as text"],
  ["11.11.73", "11.11.73", "=", "the same Axis version"],
  // Pre-releases sort before the release, dev < alpha < beta < rc
  ["1.2.3-rc1", "1.2.3", "<", "a release candidate precedes its release"],
  ["1.2.3-rc1", "1.2.3-rc2", "<", "rc numbers compare"],
  ["1.2.3-beta2", "1.2.3-rc1", "<", "beta precedes rc"],
  ["1.2.3-alpha", "1.2.3-beta", "<", "alpha precedes beta"],
  ["1.2.3-dev", "1.2.3-alpha", "<", "dev precedes alpha"],
  ["1.2.3-rc1", "1.2.2", ">", "a pre-release is above the previous release"],
  ["1.0.0-RC1", "1.0.0-rc.1", "=", "tags ignore case and a dot before the number"],
  ["1.0.0-pre1", "1.0.0-rc1", "=", "pre is a spelling of rc"],
  ["6.5.0.16-a2", "6.5.0.16", "<", "-a2 is alpha 2"],
  ["6.5.0.16-a2", "6.5.0.16-a10", "<", "alpha numbers compare as numbers"],
  ["6.5.0.16-a2", "6.5.0.15", ">", "alpha of a later release"],
  ["1.0b3", "1.0", "<", "b3 right after the release is beta 3"],
  ["1.0b3", "1.0a9", ">", "beta beats alpha"],
  ["1.0b3", "1.0rc1", "<", "rc beats beta"],
  // Prefixes, missing segments, numeric segments
  ["firmware 4.30.1", "4.30.1", "=", "a word before the version is ignored"],
  ["v2.1", "2.1.0", "=", "a v prefix is ignored and missing segments are 0"],
  ["2.1.0", "2.1", "=", "trailing zeros do not count"],
  ["2.1.0.0", "2.1", "=", "several trailing zeros do not count"],
  ["R1.3", "1.3.0", "=", "an R prefix is ignored"],
  ["1.10", "1.9", ">", "10 > 9: numeric, not lexical"],
  ["0.9", "0.10", "<", "9 < 10 in the second place"],
  ["3.0.0.1234", "3.0.0.999", ">", "a fourth segment compares as a number"],
  ["3.0.0.1234", "3.0.1", "<", "the third segment outranks the fourth"],
  ["20230512", "20221231", ">", "date-like builds compare as numbers"],
  ["7.80.0128", "7.80.128", "=", "leading zeros in a segment do not count"],
  ["2.10.02_20220805", "2.10.2_20220101", ">", "an underscore build is a tiebreaker"],
  ["1.2.3-2", "1.2.3-1", ">", "-N is a build, after the release"],
  ["1.2.3-2", "1.2.3", ">", "-N is above the release"],
  ["1.2.3+meta", "1.2.3", "=", "a label after + is not compared"],
  [" 1.2 ", "1.2", "=", "surrounding spaces are ignored"],
  ["99999999999999999999.1", "99999999999999999998.9", ">", "segments beyond 2^53 compare exactly"],
  // Not comparable
  ["", "1.0", "incomparable", "an empty string is not a version"],
  ["unknown", "1.0", "incomparable", "a word is not a version"],
  ["N/A", "N/A", "incomparable", "not even with itself"],
  ["1.0", "   ", "incomparable", "blank is not a version"],
  ["beta", "1.0-beta", "incomparable", "a tag alone is not a version"],
];

const SYMBOL: Record<Order, Expected> = { [-1]: "<", 0: "=", 1: ">" };
const ORDER_OF: Record<Expected, Order | "incomparable"> = { "<": -1, "=": 0, ">": 1, incomparable: "incomparable" };

function cmp(a: string, b: string): Expected {
  const order = compareVersions(a, b);
  return order === "incomparable" ? order : SYMBOL[order];
}

describe("comparing real vendor version strings", () => {
  test("the table holds at least 30 comparable pairs and some that are not", () => {
    expect(TABLE.filter(([, , e]) => e !== "incomparable").length).toBeGreaterThanOrEqual(30);
    expect(TABLE.some(([, , e]) => e === "incomparable")).toBe(true);
  });

  test.each(TABLE)("%j against %j is %s: %s", (a, b, expected) => {
    expect(cmp(a, b)).toBe(expected);
    expect(compareVersions(a, b)).toBe(ORDER_OF[expected]);
  });

  const versions = [...new Set(TABLE.flatMap(([a, b]) => [a, b]))].flatMap((s) => {
    const v = parseVersion(s);
    return v === undefined ? [] : [v];
  });

  test("every version equals itself", () => {
    for (const v of versions) expect(compareParsed(v, v), v.text).toBe(0);
  });

  test("swapping the two sides reverses the order (antisymmetry), over every pair of the table's strings", () => {
    for (const a of versions) {
      for (const b of versions) expect(compareParsed(a, b) + compareParsed(b, a), `${a.text} vs ${b.text}`).toBe(0);
    }
  });

  test("the order is transitive over every triple of the table's strings", () => {
    const le = (a: Version, b: Version) => compareParsed(a, b) <= 0;
    for (const a of versions) {
      for (const b of versions) {
        if (!le(a, b)) continue;
        for (const c of versions) {
          if (le(b, c)) expect(le(a, c), `${a.text} <= ${b.text} <= ${c.text}`).toBe(true);
          if (compareParsed(a, b) === 0 && compareParsed(b, c) === 0) expect(compareParsed(a, c), `${a.text} = ${b.text} = ${c.text}`).toBe(0);
        }
      }
    }
  });

  test("sorting the table's strings gives the order a person expects", () => {
    const sorted = ["2.1", "10.12.65", "V5.7.3 build 230512", "1.0b3", "1.0", "1.0rc1", "1.10", "1.9", "V5.5.82 build 191220", "1.0a9"]
      .map((s) => parseVersion(s) as Version)
      .sort(compareParsed)
      .map((v) => v.text);
    expect(sorted).toEqual(["1.0a9", "1.0b3", "1.0rc1", "1.0", "1.9", "1.10", "2.1", "V5.5.82 build 191220", "V5.7.3 build 230512", "10.12.65"]);
  });
});

describe("parsing a version string into its parts", () => {
  test("a Hikvision version has a prefix, a release and a build", () => {
    expect(parseVersion("V5.7.3 build 230512")).toEqual({ text: "V5.7.3 build 230512", release: ["5", "7", "3"], build: "230512", label: "" });
  });

  test("a Dahua version keeps its .R as a label, not compared", () => {
    expect(parseVersion("2.800.0000000.11.R")).toEqual({ text: "2.800.0000000.11.R", release: ["2", "800", "0", "11"], label: "R" });
  });

  test("text after the version is kept as a label, numbers and all", () => {
    expect(parseVersion("2.622.0000000.31.R, Build Date: 2019-07-19")?.label).toBe("R, Build Date: 2019-07-19");
  });

  test("a pre-release tag is read with its number, in any spelling", () => {
    expect(parseVersion("1.2.3-rc1")?.pre).toEqual({ tag: "rc", n: "1" });
    expect(parseVersion("1.0b3")?.pre).toEqual({ tag: "beta", n: "3" });
    expect(parseVersion("6.5.0.16-a2")?.pre).toEqual({ tag: "alpha", n: "2" });
    expect(parseVersion("2.0.0-preview")?.pre).toEqual({ tag: "rc", n: "0" });
    expect(parseVersion("2.0.0.dev4")?.pre).toEqual({ tag: "dev", n: "4" });
  });

  test("letters that only begin with a tag are a label, not a pre-release", () => {
    expect(parseVersion("1.2.3-abc")).toMatchObject({ label: "abc" });
    expect(parseVersion("1.2.3-abc")?.pre).toBeUndefined();
  });

  test("a string without a digit is not a version", () => {
    for (const s of ["", "  ", "unknown", "N/A", "V", "beta"]) expect(parseVersion(s), JSON.stringify(s)).toBeUndefined();
  });
});

describe("comparing a version with a bound", () => {
  const v = (s: string) => parseVersion(s) as Version;

  test("a bound without a build covers every build of its version", () => {
    expect(compareToBound(v("V5.7.3 build 230512"), v("5.7.3"))).toBe(0);
    expect(compareToBound(v("V5.7.3 build 1"), v("5.7.3"))).toBe(0);
  });

  test("a bound with a build compares builds, a missing one counting as 0", () => {
    expect(compareToBound(v("V5.7.3 build 220101"), v("V5.7.3 build 230512"))).toBe(-1);
    expect(compareToBound(v("V5.7.3"), v("V5.7.3 build 230512"))).toBe(-1);
    expect(compareToBound(v("V5.7.3 build 230513"), v("V5.7.3 build 230512"))).toBe(1);
  });

  test("a pre-release is below a bound that is its release", () => {
    expect(compareToBound(v("5.7.3-rc1"), v("5.7.3"))).toBe(-1);
  });
});

describe("blocked versions and ranges", () => {
  const spec = (s: string) => {
    const r = parseVersionSpec(s);
    if ("error" in r) throw new Error(r.error);
    return r;
  };
  const matches = (version: string, s: VersionSpec) => matchesSpec(parseVersion(version) as Version, s);

  test("an exact version matches every spelling and build of itself, but not its pre-releases", () => {
    const s = spec("5.5.0");
    expect(["5.5.0", "V5.5.0 build 180101", "5.5", "5.5.0.0"].map((x) => matches(x, s))).toEqual([true, true, true, true]);
    expect(["5.5.0-rc1", "5.5.1", "5.4.9"].map((x) => matches(x, s))).toEqual([false, false, false]);
  });

  test("a range holds when every comparator holds, bounds at their own precision", () => {
    const s = spec(">=5.5.0 <5.5.82");
    expect(["5.5.0", "V5.5.0 build 1", "5.5.81", "V5.5.81 build 999999"].map((x) => matches(x, s))).toEqual([true, true, true, true]);
    expect(["5.4.9", "5.5.82", "V5.5.82 build 191220", "5.6"].map((x) => matches(x, s))).toEqual([false, false, false, false]);
  });

  test("an inclusive upper bound covers every build of its version", () => {
    expect(matches("V5.5.81 build 999999", spec("<=5.5.81"))).toBe(true);
    expect(matches("5.5.82", spec("<=5.5.81"))).toBe(false);
  });

  test("the comparators accept spaces after the operator and versions with spaces", () => {
    const s = spec(">= V5.5.0 build 100 < V5.5.0 build 200");
    expect(matches("V5.5.0 build 150", s)).toBe(true);
    expect(matches("V5.5.0 build 50", s)).toBe(false);
  });

  test("a malformed spec says what is wrong", () => {
    expect(parseVersionSpec("abc")).toEqual({ error: '"abc" is not a version (it has no digit)' });
    expect(parseVersionSpec(">=5.5.0 <")).toEqual({ error: 'range ">=5.5.0 <": "<" has no version after it' });
    expect(parseVersionSpec(">=x")).toEqual({ error: 'range ">=x": "x" is not a version (it has no digit)' });
  });

  test("a range that can match no version is refused", () => {
    expect(parseVersionSpec(">=5.6 <5.5")).toEqual({ error: 'range ">=5.6 <5.5" matches no version: ">=5.6" and "<5.5" leave nothing between them' });
    expect(parseVersionSpec(">5.5 <=5.5")).toHaveProperty("error");
    expect(parseVersionSpec(">=5.5 <=5.5")).toMatchObject({ kind: "range" });
  });
});
