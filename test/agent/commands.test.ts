/**
 * `campus-agent status` and `campus-agent devices` as pure functions: what
 * counts as a problem (the exit code), and what a technician reads. The
 * views are built by agent/control/views.ts from the state the modules hand
 * out, as the agent builds them; test/agent/agent-status.test.ts asks a
 * running agent.
 */
import { describe, expect, it } from "vitest";
import { devicesExitCode, renderDevices } from "../../agent/commands/devices.js";
import { duration, table } from "../../agent/commands/format.js";
import { renderStatus, statusProblems } from "../../agent/commands/status.js";
import { devicesView, type StatusInput, statusView } from "../../agent/control/views.js";
import type { DeviceSnapshot } from "../../agent/devices.js";
import type { DeviceStatus } from "../../agent/status.js";

const NOW = Date.parse("2026-03-02T10:00:00Z");

function device(id: string, kind: string, status: Partial<DeviceStatus> | null, extra: Partial<DeviceSnapshot> = {}): DeviceSnapshot {
  const base: DeviceStatus = {
    state: "online",
    reason: "ok",
    reasonText: "answering normally",
    since: NOW - 60_000,
    consecutiveFailures: 0,
    lastSeen: NOW - 2000,
    lastPollAt: NOW - 2000,
    responseTimeMs: 12.34,
  };
  return {
    info: { id, kind, category: "safety-critical", location: { building: "A", room: "101" } },
    status: status === null ? undefined : { ...base, ...status },
    identity: undefined,
    ...extra,
  };
}

const offline = { state: "offline", reason: "timeout", reasonText: "timeout: no answer within 800 ms (3 consecutive failures)", lastSeen: NOW - 65_000, responseTimeMs: null } as const;
const degraded = { state: "degraded", reason: "clock_skew", reasonText: "camera clock is 90 s ahead of the gateway" } as const;

function input(over: Partial<StatusInput> = {}): StatusInput {
  return {
    now: NOW,
    agent: { version: "1.2.3", pid: 4242, startedAt: NOW - 3_723_000, configFile: "/etc/campus-agent/config.yaml" },
    campus: "lincoln",
    gateway: "gw-1",
    brokerUrl: "mqtts://***@broker.district.example:8883",
    embedded: false,
    publisher: {
      connected: true,
      connectedSince: NOW - 600_000,
      lastDisconnectAt: null,
      lastAckAt: NOW - 1500,
      acked: 1234,
      inFlight: 2,
      blockedStreams: [],
      lastError: null,
    },
    outbox: {
      depth: { alarm: 0, event: 1, telemetry: 41 },
      bytes: 20_480,
      oldestCreatedAt: NOW - 4200,
      dropped: { alarm: 0, event: 0, telemetry: 0 },
      inFlight: 2,
    },
    devices: [device("cam-1", "onvif", {}), device("cam-2", "onvif", degraded), device("door-1", "modbus-door", {})],
    recent: { total: 0, capacity: 20, entries: [] },
    ...over,
  };
}

describe("campus-agent status", () => {
  it("finds nothing wrong when the broker is connected without error, nothing was dropped and no device is offline (degraded is not offline)", () => {
    const v = statusView(input());
    expect(statusProblems(v)).toEqual([]);
    const text = renderStatus(v, []);
    expect(text).toContain("campus-agent 1.2.3: campus lincoln, gateway gw-1\n");
    expect(text).toMatch(/\n {2}pid +4242, up 1h 02m /);
    expect(text).toContain("\nBroker  mqtts://***@broker.district.example:8883\n");
    expect(text).toMatch(/\n {2}state +connected for 10m 00s/);
    expect(text).toMatch(/\n {2}last publish +1\.5s ago \(\d\d:\d\d:\d\d\); 1234 acked since the start, 2 in flight\n/);
    expect(text).toMatch(/\n {2}last error +none\n/);
    expect(text).toContain("\nOutbox  42 messages waiting, 20.0 KiB\n");
    expect(text).toMatch(/\n {2}by class +alarm 0, event 1, telemetry 41; 2 in flight\n {2}oldest +4\.2s old\n {2}dropped +none\n/);
    expect(text).toContain("\nDevices  3: 2 online, 1 degraded, 0 offline, 0 unknown\n");
    expect(text).toMatch(/\n {2}KIND +TOTAL +ONLINE +DEGRADED +OFFLINE +UNKNOWN\n {2}modbus-door +1 +1 +0 +0 +0\n {2}onvif +2 +1 +1 +0 +0\n/);
    expect(text).toMatch(/\n {4}degraded +cam-2 +onvif +camera clock is 90 s ahead of the gateway\n/);
    expect(text).toContain("\nRecent warnings and errors: none since the start\n");
    expect(text.endsWith("\nOK: connected to the broker, nothing dropped, no device offline.\n")).toBe(true);
  });

  it("counts as a problem: the broker not connected (with its last error), a publisher error, dropped messages, an offline device", () => {
    const down = statusView(
      input({
        publisher: { ...input().publisher, connected: false, lastDisconnectAt: NOW - 125_000, lastError: { code: "connect", message: "connect ECONNREFUSED 10.0.0.9:8883", at: NOW - 1000 } },
      }),
    );
    expect(statusProblems(down)).toEqual(["not connected to the broker mqtts://***@broker.district.example:8883 for 2m 05s: connect ECONNREFUSED 10.0.0.9:8883"]);
    expect(renderStatus(down, statusProblems(down))).toMatch(/\n {2}state +NOT CONNECTED since 2m 05s ago \(/);

    const refused = statusView(
      input({ publisher: { ...input().publisher, blockedStreams: ["cam-1"], lastError: { code: "not_authorized", message: "broker refused campus/lincoln/device/cam-1/status", at: NOW } } }),
    );
    expect(statusProblems(refused)).toEqual(["broker: not_authorized: broker refused campus/lincoln/device/cam-1/status"]);
    expect(renderStatus(refused, statusProblems(refused))).toMatch(/\n {2}held back +cam-1 \(the broker refused a message of theirs\)\n/);

    const dropped = statusView(input({ outbox: { ...input().outbox, dropped: { alarm: 0, event: 0, telemetry: 17 } } }));
    expect(statusProblems(dropped)).toEqual(["17 messages dropped since the outbox was created (telemetry 17): it was full; see outbox.max_size_mb"]);

    const dead = statusView(input({ devices: [...input().devices, device("door-2", "modbus-door", offline), device("door-3", "modbus-door", offline)] }));
    expect(statusProblems(dead)).toEqual(["2 devices offline: door-2, door-3"]);
    const text = renderStatus(dead, statusProblems(dead));
    // Offline first: the worst on top.
    expect(text).toMatch(/\n {4}offline +door-2 +modbus-door +timeout: no answer within 800 ms \(3 consecutive failures\)\n {4}offline +door-3 .*\n {4}degraded +cam-2 /);
    expect(text.endsWith("\nPROBLEMS (1):\n  - 2 devices offline: door-2, door-3\n")).toBe(true);
  });

  it("lists the last warnings and errors with their time, level, source and message, and says how many it no longer holds", () => {
    const entries = [
      { time: new Date(NOW - 5000).toISOString(), level: "warn" as const, device: "door-2", msg: "timeout: no answer" },
      { time: new Date(NOW - 1000).toISOString(), level: "error" as const, module: "publisher", msg: "broker refused", error: "reason code 135" },
    ];
    const text = renderStatus(statusView(input({ recent: { total: 57, capacity: 20, entries } })), []);
    expect(text).toContain("\nRecent warnings and errors: 57 since the start, the last 2\n");
    expect(text).toMatch(/\n {2}TIME +LEVEL +FROM +MESSAGE\n {2}\d\d:\d\d:\d\d +warn +door-2 +timeout: no answer\n {2}\d\d:\d\d:\d\d +error +publisher +broker refused: reason code 135\n/);
  });

  it("prints no colour codes and no trailing spaces", () => {
    const v = statusView(input({ devices: [device("door-2", "modbus-door", offline)] }));
    const text = renderStatus(v, statusProblems(v));
    expect(text).not.toContain("\u001b[");
    expect(text.split("\n").filter((l) => l !== l.trimEnd())).toEqual([]);
  });
});

describe("campus-agent devices", () => {
  const snapshots = [
    device("cam-1", "onvif", {}, { identity: { manufacturer: "Axis", firmware: "10.12.1" } }),
    device("cam-2", "onvif", degraded, { info: { id: "cam-2", kind: "onvif", category: "safety-critical", location: { building: "Grounds", room: "Parking lot" } } }),
    device("door-1", "modbus-door", offline),
    device("door-9", "modbus-door", null, { info: { id: "door-9", kind: "modbus-door", category: "operational", location: {} } }),
  ];

  it("shows one row per device, with the reason's text under a device that is not online and well, and exits 1 when one is offline or degraded", () => {
    const v = devicesView({ now: NOW, campus: "lincoln", gateway: "gw-1", devices: snapshots, filter: {} });
    expect(devicesExitCode(v)).toBe(1);
    const lines = renderDevices(v).split("\n");
    expect(lines[0]).toBe("Devices of campus lincoln, gateway gw-1: 4 devices");
    expect(lines[1]).toMatch(/^ID +KIND +LOCATION +STATUS +REASON +LAST SEEN +RESPONSE +FIRMWARE$/);
    expect(lines[2]).toMatch(/^cam-1 +onvif +A \/ 101 +online +ok +2\.0s ago +12 ms +10\.12\.1$/);
    expect(lines[3]).toMatch(/^cam-2 +onvif +Grounds \/ Parking lot +degraded +clock_skew +2\.0s ago +12 ms +-$/);
    expect(lines[4]).toBe("    camera clock is 90 s ahead of the gateway");
    expect(lines[5]).toMatch(/^door-1 +modbus-door +A \/ 101 +offline +timeout +1m 05s ago +- +-$/);
    expect(lines[6]).toBe("    timeout: no answer within 800 ms (3 consecutive failures)");
    expect(lines[7]).toMatch(/^door-9 +modbus-door +- +unknown +- +never +- +-$/);
    expect(lines.slice(8)).toEqual(["", "4 devices: 1 online, 1 degraded, 1 offline, 1 unknown.", "PROBLEM: cam-2 degraded, door-1 offline.", ""]);
    // The columns line up: every row's STATUS starts where the header's does.
    const col = lines[1]?.indexOf("STATUS");
    for (const i of [2, 3, 5, 7]) expect(lines[i]?.slice(col).match(/^(online|degraded|offline|unknown) /), lines[i]).not.toBeNull();
  });

  it("filters by state, kind and building (any case), says what it filtered on, and exits 0 when every listed device is online or unknown", () => {
    const view = (filter: Parameters<typeof devicesView>[0]["filter"]) => devicesView({ now: NOW, campus: "lincoln", gateway: "gw-1", devices: snapshots, filter });
    expect(view({ status: "offline" }).devices.map((d) => d.id)).toEqual(["door-1"]);
    expect(view({ kind: "onvif" }).devices.map((d) => d.id)).toEqual(["cam-1", "cam-2"]);
    expect(view({ building: "grounds" }).devices.map((d) => d.id)).toEqual(["cam-2"]);
    expect(view({ status: "unknown", kind: "modbus-door" }).devices.map((d) => d.id)).toEqual(["door-9"]);
    expect(devicesExitCode(view({ status: "online" }))).toBe(0);
    expect(devicesExitCode(view({ status: "unknown" }))).toBe(0);
    expect(renderDevices(view({ kind: "onvif", building: "A" })).split("\n")[0]).toBe("Devices of campus lincoln, gateway gw-1: 1 of 4 (kind onvif, building A)");
    const none = view({ building: "Z" });
    expect(devicesExitCode(none)).toBe(0);
    expect(renderDevices(none)).toBe("Devices of campus lincoln, gateway gw-1: 0 of 4 (building Z)\nNo device matches; buildings: A, Grounds.\n");
  });

  it("gives scripts every field as JSON: ISO times, the response time in ms, the identity the agent holds", () => {
    const [cam, , door] = devicesView({ now: NOW, campus: "lincoln", gateway: "gw-1", devices: snapshots, filter: {} }).devices;
    expect(cam).toEqual({
      id: "cam-1",
      kind: "onvif",
      name: null,
      category: "safety-critical",
      location: { building: "A", room: "101" },
      status: "online",
      reason: "ok",
      reason_text: "answering normally",
      since: "2026-03-02T09:59:00.000Z",
      last_seen: "2026-03-02T09:59:58.000Z",
      last_poll: "2026-03-02T09:59:58.000Z",
      response_time_ms: 12.3,
      consecutive_failures: 0,
      firmware: "10.12.1",
      identity: { manufacturer: "Axis", firmware: "10.12.1" },
    });
    expect(door).toMatchObject({ status: "offline", last_seen: "2026-03-02T09:58:55.000Z", response_time_ms: null, firmware: null, identity: null });
  });
});

describe("the CLI's text helpers", () => {
  it("formats durations coarser as they grow", () => {
    expect([0, 420, 9999, 12_000, 245_000, 3_723_000, 187_200_000].map(duration)).toEqual(["0.0s", "0.4s", "9.9s", "12s", "4m 05s", "1h 02m", "2d 04h"]);
  });

  it("lays out a borderless table with right-aligned columns, an indent and no trailing spaces", () => {
    expect(table([["a", "1"], ["longer", "100"]], { head: ["NAME", "N"], align: ["left", "right"], indent: "  " })).toEqual([
      "  NAME      N",
      "  a         1",
      "  longer  100",
    ]);
    expect(table([["x", "multi\nline"]])).toEqual(["x  multi line"]);
  });
});
