import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { loadPolicyFile, type Policy, PolicyError, parsePolicy, ruleFor } from "../../../agent/lifecycle/policy.js";
import { type ConfigProblem, ConfigError, formatProblems } from "../../../config/load.js";

const FILE = "/etc/campus-agent/policy.yaml";
const ROOT = join(import.meta.dirname, "..", "..", "..");

function errorOf(text: string): PolicyError {
  let caught: unknown = "nothing: the policy was accepted";
  try {
    parsePolicy(text, FILE);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(PolicyError);
  return caught as PolicyError;
}

const problemsOf = (text: string): ConfigProblem[] => errorOf(text).problems;
/** `path: message`, the form people read. */
const linesOf = (text: string): string[] => problemsOf(text).map((p) => `${p.path}: ${p.message}`);

/** A policy with one firmware rule whose other lines are `lines`, indented under it. */
const withRule = (...lines: string[]) => `version: 1\nfirmware:\n  - manufacturer: Hikvision\n    model: "DS-2CD2*"\n${lines.map((l) => `    ${l}\n`).join("")}`;

describe("a good policy", () => {
  test("loads, with its versions parsed and its sections as written", () => {
    const policy = parsePolicy(
      [
        "version: 1",
        "firmware:",
        "  - manufacturer: Hikvision",
        '    model: "DS-2CD2*"',
        '    minimum: "V5.7.3 build 230512"',
        '    recommended: "V5.7.15"',
        '    blocked: ["V5.7.4", ">=5.7.8 <5.7.10"]',
        "    note: baseline 2024-09",
        "end_of_support:",
        "  - {manufacturer: Axis, model: M3045-V, date: 2025-12-31}",
        "clock: {max_drift_s: 60}",
        "not_seen: {max_age_s: 3600, categories: {safety-critical: 300}}",
        "",
      ].join("\n"),
      FILE,
    );
    const [rule] = policy.firmware;
    expect(rule).toMatchObject({ at: "firmware[0]", manufacturer: "Hikvision", model: "DS-2CD2*", note: "baseline 2024-09" });
    expect(rule.minimum).toMatchObject({ release: ["5", "7", "3"], build: "230512" });
    expect(rule.recommended?.text).toBe("V5.7.15");
    expect(rule.blocked.map((b) => [b.kind, b.text])).toEqual([
      ["exact", "V5.7.4"],
      ["range", ">=5.7.8 <5.7.10"],
    ]);
    expect(policy.end_of_support).toMatchObject([{ at: "end_of_support[0]", manufacturer: "Axis", model: "M3045-V", date: "2025-12-31" }]);
    expect(policy.clock).toEqual({ max_drift_s: 60 });
    expect(policy.not_seen).toEqual({ max_age_s: 3600, categories: { "safety-critical": 300 } });
  });

  test("the smallest policy is its version alone, with no rules and no limits", () => {
    expect(parsePolicy("version: 1\n", FILE)).toEqual({ firmware: [], end_of_support: [] });
  });

  test("config/policy.example.yaml is valid and has a rule of every kind", () => {
    const policy = loadPolicyFile(join(ROOT, "config/policy.example.yaml"));
    expect(policy.firmware.length).toBeGreaterThan(0);
    expect(policy.firmware.some((r) => r.blocked.some((b) => b.kind === "range"))).toBe(true);
    expect(policy.end_of_support.length).toBeGreaterThan(0);
    expect(policy.clock).toBeDefined();
    expect(policy.not_seen?.categories).toBeDefined();
  });
});

describe("policy mistakes, each reported with its path and line", () => {
  test("a missing or unknown format version", () => {
    expect(problemsOf("firmware: []\n")).toEqual([{ path: "version", message: "required", line: 1, column: 1 }]);
    expect(problemsOf("version: 2\n")).toEqual([{ path: "version", message: "expected 1 (the only policy format so far), got 2", line: 1, column: 10 }]);
    expect(linesOf('version: "1"\n')).toEqual(['version: expected 1 (the only policy format so far), got "1"']);
  });

  test("an unknown key suggests the closest allowed one", () => {
    expect(problemsOf(withRule('minimun: "5.7.3"'))).toEqual([
      { path: "firmware[0]", message: "a firmware rule needs a minimum, a blocked list, or both", line: 3, column: 5 },
      { path: "firmware[0].minimun", message: 'unknown key (did you mean "minimum"?)', line: 5, column: 5 },
    ]);
    expect(linesOf("version: 1\nclock: {max_drift: 5}\n")).toEqual(["clock.max_drift_s: required", 'clock.max_drift: unknown key (did you mean "max_drift_s"?)']);
  });

  test("an unquoted version, which YAML reads as a number, asks for quotes", () => {
    expect(problemsOf(withRule("minimum: 1.10"))).toEqual([
      {
        path: "firmware[0].minimum",
        message: "expected a version in quotes: unquoted, YAML reads it as a number (1.10 becomes 1.1), got 1.1",
        line: 5,
        column: 14,
      },
    ]);
  });

  test("a version without a digit is refused, in a minimum as in a blocked list", () => {
    expect(linesOf(withRule('minimum: "latest"', 'blocked: ["old"]'))).toEqual([
      'firmware[0].minimum: expected a version: text with at least one digit, got "latest"',
      'firmware[0].blocked[0]: "old" is not a version (it has no digit)',
    ]);
  });

  test("a malformed or empty range says what is wrong with it", () => {
    expect(linesOf(withRule('minimum: "5.7.3"', 'blocked: [">=5.5.0 <", ">=5.6 <5.5"]'))).toEqual([
      'firmware[0].blocked[0]: range ">=5.5.0 <": "<" has no version after it',
      'firmware[0].blocked[1]: range ">=5.6 <5.5" matches no version: ">=5.6" and "<5.5" leave nothing between them',
    ]);
  });

  test("a minimum that the rule itself blocks is refused at the blocking entry", () => {
    expect(problemsOf(withRule('minimum: "5.7.3"', 'blocked: ["5.7.0", ">=5.7.0 <=5.7.3"]'))).toEqual([
      { path: "firmware[0].blocked[1]", message: 'blocks the minimum "5.7.3" itself: raise the minimum or narrow this entry', line: 6, column: 24 },
    ]);
  });

  test("a recommended version below the minimum, or blocked, is refused", () => {
    expect(linesOf(withRule('minimum: "5.7.3"', 'recommended: "5.7.0"'))).toEqual(['firmware[0].recommended: "5.7.0" is below the minimum "5.7.3"']);
    expect(linesOf(withRule('minimum: "5.7.3"', 'recommended: "5.7.4"', 'blocked: ["5.7.4"]'))).toEqual([
      'firmware[0].recommended: "5.7.4" is blocked by blocked[0] ("5.7.4")',
    ]);
  });

  test("a firmware rule with neither minimum nor blocked versions is refused", () => {
    expect(linesOf(withRule('recommended: "5.7.3"'))).toEqual(["firmware[0]: a firmware rule needs a minimum, a blocked list, or both"]);
  });

  test("a manufacturer is matched exactly: a glob there is refused", () => {
    expect(linesOf('version: 1\nfirmware:\n  - {manufacturer: "Hik*", model: "*", minimum: "1"}\n')).toEqual([
      'firmware[0].manufacturer: a manufacturer is matched exactly (in any case): "*" is for models only',
    ]);
  });

  test("a date must be a real YYYY-MM-DD date", () => {
    const eos = (date: string) => `version: 1\nend_of_support:\n  - manufacturer: Axis\n    model: M3045-V\n    date: ${date}\n`;
    expect(problemsOf(eos("2025-02-30"))).toEqual([
      { path: "end_of_support[0].date", message: 'expected a real date (YYYY-MM-DD), got "2025-02-30"', line: 5, column: 11 },
    ]);
    expect(linesOf(eos("2025-6-30"))).toEqual(['end_of_support[0].date: expected a real date (YYYY-MM-DD), got "2025-6-30"']);
    expect(linesOf(eos("20250630"))).toEqual(["end_of_support[0].date: expected a date (YYYY-MM-DD), got 20250630"]);
    expect(parsePolicy(eos("2024-02-29"), FILE).end_of_support[0].date).toBe("2024-02-29");
  });

  test("two rules for the same manufacturer and model, in any case, are refused at the second", () => {
    const text = [
      "version: 1",
      "firmware:",
      '  - {manufacturer: Hikvision, model: "DS-2CD2*", minimum: "5.7.3"}',
      '  - {manufacturer: HIKVISION, model: "ds-2cd2*", minimum: "5.7.10"}',
      "end_of_support:",
      "  - {manufacturer: Axis, model: M3045-V, date: 2025-12-31}",
      "  - {manufacturer: axis, model: m3045-v, date: 2026-12-31}",
      "",
    ].join("\n");
    expect(problemsOf(text)).toEqual([
      { path: "firmware[1].model", message: "duplicate rule for HIKVISION ds-2cd2* (also firmware[0])", line: 4, column: 38 },
      { path: "end_of_support[1].model", message: "duplicate rule for axis m3045-v (also end_of_support[0])", line: 7, column: 33 },
    ]);
  });

  test("limits must be positive, in whole seconds where the unit says so, and categories must exist", () => {
    expect(linesOf("version: 1\nclock: {max_drift_s: 0}\nnot_seen: {max_age_s: 1.5, categories: {safety-critical: -1, everything: 5}}\n")).toEqual([
      "clock.max_drift_s: expected a positive number, got 0",
      "not_seen.max_age_s: expected a positive whole number of seconds, got 1.5",
      "not_seen.categories.safety-critical: expected a positive whole number of seconds, got -1",
      "not_seen.categories.everything: unknown key (allowed: safety-critical, operational)",
    ]);
  });

  test("a duplicate YAML key is reported at the second, naming the line of the first", () => {
    expect(problemsOf("version: 1\nclock:\n  max_drift_s: 5\n  max_drift_s: 6\n")).toEqual([
      { path: "clock.max_drift_s", message: "duplicate key (first at line 3)", line: 4, column: 3 },
    ]);
  });

  test("an empty file, or one that is not a mapping, says what a policy needs", () => {
    expect(linesOf("# nothing yet\n")).toEqual([": the file is empty: expected a mapping with at least version: 1"]);
    expect(linesOf("- version: 1\n")).toEqual([": expected a mapping (key: value) at the top level, got a list"]);
  });

  test("every problem of a file is reported at once, in file order", () => {
    const text = [
      "version: 1",
      "firmware:",
      "  - manufacturer: Hikvision",
      '    model: "DS-2CD2*"',
      "    minimum: 5.7",
      '    blocked: ["nope"]',
      "end_of_support:",
      "  - {manufacturer: Axis, model: M3045-V, date: 2025-13-01}",
      "clock: {max_drift_s: -5}",
      "not_seen: {max_age: 60}",
      "",
    ].join("\n");
    expect(problemsOf(text).map((p) => [p.line, p.path])).toEqual([
      [5, "firmware[0].minimum"],
      [6, "firmware[0].blocked[0]"],
      [8, "end_of_support[0].date"],
      [9, "clock.max_drift_s"],
      [10, "not_seen.max_age_s"],
      [10, "not_seen.max_age"],
    ]);
  });

  test("the error is a ConfigError whose report names the policy and one problem per line", () => {
    const err = errorOf("version: 1\nclock: {max_drift_s: 0}\n");
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.name).toBe("PolicyError");
    expect(formatProblems(err)).toBe(
      `Invalid lifecycle policy in ${FILE} (1 problem):\n${FILE}:2:22 clock.max_drift_s: expected a positive number, got 0`,
    );
  });
});

describe("loading a policy file", () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  test("a missing file is a PolicyError naming it", () => {
    dir = mkdtempSync(join(tmpdir(), "policy-"));
    const file = join(dir, "policy.yaml");
    expect(() => loadPolicyFile(file)).toThrow(PolicyError);
    expect(() => loadPolicyFile(file)).toThrow(`${file}: cannot read ${file}: ENOENT`);
  });

  test("a file on disk is read and checked, its problems naming it", () => {
    dir = mkdtempSync(join(tmpdir(), "policy-"));
    const file = join(dir, "policy.yaml");
    writeFileSync(file, "version: 1\nnot_seen: {max_age_s: 600}\n");
    expect(loadPolicyFile(file).not_seen).toEqual({ max_age_s: 600, categories: {} });
    writeFileSync(file, "version: one\n");
    expect(() => loadPolicyFile(file)).toThrow(`${file}:1:10 version: expected 1 (the only policy format so far), got "one"`);
  });
});

describe("which rule applies to a device", () => {
  const policy: Policy = parsePolicy(
    [
      "version: 1",
      "firmware:",
      '  - {manufacturer: Hikvision, model: "*", minimum: "5.0"}',
      '  - {manufacturer: Hikvision, model: "DS-2CD2*", minimum: "5.5"}',
      '  - {manufacturer: Hikvision, model: "DS-2CD21*", minimum: "5.6"}',
      '  - {manufacturer: Hikvision, model: "DS-2CD2143G2-I", minimum: "5.7"}',
      '  - {manufacturer: Hikvision, model: "*-I", minimum: "5.1"}',
      '  - {manufacturer: Hikvision, model: "DS-*", minimum: "5.2"}',
      "",
    ].join("\n"),
    FILE,
  );
  const at = (manufacturer: string | undefined, model: string | undefined) => ruleFor(policy.firmware, manufacturer, model)?.at;

  test("an exact model wins over every family, wherever it stands in the file", () => {
    expect(at("Hikvision", "DS-2CD2143G2-I")).toBe("firmware[3]");
  });

  test("among families, the one with the most literal text wins", () => {
    expect(at("Hikvision", "DS-2CD2183G0-I")).toBe("firmware[2]");
    expect(at("Hikvision", "DS-2CD2346G2-I")).toBe("firmware[1]");
    expect(at("Hikvision", "DS-7608NI-K2")).toBe("firmware[5]");
    expect(at("Hikvision", "iDS-2CD7A46G0")).toBe("firmware[0]");
  });

  test("manufacturer and model match ignoring case and extra spaces", () => {
    expect(at(" HIKVISION ", "ds-2cd2143g2-i")).toBe("firmware[3]");
    expect(at("Hik  vision", "DS-2CD2143G2-I")).toBeUndefined();
  });

  test("another manufacturer, or an unknown manufacturer or model, gets no rule", () => {
    expect(at("Axis", "DS-2CD2143G2-I")).toBeUndefined();
    expect(at(undefined, "DS-2CD2143G2-I")).toBeUndefined();
    expect(at("Hikvision", undefined)).toBeUndefined();
  });

  test("glob characters other than * are matched literally", () => {
    const p = parsePolicy('version: 1\nfirmware:\n  - {manufacturer: Acme, model: "A.B(1)*", minimum: "1"}\n', FILE);
    expect(ruleFor(p.firmware, "Acme", "A.B(1)-x")?.at).toBe("firmware[0]");
    expect(ruleFor(p.firmware, "Acme", "AxB(1)-x")).toBeUndefined();
  });
});
