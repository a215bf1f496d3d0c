/**
 * `campus-agent report` for auditors: the AssetReport the running agent
 * answers (report-types.ts) as text for a terminal, JSON, CSV (one row per
 * configured device) and one self-contained HTML page. Pure: no I/O, no
 * clock (ages are measured from the report's generated_at), no time zone
 * (times are printed in UTC, which reads the same wherever the report goes).
 *
 * Device-reported strings (model, firmware, serial, discovery scopes) are
 * untrusted: in text, control and bidirectional-override characters are
 * shown as escapes (a model name must not drive the terminal); in HTML,
 * every value is escaped; in CSV, cells are quoted per RFC 4180 and guarded
 * against formula injection.
 */
import type { Identity } from "../../drivers/contract.js";
import { duration, plural, table } from "../commands/format.js";
import { type Check, CHECKS, COMPLIANCE_RULES, type ComplianceRule } from "../lifecycle/evaluate.js";
import type { AssetReport, ReportDevice } from "./report-types.js";

type Category = ReportDevice["category"];
const CATEGORIES: readonly Category[] = ["safety-critical", "operational"];

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

function missingIds(r: AssetReport): string[] {
  const ids = new Set([...r.readiness.assets.missing, ...r.devices.filter((d) => d.presence === "missing").map((d) => d.id)]);
  return [...ids];
}

// ---------------------------------------------------------------- text

/** Text lines stay within this many columns, but for an identifier or a word longer than a line. */
const WIDTH = 120;

/** For a technician or an auditor in a terminal: within 120 columns; times in UTC. */
export function renderText(r: AssetReport): string {
  const lines: string[] = [];
  lines.push(`Asset and compliance report: ${v(named(r.campus))}`);
  lines.push(
    ...table(
      [
        ["gateway", v(named(r.gateway))],
        ["generated", `${utc(r.generated_at)} (every time in this report is UTC)`],
        ["agent", `campus-agent ${v(r.agent_version)}`],
        ["policy", r.policy === null ? "no lifecycle policy loaded: compliance not checked" : `${v(r.policy.file)} (sha256 ${v(r.policy.sha256)})`],
      ],
      { indent: "  " },
    ),
  );

  const rd = r.readiness;
  const sc = rd.safety_critical;
  const checked = r.policy !== null;
  const open = rd.open_alarms;
  lines.push("", "Readiness");
  const facts = [
    [
      "safety-critical",
      sc.total === 0
        ? "no safety-critical device configured"
        : [
            `${plural(sc.total, "device")}: online ${share(sc.online, sc.total)}`,
            checked ? `compliant ${share(sc.compliant, sc.total)}` : "compliance not checked",
            `ready ${share(sc.ready, sc.total)}${checked ? "" : ": online only"}`,
          ].join(", "),
    ],
    ["failing rules", checked ? failingCounts(r) : "not checked"],
    [
      "oldest heartbeat",
      rd.oldest_heartbeat === null
        ? "no device has answered"
        : `${v(rd.oldest_heartbeat.device)} (${rd.oldest_heartbeat.category}), last answered ${utc(rd.oldest_heartbeat.last_seen)}, ${duration(rd.oldest_heartbeat.age_s * 1000)} before this report`,
    ],
    ["open alarms", open.length === 0 ? "none" : `${open.length}, listed below`],
    [
      "assets",
      `${rd.assets.unknown} unknown, ${rd.assets.missing.length} missing, ${rd.assets.pending} pending (not polled yet); last discovery ${rd.assets.last_discovery === null ? "none since the gateway started" : utc(rd.assets.last_discovery)}`,
    ],
    ["uplink", `${rd.uplink.connected ? "connected to the broker" : "NOT CONNECTED to the broker"}, ${plural(rd.uplink.outbox_depth, "message")} waiting in the outbox`],
  ];
  lines.push(...fit(table(facts, { indent: "  " }), facts.map((f) => f[1] ?? "")));
  const countRow = (name: string, c: AssetReport["readiness"]["devices"]) => [
    name,
    ...[c.total, c.online, c.degraded, c.offline, c.unknown].map(String),
    ...(checked ? [String(c.compliant), String(c.non_compliant)] : ["-", "-"]),
  ];
  lines.push("");
  lines.push(
    ...table([...CATEGORIES.map((c) => countRow(c, rd.by_category[c])), countRow("all", rd.devices)], {
      head: ["CATEGORY", "TOTAL", "ONLINE", "DEGRADED", "OFFLINE", "UNKNOWN", "COMPLIANT", "NOT COMPLIANT"],
      align: ["left", "right", "right", "right", "right", "right", "right", "right"],
      indent: "  ",
    }),
  );
  if (open.length > 0) {
    lines.push("", `  Open alarms (${open.length})`);
    const messages = open.map((a) => cut(v(a.message), 300));
    const rows = open.map((a, i) => [v(a.device), v(a.type), utc(a.since), ago(r, a.since), a.zone === null ? "-" : cut(v(a.zone.name ?? a.zone.id), 30), messages[i] ?? ""]);
    lines.push(...fit(table(rows, { head: ["DEVICE", "TYPE", "SINCE", "OPEN FOR", "ZONE", "MESSAGE"], indent: "    " }), ["MESSAGE", ...messages]));
  }

  // One table per category (safety-critical first), in config order: a category column would take the width the compliance needs.
  lines.push("", `Devices (${r.devices.length}, in config order)`);
  if (r.devices.length === 0) lines.push("  none configured");
  for (const category of CATEGORIES) {
    const group = r.devices.filter((d) => d.category === category);
    if (group.length === 0) continue;
    if (category !== CATEGORIES[0]) lines.push("");
    lines.push(`  ${category} (${group.length})`);
    const compliance = group.map(complianceCell);
    const rows = group.map((d, i) => [
      v(d.id),
      cut(v(place(d.location)), 22),
      cut(v(makeModel(d.identity) ?? "-"), 26),
      cut(v(d.identity.firmware ?? "-"), 22),
      d.status.state,
      compliance[i] ?? "",
    ]);
    lines.push(...fit(table(rows, { head: ["ID", "LOCATION", "MAKE/MODEL", "FIRMWARE", "STATE", "COMPLIANCE"], indent: "    " }), ["COMPLIANCE", ...compliance]));
  }

  const failing = r.devices.filter((d) => d.compliance.evaluated && d.compliance.failing.length > 0);
  lines.push("", checked ? `Failing rules (${plural(failing.length, "device")})` : "Failing rules");
  if (!checked) lines.push("  not checked: no lifecycle policy loaded");
  else if (failing.length === 0) lines.push("  none: every device passes every rule checked");
  for (const d of failing) {
    const what = [d.name, makeModel(d.identity), place(d.location)].filter((x) => typeof x === "string" && x !== "-");
    lines.push(...wrap(`${v(d.id)}${what.length === 0 ? "" : `: ${v(what.join(", "))}`}`, "  ", "    "));
    for (const f of d.compliance.failing) lines.push(...wrap(`${f.rule}: ${v(f.text)}`, "    ", "      "));
  }

  const unchecked = uncheckedByCheck(r);
  if (unchecked.length > 0) {
    lines.push("", "Not checked, for want of data (not failing)");
    const which = unchecked.map(([, ids]) => `${plural(ids.length, "device")}: ${ids.map((id) => v(id)).join(", ")}`);
    lines.push(...fit(table(unchecked.map(([check], i) => [check, which[i] ?? ""]), { indent: "  " }), which));
  }

  lines.push("", `Unknown assets: found by discovery, not in the config (${r.unknown.length})`);
  if (r.unknown.length > 0) {
    const identities = r.unknown.map((u) => cut(v(identityText(u.identity) ?? "-"), 300));
    const rows = r.unknown.map((u, i) => [u.kind, cut(v(u.address), 44), minute(u.first_seen), minute(u.last_seen), identities[i] ?? ""]);
    lines.push(...fit(table(rows, { head: ["KIND", "ADDRESS", "FIRST SEEN", "LAST SEEN", "IDENTITY"], indent: "  " }), ["IDENTITY", ...identities]));
  }

  const missing = missingIds(r);
  lines.push("", `Missing: configured, never answered (${missing.length})`);
  if (missing.length > 0) {
    const found = missing.map((id) => r.devices.find((x) => x.id === id));
    const states = found.map((d) => (d === undefined ? "-" : `${d.status.state}${d.status.reason_text === null ? "" : `: ${cut(v(d.status.reason_text), 300)}`}`));
    const rows = missing.map((id, i) => {
      const d = found[i];
      return d === undefined ? [v(id), "-", "-", "-", "-"] : [v(id), d.category, d.kind, cut(v(place(d.location)), 22), states[i] ?? ""];
    });
    lines.push(...fit(table(rows, { head: ["ID", "CATEGORY", "KIND", "LOCATION", "STATE"], indent: "  " }), ["STATE", ...states]));
  }

  const problems = reportProblems(r);
  lines.push("");
  if (problems.length === 0) {
    lines.push(`READY: every safety-critical device online${checked ? " and compliant" : " (compliance not checked: no lifecycle policy)"}, no asset missing or unknown.`);
  } else {
    lines.push(`NOT READY (${problems.length}):`, ...problems.flatMap((p) => wrap(v(p), "  - ", "    ")));
  }
  return `${lines.join("\n")}\n`;
}

/**
 * A table's lines with its last column wrapped to WIDTH: `last` holds that
 * column's text for each line (the header's first), which ends the line
 * (table() trims trailing spaces); a line too long keeps the first part and
 * the rest goes on lines of its own, under the column.
 */
function fit(lines: readonly string[], last: readonly string[]): string[] {
  return lines.flatMap((line, i) => {
    const text = last[i] ?? "";
    if (line.length <= WIDTH || text === "" || !line.endsWith(text)) return [line];
    const prefix = line.slice(0, line.length - text.length);
    return wrap(text, prefix, " ".repeat(prefix.length));
  });
}

/** `text` in lines of at most WIDTH, broken at spaces: the first after `first`, the others after `rest`. */
function wrap(text: string, first: string, rest: string): string[] {
  const out: string[] = [];
  let line = first;
  let empty = true;
  for (const word of text.split(" ").filter((w) => w !== "")) {
    if (!empty && line.length + 1 + word.length > WIDTH) {
      out.push(line);
      line = rest;
      empty = true;
    }
    line += empty ? word : ` ${word}`;
    empty = false;
  }
  out.push(line);
  return out;
}

function failingCounts(r: AssetReport): string {
  const parts = COMPLIANCE_RULES.filter((rule) => (r.readiness.failing[rule] ?? 0) > 0).map((rule) => `${rule} ${r.readiness.failing[rule]}`);
  return parts.length === 0 ? "none" : parts.join(", ");
}

/** Each check some evaluated device lacked data for, in CHECKS order, with those devices. */
function uncheckedByCheck(r: AssetReport): [Check, string[]][] {
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

// ---------------------------------------------------------------- CSV

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

// ---------------------------------------------------------------- HTML

/**
 * One page a district can open or print: inline CSS only, no script, no
 * external resource or link (a Content-Security-Policy says so too, should
 * an escape ever be missed); every value escaped. Status is colour and
 * text, never colour alone.
 */
export function renderHtml(r: AssetReport): string {
  const rd = r.readiness;
  const sc = rd.safety_critical;
  const checked = r.policy !== null;
  const problems = reportProblems(r);
  const campus = named(r.campus);
  const out: string[] = [];
  out.push(
    "<!DOCTYPE html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>Asset and compliance report — ${h(nameOf(r.campus))}</title>`,
    `<style>${CSS}</style>`,
    "</head>",
    "<body>",
    "<header>",
    `<h1>Asset and compliance report — ${h(nameOf(r.campus))}</h1>`,
    `<p class="sub">Campus ${h(campus)} · gateway ${h(named(r.gateway))} · generated ${h(utc(r.generated_at))} · ${
      checked ? `lifecycle policy ${h(r.policy?.file ?? "")}` : "<strong>no lifecycle policy loaded: compliance not checked</strong>"
    }</p>`,
    "</header>",
  );

  out.push('<section aria-labelledby="readiness">', '<h2 id="readiness">Readiness</h2>');
  out.push(
    problems.length === 0
      ? `<p class="verdict good"><span class="mark">✔</span> READY: every safety-critical device online${checked ? " and compliant" : " (compliance not checked)"}, no asset missing or unknown.</p>`
      : `<div class="verdict bad"><p><span class="mark">✖</span> NOT READY (${problems.length})</p><ul>${problems.map((p) => `<li>${h(p)}</li>`).join("")}</ul></div>`,
  );
  const card = (label: string, value: string, detail: string, tone: "good" | "bad" | "plain") =>
    `<div class="card ${tone}"><div class="label">${h(label)}</div><div class="value">${h(value)}</div><div class="detail">${h(detail)}</div></div>`;
  const tone = (ratio: number | null) => (ratio === null ? "plain" : ratio === 1 ? "good" : "bad");
  const of = (ratio: number | null) => (ratio === null ? "no safety-critical device" : `${Math.round(ratio * sc.total)} of ${sc.total} safety-critical`);
  out.push(
    '<div class="cards">',
    card("Safety-critical online", pct(sc.online), of(sc.online), tone(sc.online)),
    checked ? card("Safety-critical compliant", pct(sc.compliant), of(sc.compliant), tone(sc.compliant)) : card("Compliance", "not checked", "no lifecycle policy loaded", "plain"),
    card("Ready", pct(sc.ready), checked ? `${of(sc.ready)}: online and compliant` : `${of(sc.ready)}: online (compliance not checked)`, tone(sc.ready)),
    card("Open alarms", String(rd.open_alarms.length), rd.open_alarms.length === 0 ? "none open" : "listed below", rd.open_alarms.length === 0 ? "good" : "bad"),
    card("Unknown / missing / pending", `${rd.assets.unknown} / ${rd.assets.missing.length} / ${rd.assets.pending}`, "unknown: not in the config; missing: never answered", rd.assets.unknown + rd.assets.missing.length === 0 ? "good" : "bad"),
    card(
      "Uplink",
      rd.uplink.connected ? "connected" : "not connected",
      `${plural(rd.uplink.outbox_depth, "message")} waiting in the outbox`,
      rd.uplink.connected ? "good" : "bad",
    ),
    "</div>",
  );
  const countCells = (c: AssetReport["readiness"]["devices"]) =>
    [c.total, c.online, c.degraded, c.offline, c.unknown, ...(checked ? [c.compliant, c.non_compliant] : ["-", "-"])].map((n) => `<td class="num">${h(String(n))}</td>`).join("");
  out.push(
    '<table class="counts"><thead><tr><th scope="col">Category</th><th scope="col">Total</th><th scope="col">Online</th><th scope="col">Degraded</th>' +
    '<th scope="col">Offline</th><th scope="col">Not polled yet</th><th scope="col">Compliant</th><th scope="col">Not compliant</th></tr></thead><tbody>',
    ...CATEGORIES.map((c) => `<tr><th scope="row">${h(c)}</th>${countCells(rd.by_category[c])}</tr>`),
    `<tr class="total"><th scope="row">all</th>${countCells(rd.devices)}</tr>`,
    "</tbody></table>",
  );
  const facts: [string, string][] = [
    ["Failing rules", checked ? failingCounts(r) : "not checked"],
    [
      "Oldest heartbeat",
      rd.oldest_heartbeat === null
        ? "no device has answered"
        : `${rd.oldest_heartbeat.device} (${rd.oldest_heartbeat.category}), last answered ${utc(rd.oldest_heartbeat.last_seen)}, ${duration(rd.oldest_heartbeat.age_s * 1000)} before this report`,
    ],
    ["Last discovery", rd.assets.last_discovery === null ? "none since the gateway started" : utc(rd.assets.last_discovery)],
  ];
  out.push(`<dl class="facts">${facts.map(([k, val]) => `<dt>${h(k)}</dt><dd>${h(val)}</dd>`).join("")}</dl>`);
  if (rd.open_alarms.length > 0) {
    out.push(
      `<h3>Open alarms (${rd.open_alarms.length})</h3>`,
      htmlTable(
        ["Device", "Type", "Since", "Zone", "Message"],
        rd.open_alarms.map((a) => [a.device, a.type, utc(a.since), a.zone === null ? "-" : `${a.zone.name ?? a.zone.id}${a.zone.location ? `, ${place(a.zone.location)}` : ""}`, a.message].map(h)),
      ),
    );
  }
  out.push("</section>");

  out.push('<section aria-labelledby="devices">', `<h2 id="devices">Devices (${r.devices.length})</h2>`);
  out.push(
    htmlTable(
      ["ID", "Name", "Category", "Location", "Make / model", "Serial", "Firmware", "Asset tag", "Warranty end", "State", "Last seen", "Compliance"],
      r.devices.map((d) => [
        `<code>${h(d.id)}</code>`,
        h(d.name ?? "-"),
        h(d.category),
        h(place(d.location)),
        h(makeModel(d.identity) ?? "-"),
        h(d.identity.serial ?? "-"),
        h(d.identity.firmware ?? "-"),
        h(d.lifecycle.asset_tag ?? "-"),
        h(d.lifecycle.warranty_end ?? "-"),
        stateBadge(d),
        h(d.status.last_seen === null ? "never" : utc(d.status.last_seen)),
        complianceBadge(d),
      ]),
      "devices",
    ),
  );
  out.push("</section>");

  const failing = r.devices.filter((d) => d.compliance.evaluated && d.compliance.failing.length > 0);
  out.push('<section aria-labelledby="failing">', `<h2 id="failing">Failing rules (${plural(failing.length, "device")})</h2>`);
  if (!checked) out.push("<p>Not checked: no lifecycle policy loaded.</p>");
  else if (failing.length === 0) out.push("<p>None: every device passes every rule checked.</p>");
  for (const d of failing) {
    out.push(
      `<div class="failing"><h3><code>${h(d.id)}</code> ${h([d.name, makeModel(d.identity), place(d.location)].filter((x) => x !== null && x !== undefined && x !== "-").join(" · "))}</h3>`,
      `<ul>${d.compliance.failing.map((f) => `<li><span class="rule">${h(f.rule)}</span>: ${h(f.text)}</li>`).join("")}</ul></div>`,
    );
  }
  const unchecked = uncheckedByCheck(r);
  if (unchecked.length > 0) {
    out.push(
      "<h3>Not checked, for want of data (not failing)</h3>",
      `<ul>${unchecked.map(([check, ids]) => `<li><span class="rule">${h(check)}</span>: ${h(ids.join(", "))}</li>`).join("")}</ul>`,
    );
  }
  out.push("</section>");

  out.push('<section aria-labelledby="unknown">', `<h2 id="unknown">Unknown assets: found by discovery, not in the config (${r.unknown.length})</h2>`);
  out.push(
    r.unknown.length === 0
      ? "<p>None.</p>"
      : htmlTable(["Kind", "Address", "Identity", "First seen", "Last seen"], r.unknown.map((u) => [u.kind, u.address, identityText(u.identity) ?? "-", utc(u.first_seen), utc(u.last_seen)].map(h))),
  );
  out.push("</section>");

  const missing = missingIds(r);
  out.push('<section aria-labelledby="missing">', `<h2 id="missing">Missing: configured, never answered (${missing.length})</h2>`);
  out.push(
    missing.length === 0
      ? "<p>None.</p>"
      : htmlTable(
          ["ID", "Category", "Kind", "Location", "State"],
          missing.map((id) => {
            const d = r.devices.find((x) => x.id === id);
            if (d === undefined) return [`<code>${h(id)}</code>`, "-", "-", "-", "-"];
            return [`<code>${h(id)}</code>`, h(d.category), h(d.kind), h(place(d.location)), `${h(d.status.state)}${d.status.reason_text === null ? "" : `: ${h(d.status.reason_text)}`}`];
          }),
        ),
  );
  out.push("</section>");

  out.push(
    "<footer>",
    `<p>Generated ${h(utc(r.generated_at))} by campus-agent ${h(r.agent_version)} on gateway ${h(named(r.gateway))}, campus ${h(campus)}.</p>`,
    `<p>${r.policy === null ? "No lifecycle policy loaded: compliance not checked." : `Lifecycle policy <code>${h(r.policy.file)}</code>, sha256 <code>${h(r.policy.sha256)}</code>.`}</p>`,
    "</footer>",
    "</body>",
    "</html>",
  );
  return `${out.join("\n")}\n`;
}

/** Cells are HTML already (escaped by the caller). */
function htmlTable(head: readonly string[], rows: readonly (readonly string[])[], cls?: string): string {
  return [
    `<table${cls === undefined ? "" : ` class="${cls}"`}><thead><tr>${head.map((x) => `<th scope="col">${h(x)}</th>`).join("")}</tr></thead><tbody>`,
    ...rows.map((row) => `<tr>${row.map((c) => `<td>${c}</td>`).join("")}</tr>`),
    "</tbody></table>",
  ].join("\n");
}

function stateBadge(d: ReportDevice): string {
  const s = d.status.state;
  const cls = s === "online" ? "good" : s === "degraded" ? "warn" : s === "offline" ? "bad" : "plain";
  const mark = s === "online" ? "●" : s === "degraded" ? "◐" : s === "offline" ? "○" : "?";
  const why = d.status.reason_text === null || s === "online" ? "" : `<div class="why">${h(d.status.reason_text)}</div>`;
  return `<span class="badge ${cls}">${mark} ${h(s)}${d.presence === "missing" ? ", missing" : ""}</span>${why}`;
}

function complianceBadge(d: ReportDevice): string {
  const c = d.compliance;
  if (!c.evaluated) return '<span class="badge plain">– not evaluated</span>';
  if (c.compliant) return '<span class="badge good">✔ OK</span>';
  return `<span class="badge bad">✖ ${h(c.failing.map((f) => f.rule).join(", "))}</span>`;
}

const CSS = `
:root{color-scheme:light}
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1a1a1a;margin:24px;max-width:1400px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ccc}h3{font-size:15px;margin:16px 0 6px}
.sub{color:#444;margin:0}
.verdict{border:2px solid;padding:8px 12px;margin:12px 0;font-weight:600}.verdict p{margin:0}.verdict ul{margin:6px 0 0;font-weight:400}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.card{border:1px solid #999;border-left-width:6px;padding:8px 12px;min-width:170px}
.card .label{font-size:12px;color:#444}.card .value{font-size:22px;font-weight:700}.card .detail{font-size:12px;color:#444}
.good{border-color:#1e7a34;background:#e7f4ea}.bad{border-color:#b3261e;background:#fbe9e7}.warn{border-color:#8a6100;background:#fff4d6}.plain{border-color:#777;background:#f2f2f2}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #bbb;padding:3px 6px;text-align:left;vertical-align:top}
thead th{background:#eee}td.num{text-align:right}tr.total th,tr.total td{font-weight:700}
.badge{display:inline-block;border:1px solid;border-radius:3px;padding:0 5px;white-space:nowrap}
.why{font-size:12px;color:#444;max-width:260px}
.rule{font-family:ui-monospace,Menlo,Consolas,monospace;font-weight:600}
code{font-family:ui-monospace,Menlo,Consolas,monospace}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dl.facts dt{font-weight:600}dl.facts dd{margin:0}
footer{margin-top:32px;border-top:1px solid #ccc;color:#444;font-size:12px}
@page{size:landscape;margin:12mm}
@media print{
body{margin:0;font-size:10pt;max-width:none}
.good,.bad,.warn,.plain,thead th{background:none}
thead{display:table-header-group}
tr,.card,.failing,.verdict{break-inside:avoid;page-break-inside:avoid}
h2,h3{break-after:avoid;page-break-after:avoid}
}
`.trim();

// ---------------------------------------------------------------- shared

/** `&`, `<`, `>`, `"`, `'` as entities; control characters visible (they are not allowed in HTML text). */
function h(s: string): string {
  return v(s).replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

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

const v = visible;

/** A cell cut to `max` characters with an ellipsis: a device's 500-character model must not wreck the table (the CSV and JSON keep it whole). */
function cut(s: string, max: number): string {
  const chars = [...s];
  return chars.length <= max ? s : `${chars.slice(0, max - 1).join("")}…`;
}

/** Its name, else its id. */
function nameOf(x: { id: string; name: string | null }): string {
  return x.name === null || x.name === "" ? x.id : x.name;
}

/** "Lincoln High School (lincoln-hs)", or the id alone when it has no other name. */
function named(x: { id: string; name: string | null }): string {
  return x.name === null || x.name === "" || x.name === x.id ? x.id : `${x.name} (${x.id})`;
}

function place(l: { building?: string; floor?: string; room?: string }): string {
  return [l.building, l.floor, l.room].filter((x) => x !== undefined && x !== "").join(" / ") || "-";
}

function makeModel(i: Identity): string | undefined {
  const s = [i.manufacturer, i.model].filter((x) => x !== undefined && x !== "").join(" ");
  return s === "" ? undefined : s;
}

function identityText(i: Identity): string | undefined {
  const parts = [makeModel(i), i.serial !== undefined ? `serial ${i.serial}` : undefined, i.firmware !== undefined ? `firmware ${i.firmware}` : undefined];
  const s = parts.filter((x) => x !== undefined).join(", ");
  return s === "" ? undefined : s;
}

function complianceCell(d: ReportDevice): string {
  const c = d.compliance;
  if (!c.evaluated) return "-";
  return c.failing.length === 0 ? "OK" : c.failing.map((f) => f.rule).join(", ");
}

/** 2026-03-02 10:00:00 UTC: the same wherever the report is read; an unparseable time is shown as given. */
function utc(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return v(iso);
  return `${new Date(t).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** How long before the report: "1m 50s". */
function ago(r: AssetReport, iso: string): string {
  return duration(Date.parse(r.generated_at) - Date.parse(iso));
}

/** 2026-03-02 09:45: discovery times, to the minute. */
function minute(iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? v(iso) : new Date(t).toISOString().slice(0, 16).replace("T", " ");
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

function share(ratio: number | null, total: number): string {
  return ratio === null ? "n/a" : `${pct(ratio)} (${Math.round(ratio * total)} of ${total})`;
}
