/**
 * `campus-agent report` as one self-contained HTML page (renderHtml): its
 * markup, the escaping of every value (device-reported strings are
 * untrusted) and its inline CSS.
 */
import { duration, plural } from "../commands/format.js";
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
  visible,
} from "./report-format.js";
import type { AssetReport, ReportDevice } from "./report-types.js";

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

/** `&`, `<`, `>`, `"`, `'` as entities; control characters visible (they are not allowed in HTML text). */
function h(s: string): string {
  return visible(s).replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Its name, else its id. */
function nameOf(x: { id: string; name: string | null }): string {
  return x.name === null || x.name === "" ? x.id : x.name;
}
