/**
 * `campus-agent report` as CSV: one row per configured device, for a
 * spreadsheet or an asset register. Fields are quoted per RFC 4180 and
 * guarded against formula injection: devices choose their own model and
 * firmware strings.
 */
import { type Check, COMPLIANCE_RULES, type ComplianceRule } from "../lifecycle/evaluate.js";
import { visible } from "./report-format.js";
import type { AssetReport, ReportDevice } from "./report-types.js";

/** Which unchecked check leaves which rules undecided. */
const RULE_CHECK: Record<ComplianceRule, Check> = {
  firmware_outdated: "firmware",
  firmware_blocked: "firmware",
  firmware_unknown: "firmware",
  end_of_support: "end_of_support",
  warranty_expired: "warranty",
  clock_drift: "clock",
  not_seen: "not_seen",
};

/** One column per rule, prefixed: the rule end_of_support and the device's end_of_support date are both columns. */
const RULE_COLUMNS = COMPLIANCE_RULES.map((rule) => `rule_${rule}` as const);
type RuleColumn = (typeof RULE_COLUMNS)[number];

/** The CSV's columns, in order: inventory, status, then compliance with one column per rule. */
export const CSV_COLUMNS = [
  "id",
  "name",
  "kind",
  "category",
  "building",
  "floor",
  "room",
  "owner",
  "manufacturer",
  "model",
  "serial",
  "firmware",
  "hardware_id",
  "mac",
  "install_date",
  "warranty_end",
  "end_of_support",
  "asset_tag",
  "presence",
  "state",
  "reason",
  "reason_text",
  "last_seen",
  "compliance_evaluated",
  "compliant",
  ...RULE_COLUMNS,
  "failing_rules",
  "failing_details",
  "unchecked_details",
  "compliance_since",
] as const;

/**
 * One row per configured device, in config order, under a header row
 * (CSV_COLUMNS). RFC 4180: fields holding a comma, a quote, CR or LF are
 * quoted, quotes doubled; records end with CRLF, the RFC's line break, which
 * Excel and LibreOffice expect and every CSV reader accepts. UTF-8 without a
 * byte-order mark (a BOM ends up in the first header name of most parsers).
 *
 * Rule columns (rule_<rule>): "fail", "pass", "unchecked" (the check lacked its data:
 * docs/lifecycle.md), or empty when compliance was not evaluated (no
 * policy). "pass" also covers a check the policy leaves out (no clock:
 * section): the report does not say which sections the policy has.
 * Unknown assets are not rows: they are no configured device.
 */
export function renderCsv(r: AssetReport): string {
  const rows = [[...CSV_COLUMNS], ...r.devices.map(csvRow)];
  return rows.map((row) => `${row.map(csvField).join(",")}\r\n`).join("");
}

function csvRow(d: ReportDevice): string[] {
  const c = d.compliance;
  const id = d.identity;
  const l = d.lifecycle;
  const row: Record<(typeof CSV_COLUMNS)[number], string> = {
    id: d.id,
    name: d.name ?? "",
    kind: d.kind,
    category: d.category,
    building: d.location.building ?? "",
    floor: d.location.floor ?? "",
    room: d.location.room ?? "",
    owner: d.owner ?? "",
    manufacturer: id.manufacturer ?? "",
    model: id.model ?? "",
    serial: id.serial ?? "",
    firmware: id.firmware ?? "",
    hardware_id: id.hardware_id ?? "",
    mac: id.mac ?? "",
    install_date: l.install_date ?? "",
    warranty_end: l.warranty_end ?? "",
    end_of_support: l.end_of_support ?? "",
    asset_tag: l.asset_tag ?? "",
    presence: d.presence,
    state: d.status.state,
    reason: d.status.reason ?? "",
    reason_text: d.status.reason_text ?? "",
    last_seen: d.status.last_seen ?? "",
    compliance_evaluated: String(c.evaluated),
    compliant: c.evaluated ? String(c.compliant) : "",
    ...(Object.fromEntries(COMPLIANCE_RULES.map((rule) => [`rule_${rule}`, ruleResult(d, rule)])) as Record<RuleColumn, string>),
    failing_rules: c.failing.map((f) => f.rule).join("; "),
    failing_details: c.failing.map((f) => f.text).join(" | "),
    unchecked_details: c.unchecked.map((u) => `${u.check}: ${u.text}`).join(" | "),
    compliance_since: c.since ?? "",
  };
  return CSV_COLUMNS.map((col) => row[col]);
}

function ruleResult(d: ReportDevice, rule: ComplianceRule): "fail" | "pass" | "unchecked" | "" {
  const c = d.compliance;
  if (!c.evaluated) return "";
  if (c.failing.some((f) => f.rule === rule)) return "fail";
  return c.unchecked.some((u) => u.check === RULE_CHECK[rule]) ? "unchecked" : "pass";
}

/**
 * One RFC 4180 field, control characters but CR, LF and tab made visible
 * as in the text (a CSV gets cat to a terminal too). Formula injection (OWASP "CSV Injection"): a
 * spreadsheet runs a cell starting with = + - @ (or a tab or CR before one)
 * as a formula, and devices choose their own model and firmware strings
 * (a camera can call itself `=HYPERLINK("http://…")`): such a cell gets a
 * leading single quote, which spreadsheets show as text.
 */
export function csvField(value: string): string {
  const shown = visible(value, { keepBreaks: true });
  const safe = /^[=+\-@\t\r]/.test(shown) ? `'${shown}` : shown;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
