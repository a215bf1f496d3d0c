/**
 * `campus-agent report`'s renderers (agent/assets/report-{text,csv,html,format}.ts)
 * on a hand-built AssetReport (test/helpers/asset-report.ts): what an auditor
 * reads in the text, a CSV that an independent reader parses back (Python's
 * csv module when python3 is there, and a strict RFC 4180 reader here), and
 * an HTML page that escapes everything a device says and loads nothing.
 */
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { CSV_COLUMNS, csvField, renderCsv } from "../../agent/assets/report-csv.js";
import { pct, renderJson, reportProblems, visible } from "../../agent/assets/report-format.js";
import { renderHtml } from "../../agent/assets/report-html.js";
import { renderText } from "../../agent/assets/report-text.js";
import type { AssetReport } from "../../agent/assets/report-types.js";
import { assetReport, FIXTURE_NOT_READY, HOSTILE_MODEL, readyReport } from "../helpers/asset-report.js";

/** The same report without a lifecycle policy: nothing evaluated. */
function withoutPolicy(r: AssetReport): AssetReport {
  return {
    ...r,
    policy: null,
    readiness: { ...r.readiness, policy: null },
    devices: r.devices.map((d) => ({ ...d, compliance: { evaluated: false, compliant: true, failing: [], unchecked: [], since: null } })),
  };
}

/** Every string value (not key) of `x` through `f`. */
function mapStrings<T>(x: T, f: (s: string) => string): T {
  if (typeof x === "string") return f(x) as T;
  if (Array.isArray(x)) return x.map((e: unknown) => mapStrings(e, f)) as T;
  if (typeof x === "object" && x !== null) return Object.fromEntries(Object.entries(x).map(([k, e]) => [k, mapStrings(e, f)])) as T;
  return x;
}

/** RFC 4180, strictly: records end with CRLF (the last one too), a quote only opens a field or is doubled inside one. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c !== '"') field += c;
      else if (text[i + 1] === '"') {
        field += '"';
        i++;
      } else {
        quoted = false;
        if (![",", "\r", undefined].includes(text[i + 1])) throw new Error(`text after a closing quote at ${i}`);
      }
    } else if (c === '"') {
      if (field !== "") throw new Error(`quote inside an unquoted field at ${i}`);
      quoted = true;
    } else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\r" && text[i + 1] === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      i++;
    } else if (c === "\r" || c === "\n") {
      throw new Error(`line break outside quotes that is not CRLF at ${i}`);
    } else {
      field += c;
    }
  }
  if (quoted) throw new Error("unterminated quoted field");
  if (field !== "" || row.length > 0) throw new Error("last record does not end with CRLF");
  return rows;
}

const python = spawnSync("python3", ["--version"]).status === 0;

function pythonCsv(text: string): string[][] {
  const r = spawnSync("python3", ["-c", "import csv,sys,json; print(json.dumps(list(csv.reader(sys.stdin))))"], { input: text, encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as string[][];
}

/** Open and close tags balance (void elements aside), in order: a cheap check that the page is well formed. */
function unbalancedTags(html: string): string[] {
  const VOID = new Set(["meta", "br", "hr", "img", "input", "link", "wbr"]);
  const stack: string[] = [];
  const problems: string[] = [];
  const body = html.replace(/<style>[\s\S]*?<\/style>/, "<style></style>").replace(/^<!DOCTYPE html>/, "");
  for (const m of body.matchAll(/<(\/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*>/g)) {
    const [, close, name = ""] = m;
    const tag = name.toLowerCase();
    if (VOID.has(tag)) continue;
    if (close === "") stack.push(tag);
    else if (stack.pop() !== tag) problems.push(`</${tag}> at ${m.index}`);
  }
  return [...problems, ...stack.map((t) => `<${t}> not closed`)];
}

describe("report as text", () => {
  const text = renderText(assetReport());
  const lines = text.split("\n");

  it("starts with who and what: campus, gateway, when, agent version, and the policy with its hash", () => {
    expect(lines.slice(0, 5)).toEqual([
      "Asset and compliance report: Lincoln High School (lincoln-hs)",
      "  gateway    Main gateway (gw-1)",
      "  generated  2026-03-02 10:00:00 UTC (every time in this report is UTC)",
      "  agent      campus-agent 1.4.0",
      "  policy     /etc/campus-agent/policy.yaml (sha256 3f2a9c0e1b7d4a5f8e6c2b1a0d9f8e7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e)",
    ]);
  });

  it("gives the safety-critical shares with their counts, the oldest heartbeat, the assets and the uplink", () => {
    expect(text).toContain("  safety-critical   4 devices: online 75% (3 of 4), compliant 50% (2 of 4), ready 50% (2 of 4)\n");
    expect(text).toContain("  failing rules     firmware_outdated 1, warranty_expired 1, clock_drift 1, not_seen 1\n");
    expect(text).toContain("  oldest heartbeat  panic-rx-a (safety-critical), last answered 2026-03-02 09:59:30 UTC, 30s before this report\n");
    expect(text).toContain("  assets            2 unknown, 1 missing, 1 pending (not polled yet); last discovery 2026-03-02 09:45:00 UTC\n");
    expect(text).toContain("  uplink            connected to the broker, 12 messages waiting in the outbox\n");
    expect(text).toMatch(/\n {2}safety-critical +4 +2 +1 +1 +0 +2 +2\n {2}operational +2 +1 +0 +0 +1 +2 +0\n {2}all +6 +3 +1 +1 +1 +4 +2\n/);
    expect(text).toMatch(/\n {4}panic-rx-a +panic +2026-03-02 09:58:10 UTC +1m 50s +Room 114 pendant +Panic: Room 114 pendant\n/);
  });

  it("lists every device once, by category, with location, make and model, firmware, state and compliance", () => {
    expect(text).toMatch(/\n {4}cam-entrance +A \/ 1 \/ Main entrance +Hikvision DS-2CD2143G2-I +V5\.7\.15 build 230901 +online +OK\n/);
    expect(text).toMatch(/\n {4}cam-gym +C \/ Gymnasium +Hikvision DS-2CD2143G2-I +V5\.5\.82 build 191220 +degraded +firmware_outdated,\n +warranty_expired,\n +clock_drift\n/);
    expect(text).toMatch(/\n {4}intercom-main +A \/ Main entrance +- +- +offline +not_seen\n/);
    expect(text).toMatch(/\n {4}sign-lobby +A \/ Lobby +- +- +unknown +-\n/);
    expect(text.indexOf("  safety-critical (4)\n")).toBeLessThan(text.indexOf("  operational (2)\n"));
  });

  it("gives each failing rule's text under its device, and what could not be checked", () => {
    expect(text).toContain("\nFailing rules (2 devices)\n  cam-gym: Gymnasium camera, Hikvision DS-2CD2143G2-I, C / Gymnasium\n");
    expect(text).toContain(
      "    firmware_outdated: firmware V5.5.82 build 191220 is below the approved minimum V5.7.3 build 230512 for Hikvision\n      DS-2CD2143G2-I; recommended: V5.7.15\n",
    );
    expect(text).toContain("    warranty_expired: warranty ended 2025-02-28\n");
    expect(text).toContain("  intercom-main: Main entrance intercom, A / Main entrance\n    not_seen: never seen since watching began");
    expect(text).toMatch(/\n {2}warranty +2 devices: intercom-main, door-kitchen\n/);
  });

  it("lists the unknown assets with what they said and when they were seen, and the missing devices with why", () => {
    expect(text).toMatch(/\n {2}onvif +http:\/\/10\.20\.1\.99\/onvif\/device_service +2026-02-27 14:00 +2026-03-02 09:45 +Axis P3245-LVE, serial\n +ACCC8E000001, firmware 10\.12\.65\n/);
    expect(text).toMatch(/\n {2}modbus +10\.20\.2\.40:502 unit 3 +2026-03-02 09:45 +2026-03-02 09:45 +-\n/);
    expect(text).toMatch(/\nMissing: configured, never answered \(1\)\n.*\n {2}intercom-main +safety-critical +reachability +A \/ Main entrance +offline: timeout: no answer/);
  });

  it("ends with why the campus is not ready", () => {
    expect(text.endsWith(FIXTURE_NOT_READY)).toBe(true);
  });

  it("keeps every line within 120 columns", () => {
    expect(lines.filter((l) => l.length > 120)).toEqual([]);
  });

  it("keeps a hostile model name on its device's line, cut short, with no control character reaching the terminal", () => {
    expect(text).toMatch(/\n {4}door-kitchen +B \/ 0 \/ Kitchen, serv… +Acme =HYPERLINK\("http:\/\/e… +2\.1 +online +OK\n {4}sign-lobby /);
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
    const long = renderText({ ...assetReport(), unknown: [{ ...assetReport().unknown[1]!, identity: { model: "x\u001b]0;pwned\u0007\u202eevil" } }] });
    expect(long).toContain("x\\x1b]0;pwned\\x07\\u202eevil");
  });

  it("says plainly when no policy is loaded, and shows compliance as not evaluated", () => {
    const none = renderText(withoutPolicy(readyReport()));
    expect(none).toContain("  policy     no lifecycle policy loaded: compliance not checked\n");
    expect(none).toContain("  safety-critical   2 devices: online 100% (2 of 2), compliance not checked, ready 100% (2 of 2): online only\n");
    expect(none).toMatch(/\n {4}cam-entrance +A \/ 1 \/ Main entrance +Hikvision DS-2CD2143G2-I +V5\.7\.15 build 230901 +online +-\n/);
    expect(none).toContain("\nFailing rules\n  not checked: no lifecycle policy loaded\n");
    expect(none.endsWith("READY: every safety-critical device online (compliance not checked: no lifecycle policy), no asset missing or unknown.\n")).toBe(true);
    expect(renderText(readyReport()).endsWith("READY: every safety-critical device online and compliant, no asset missing or unknown.\n")).toBe(true);
  });
});

describe("readiness problems (the command's exit code)", () => {
  it("finds none when every safety-critical device is online and compliant and no asset is missing or unknown", () => {
    expect(reportProblems(readyReport())).toEqual([]);
  });

  it("counts a safety-critical device not polled yet as not online, but not an operational one", () => {
    const r = readyReport();
    const pending = { ...r.devices[0]!, presence: "pending" as const, status: { state: "unknown" as const, reason: null, reason_text: null, since: null, last_seen: null } };
    expect(reportProblems({ ...r, devices: [pending, r.devices[1]!] })).toEqual(["1 safety-critical device not online: cam-entrance (not polled yet)"]);
    expect(reportProblems({ ...r, devices: [{ ...pending, category: "operational" }, r.devices[1]!] })).toEqual([]);
  });

  it("shows shares rounded down to a tenth, never overstating readiness", () => {
    expect([pct(249 / 250), pct(1), pct(2 / 3), pct(0.29), pct(0), pct(null)]).toEqual(["99.6%", "100%", "66.6%", "29%", "0%", "n/a"]);
  });

  it("makes control and bidirectional-override characters visible", () => {
    expect(visible("a\u001b[2Jb\u202ec\nd\u0085")).toBe("a\\x1b[2Jb\\u202ec\\x0ad\\x85");
    expect(visible("tab\there\r\n", { keepBreaks: true })).toBe("tab\there\r\n");
  });
});

describe("report as CSV", () => {
  const csv = renderCsv(assetReport());
  const rows = parseCsv(csv);

  it("is a header row and one row per configured device, in config order, every row as wide as the header", () => {
    expect(rows[0]).toEqual([...CSV_COLUMNS]);
    expect(rows.slice(1).map((r) => r[0])).toEqual(["cam-entrance", "cam-gym", "intercom-main", "panic-rx-a", "door-kitchen", "sign-lobby"]);
    expect(rows.map((r) => r.length)).toEqual(rows.map(() => CSV_COLUMNS.length));
    expect(csv.endsWith("\r\n")).toBe(true);
  });

  it.skipIf(!python)("parses back the same with Python's csv module", () => {
    expect(pythonCsv(csv)).toEqual(rows);
  });

  it("has every inventory and compliance column, one per rule: fail, pass, unchecked, or empty when not evaluated", () => {
    const byId = (id: string) => Object.fromEntries(CSV_COLUMNS.map((c, i) => [c, rows.find((r) => r[0] === id)?.[i]]));
    expect(byId("cam-gym")).toEqual({
      id: "cam-gym",
      name: "Gymnasium camera",
      kind: "onvif",
      category: "safety-critical",
      building: "C",
      floor: "",
      room: "Gymnasium",
      owner: "Facilities security team",
      manufacturer: "Hikvision",
      model: "DS-2CD2143G2-I",
      serial: "DS-2CD2143G2-I20190101AAWRJ00007",
      firmware: "V5.5.82 build 191220",
      hardware_id: "",
      mac: "",
      install_date: "2020-01-10",
      warranty_end: "2025-02-28",
      end_of_support: "",
      asset_tag: "LHS-00107",
      presence: "present",
      state: "degraded",
      reason: "clock_skew",
      reason_text: "camera clock is 312 s behind the gateway",
      last_seen: "2026-03-02T09:59:55.000Z",
      compliance_evaluated: "true",
      compliant: "false",
      rule_firmware_outdated: "fail",
      rule_firmware_blocked: "pass",
      rule_firmware_unknown: "pass",
      rule_end_of_support: "pass",
      rule_warranty_expired: "fail",
      rule_clock_drift: "fail",
      rule_not_seen: "pass",
      failing_rules: "firmware_outdated; warranty_expired; clock_drift",
      failing_details:
        "firmware V5.5.82 build 191220 is below the approved minimum V5.7.3 build 230512 for Hikvision DS-2CD2143G2-I; recommended: V5.7.15 | " +
        "warranty ended 2025-02-28 | clock is 312 s behind the gateway, more than the 60 s allowed",
      unchecked_details: "",
      compliance_since: "2026-03-02T09:00:00.000Z",
    });
    const rules = (id: string) => CSV_COLUMNS.flatMap((c, i) => (c.startsWith("rule_") ? [rows.find((r) => r[0] === id)?.[i]] : []));
    expect(rules("door-kitchen")).toEqual(["unchecked", "unchecked", "unchecked", "pass", "unchecked", "pass", "pass"]);
    expect(rules("intercom-main")).toEqual(["pass", "pass", "pass", "unchecked", "unchecked", "pass", "fail"]);
    expect(rules("sign-lobby")).toEqual(["", "", "", "", "", "", ""]);
    expect(byId("sign-lobby")).toMatchObject({ compliance_evaluated: "false", compliant: "", state: "unknown", presence: "pending", last_seen: "" });
  });

  it("keeps a hostile model name in one cell, comma, quotes and newline included, with a quote before its leading = so no spreadsheet runs it", () => {
    const door = rows.find((r) => r[0] === "door-kitchen") ?? [];
    const cell = (c: (typeof CSV_COLUMNS)[number]) => door[CSV_COLUMNS.indexOf(c)];
    expect(cell("model")).toBe(`'${HOSTILE_MODEL.replace("\u001b", "\\x1b")}`);
    expect(cell("serial")).toBe("'-12345");
    expect(cell("asset_tag")).toBe("'@LHS-900");
    expect(cell("owner")).toBe('Food services "north"');
    expect(cell("room")).toBe("Kitchen, service door");
    expect(csv).not.toContain("\u001b");
  });

  it("quotes and guards single fields as RFC 4180 and OWASP say", () => {
    expect(["plain", "a,b", 'say "hi"', "two\nlines", "cr\r", "=1+2", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", " =1", ""].map(csvField)).toEqual([
      "plain",
      '"a,b"',
      '"say ""hi"""',
      '"two\nlines"',
      '"cr\r"',
      "'=1+2",
      "'+1",
      "'-1",
      "'@SUM(A1)",
      "'\t=1",
      "\"'\r=1\"",
      " =1",
      "",
    ]);
  });
});

describe("report as HTML", () => {
  const html = renderHtml(assetReport());

  it("is one HTML5 page in UTF-8 titled with the campus, its tags balanced", () => {
    expect(html.startsWith('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n')).toBe(true);
    expect(html).toContain("<title>Asset and compliance report — Lincoln High School</title>");
    expect(unbalancedTags(html)).toEqual([]);
  });

  it("escapes a hostile model name: no script, no markup, no attribute from the device", () => {
    expect(html).toContain(
      "<td>Acme =HYPERLINK(&quot;http://evil.example/x&quot;,&quot;DC, 200&quot;)\\x0a&lt;script&gt;alert(1)&lt;/script&gt; &#39;q&#39; \\x1b[2J</td>",
    );
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<[^>]*\son[a-z]+\s*=/i);
  });

  it("escapes every value it shows, whatever field it comes from", () => {
    const hostile = renderHtml(mapStrings(assetReport(), (s) => `<i>'"&${s}`));
    expect(hostile).not.toContain("<i>");
    expect(hostile).toContain("&lt;i&gt;&#39;&quot;&amp;Lincoln High School");
    expect(hostile).toContain("&lt;i&gt;&#39;&quot;&amp;DS-2CD2143G2-I20230101AAWRJ12345");
    expect(unbalancedTags(hostile)).toEqual([]);
  });

  it("loads nothing and links nowhere: no script, no external resource, and a policy that forbids them", () => {
    expect(html).not.toMatch(/\s(src|href|srcset|action|formaction|poster|background)\s*=/i);
    expect(html).not.toMatch(/<(script|link|img|iframe|object|embed|form|base|svg|audio|video)\b/i);
    expect(html).not.toMatch(/url\(|@import/i);
    // The only URLs are what devices said, shown as text.
    expect(html.replaceAll("http://10.20.1.99/onvif/device_service", "").replaceAll("http://evil.example/x", "")).not.toMatch(/https?:|\/\//);
    expect(html).toContain("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">");
  });

  it("prints well: header rows repeat on each page, rows are not split, backgrounds are not needed", () => {
    expect(html).toMatch(/@media print\{[^}]*\}?[\s\S]*thead\{display:table-header-group\}/);
    expect(html).toMatch(/tr,[^{]*\{break-inside:avoid;page-break-inside:avoid\}/);
    expect(html).toMatch(/@media print\{[\s\S]*\.good,\.bad,\.warn,\.plain,thead th\{background:none\}/);
    expect(html.match(/<table/g)?.length).toBe(html.match(/<thead>/g)?.length);
  });

  it("shows each state and compliance as text with its colour, never colour alone", () => {
    expect(html).toContain('<span class="badge good">● online</span>');
    expect(html).toContain('<span class="badge warn">◐ degraded</span><div class="why">camera clock is 312 s behind the gateway</div>');
    expect(html).toContain('<span class="badge bad">○ offline, missing</span>');
    expect(html).toContain('<span class="badge bad">✖ firmware_outdated, warranty_expired, clock_drift</span>');
    expect(html).toContain('<span class="badge good">✔ OK</span>');
    expect(html).toContain('<span class="badge plain">– not evaluated</span>');
  });

  it("has the readiness cards, the failing rules' texts, the unknown and missing assets, and a footer naming the policy and its hash", () => {
    expect(html).toContain('<div class="card bad"><div class="label">Safety-critical online</div><div class="value">75%</div><div class="detail">3 of 4 safety-critical</div></div>');
    expect(html).toContain('<div class="card bad"><div class="label">Ready</div><div class="value">50%</div>');
    expect(html).toContain("<li><span class=\"rule\">warranty_expired</span>: warranty ended 2025-02-28</li>");
    expect(html).toContain("<td>http://10.20.1.99/onvif/device_service</td><td>Axis P3245-LVE, serial ACCC8E000001, firmware 10.12.65</td>");
    expect(html).toMatch(/<h2 id="missing">Missing: configured, never answered \(1\)<\/h2>\n<table>[\s\S]*<code>intercom-main<\/code>/);
    expect(html).toContain(
      "<footer>\n<p>Generated 2026-03-02 10:00:00 UTC by campus-agent 1.4.0 on gateway Main gateway (gw-1), campus Lincoln High School (lincoln-hs).</p>\n" +
      "<p>Lifecycle policy <code>/etc/campus-agent/policy.yaml</code>, sha256 <code>3f2a9c0e1b7d4a5f8e6c2b1a0d9f8e7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e</code>.</p>\n</footer>",
    );
    const none = renderHtml(withoutPolicy(readyReport()));
    expect(none).toContain("No lifecycle policy loaded: compliance not checked.");
    expect(none).toContain('<p class="verdict good"><span class="mark">✔</span> READY');
  });
});

describe("report as JSON", () => {
  it("is the agent's answer as it came, indented, on its own lines", () => {
    const r = assetReport();
    expect(JSON.parse(renderJson(r))).toEqual(r);
    expect(renderJson(r).endsWith("}\n")).toBe(true);
  });
});
