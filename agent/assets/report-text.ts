/**
 * `campus-agent report` as text for a terminal, for a technician or an
 * auditor: within 120 columns, times in UTC. Device-reported strings are
 * untrusted: their control and bidirectional-override characters are shown
 * as escapes (a model name must not drive the terminal), and a long one is
 * cut to fit its cell.
 */
import { duration, plural, table } from "../commands/format.js";
import {
  CATEGORIES,
  failingCounts,
  identityText,
  makeModel,
  missingIds,
  named,
  pct,
  place,
  reportProblems,
  uncheckedByCheck,
  utc,
  visible as v,
} from "./report-format.js";
import type { AssetReport, ReportDevice } from "./report-types.js";

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

/** A cell cut to `max` characters with an ellipsis: a device's 500-character model must not wreck the table (the CSV and JSON keep it whole). */
function cut(s: string, max: number): string {
  const chars = [...s];
  return chars.length <= max ? s : `${chars.slice(0, max - 1).join("")}…`;
}

function complianceCell(d: ReportDevice): string {
  const c = d.compliance;
  if (!c.evaluated) return "-";
  return c.failing.length === 0 ? "OK" : c.failing.map((f) => f.rule).join(", ");
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

function share(ratio: number | null, total: number): string {
  return ratio === null ? "n/a" : `${pct(ratio)} (${Math.round(ratio * total)} of ${total})`;
}
