/**
 * The control methods `status` and `devices` of a running agent, in-process:
 * aedes on a free port, simulated devices over real sockets, the CLI's own
 * client on the control socket; then `campus-agent status` and `devices`
 * (agent/commands) against that agent, for their exit codes.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { devices } from "../../agent/commands/devices.js";
import { status } from "../../agent/commands/status.js";
import { controlRequest } from "../../agent/control/client.js";
import type { DevicesView, StatusView } from "../../agent/control/views.js";
import { createLogger, RecentLog } from "../../agent/log.js";
import { startEmbeddedBroker } from "../../agent/mqtt/broker.js";
import { type DriverFactory, defineDriver } from "../../drivers/contract.js";
import { DRIVERS } from "../../drivers/registry.js";
import { type NetDevice, startNetDevice } from "../../scripts/sim/netdevice.js";
import { campusConfig, startTestAgent } from "../helpers/agent.js";
import { sink } from "../helpers/streams.js";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const PASSWORD = "s3cret-gw-Pa55";

/** A camera kind that always answers, with the identity a real one reports. */
const fakeCamera: DriverFactory = defineDriver({
  kind: "fake-camera",
  description: "test double",
  optionsSchema: z.strictObject({}),
  create: () => ({
    poll: async () => ({ health: "ok", responseTimeMs: 7.25, metrics: {}, identity: { manufacturer: "Axis", model: "P3265", firmware: "10.12.1" } }),
  }),
});
const drivers = [...DRIVERS, fakeCamera];

/**
 * An agent on its own broker (URL with credentials in it, and a password), with
 * two network devices (building A) and a camera (building B, never polled
 * before the test asks), its log's warnings kept in a RecentLog.
 */
async function campus() {
  const dir = mkdtempSync(join(tmpdir(), "agent-status-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const devs = await Promise.all([startNetDevice({}), startNetDevice({})]);
  cleanups.push(() => Promise.all(devs.map((d) => d.close())));
  const broker = await startEmbeddedBroker({ host: "127.0.0.1", port: 0, log: createLogger({ level: "silent" }) });
  cleanups.push(() => broker.close());
  const url = broker.url.replace("mqtt://", "mqtt://gw-1:url-Pa55@");
  const net = (id: string, d: NetDevice, room: string) => ({
    id,
    kind: "reachability",
    category: "safety-critical",
    location: { building: "A", room },
    options: { host: d.host, port: d.port },
  });
  const parsed = campusConfig(
    dir,
    {
      broker: { url, username: "gw-1", password_env: "GW_PASSWORD" },
      polling: { interval_ms: 200, timeout_ms: 150, offline_after_failures: 2 },
      devices: [
        net("intercom", devs[0] as NetDevice, "Main entrance"),
        net("switch", devs[1] as NetDevice, "MDF"),
        { id: "cam-lot", kind: "fake-camera", category: "safety-critical", location: { building: "B", room: "Parking lot" }, options: {} },
      ],
    },
    { drivers, env: { GW_PASSWORD: PASSWORD } },
  );
  const recentLog = new RecentLog(5);
  const { socket } = await startTestAgent(parsed, drivers, cleanups, { recentLog });
  const ask = async <T>(method: string, params: Record<string, unknown> = {}) => (await controlRequest(socket, method, params, 5000)) as T;
  return { dir, devs, broker, parsed, socket, ask };
}

describe("the agent's status and devices control methods", () => {
  it("status tells the agent, the broker connection and last publish, the outbox, the devices by kind and state, and the last warnings, without a secret", async () => {
    const { devs, parsed, ask } = await campus();
    await vi.waitFor(async () => expect((await ask<StatusView>("status")).devices.online).toBe(3), { timeout: 10_000, interval: 50 });
    await (devs[1] as NetDevice).setBehaviour("refuse");
    await vi.waitFor(async () => expect((await ask<StatusView>("status")).devices.offline).toBe(1), { timeout: 10_000, interval: 50 });

    const v = await ask<StatusView>("status");
    const raw = JSON.stringify(v);
    expect(raw).not.toContain(PASSWORD);
    expect(raw).not.toContain("url-Pa55");
    expect(v).toMatchObject({
      agent: { version: "0.0.0-test", pid: process.pid, config_file: parsed.file },
      campus: "lincoln",
      gateway: "gw-1",
      broker: { embedded: false, connected: true, last_error: null, blocked_streams: [] },
      devices: {
        total: 3,
        online: 2,
        degraded: 0,
        offline: 1,
        unknown: 0,
        by_kind: { reachability: { total: 2, online: 1, offline: 1 }, "fake-camera": { total: 1, online: 1 } },
        attention: [{ id: "switch", kind: "reachability", status: "offline", reason: "refused" }],
      },
    });
    expect(v.broker.url).toMatch(/^mqtt:\/\/\*\*\*@127\.0\.0\.1:\d+$/);
    expect(Date.parse(v.broker.connected_since ?? "")).toBeLessThanOrEqual(Date.parse(v.now));
    // The last successful publish: a PUBACK of a buffered message, a moment ago.
    expect(v.broker.acked).toBeGreaterThan(0);
    expect(Date.parse(v.now) - Date.parse(v.broker.last_ack_at ?? "")).toBeLessThan(10_000);
    expect(v.agent.uptime_s).toBeGreaterThanOrEqual(0);
    expect(Object.keys(v.outbox.depth)).toEqual(["alarm", "event", "telemetry"]);
    expect(v.outbox.dropped).toEqual({ alarm: 0, event: 0, telemetry: 0 });
    expect(v.outbox.total).toBe(v.outbox.depth.alarm + v.outbox.depth.event + v.outbox.depth.telemetry);
    // The device going offline was logged as a warning, with the device it came from.
    expect(v.recent_errors.capacity).toBe(5);
    expect(v.recent_errors.entries).toContainEqual(expect.objectContaining({ level: "warn", device: "switch", msg: expect.stringMatching(/^refused: /) as unknown }));
  });

  it("devices lists every device with its state, reason, last seen (last answer), response time and firmware, filtered by state, kind or building", async () => {
    const { devs, ask } = await campus();
    await vi.waitFor(async () => expect((await ask<DevicesView>("devices", { status: "online" })).devices).toHaveLength(3), { timeout: 10_000, interval: 50 });
    await (devs[1] as NetDevice).setBehaviour("refuse");
    await vi.waitFor(async () => expect((await ask<DevicesView>("devices", { status: "offline" })).devices).toHaveLength(1), { timeout: 10_000, interval: 50 });

    const all = await ask<DevicesView>("devices");
    expect(all).toMatchObject({ campus: "lincoln", gateway: "gw-1", total: 3, filter: {}, buildings: ["A", "B"] });
    expect(all.devices.map((d) => [d.id, d.kind, d.location.building, d.location.room])).toEqual([
      ["intercom", "reachability", "A", "Main entrance"],
      ["switch", "reachability", "A", "MDF"],
      ["cam-lot", "fake-camera", "B", "Parking lot"],
    ]);
    const [intercom, sw, cam] = all.devices;
    expect(intercom).toMatchObject({ status: "online", reason: "ok", firmware: null, identity: null, consecutive_failures: 0 });
    expect(intercom?.response_time_ms).toBeGreaterThan(0);
    // Offline: last seen is its last answer, before the failed polls since.
    expect(sw).toMatchObject({ status: "offline", reason: "refused", response_time_ms: null, firmware: null });
    expect(sw?.reason_text).toMatch(/^refused: .*\(\d+ consecutive failures\)$/);
    expect(Date.parse(sw?.last_seen ?? "")).toBeLessThan(Date.parse(sw?.last_poll ?? ""));
    expect(cam).toMatchObject({ status: "online", response_time_ms: 7.3, firmware: "10.12.1", identity: { manufacturer: "Axis", model: "P3265", firmware: "10.12.1" } });

    expect((await ask<DevicesView>("devices", { status: "offline" })).devices.map((d) => d.id)).toEqual(["switch"]);
    expect((await ask<DevicesView>("devices", { kind: "fake-camera" })).devices.map((d) => d.id)).toEqual(["cam-lot"]);
    expect((await ask<DevicesView>("devices", { building: "a" })).devices.map((d) => d.id)).toEqual(["intercom", "switch"]);
    expect((await ask<DevicesView>("devices", { kind: "onvif" })).devices).toEqual([]);
    await expect(ask("devices", { status: "dead" })).rejects.toMatchObject({ code: "bad_request", message: 'status must be one of online, degraded, offline, unknown; got "dead"' });
    await expect(ask("devices", { kind: "toaster" })).rejects.toMatchObject({ code: "bad_request", message: expect.stringMatching(/^unknown device kind "toaster"; this agent knows fake-camera, modbus-door, /) as unknown });
  });

  it("campus-agent status and devices exit 1 while a device is offline or the broker is gone, 0 when all is well, and say when no agent answers", async () => {
    const { devs, broker, socket, ask } = await campus();
    await vi.waitFor(async () => expect((await ask<StatusView>("status")).devices.online).toBe(3), { timeout: 10_000, interval: 50 });
    const run = async (cmd: typeof status | typeof devices, args: Record<string, unknown> = {}) => {
      const out = sink();
      const err = sink();
      const code = await (cmd as typeof devices)({ socket, json: false, filter: {}, ...args }, out.stream, err.stream);
      return { code, out: out.text(), err: err.text() };
    };
    const ok = await run(status);
    expect(ok.code).toBe(0);
    expect(ok.out).toContain("\nOK: connected to the broker, nothing dropped, no device offline.\n");
    expect((await run(devices)).code).toBe(0);

    await (devs[0] as NetDevice).setBehaviour("refuse");
    await vi.waitFor(async () => expect((await ask<StatusView>("status")).devices.offline).toBe(1), { timeout: 10_000, interval: 50 });
    const down = await run(status);
    expect(down.code).toBe(1);
    expect(down.out).toContain("\nPROBLEMS (1):\n  - 1 device offline: intercom\n");
    expect((await run(devices)).code).toBe(1);
    expect((await run(devices, { filter: { status: "online" } })).code).toBe(0);
    const json = await run(devices, { json: true, filter: { status: "offline" } });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.out)).toMatchObject({ ok: false, devices: [{ id: "intercom", status: "offline" }] });

    await broker.close();
    await vi.waitFor(async () => expect((await ask<StatusView>("status")).broker.connected).toBe(false), { timeout: 10_000, interval: 50 });
    const noBroker = await run(status, { json: true });
    expect(noBroker.code).toBe(1);
    expect((JSON.parse(noBroker.out) as { problems: string[] }).problems[0]).toMatch(/^not connected to the broker mqtt:\/\/\*\*\*@127\.0\.0\.1:\d+/);

    const gone = await run(status, { socket: `${socket}.missing` });
    expect(gone).toMatchObject({ code: 1, out: "" });
    expect(gone.err).toMatch(/^campus-agent status: no control socket at .*: is the agent running\?/);
    const usage = await run(devices, { filter: { kind: "toaster" } });
    expect(usage.code).toBe(2);
    expect(usage.err).toMatch(/^campus-agent devices: unknown device kind "toaster"/);
  });
});
