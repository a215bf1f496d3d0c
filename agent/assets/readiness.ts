/**
 * The campus readiness: the summary auditors and the district's dashboard
 * read first. Computed on the gateway from what it knows now, so it is
 * right while the uplink is down (`campus-agent report` shows it then too).
 * Pure: everything comes in as arguments.
 */
import { COMPLIANCE_RULES, type ComplianceRule } from "../lifecycle/evaluate.js";
import type { OpenAlarm, Readiness } from "../mqtt/asset-contract.js";
import type { ReportDevice } from "./report-types.js";

export interface ReadinessInput {
  now: number;
  devices: readonly ReportDevice[];
  policy: Readiness["policy"];
  unknown: number;
  lastDiscovery: string | null;
  openAlarms: OpenAlarm[];
  uplink: Readiness["uplink"];
}

type Counts = Readiness["devices"];

function emptyCounts(): Counts {
  return { total: 0, online: 0, degraded: 0, offline: 0, unknown: 0, compliant: 0, non_compliant: 0 };
}

function add(c: Counts, d: ReportDevice): void {
  c.total++;
  c[d.status.state]++;
  if (d.compliance.compliant) c.compliant++;
  else c.non_compliant++;
}

/** `part / whole`, rounded to 4 places; null for no devices. */
function share(part: number, whole: number): number | null {
  return whole === 0 ? null : Math.round((part / whole) * 10_000) / 10_000;
}

export function readiness(input: ReadinessInput): Readiness {
  const devices = emptyCounts();
  const byCategory = { "safety-critical": emptyCounts(), operational: emptyCounts() };
  const failing = Object.fromEntries(COMPLIANCE_RULES.map((r) => [r, 0])) as Record<ComplianceRule, number>;
  let oldest: Readiness["oldest_heartbeat"] = null;
  let sc = { total: 0, online: 0, compliant: 0, ready: 0 };
  for (const d of input.devices) {
    add(devices, d);
    add(byCategory[d.category], d);
    for (const f of d.compliance.failing) failing[f.rule]++;
    if (d.status.last_seen !== null && (oldest === null || d.status.last_seen < oldest.last_seen)) {
      oldest = { device: d.id, category: d.category, last_seen: d.status.last_seen, age_s: 0 };
    }
    if (d.category === "safety-critical") {
      const answering = d.status.state === "online" || d.status.state === "degraded";
      sc = {
        total: sc.total + 1,
        online: sc.online + (answering ? 1 : 0),
        compliant: sc.compliant + (d.compliance.compliant ? 1 : 0),
        ready: sc.ready + (answering && d.compliance.compliant ? 1 : 0),
      };
    }
  }
  if (oldest !== null) oldest.age_s = Math.max(0, Math.round((input.now - Date.parse(oldest.last_seen)) / 1000));
  return {
    devices,
    by_category: byCategory,
    safety_critical: { total: sc.total, online: share(sc.online, sc.total), compliant: share(sc.compliant, sc.total), ready: share(sc.ready, sc.total) },
    failing,
    policy: input.policy,
    oldest_heartbeat: oldest,
    assets: {
      unknown: input.unknown,
      missing: input.devices.filter((d) => d.presence === "missing").map((d) => d.id),
      pending: input.devices.filter((d) => d.presence === "pending").length,
      last_discovery: input.lastDiscovery,
    },
    open_alarms: input.openAlarms,
    uplink: input.uplink,
  };
}
