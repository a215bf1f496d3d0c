import { describe, expect, test } from "vitest";
import { COMPLIANCE_RULES, type Compliance, complianceChange, type DeviceFacts, evaluate, failingRules, localDate } from "../../../agent/lifecycle/evaluate.js";
import { type Policy, parsePolicy } from "../../../agent/lifecycle/policy.js";

const POLICY = parsePolicy(
  [
    "version: 1",
    "firmware:",
    "  - manufacturer: Hikvision",
    '    model: "DS-2CD2*"',
    '    minimum: "5.7.3"',
    '    recommended: "5.7.15"',
    '    blocked: ["5.7.4", ">=5.5.0 <5.5.82"]',
    "    note: baseline 2024-09",
    "end_of_support:",
    "  - {manufacturer: Hikvision, model: DS-2CD2032-I, date: 2025-02-28}",
    '  - {manufacturer: Hikvision, model: "DS-2CD2143*", date: 2030-12-31}',
    "clock: {max_drift_s: 60}",
    "not_seen: {max_age_s: 3600, categories: {safety-critical: 300}}",
    "",
  ].join("\n"),
  "policy.yaml",
);

const NOW = Date.parse("2025-03-01T12:00:00Z");
const UTC = { timeZone: "UTC" };

/** A safety-critical camera within every rule of POLICY at NOW; `over` changes what a test is about. */
function camera(over: Partial<DeviceFacts> = {}): DeviceFacts {
  return {
    id: "cam-entrance",
    kind: "onvif",
    category: "safety-critical",
    identity: { manufacturer: "Hikvision", model: "DS-2CD2143G2-I", serial: "DS-2CD2143G2-I20230101AAWRJ12345", firmware: "V5.7.15 build 230824" },
    lifecycle: { install_date: "2023-08-01", warranty_end: "2026-07-31", asset_tag: "LHS-0042", owner: "District IT" },
    lastSeen: NOW - 10_000,
    clockDriftMs: 1_200,
    status: { state: "online", reason: "ok" },
    ...over,
  };
}

const withFirmware = (firmware: string | undefined, model = "DS-2CD2143G2-I") => camera({ identity: { manufacturer: "Hikvision", model, firmware } });
const rulesOf = (c: Compliance) => c.failing.map((f) => f.rule);
const check = (device: DeviceFacts, now = NOW, policy: Policy = POLICY) => evaluate(device, policy, now, UTC);

test("a device within every rule is compliant, with nothing failing and nothing unchecked", () => {
  expect(check(camera())).toEqual({ compliant: true, failing: [], unchecked: [] });
});

describe("firmware_outdated", () => {
  test("fails below the minimum, naming the firmware, the minimum, the model and the recommended upgrade", () => {
    const c = check(withFirmware("V5.5.82 build 191220"));
    expect(c.compliant).toBe(false);
    expect(c.failing).toEqual([
      {
        rule: "firmware_outdated",
        text: "firmware V5.5.82 build 191220 is below the approved minimum 5.7.3 for Hikvision DS-2CD2143G2-I; recommended: 5.7.15",
        details: {
          manufacturer: "Hikvision",
          model: "DS-2CD2143G2-I",
          firmware: "V5.5.82 build 191220",
          minimum: "5.7.3",
          recommended: "5.7.15",
          policy_rule: "firmware[0]",
          note: "baseline 2024-09",
        },
      },
    ]);
  });

  test("passes exactly at the minimum, in any spelling and with any build of it", () => {
    for (const fw of ["5.7.3", "V5.7.3", "V5.7.3 build 230512", "5.7.3.0"]) expect(rulesOf(check(withFirmware(fw))), fw).toEqual([]);
  });

  test("fails for a pre-release of the minimum, which comes before it", () => {
    expect(rulesOf(check(withFirmware("5.7.3-rc1")))).toEqual(["firmware_outdated"]);
  });
});

describe("firmware_blocked", () => {
  test("fails for a blocked version above the minimum, naming the entry it matches", () => {
    const [f] = check(withFirmware("V5.7.4 build 230601")).failing;
    expect(f.rule).toBe("firmware_blocked");
    expect(f.text).toBe('firmware V5.7.4 build 230601 is blocked for Hikvision DS-2CD2143G2-I (blocked: "5.7.4")');
    expect(f.details).toMatchObject({ blocked: ["5.7.4"], recommended: "5.7.15", policy_rule: "firmware[0]" });
  });

  test("fails inside a blocked range and passes at its excluded end", () => {
    expect(rulesOf(check(withFirmware("V5.5.0 build 180101")))).toEqual(["firmware_outdated", "firmware_blocked"]);
    expect(rulesOf(check(withFirmware("V5.5.82 build 191220")))).toEqual(["firmware_outdated"]);
  });

  test("passes for a version next to a blocked one", () => {
    expect(rulesOf(check(withFirmware("5.7.5")))).toEqual([]);
  });
});

describe("firmware_unknown", () => {
  test("fails when a baseline covers the model but the device reports no firmware", () => {
    for (const fw of [undefined, "", "  "]) {
      expect(check(withFirmware(fw)).failing, JSON.stringify(fw)).toEqual([
        {
          rule: "firmware_unknown",
          text: "firmware version not reported, but Hikvision DS-2CD2143G2-I has a firmware baseline (firmware[0])",
          details: { manufacturer: "Hikvision", model: "DS-2CD2143G2-I", firmware: null, policy_rule: "firmware[0]", note: "baseline 2024-09" },
        },
      ]);
    }
  });

  test("fails when the reported firmware is not a version", () => {
    const [f] = check(withFirmware("N/A")).failing;
    expect(f).toMatchObject({ rule: "firmware_unknown", text: 'firmware "N/A" is not a version, but Hikvision DS-2CD2143G2-I has a firmware baseline (firmware[0])' });
  });

  test("does not apply to a model no rule covers: nothing fails, and the missing baseline is said", () => {
    const axis = camera({ identity: { manufacturer: "Axis", model: "P3245-V", firmware: "10.12.65" } });
    const c = check(axis);
    expect(c.failing).toEqual([]);
    expect(c.unchecked).toEqual([
      { check: "firmware", text: "no firmware baseline for Axis P3245-V" },
      { check: "end_of_support", text: "no end-of-support date for Axis P3245-V, in its config or the policy" },
    ]);
  });

  test("does not apply while the identity is unknown: the device is compliant, with the checks it could not make listed", () => {
    const c = check(camera({ identity: undefined }));
    expect(c).toEqual({
      compliant: true,
      failing: [],
      unchecked: [
        { check: "firmware", text: "manufacturer or model not known yet: no baseline can apply" },
        { check: "end_of_support", text: "no end-of-support date for device cam-entrance, in its config or the policy" },
      ],
    });
  });

  test("a policy without firmware rules checks no firmware and says nothing of it", () => {
    const c = check(camera({ identity: undefined }), NOW, parsePolicy("version: 1\n", "p.yaml"));
    expect(c.unchecked.map((u) => u.check)).toEqual(["end_of_support"]);
  });
});

describe("end_of_support", () => {
  const old = (over: Partial<DeviceFacts> = {}) => camera({ identity: { manufacturer: "Hikvision", model: "DS-2CD2032-I", firmware: "5.7.15" }, ...over });

  test("fails the day after the policy's date for the model, naming the date and where it comes from", () => {
    expect(check(old()).failing).toEqual([
      {
        rule: "end_of_support",
        text: "end of support for Hikvision DS-2CD2032-I was 2025-02-28 (from the policy, end_of_support[0])",
        details: { end_of_support: "2025-02-28", today: "2025-03-01", source: "policy", policy_rule: "end_of_support[0]" },
      },
    ]);
  });

  test("passes on the end-of-support date itself, the last day of support", () => {
    expect(rulesOf(check(old(), Date.parse("2025-02-28T23:59:59Z")))).toEqual([]);
  });

  test("the device's own date wins over the policy's, later or earlier", () => {
    const later = old({ lifecycle: { end_of_support: "2026-12-31" } });
    expect(rulesOf(check(later))).toEqual([]);
    const earlier = camera({ lifecycle: { end_of_support: "2025-01-31", warranty_end: "2026-07-31" } });
    expect(check(earlier).failing).toEqual([
      {
        rule: "end_of_support",
        text: "end of support for Hikvision DS-2CD2143G2-I was 2025-01-31 (from the device's config)",
        details: { end_of_support: "2025-01-31", today: "2025-03-01", source: "device" },
      },
    ]);
  });

  test("today is the gateway's calendar date in its time zone", () => {
    const evening = Date.parse("2025-03-01T03:00:00Z"); // 2025-02-28 21:00 in Chicago
    expect(rulesOf(evaluate(old(), POLICY, evening, { timeZone: "UTC" }))).toEqual(["end_of_support"]);
    expect(rulesOf(evaluate(old(), POLICY, evening, { timeZone: "America/Chicago" }))).toEqual([]);
    expect(localDate(evening, "America/Chicago")).toBe("2025-02-28");
  });

  test("a device date that is not a date is not checked, and says so", () => {
    const c = check(camera({ lifecycle: { end_of_support: "soon", warranty_end: "2026-07-31" } }));
    expect(c.failing).toEqual([]);
    expect(c.unchecked).toEqual([{ check: "end_of_support", text: 'end of support "soon" is not a date (YYYY-MM-DD)' }]);
  });
});

describe("warranty_expired", () => {
  const withWarranty = (warranty_end: string | undefined) => camera({ lifecycle: { warranty_end } });

  test("fails the day after the warranty's last day", () => {
    expect(check(withWarranty("2025-02-28")).failing).toEqual([
      { rule: "warranty_expired", text: "warranty ended 2025-02-28", details: { warranty_end: "2025-02-28", today: "2025-03-01", source: "device" } },
    ]);
  });

  test("passes on the warranty's last day", () => {
    expect(rulesOf(check(withWarranty("2025-03-01")))).toEqual([]);
  });

  test("is not checked without a warranty date, and says so", () => {
    const c = check(withWarranty(undefined));
    expect(c.compliant).toBe(true);
    expect(c.unchecked).toEqual([{ check: "warranty", text: "no warranty end date in the device's config" }]);
  });
});

describe("clock_drift", () => {
  test("fails beyond max_drift_s, ahead or behind, naming the drift and the limit", () => {
    expect(check(camera({ clockDriftMs: -312_400 })).failing).toEqual([
      { rule: "clock_drift", text: "clock is 312 s behind the gateway, more than the 60 s allowed", details: { drift_ms: -312_400, max_drift_s: 60 } },
    ]);
    expect(check(camera({ clockDriftMs: 61_000 })).failing[0].text).toBe("clock is 61 s ahead of the gateway, more than the 60 s allowed");
  });

  test("passes exactly at max_drift_s", () => {
    expect(rulesOf(check(camera({ clockDriftMs: 60_000 })))).toEqual([]);
    expect(rulesOf(check(camera({ clockDriftMs: -60_000 })))).toEqual([]);
    expect(rulesOf(check(camera({ clockDriftMs: 60_001 })))).toEqual(["clock_drift"]);
  });

  test("is not checked when the drift is not measured, and says so", () => {
    expect(check(camera({ clockDriftMs: null })).unchecked).toEqual([{ check: "clock", text: "clock drift not measured" }]);
  });

  test("is not checked at all when the policy sets no clock limit", () => {
    const c = check(camera({ clockDriftMs: 3_600_000 }), NOW, parsePolicy("version: 1\n", "p.yaml"));
    expect(c.failing).toEqual([]);
    expect(c.unchecked.map((u) => u.check)).not.toContain("clock");
  });
});

describe("not_seen", () => {
  test("fails past the limit of the device's category, naming when it was last seen and its status", () => {
    const c = check(camera({ lastSeen: NOW - 300_001, status: { state: "offline", reason: "timeout" } }));
    expect(c.failing).toEqual([
      {
        rule: "not_seen",
        text: "not seen since 2025-03-01T11:54:59.999Z (offline: timeout); safety-critical devices must answer at least every 300 s",
        details: { last_seen: "2025-03-01T11:54:59.999Z", max_age_s: 300, category: "safety-critical", state: "offline" },
      },
    ]);
  });

  test("passes exactly at the limit", () => {
    expect(rulesOf(check(camera({ lastSeen: NOW - 300_000 })))).toEqual([]);
  });

  test("a category without a limit of its own gets max_age_s", () => {
    const operational = (lastSeen: number) => camera({ category: "operational", lastSeen });
    expect(rulesOf(check(operational(NOW - 3_600_000)))).toEqual([]);
    expect(check(operational(NOW - 3_600_001)).failing[0].details).toMatchObject({ max_age_s: 3600, category: "operational" });
  });

  test("a device never seen fails once it has been watched longer than the limit, and not before", () => {
    const never = (watchedSince: number) => camera({ lastSeen: null, watchedSince, status: { state: "offline", reason: "refused" } });
    expect(check(never(NOW - 301_000)).failing).toEqual([
      {
        rule: "not_seen",
        text: "never seen since watching began at 2025-03-01T11:54:59.000Z (offline: refused); safety-critical devices must answer at least every 300 s",
        details: { last_seen: null, watched_since: "2025-03-01T11:54:59.000Z", max_age_s: 300, category: "safety-critical", state: "offline" },
      },
    ]);
    expect(rulesOf(check(never(NOW - 300_000)))).toEqual([]);
  });

  test("a device never seen, since an unknown time, is not checked, and says so", () => {
    expect(check(camera({ lastSeen: undefined })).unchecked).toEqual([{ check: "not_seen", text: "never seen, and when watching began is not known" }]);
  });
});

describe("the result as a whole", () => {
  const everythingWrong = camera({
    identity: { manufacturer: "Hikvision", model: "DS-2CD2032-I", firmware: "5.5.10" },
    lifecycle: { warranty_end: "2024-01-31" },
    clockDriftMs: 900_000,
    lastSeen: NOW - 86_400_000,
  });

  test("lists every failing rule once, in the documented order", () => {
    expect(rulesOf(check(everythingWrong))).toEqual(["firmware_outdated", "firmware_blocked", "end_of_support", "warranty_expired", "clock_drift", "not_seen"]);
    const unknownFirmware = { ...everythingWrong, identity: { manufacturer: "Hikvision", model: "DS-2CD2032-I" } };
    expect(rulesOf(check(unknownFirmware))).toEqual(["firmware_unknown", "end_of_support", "warranty_expired", "clock_drift", "not_seen"]);
    expect(COMPLIANCE_RULES).toEqual(["firmware_outdated", "firmware_blocked", "firmware_unknown", "end_of_support", "warranty_expired", "clock_drift", "not_seen"]);
  });

  test("is the same for the same input, and survives JSON unchanged", () => {
    const a = check(everythingWrong);
    expect(check(everythingWrong)).toEqual(a);
    expect(JSON.parse(JSON.stringify(a))).toEqual(a);
  });
});

describe("a change of compliance", () => {
  const failing = (...rules: (typeof COMPLIANCE_RULES)[number][]): Compliance => ({
    compliant: rules.length === 0,
    failing: rules.map((rule) => ({ rule, text: rule, details: {} })),
    unchecked: [],
  });

  test("is the rules that started and stopped failing", () => {
    expect(complianceChange(failingRules(failing("firmware_outdated", "not_seen")), failingRules(failing("not_seen", "clock_drift")))).toEqual({
      raised: ["clock_drift"],
      cleared: ["firmware_outdated"],
    });
  });

  test("is none when the same rules fail, even with other values", () => {
    const before = check(withFirmware("5.5.90"));
    const after = check(withFirmware("5.6.0"));
    expect(after.failing[0].text).not.toBe(before.failing[0].text);
    expect(complianceChange(failingRules(before), failingRules(after))).toBeUndefined();
  });

  test("without a previous evaluation, is every failing rule, and none for a compliant device", () => {
    expect(complianceChange(undefined, failingRules(failing("end_of_support")))).toEqual({ raised: ["end_of_support"], cleared: [] });
    expect(complianceChange(undefined, failingRules(failing()))).toBeUndefined();
  });
});
