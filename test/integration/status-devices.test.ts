/**
 * `campus-agent status`, `devices`, `probe` and `discover` as a technician runs them:
 * the built CLI, a separate process, against the demo campus (the built
 * agent, another process, reached through its control socket in the demo's
 * data folder), then against an agent that has stopped.
 *
 * The demo runs without socat (an empty PATH), so the two door controllers
 * on its RS-485 line are offline, serial port missing, for as long as it
 * runs: a fixed fact to check the output against, while the rest of the
 * demo's faults come and go on their own schedule. The cameras' faults that
 * never change (a clock 90 s fast, a refused password) and their firmware
 * are fixed facts too.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { extract } from "tar";
import type { BundleSummary } from "../../agent/commands/bundle.js";
import type { DevicesView, StatusView } from "../../agent/control/views.js";
import type { DiscoveryReport } from "../../agent/discovery.js";
import { VERSION } from "../../agent/version.js";
import { DEMO_CAMERA_PASSWORD, DEMO_CAMERAS, DEMO_DEVICES, DEMO_DOORS, DEMO_MISSING } from "../../scripts/sim/demo-campus.js";
import { startModbusSim } from "../../scripts/sim/modbus-server.js";
import { startNetDevice } from "../../scripts/sim/netdevice.js";
import { type DemoProcess, runCli, scratchDir, startAgent, startDemo, writeCampusConfig } from "./helpers/agent-process.js";

const DEMO_CONFIG = join(import.meta.dirname, "..", "..", "config", "demo.yaml");
const serialDoors = DEMO_DOORS.filter((d) => d.link.transport === "rtu").map((d) => d.id);
const cameraIds = DEMO_CAMERAS.map((d) => d.id);

describe("campus-agent status and devices on the demo campus", () => {
  let demo: DemoProcess;

  beforeAll(async () => {
    // No PATH: the campus cannot find socat (node is started by its absolute path).
    demo = await startDemo({ env: { PATH: "" }, topic: "campus/demo-hs/device/#" });
    const sub = demo.sub;
    const latest = (id: string) => sub.json(`/device/${id}/status`).at(-1);
    const identified = (id: string) => sub.json(`/device/${id}/event`).some((e) => e.type === "identity_changed");
    // Every device has a status (none is "unknown"), the serial doors are offline, the cameras that answer have told
    // their firmware, and the two cameras with a lasting fault say so (a first poll may time out on a loaded machine).
    await sub.waitFor(
      () =>
        DEMO_DEVICES.every((d) => latest(d.id) !== undefined) &&
        serialDoors.every((id) => latest(id)?.state === "offline") &&
        ["cam-main-entrance", "cam-gym", "cam-parking"].every(identified) &&
        latest("cam-parking")?.reason === "clock_skew" &&
        latest("cam-library")?.reason === "auth",
      30_000,
    );
  });

  afterAll(() => demo.stop());

  it("status shows the gateway at a glance and exits 1, naming the offline doors on the RS-485 line", async () => {
    const r = await runCli(["status", "--socket", demo.socket]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(1);
    expect(r.stdout.startsWith(`campus-agent ${VERSION}: campus demo-hs, gateway gw-demo\n`)).toBe(true);
    expect(r.stdout).toMatch(/\n {2}config +\/.*\/config\/demo\.yaml\n/);
    expect(r.stdout).toContain(`\nBroker  mqtt://127.0.0.1:${demo.port} (embedded)\n`);
    expect(r.stdout).toMatch(/\n {2}state +connected for \d/);
    expect(r.stdout).toMatch(/\n {2}last publish +(\d+\.\d|\d+)s ago \(\d\d:\d\d:\d\d\); \d+ acked since the start/);
    expect(r.stdout).toMatch(/\nOutbox {2}\d+ messages? waiting, /);
    expect(r.stdout).toMatch(new RegExp(`\\nDevices {2}${DEMO_DEVICES.length}: \\d+ online, \\d+ degraded, \\d+ offline, 0 unknown\\n`));
    for (const [kind, n] of [["modbus-door", 9], ["onvif", 7], ["panic-contacts", 1], ["panic-dc09", 2], ["reachability", 8]] as const) {
      expect(r.stdout).toMatch(new RegExp(`\\n {2}${kind} +${n} +\\d+ +\\d+ +\\d+ +0\\n`));
    }
    for (const id of serialDoors) expect(r.stdout).toMatch(new RegExp(`\\n {4}offline +${id} +modbus-door +unreachable: rtu:.*: serial port not found`));
    expect(r.stdout).toMatch(/\n {4}degraded +cam-parking +onvif +camera clock is 90 s ahead of the gateway/);
    // The doors going offline were logged as warnings; the last of them are in the report.
    expect(r.stdout).toMatch(/\nRecent warnings and errors: \d+ since the start/);
    expect(r.stdout).toMatch(/\n {2}\d\d:\d\d:\d\d +warn +door-a-(north-exit|courtyard) +unreachable: rtu:.*: serial port not found/);
    expect(r.stdout).toMatch(/\nPROBLEMS \(\d\):\n(.*\n)* {2}- \d+ devices offline: .*door-a-north-exit/);
    expect(r.stdout).not.toContain(DEMO_CAMERA_PASSWORD);
  });

  it("status --json gives scripts the same report, with ok false and the problems", async () => {
    const r = await runCli(["status", "--json", "--socket", demo.socket]);
    expect(r.code).toBe(1);
    const v = JSON.parse(r.stdout) as StatusView & { ok: boolean; problems: string[] };
    expect(v).toMatchObject({
      ok: false,
      agent: { version: VERSION, pid: demo.child.pid },
      campus: "demo-hs",
      gateway: "gw-demo",
      broker: { url: `mqtt://127.0.0.1:${demo.port}`, embedded: true, connected: true, last_error: null },
      outbox: { dropped: { alarm: 0, event: 0, telemetry: 0 } },
      devices: { total: DEMO_DEVICES.length, unknown: 0 },
    });
    expect(Object.fromEntries(Object.entries(v.devices.by_kind).map(([k, c]) => [k, c.total]))).toEqual({
      reachability: 8,
      onvif: 7,
      "modbus-door": 9,
      "panic-dc09": 2,
      "panic-contacts": 1,
    });
    expect(v.devices.attention).toEqual(
      expect.arrayContaining(serialDoors.map((id) => expect.objectContaining({ id, kind: "modbus-door", status: "offline", reason: "unreachable" }))),
    );
    expect(v.problems.find((p) => p.includes("offline"))).toMatch(/^\d+ devices offline: /);
    expect(v.recent_errors.entries).toContainEqual(expect.objectContaining({ level: "warn", device: "door-a-north-exit" }));
    expect(Date.parse(v.now) - Date.parse(v.broker.last_ack_at ?? "")).toBeLessThan(10_000);
    expect(r.stdout).not.toContain(DEMO_CAMERA_PASSWORD);
  });

  it("devices lists all the devices of the demo with location, state, reason, last seen, response time and firmware, and exits 1", async () => {
    const r = await runCli(["devices", "--socket", demo.socket]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(1);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe(`Devices of campus demo-hs, gateway gw-demo: ${DEMO_DEVICES.length} devices`);
    expect(lines[1]).toMatch(/^ID +KIND +LOCATION +STATUS +REASON +LAST SEEN +RESPONSE +FIRMWARE$/);
    // One row per device, in the config's order (DEMO_DEVICES's too); a device not online and well has its reason's text under it.
    const rows = lines.filter((l) => /^[a-z]/.test(l) && !l.startsWith("ID "));
    expect(rows.map((l) => l.split(" ")[0])).toEqual(DEMO_DEVICES.map((d) => d.id));
    expect(rows.find((l) => l.startsWith("cam-gym "))).toMatch(/^cam-gym +onvif +C \/ Gymnasium +(online|degraded|offline) +\S+ +(\d+\.\ds|\d+s|\d+m \d\ds) ago +(\d+(\.\d)? ms|-) +5\.2\.0$/);
    for (const id of serialDoors) {
      const i = lines.findIndex((l) => l.startsWith(`${id} `));
      expect(lines[i]).toMatch(new RegExp(`^${id} +modbus-door +A / [\\w ]+ +offline +unreachable +never +- +-$`));
      expect(lines[i + 1]).toMatch(/^ {4}unreachable: rtu:.*: serial port not found .*\(\d+ consecutive failures\)$/);
    }
    expect(r.stdout).toMatch(new RegExp(`\\n${DEMO_DEVICES.length} devices: \\d+ online, \\d+ degraded, \\d+ offline, 0 unknown\\.\\nPROBLEM: .*door-a-north-exit offline`));
  });

  it("devices --status offline --json lists only offline devices, the doors on the RS-485 line among them, never seen", async () => {
    const r = await runCli(["devices", "--status", "offline", "--json", "--socket", demo.socket]);
    expect(r.code).toBe(1);
    const v = JSON.parse(r.stdout) as DevicesView & { ok: boolean };
    expect(v).toMatchObject({ ok: false, campus: "demo-hs", gateway: "gw-demo", total: DEMO_DEVICES.length, filter: { status: "offline" }, buildings: ["A", "B", "C", "Grounds"] });
    expect(v.devices.every((d) => d.status === "offline")).toBe(true);
    for (const id of serialDoors) {
      expect(v.devices.find((d) => d.id === id)).toMatchObject({
        kind: "modbus-door",
        location: { building: "A" },
        reason: "unreachable",
        last_seen: null,
        response_time_ms: null,
        firmware: null,
      });
    }
  });

  it("devices --kind onvif lists the cameras with their firmware (and the missing one offline), the one with a fast clock and the one whose password was changed degraded", async () => {
    const r = await runCli(["devices", "--kind", "onvif", "--socket", demo.socket]);
    expect(r.code).toBe(1);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe(`Devices of campus demo-hs, gateway gw-demo: 7 of ${DEMO_DEVICES.length} (kind onvif)`);
    const rows = lines.filter((l) => l.startsWith("cam-"));
    expect(rows.map((l) => l.split(" ")[0])).toEqual([...cameraIds, ...DEMO_MISSING.map((m) => m.id)]);
    expect(rows.every((l) => / onvif /.test(l))).toBe(true);
    expect(rows[0]).toMatch(/^cam-main-entrance +onvif +A \/ Main entrance +.* 7\.4\.1$/);
    expect(rows[2]).toMatch(/^cam-parking +onvif +Grounds \/ Parking lot +degraded +clock_skew +.* 3\.8\.12$/);
    expect(rows[3]).toMatch(/^cam-library +onvif +B \/ Library +degraded +auth +/);
    expect(r.stdout).toContain("\n    GetDeviceInformation: credentials refused");
    expect(r.stdout).not.toContain(DEMO_CAMERA_PASSWORD);
  });

  it("probe shows each ONVIF call of a camera with its time and meaning, the decoded reading and the identity read, through the running agent", async () => {
    const r = await runCli(["probe", "cam-main-entrance", "--socket", demo.socket, "--config", DEMO_CONFIG]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^probe cam-main-entrance \(onvif\) through the running agent \(pid \d+\); deadline 8000 ms; nothing is published\n/);
    const steps = [...r.stdout.matchAll(/^ {2}(Get\w+|GET \S+ → \d+) +[\d.]+ +ok +/gm)].map((m) => m[1]);
    expect(steps).toEqual(["GetSystemDateAndTime", "GetDeviceInformation", "GetProfiles", "GetStreamUri", "GetSnapshotUri", expect.stringMatching(/^GET \/onvif\/snapshot\?profile=Profile_1 → 200$/), "GetSystemDateAndTime", "GetDeviceInformation", "GetNetworkInterfaces"]);
    expect(r.stdout).toMatch(/\n {2}GetDeviceInformation +[\d.]+ +ok +Lumen Optics LX-4410, firmware 7\.4\.1, serial \S+/);
    expect(r.stdout).toMatch(/\n {6}raw: \d+ characters \(--raw shows them\)\n/);
    expect(r.stdout).toMatch(/\n {2}=> online, answered in [\d.]+ ms\n {2}metrics:\n/);
    expect(r.stdout).toMatch(/\n {2}GetNetworkInterfaces +[\d.]+ +ok +MAC 02(:[0-9a-f]{2}){5} \(eth0\)/);
    expect(r.stdout).toContain("\n  => manufacturer Lumen Optics, model LX-4410, serial ");
    expect(r.stdout).toMatch(/\n {2}=> manufacturer Lumen Optics, .*, mac 02(:[0-9a-f]{2}){5}\n/);
    expect(r.stdout.endsWith("\nOK\n")).toBe(true);
    const raw = await runCli(["probe", "cam-main-entrance", "--raw", "--socket", demo.socket, "--config", DEMO_CONFIG]);
    expect(raw.stdout).toMatch(/\n {6}raw: <\?xml version="1\.0" encoding="UTF-8"\?>\n {11}<env:Envelope [^\n]*<tds:Manufacturer>Lumen Optics<\/tds:Manufacturer>/);
  });

  it("probe --json of a door on the RS-485 line that has no serial port gives the failed step and exit 1; of a camera refusing its password, degraded with the reason", async () => {
    const door = await runCli(["probe", serialDoors[0] ?? "", "--json", "--socket", demo.socket, "--config", DEMO_CONFIG]);
    expect(door.code).toBe(1);
    const outcome = JSON.parse(door.stdout) as { ok: boolean; via: string; poll: { ok: boolean; error: { code: string; message: string } } };
    expect(outcome).toMatchObject({ ok: false, via: "agent", poll: { ok: false } });
    expect(outcome.poll.error.message).toMatch(/rs485-a/);
    const cam = await runCli(["probe", "cam-library", "--socket", demo.socket, "--config", DEMO_CONFIG]);
    expect(cam.code).toBe(1);
    expect(cam.stdout).toMatch(/\n {2}GetDeviceInformation +[\d.]+ +FAILED +credentials refused/);
    expect(cam.stdout).toMatch(/\nPROBLEM: the device is degraded: auth \(/);
    expect(cam.stdout).not.toContain(DEMO_CAMERA_PASSWORD);
  });

  it("discover finds the cameras by WS-Discovery with what they say of themselves and the Modbus units behind each endpoint, against the config", async () => {
    const r = await runCli(["discover", "--json", "--socket", demo.socket, "--config", DEMO_CONFIG]);
    const report = JSON.parse(r.stdout) as DiscoveryReport & { ok: boolean; via: string };
    expect(report.via).toBe("agent");
    const onvif = report.scans.find((s) => s.kind === "onvif");
    expect(onvif).toMatchObject({ ok: true, target: "WS-Discovery: unicast to 21 addresses on udp 3702" });
    const cams = report.found.filter((f) => f.kind === "onvif");
    // The configured cameras, in address order, and the science wing's, which the config leaves out.
    expect(cams.map((f) => f.configured[0] ?? "(unknown)")).toEqual([...cameraIds, "(unknown)"]);
    expect(cams[0]?.identity).toMatchObject({ manufacturer: "Lumen Optics", model: "LX-4410", firmware: "7.4.1" });
    // The TCP doors and the gym's I/O module answer their unit ids; the RS-485 line has no port without socat.
    const tcpDoors = DEMO_DOORS.filter((d) => d.link.transport !== "rtu").map((d) => d.id);
    for (const id of [...tcpDoors, "panic-rx-c-gym"]) expect(report.found.some((f) => f.configured.includes(id))).toBe(true);
    expect(report.not_found.map((n) => n.id)).toEqual([...DEMO_MISSING.map((m) => m.id), ...serialDoors]);
    expect(report.not_found.find((n) => n.id === serialDoors[0])?.status?.state).toBe("offline");
    expect(report.scans.filter((s) => !s.ok).map((s) => s.target)).toEqual([expect.stringMatching(/^rtu:.*rs485-a units 1-8$/)]);
    expect(r.code).toBe(1);
    const text = await runCli(["discover", "--socket", demo.socket, "--config", DEMO_CONFIG]);
    expect(text.stdout).toMatch(/\n {2}cam-main-entrance +onvif +127\.77\.1\.10 +Lumen Optics LX-4410 serial \S+ firmware 7\.4\.1\n/);
    expect(text.stdout).toMatch(/\nConfigured, not found \(3\)\n/);
  });

  it("bundle writes the demo's support archive: its status and all its devices from the running agent, the outbox, and not the cameras' password", async () => {
    const out = mkdtempSync(join(tmpdir(), "demo-bundle-"));
    try {
      const r = await runCli(["bundle", "--json", "--output", out, "--socket", demo.socket, "--db", join(demo.dir, "demo-outbox.db"), "--config", DEMO_CONFIG], {
        env: { CAMPUS_DEMO_CAMERA_PASSWORD: DEMO_CAMERA_PASSWORD },
        timeoutMs: 60_000,
      });
      const summary = JSON.parse(r.stdout) as BundleSummary;
      expect(summary.files.map((f) => f.name)).toEqual(expect.arrayContaining(["config.yaml", "status.json", "devices.json", "outbox.json", "versions.json"]));
      expect(summary.problems.filter((p) => !p.includes("journal"))).toEqual([]);
      const dir = join(out, "x");
      mkdirSync(dir, { recursive: true });
      await extract({ file: summary.path, cwd: dir });
      const root = join(dir, summary.folder);
      const devices = JSON.parse(readFileSync(join(root, "devices.json"), "utf8")) as DevicesView;
      expect(devices.devices.map((d) => d.id)).toEqual(DEMO_DEVICES.map((d) => d.id));
      expect((JSON.parse(readFileSync(join(root, "status.json"), "utf8")) as StatusView).campus).toBe("demo-hs");
      for (const f of summary.files) expect(readFileSync(join(root, f.name)).includes(DEMO_CAMERA_PASSWORD)).toBe(false);
      expect(gunzipSync(readFileSync(summary.path)).includes(DEMO_CAMERA_PASSWORD)).toBe(false);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe("campus-agent status and devices against an agent that stops", () => {
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it("exit 0 while the agent runs with nothing wrong, then 1 with 'is the agent running?' once it has stopped", async () => {
    const dir = scratchDir("stopped-agent-", cleanups);
    const file = writeCampusConfig(dir, { broker: { embedded: { host: "127.0.0.1", port: 0 } }, devices: [] });
    const agent = startAgent(file);
    cleanups.push(() => agent.kill("SIGKILL"));
    await agent.waitForLog((l) => l.msg === "control socket open");
    await agent.waitForLog((l) => l.msg === "connected to the broker");

    const ok = await runCli(["status", "--config", file]);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("\nDevices  0: 0 online, 0 degraded, 0 offline, 0 unknown\n");
    expect(ok.stdout).toContain("\nOK: connected to the broker, nothing dropped, no device offline.\n");
    const none = await runCli(["devices", "--config", file]);
    expect(none).toMatchObject({ code: 0, stdout: "Devices of campus lincoln, gateway gw-1: 0 devices\nNo device is configured.\n" });

    expect(await agent.kill("SIGTERM")).toBe(0);
    const status = await runCli(["status", "--config", file]);
    expect(status.code).toBe(1);
    expect(status.stdout).toBe("");
    expect(status.stderr).toBe(`campus-agent status: no control socket at ${join(dir, "campus-agent.sock")}: is the agent running? (systemctl status campus-agent)\n`);
    const devices = await runCli(["devices", "--json", "--config", file]);
    expect(devices.code).toBe(1);
    expect(JSON.parse(devices.stdout)).toEqual({ ok: false, error: { code: "not_running", message: expect.stringMatching(/is the agent running\?/) as unknown } });
  });

  it("probe and discover work without the agent too, with drivers of their own, and say so", async () => {
    const dir = scratchDir("stopped-probe-", cleanups);
    const device = await startNetDevice({});
    cleanups.push(() => device.close());
    const door = await startModbusSim({ units: [1, 4] });
    cleanups.push(() => door.close());
    const file = writeCampusConfig(dir, {
      discovery: { onvif: { enabled: false }, modbus: { units: "1-4", timeout_ms: 100 } },
      devices: [
        { id: "intercom", kind: "reachability", category: "safety-critical", options: { host: device.host, port: device.port } },
        { id: "door-1", kind: "modbus-door", category: "safety-critical", options: { transport: "tcp", host: "127.0.0.1", port: door.tcpPort, unit_id: 1, profile: "generic-door" } },
      ],
    });
    const probe = await runCli(["probe", "intercom", "--config", file]);
    expect(probe.code).toBe(0);
    expect(probe.stdout).toMatch(/^probe intercom \(reachability\) with a driver of its own \(the agent was not asked: no control socket at .*\); deadline \d+ ms; nothing is published\n/);
    expect(probe.stdout).toMatch(/\n {2}tcp connect 127\.0\.0\.1:\d+ +[\d.]+ +ok +/);
    const found = await runCli(["discover", "--json", "--config", file]);
    expect(found.code).toBe(1);
    expect(JSON.parse(found.stdout)).toMatchObject({
      ok: false,
      via: "standalone",
      found: [
        { kind: "modbus", address: `tcp://127.0.0.1:${String(door.tcpPort)} unit 1`, configured: ["door-1"] },
        { kind: "modbus", address: `tcp://127.0.0.1:${String(door.tcpPort)} unit 4`, configured: [] },
      ],
      unknown: [{ address: `tcp://127.0.0.1:${String(door.tcpPort)} unit 4` }],
      not_found: [],
    });
  });
});
