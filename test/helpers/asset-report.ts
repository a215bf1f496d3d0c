/**
 * An AssetReport as the running agent answers `report`, built by hand for
 * the renderers and the command: campus lincoln-hs at 2026-03-02 10:00 UTC,
 * six devices in config order:
 *
 * - cam-entrance: safety-critical, online, compliant, full inventory;
 * - cam-gym: safety-critical, degraded (clock), failing firmware_outdated,
 *   warranty_expired and clock_drift;
 * - intercom-main: safety-critical, never answered: offline, missing,
 *   failing not_seen;
 * - panic-rx-a: safety-critical, online, compliant, with an open panic alarm;
 * - door-kitchen: operational, online, compliant with firmware and warranty
 *   unchecked; its model is hostile (a leading =, a comma, quotes, a
 *   newline, <script>, an ESC sequence);
 * - sign-lobby: operational, not polled yet (pending), compliance not
 *   evaluated.
 *
 * And two unknown assets. Not ready: intercom-main offline, cam-gym and
 * intercom-main not compliant, intercom-main missing, two unknown assets.
 */
import type { AssetReport, ReportDevice } from "../../agent/assets/report-types.js";

export const HOSTILE_MODEL = '=HYPERLINK("http://evil.example/x","DC, 200")\n<script>alert(1)</script> \'q\' \u001b[2J';

const NONE = { state: "online", reason: "ok", reason_text: "answering normally", since: "2026-03-01T08:00:00.000Z" } as const;

function device(over: Partial<ReportDevice> & Pick<ReportDevice, "id" | "kind" | "category">): ReportDevice {
  return {
    name: null,
    location: {},
    owner: null,
    identity: {},
    lifecycle: {},
    presence: "present",
    status: { ...NONE, last_seen: "2026-03-02T09:59:58.000Z" },
    compliance: { evaluated: true, compliant: true, failing: [], unchecked: [], since: "2026-03-01T08:00:05.000Z" },
    ...over,
  };
}

/** Why assetReport()'s campus is not ready, as the text report and the command's summary end (written out, not computed). */
export const FIXTURE_NOT_READY = [
  "NOT READY (4):",
  "  - 1 safety-critical device not online: intercom-main (offline)",
  "  - 2 safety-critical devices not compliant: cam-gym, intercom-main",
  "  - 1 missing asset (configured, never answered): intercom-main",
  "  - 2 unknown assets on the campus network (found by discovery, not in the config)",
  "",
].join("\n");

export function assetReport(): AssetReport {
  const devices: ReportDevice[] = [
    device({
      id: "cam-entrance",
      name: "Main entrance camera",
      kind: "onvif",
      category: "safety-critical",
      location: { building: "A", floor: "1", room: "Main entrance" },
      owner: "Facilities security team",
      identity: { manufacturer: "Hikvision", model: "DS-2CD2143G2-I", serial: "DS-2CD2143G2-I20230101AAWRJ12345", firmware: "V5.7.15 build 230901", mac: "44:19:b6:00:00:01" },
      lifecycle: { install_date: "2023-08-14", warranty_end: "2028-08-13", asset_tag: "LHS-00412" },
    }),
    device({
      id: "cam-gym",
      name: "Gymnasium camera",
      kind: "onvif",
      category: "safety-critical",
      location: { building: "C", room: "Gymnasium" },
      owner: "Facilities security team",
      identity: { manufacturer: "Hikvision", model: "DS-2CD2143G2-I", serial: "DS-2CD2143G2-I20190101AAWRJ00007", firmware: "V5.5.82 build 191220" },
      lifecycle: { install_date: "2020-01-10", warranty_end: "2025-02-28", asset_tag: "LHS-00107" },
      status: {
        state: "degraded",
        reason: "clock_skew",
        reason_text: "camera clock is 312 s behind the gateway",
        since: "2026-03-02T09:00:00.000Z",
        last_seen: "2026-03-02T09:59:55.000Z",
      },
      compliance: {
        evaluated: true,
        compliant: false,
        failing: [
          {
            rule: "firmware_outdated",
            text: "firmware V5.5.82 build 191220 is below the approved minimum V5.7.3 build 230512 for Hikvision DS-2CD2143G2-I; recommended: V5.7.15",
            details: { policy_rule: "firmware[0]" },
          },
          { rule: "warranty_expired", text: "warranty ended 2025-02-28", details: { warranty_end: "2025-02-28", today: "2026-03-02", source: "device" } },
          { rule: "clock_drift", text: "clock is 312 s behind the gateway, more than the 60 s allowed", details: { drift_ms: -312_000, max_drift_s: 60 } },
        ],
        unchecked: [],
        since: "2026-03-02T09:00:00.000Z",
      },
    }),
    device({
      id: "intercom-main",
      name: "Main entrance intercom",
      kind: "reachability",
      category: "safety-critical",
      location: { building: "A", room: "Main entrance" },
      presence: "missing",
      status: {
        state: "offline",
        reason: "timeout",
        reason_text: "timeout: no answer within 2000 ms (3 consecutive failures)",
        since: "2026-03-02T08:00:10.000Z",
        last_seen: null,
      },
      compliance: {
        evaluated: true,
        compliant: false,
        failing: [
          {
            rule: "not_seen",
            text: "never seen since watching began at 2026-03-02T08:00:00.000Z (offline: timeout); safety-critical devices must answer at least every 300 s",
            details: { last_seen: null, max_age_s: 300 },
          },
        ],
        unchecked: [
          { check: "end_of_support", text: "no end-of-support date for device intercom-main, in its config or the policy" },
          { check: "warranty", text: "no warranty end date in the device's config" },
        ],
        since: "2026-03-02T08:05:00.000Z",
      },
    }),
    device({
      id: "panic-rx-a",
      name: "Building A panic receiver",
      kind: "panic-dc09",
      category: "safety-critical",
      location: { building: "A", room: "Office" },
      identity: { manufacturer: "Bosch", model: "B5512" },
      lifecycle: { warranty_end: "2027-12-31" },
      status: { ...NONE, last_seen: "2026-03-02T09:59:30.000Z" },
    }),
    device({
      id: "door-kitchen",
      name: "Kitchen service door",
      kind: "modbus-door",
      category: "operational",
      location: { building: "B", floor: "0", room: "Kitchen, service door" },
      owner: 'Food services "north"',
      identity: { manufacturer: "Acme", model: HOSTILE_MODEL, serial: "-12345", firmware: "2.1" },
      lifecycle: { asset_tag: "@LHS-900" },
      status: { ...NONE, last_seen: "2026-03-02T09:59:59.000Z" },
      compliance: {
        evaluated: true,
        compliant: true,
        failing: [],
        unchecked: [
          { check: "firmware", text: "no firmware baseline for Acme DC-200" },
          { check: "warranty", text: "no warranty end date in the device's config" },
        ],
        since: "2026-03-01T08:00:05.000Z",
      },
    }),
    device({
      id: "sign-lobby",
      kind: "reachability",
      category: "operational",
      location: { building: "A", room: "Lobby" },
      presence: "pending",
      status: { state: "unknown", reason: null, reason_text: null, since: null, last_seen: null },
      compliance: { evaluated: false, compliant: true, failing: [], unchecked: [], since: null },
    }),
  ];
  return {
    schema: "campus-edge/asset-report/v1",
    generated_at: "2026-03-02T10:00:00.000Z",
    campus: { id: "lincoln-hs", name: "Lincoln High School" },
    gateway: { id: "gw-1", name: "Main gateway" },
    agent_version: "1.4.0",
    policy: { file: "/etc/campus-agent/policy.yaml", sha256: "3f2a9c0e1b7d4a5f8e6c2b1a0d9f8e7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e" },
    readiness: {
      devices: { total: 6, online: 3, degraded: 1, offline: 1, unknown: 1, compliant: 4, non_compliant: 2 },
      by_category: {
        "safety-critical": { total: 4, online: 2, degraded: 1, offline: 1, unknown: 0, compliant: 2, non_compliant: 2 },
        operational: { total: 2, online: 1, degraded: 0, offline: 0, unknown: 1, compliant: 2, non_compliant: 0 },
      },
      safety_critical: { total: 4, online: 0.75, compliant: 0.5, ready: 0.5 },
      failing: { firmware_outdated: 1, firmware_blocked: 0, firmware_unknown: 0, end_of_support: 0, warranty_expired: 1, clock_drift: 1, not_seen: 1 },
      policy: { file: "/etc/campus-agent/policy.yaml", sha256: "3f2a9c0e1b7d4a5f8e6c2b1a0d9f8e7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e" },
      oldest_heartbeat: { device: "panic-rx-a", category: "safety-critical", last_seen: "2026-03-02T09:59:30.000Z", age_s: 30 },
      assets: { unknown: 2, missing: ["intercom-main"], pending: 1, last_discovery: "2026-03-02T09:45:00.000Z" },
      open_alarms: [
        {
          device: "panic-rx-a",
          alarm_id: "panic-rx-a-0001",
          type: "panic",
          since: "2026-03-02T09:58:10.000Z",
          message: "Panic: Room 114 pendant",
          zone: { id: "7", name: "Room 114 pendant", location: { building: "A", room: "114" } },
        },
      ],
      uplink: { connected: true, outbox_depth: 12 },
    },
    devices,
    unknown: [
      {
        key: "onvif-10.20.1.99",
        kind: "onvif",
        address: "http://10.20.1.99/onvif/device_service",
        identity: { manufacturer: "Axis", model: "P3245-LVE", serial: "ACCC8E000001", firmware: "10.12.65" },
        details: { scopes: "onvif://www.onvif.org/hardware/P3245-LVE" },
        first_seen: "2026-02-27T14:00:00.000Z",
        last_seen: "2026-03-02T09:45:00.000Z",
      },
      { key: "modbus-10.20.2.40-502-3", kind: "modbus", address: "10.20.2.40:502 unit 3", identity: {}, details: { answer: "data" }, first_seen: "2026-03-02T09:45:00.000Z", last_seen: "2026-03-02T09:45:00.000Z" },
    ],
  };
}

/** The same campus, every device online and compliant, nothing unknown or missing: a report that exits 0. */
export function readyReport(): AssetReport {
  const r = assetReport();
  const devices = r.devices
    .filter((d) => d.id === "cam-entrance" || d.id === "panic-rx-a")
    .map((d) => ({ ...d }));
  return {
    ...r,
    devices,
    unknown: [],
    readiness: {
      ...r.readiness,
      devices: { total: 2, online: 2, degraded: 0, offline: 0, unknown: 0, compliant: 2, non_compliant: 0 },
      by_category: {
        "safety-critical": { total: 2, online: 2, degraded: 0, offline: 0, unknown: 0, compliant: 2, non_compliant: 0 },
        operational: { total: 0, online: 0, degraded: 0, offline: 0, unknown: 0, compliant: 0, non_compliant: 0 },
      },
      safety_critical: { total: 2, online: 1, compliant: 1, ready: 1 },
      failing: { firmware_outdated: 0, firmware_blocked: 0, firmware_unknown: 0, end_of_support: 0, warranty_expired: 0, clock_drift: 0, not_seen: 0 },
      assets: { unknown: 0, missing: [], pending: 0, last_discovery: "2026-03-02T09:45:00.000Z" },
      open_alarms: [],
    },
  };
}
