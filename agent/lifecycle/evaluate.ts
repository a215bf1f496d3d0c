/**
 * One device against the lifecycle policy: which compliance rules it fails,
 * each with a plain-language reason naming the values, and which checks
 * could not be made for want of data. Pure: the time is passed in, nothing
 * is read or published here (docs/lifecycle.md lists each rule).
 *
 * - firmware_outdated: the firmware is below the baseline's minimum.
 * - firmware_blocked: the firmware matches one of the baseline's blocked entries.
 * - firmware_unknown: a baseline applies to the device's manufacturer and
 *   model, but the device reports no firmware, or one that is not a version
 *   (no digit). A device whose manufacturer or model is not known yet, or
 *   that no firmware rule covers, has no baseline: nothing fails, and
 *   `unchecked` says why.
 * - end_of_support: today is after the end-of-support date: the device's own
 *   (from its config), else the policy's for its model.
 * - warranty_expired: today is after the device's warranty end.
 * - clock_drift: the device's clock is further from the gateway's than
 *   clock.max_drift_s.
 * - not_seen: the device last answered longer ago than the limit of its
 *   category; one never seen fails once it has been watched that long.
 *
 * Dates are the last day covered (a vendor's "last date of support"): a
 * device fails on the day after, in the gateway's time zone. Limits are
 * inclusive: exactly at the minimum, at max_drift_s or at max_age_s passes.
 */
import type { Identity } from "../../drivers/contract.js";
import { type Category, isIsoDate, type Policy, ruleFor } from "./policy.js";
import { compareToBound, matchesSpec, parseVersion } from "./version.js";

/** Every rule, in the order failures are listed. */
export const COMPLIANCE_RULES = ["firmware_outdated", "firmware_blocked", "firmware_unknown", "end_of_support", "warranty_expired", "clock_drift", "not_seen"] as const;
export type ComplianceRule = (typeof COMPLIANCE_RULES)[number];

/** What can go unchecked, in the order listed. */
export const CHECKS = ["firmware", "end_of_support", "warranty", "clock", "not_seen"] as const;
export type Check = (typeof CHECKS)[number];

/** A device's lifecycle record, from its config: dates YYYY-MM-DD. */
export interface DeviceLifecycle {
  install_date?: string;
  /** The last day under warranty. */
  warranty_end?: string;
  /** The last day of support for this device; wins over the policy's date for its model. */
  end_of_support?: string;
  asset_tag?: string;
  owner?: string;
}

/** What the agent knows of a device when it evaluates it. */
export interface DeviceFacts {
  id: string;
  kind: string;
  category: Category;
  /** As last read by the driver; absent before the first inventory. */
  identity?: Identity;
  lifecycle?: DeviceLifecycle;
  /** Wall ms of its last answer; null or absent when it has not answered since the agent has watched it. */
  lastSeen?: number | null;
  /** Wall ms since when the agent has watched the device: one never seen fails not_seen once watched longer than the limit. */
  watchedSince?: number;
  /** The device's clock minus the gateway's, in ms (positive: ahead); null or absent when not measured. */
  clockDriftMs?: number | null;
  /** Its current status (agent/status.ts), named in a not_seen failure. */
  status?: { state: string; reason?: string };
}

export type Detail = string | number | boolean | null | readonly string[];

export interface Failure {
  rule: ComplianceRule;
  /** For a person: what fails, with the values. */
  text: string;
  /** The same values for machines (JSON-safe); `policy_rule` names the policy entry (`firmware[2]`) when one applies. */
  details: Record<string, Detail>;
}

/** A check that could not be made: no data for it (no baseline for the model, no date, no clock reading). */
export interface Unchecked {
  check: Check;
  text: string;
}

export interface Compliance {
  /** No rule fails. Unchecked checks do not make a device non-compliant. */
  compliant: boolean;
  /** In COMPLIANCE_RULES order. */
  failing: Failure[];
  /** In CHECKS order. */
  unchecked: Unchecked[];
}

export interface EvaluateOptions {
  /** IANA zone whose calendar date is "today" for date rules; the process's own zone when absent. */
  timeZone?: string;
}

/** The compliance of one device at `now` (wall ms). */
export function evaluate(device: DeviceFacts, policy: Policy, now: number, opts: EvaluateOptions = {}): Compliance {
  const failing: Failure[] = [];
  const unchecked: Unchecked[] = [];
  const maker = present(device.identity?.manufacturer);
  const model = present(device.identity?.model);
  const ctx: Context = {
    device,
    policy,
    now,
    today: localDate(now, opts.timeZone),
    maker,
    model,
    who: maker !== undefined && model !== undefined ? `${maker} ${model}` : `device ${device.id}`,
    fail: (rule, text, details) => {
      failing.push({ rule, text, details });
    },
    skip: (check, text) => {
      unchecked.push({ check, text });
    },
  };
  checkFirmware(ctx);
  checkEndOfSupport(ctx);
  checkWarranty(ctx);
  checkClock(ctx);
  checkNotSeen(ctx);
  failing.sort((a, b) => COMPLIANCE_RULES.indexOf(a.rule) - COMPLIANCE_RULES.indexOf(b.rule));
  unchecked.sort((a, b) => CHECKS.indexOf(a.check) - CHECKS.indexOf(b.check));
  return { compliant: failing.length === 0, failing, unchecked };
}

interface Context {
  device: DeviceFacts;
  policy: Policy;
  now: number;
  /** YYYY-MM-DD in the gateway's zone. */
  today: string;
  maker: string | undefined;
  model: string | undefined;
  /** "Hikvision DS-2CD2143G2-I", or "device cam-3" when either is unknown. */
  who: string;
  fail(rule: ComplianceRule, text: string, details: Record<string, Detail>): void;
  skip(check: Check, text: string): void;
}

/** Against the firmware baseline for the manufacturer and model, if one covers them. */
function checkFirmware({ device, policy, maker, model, who, fail, skip }: Context): void {
  const baseline = ruleFor(policy.firmware, maker, model);
  if (baseline === undefined) {
    if (policy.firmware.length === 0) return;
    return skip("firmware", maker === undefined || model === undefined ? "manufacturer or model not known yet: no baseline can apply" : `no firmware baseline for ${who}`);
  }
  const firmware = present(device.identity?.firmware);
  const version = firmware === undefined ? undefined : parseVersion(firmware);
  const details = {
    manufacturer: maker ?? null,
    model: model ?? null,
    firmware: firmware ?? null,
    policy_rule: baseline.at,
    ...(baseline.note !== undefined && { note: baseline.note }),
  };
  if (version === undefined) {
    const what = firmware === undefined ? "firmware version not reported" : `firmware ${JSON.stringify(firmware)} is not a version`;
    return fail("firmware_unknown", `${what}, but ${who} has a firmware baseline (${baseline.at})`, details);
  }
  const { minimum, recommended } = baseline;
  if (minimum !== undefined && compareToBound(version, minimum) < 0) {
    const upgrade = recommended === undefined ? "" : `; recommended: ${recommended.text}`;
    fail("firmware_outdated", `firmware ${firmware} is below the approved minimum ${minimum.text} for ${who}${upgrade}`, {
      ...details,
      minimum: minimum.text,
      recommended: recommended?.text ?? null,
    });
  }
  const blocked = baseline.blocked.filter((s) => matchesSpec(version, s)).map((s) => s.text);
  if (blocked.length > 0) {
    fail("firmware_blocked", `firmware ${firmware} is blocked for ${who} (blocked: ${blocked.map((b) => JSON.stringify(b)).join(", ")})`, {
      ...details,
      blocked,
      recommended: recommended?.text ?? null,
    });
  }
}

/** The device's own end-of-support date, else its model's in the policy. */
function checkEndOfSupport(ctx: Context): void {
  const own = ctx.device.lifecycle?.end_of_support;
  const rule = ruleFor(ctx.policy.end_of_support, ctx.maker, ctx.model);
  if (own !== undefined) return pastDate(ctx, "end_of_support", own, { source: "device" });
  if (rule !== undefined) return pastDate(ctx, "end_of_support", rule.date, { source: "policy", policy_rule: rule.at, ...(rule.note !== undefined && { note: rule.note }) });
  ctx.skip("end_of_support", `no end-of-support date for ${ctx.who}, in its config or the policy`);
}

function checkWarranty(ctx: Context): void {
  const end = ctx.device.lifecycle?.warranty_end;
  if (end === undefined) return ctx.skip("warranty", "no warranty end date in the device's config");
  pastDate(ctx, "warranty_expired", end, { source: "device" });
}

/** Fails `rule` when today is after `date`, the last day covered. */
function pastDate({ today, who, fail, skip }: Context, rule: "end_of_support" | "warranty_expired", date: string, source: Record<string, Detail>): void {
  const eos = rule === "end_of_support";
  if (!isIsoDate(date)) return skip(eos ? "end_of_support" : "warranty", `${eos ? "end of support" : "warranty end"} ${JSON.stringify(date)} is not a date (YYYY-MM-DD)`);
  if (today <= date) return;
  const from = source.source === "device" ? "the device's config" : `the policy, ${String(source.policy_rule)}`;
  fail(rule, eos ? `end of support for ${who} was ${date} (from ${from})` : `warranty ended ${date}`, { [eos ? "end_of_support" : "warranty_end"]: date, today, ...source });
}

function checkClock({ device, policy, fail, skip }: Context): void {
  if (policy.clock === undefined) return;
  const drift = device.clockDriftMs;
  const max = policy.clock.max_drift_s;
  if (drift === undefined || drift === null) return skip("clock", "clock drift not measured");
  if (Math.abs(drift) <= max * 1000) return;
  fail("clock_drift", `clock is ${seconds(drift)} ${drift > 0 ? "ahead of" : "behind"} the gateway, more than the ${max} s allowed`, { drift_ms: drift, max_drift_s: max });
}

/** Since the last answer, or since watching began for a device never seen, against its category's limit. */
function checkNotSeen({ device, policy, now, fail, skip }: Context): void {
  if (policy.not_seen === undefined) return;
  const limit = policy.not_seen.categories[device.category] ?? policy.not_seen.max_age_s;
  const status = device.status === undefined ? "" : ` (${device.status.state}${device.status.reason === undefined ? "" : `: ${device.status.reason}`})`;
  const allowed = `${device.category} devices must answer at least every ${limit} s`;
  const details = { last_seen: null, max_age_s: limit, category: device.category, state: device.status?.state ?? null };
  const lastSeen = device.lastSeen ?? undefined;
  if (lastSeen !== undefined) {
    if (now - lastSeen <= limit * 1000) return;
    return fail("not_seen", `not seen since ${iso(lastSeen)}${status}; ${allowed}`, { ...details, last_seen: iso(lastSeen) });
  }
  if (device.watchedSince === undefined) return skip("not_seen", "never seen, and when watching began is not known");
  if (now - device.watchedSince <= limit * 1000) return;
  fail("not_seen", `never seen since watching began at ${iso(device.watchedSince)}${status}; ${allowed}`, { ...details, watched_since: iso(device.watchedSince) });
}

/** The rules a compliance state fails, in COMPLIANCE_RULES order. */
export function failingRules(c: Compliance): ComplianceRule[] {
  return c.failing.map((f) => f.rule);
}

/**
 * How compliance changed, for the event that a change is: the rules that
 * started and stopped failing, or undefined when the same rules fail (their
 * values may differ: a device still outdated after an upgrade is no news).
 * Takes failing rules (failingRules()), which is what is remembered across
 * restarts. With none before, every failing rule is new: pass the last ones
 * published, across restarts, to avoid repeating them.
 */
export function complianceChange(
  prev: readonly ComplianceRule[] | undefined,
  next: readonly ComplianceRule[],
): { raised: ComplianceRule[]; cleared: ComplianceRule[] } | undefined {
  const before = new Set(prev);
  const after = new Set(next);
  const raised = COMPLIANCE_RULES.filter((r) => after.has(r) && !before.has(r));
  const cleared = COMPLIANCE_RULES.filter((r) => before.has(r) && !after.has(r));
  return raised.length === 0 && cleared.length === 0 ? undefined : { raised, cleared };
}

/** The calendar date (YYYY-MM-DD) at `ms` in `timeZone` (IANA; the process's zone when absent). */
export function localDate(ms: number, timeZone?: string): string {
  if (timeZone === undefined) {
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  }
  const parts = new Intl.DateTimeFormat("en-US", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(ms);
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
  return `${part("year")}-${part("month")}-${part("day")}`;
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

/** A reported name or version, or undefined when missing or blank. */
function present(s: string | undefined): string | undefined {
  const t = s?.trim();
  return t === undefined || t === "" ? undefined : t;
}

function seconds(ms: number): string {
  const s = Math.abs(ms) / 1000;
  return s >= 10 ? `${Math.round(s)} s` : `${s.toFixed(1)} s`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
