/**
 * What `campus-agent report`'s renderers share: the readiness verdict
 * (reportProblems), the JSON form, and the helpers both the text
 * (report-text.ts) and the HTML (report-html.ts) forms use. Pure: no I/O, no
 * clock (ages are measured from the report's generated_at), no time zone
 * (times are printed in UTC, which reads the same wherever the report goes).
 *
 * Device-reported strings (model, firmware, serial, discovery scopes) are
 * untrusted: visible() shows their control and bidirectional-override
 * characters as escapes, and every form builds on it (the HTML escapes
 * every value too; the CSV, report-csv.ts, also quotes per RFC 4180 and
 * guards against formula injection).
 */
import type { Identity } from "../../drivers/contract.js";
import { plural } from "../commands/format.js";
import { type Check, CHECKS, COMPLIANCE_RULES } from "../lifecycle/evaluate.js";
import type { AssetReport, ReportDevice } from "./report-types.js";

type Category = ReportDevice["category"];
/** The categories in the order the report shows them: safety-critical first. */
export const CATEGORIES: readonly Category[] = ["safety-critical", "operational"];

export function renderJson(r: AssetReport): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}

/**
 * Why the campus is not ready, one line each; empty when every
 * safety-critical device is online (degraded answers: it counts) and
 * compliant and no asset is missing or unknown. A safety-critical device not
 * polled yet is not known to be online: it counts against. Operational
 * devices, open alarms and the uplink are reported but do not count.
 */
export function reportProblems(r: AssetReport): string[] {
  const problems: string[] = [];
  const critical = r.devices.filter((d) => d.category === "safety-critical");
  const down = critical.filter((d) => d.status.state === "offline" || d.status.state === "unknown");
  if (down.length > 0) {
    const what = down.map((d) => `${d.id} (${d.status.state === "unknown" ? "not polled yet" : "offline"})`).join(", ");
    problems.push(`${plural(down.length, "safety-critical device")} not online: ${what}`);
  }
  const failing = critical.filter((d) => d.compliance.evaluated && !d.compliance.compliant);
  if (failing.length > 0) problems.push(`${plural(failing.length, "safety-critical device")} not compliant: ${failing.map((d) => d.id).join(", ")}`);
  const missing = missingIds(r);
  if (missing.length > 0) problems.push(`${plural(missing.length, "missing asset")} (configured, never answered): ${missing.join(", ")}`);
  const unknown = Math.max(r.unknown.length, r.readiness.assets.unknown);
  if (unknown > 0) problems.push(`${plural(unknown, "unknown asset")} on the campus network (found by discovery, not in the config)`);
  return problems;
}

/** The ids of the configured devices that never answered: those the readiness lists and those whose presence is missing. */
export function missingIds(r: AssetReport): string[] {
  const ids = new Set([...r.readiness.assets.missing, ...r.devices.filter((d) => d.presence === "missing").map((d) => d.id)]);
  return [...ids];
}

/** "firmware_outdated 1, clock_drift 2": each failing rule with a device count, in COMPLIANCE_RULES order; "none". */
export function failingCounts(r: AssetReport): string {
  const parts = COMPLIANCE_RULES.filter((rule) => (r.readiness.failing[rule] ?? 0) > 0).map((rule) => `${rule} ${r.readiness.failing[rule]}`);
  return parts.length === 0 ? "none" : parts.join(", ");
}

/** Each check some evaluated device lacked data for, in CHECKS order, with those devices. */
export function uncheckedByCheck(r: AssetReport): [Check, string[]][] {
  const by = new Map<Check, string[]>();
  for (const d of r.devices) {
    if (!d.compliance.evaluated) continue;
    for (const u of d.compliance.unchecked) by.set(u.check, [...(by.get(u.check) ?? []), d.id]);
  }
  return CHECKS.flatMap((check): [Check, string[]][] => {
    const ids = by.get(check);
    return ids === undefined ? [] : [[check, ids]];
  });
}

/**
 * An untrusted string made safe to show: C0 and C1 control characters (ESC
 * and its terminal sequences), DEL, and the bidirectional overrides that can
 * reorder what a reader sees ("Trojan Source") become visible escapes.
 * Newlines and tabs too, so that a cell stays on its line, unless
 * `keepBreaks` (a CSV field keeps them: it is quoted).
 */
export function visible(s: string, opts: { keepBreaks?: boolean } = {}): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    if (opts.keepBreaks === true && (c === "\n" || c === "\r" || c === "\t")) return c;
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** "Lincoln High School (lincoln-hs)", or the id alone when it has no other name. */
export function named(x: { id: string; name: string | null }): string {
  return x.name === null || x.name === "" || x.name === x.id ? x.id : `${x.name} (${x.id})`;
}

/** "Main / 1 / 104": building, floor and room; "-" without any. */
export function place(l: { building?: string; floor?: string; room?: string }): string {
  return [l.building, l.floor, l.room].filter((x) => x !== undefined && x !== "").join(" / ") || "-";
}

/** Manufacturer and model, when the device said either. */
export function makeModel(i: Identity): string | undefined {
  const s = [i.manufacturer, i.model].filter((x) => x !== undefined && x !== "").join(" ");
  return s === "" ? undefined : s;
}

/** Make and model, serial and firmware, as far as the device said them. */
export function identityText(i: Identity): string | undefined {
  const parts = [makeModel(i), i.serial !== undefined ? `serial ${i.serial}` : undefined, i.firmware !== undefined ? `firmware ${i.firmware}` : undefined];
  const s = parts.filter((x) => x !== undefined).join(", ");
  return s === "" ? undefined : s;
}

/** 2026-03-02 10:00:00 UTC: the same wherever the report is read; an unparseable time is shown as given. */
export function utc(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return visible(iso);
  return `${new Date(t).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/**
 * A share as a percentage, rounded down to 0.1 (never overstating
 * readiness: 249 of 250 is 99.6%, not 100%); "n/a" without such devices.
 */
export function pct(ratio: number | null): string {
  if (ratio === null) return "n/a";
  const tenths = Math.floor(ratio * 1000 + 1e-9);
  return tenths % 10 === 0 ? `${tenths / 10}%` : `${(tenths / 10).toFixed(1)}%`;
}
