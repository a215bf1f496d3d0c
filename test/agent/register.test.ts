/**
 * The asset register's own logic, on a real outbox and state file: what a
 * discovery run makes of unknown and missing assets, which alarms stay open,
 * and the readiness figures. The devices are given as the device manager
 * would describe them; the messages are read back from the outbox.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AssetRegister, type DeviceAsset, REFRESH_CHUNK } from "../../agent/assets/register.js";
import { UNKNOWN_FORGET_AFTER_MISSES, unknownKey } from "../../agent/assets/unknown.js";
import type { Clock } from "../../agent/clock.js";
import type { DiscoveryReport, FoundDevice } from "../../agent/discovery.js";
import { parsePolicy } from "../../agent/lifecycle/policy.js";
import { createLogger } from "../../agent/log.js";
import { Messages } from "../../agent/messages.js";
import { Topics } from "../../agent/mqtt/contract.js";
import { SqliteOutbox } from "../../agent/outbox/sqlite.js";
import { StateStore } from "../../agent/state.js";
import type { DeviceStatus } from "../../agent/status.js";
import type { DeviceConfig } from "../../config/schema.js";
import type { DeviceAlarm } from "../../drivers/contract.js";
import { expectValidPayloads } from "../helpers/schemas.js";

const cleanups: (() => unknown)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

const log = createLogger({ level: "silent" });
const T0 = Date.parse("2026-03-02T10:00:00.000Z");

function device(id: string, category: "safety-critical" | "operational", status?: Partial<DeviceStatus>): DeviceAsset {
  const config = { id, kind: "onvif", category, location: { building: "A" }, lifecycle: {}, poll: {}, options: {} } as unknown as DeviceConfig;
  return {
    config,
    info: { id, kind: "onvif", category, location: { building: "A" } },
    status:
      status === undefined
        ? undefined
        : { state: "online", reason: "ok", reasonText: "ok", since: T0, consecutiveFailures: 0, lastSeen: T0, lastPollAt: T0, responseTimeMs: 5, ...status },
    identity: { manufacturer: "Lumen Optics", model: "LX-4410", firmware: "5.6.0" },
    identityReadAt: T0,
    clockDriftMs: 0,
    watchedSince: T0,
    polled: status !== undefined,
  };
}

function setup(devices: DeviceAsset[], now = { ms: T0 }) {
  const dir = mkdtempSync(join(tmpdir(), "register-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const clock: Clock = { now: () => now.ms, monotonic: () => now.ms };
  const path = join(dir, "outbox.db");
  const outbox = SqliteOutbox.open({ path, maxSizeBytes: 1 << 24, flushIntervalMs: 60_000, batchSize: 10_000, clock, log });
  const state = StateStore.open(path);
  cleanups.push(() => {
    outbox.close();
    state.close();
  });
  const topics = new Topics("lincoln", "gw-1");
  const open = () =>
    new AssetRegister({
      source: { assets: () => devices, asset: (id) => devices.find((d) => d.config.id === id) },
      messages: new Messages({ outbox, topics, clock }),
      state,
      clock,
      log,
    });
  const messages = () => {
    outbox.flush();
    return outbox.peek(10_000).map((m) => ({ topic: m.topic, payload: m.payload, retain: m.retain }));
  };
  return { register: open(), reopen: open, messages, now };
}

const camera = (address: string, configured: string[] = [], serial = "X1"): FoundDevice => ({
  kind: "onvif",
  address,
  identity: { manufacturer: "Lumen Optics", model: "LX-4410", serial },
  details: { scopes: "onvif://www.onvif.org/type/video_encoder" },
  configured,
});

function run(found: FoundDevice[], notFound: string[] = []): DiscoveryReport {
  return {
    started_at: new Date(T0).toISOString(),
    ms: 1500,
    scans: [{ kind: "onvif", target: "WS-Discovery", ok: true, ms: 1500, found: found.length }],
    found,
    unknown: found.filter((f) => f.configured.length === 0),
    not_found: notFound.map((id) => ({ id, kind: "onvif", address: "10.0.0.9", why: "no answer to the unicast Probe" })),
  };
}

describe("reconciliation", () => {
  it("publishes a found device the config does not name as a retained unknown asset, under a topic-safe key, valid against the contract", () => {
    const { register, messages } = setup([device("cam-1", "safety-critical", {})]);
    const r = register.reconcile(run([camera("http://10.0.0.7/onvif/device_service"), camera("http://10.0.0.5/onvif/device_service", ["cam-1"])]));
    const key = unknownKey({ kind: "onvif", address: "http://10.0.0.7/onvif/device_service" });
    expect(key).toMatch(/^onvif-10\.0\.0\.7-onvif-device_service-[0-9a-f]{8}$/);
    expect(r).toMatchObject({ unknown: 1, new_unknown: [key], gone: [], missing: [] });
    const unknown = messages().filter((m) => m.topic === `campus/lincoln/unknown/${key}`);
    expect(unknown).toHaveLength(1);
    expect(unknown[0]?.retain).toBe(true);
    expect(JSON.parse(unknown[0]?.payload ?? "")).toMatchObject({
      schema: "campus-edge/unknown-asset/v1",
      key,
      kind: "onvif",
      address: "http://10.0.0.7/onvif/device_service",
      identity: { manufacturer: "Lumen Optics", serial: "X1" },
      first_seen: "2026-03-02T10:00:00.000Z",
    });
    expectValidPayloads(messages());
  });

  it("keeps an unknown asset's first sighting, and clears its topic only after it was missed by several runs in a row", () => {
    const now = { ms: T0 };
    const { register, messages } = setup([], now);
    const addr = "http://10.0.0.7/onvif/device_service";
    const key = unknownKey({ kind: "onvif", address: addr });
    register.reconcile(run([camera(addr)]));
    now.ms += 3600_000;
    register.reconcile(run([camera(addr)]));
    expect(register.unknownAssets()).toMatchObject([{ key, first_seen: "2026-03-02T10:00:00.000Z", last_seen: "2026-03-02T11:00:00.000Z" }]);
    for (let i = 1; i < UNKNOWN_FORGET_AFTER_MISSES; i++) {
      expect(register.reconcile(run([])).gone).toEqual([]);
    }
    expect(register.reconcile(run([])).gone).toEqual([key]);
    expect(register.unknownAssets()).toEqual([]);
    const onTopic = messages().filter((m) => m.topic.endsWith(`/unknown/${key}`));
    expect(onTopic.at(-1)).toMatchObject({ payload: "", retain: true });
  });

  it("clears an unknown asset at once when a configured device is now what answers at its address", () => {
    const { register } = setup([device("cam-7", "safety-critical", {})]);
    const addr = "http://10.0.0.7/onvif/device_service";
    register.reconcile(run([camera(addr)]));
    expect(register.reconcile(run([camera(addr, ["cam-7"])])).gone).toEqual([unknownKey({ kind: "onvif", address: addr })]);
  });

  it("remembers unknown assets across a restart of the agent", () => {
    const { register, reopen } = setup([]);
    register.reconcile(run([camera("http://10.0.0.7/onvif/device_service")]));
    expect(reopen().unknownAssets()).toHaveLength(1);
  });

  it("a configured device never seen is missing once it is offline or discovery did not find it; one seen is present; one not polled yet is pending", () => {
    const never = device("cam-never", "safety-critical", { state: "offline", reason: "timeout", lastSeen: null });
    const silent = device("cam-silent", "safety-critical");
    const seen = device("cam-seen", "operational", { state: "offline", reason: "timeout" });
    const { register } = setup([never, silent, seen, device("cam-new", "operational")]);
    expect(register.rows().map((r) => [r.id, r.presence])).toEqual([
      ["cam-never", "missing"],
      ["cam-silent", "pending"],
      ["cam-seen", "present"],
      ["cam-new", "pending"],
    ]);
    expect(register.reconcile(run([], ["cam-silent"])).missing).toEqual(["cam-never", "cam-silent"]);
  });
});

describe("refreshing every device", () => {
  it("publishes REFRESH_CHUNK devices per event-loop turn, so a large campus never holds the loop for all of them at once", async () => {
    const many = Array.from({ length: REFRESH_CHUNK * 2 + 5 }, (_, i) => device(`cam-${i}`, "safety-critical", {}));
    const { register, messages } = setup(many);
    const inventories = () => messages().filter((m) => m.topic.endsWith("/inventory")).length;
    register.cycle();
    expect(inventories()).toBe(REFRESH_CHUNK);
    await vi.waitFor(() => expect(inventories()).toBe(many.length), { timeout: 5000, interval: 5 });
  });
});

describe("open alarms and the readiness", () => {
  const alarm = (id: string, phase: DeviceAlarm["phase"], extra: Partial<DeviceAlarm> = {}): DeviceAlarm => ({
    id,
    phase,
    type: "panic",
    test: false,
    at: T0,
    text: `panic ${phase}`,
    zone: { id: "12", name: "Front office" },
    source: {},
    ...extra,
  });

  it("an alarm stays open until its restore or cancel, a restore without an id closes the device's alarm of that type and zone, and a test alarm never opens", () => {
    const rx = device("panic-rx", "safety-critical", {});
    const { register, reopen } = setup([rx]);
    register.noteAlarms(rx.info, [alarm("a-1", "alarm"), alarm("t-1", "alarm", { test: true }), alarm("a-2", "alarm", { zone: { id: "13" } })]);
    expect(register.openAlarms().map((a) => a.alarm_id)).toEqual(["a-1", "a-2"]);
    register.close();
    expect(reopen().openAlarms().map((a) => a.alarm_id)).toEqual(["a-1", "a-2"]);
    register.noteAlarms(rx.info, [alarm("r-1", "restore", { ends: "a-1" })]);
    expect(register.openAlarms()).toMatchObject([{ alarm_id: "a-2", device: "panic-rx", type: "panic", zone: { id: "13" } }]);
    register.noteAlarms(rx.info, [alarm("r-2", "restore", { zone: { id: "13" } })]);
    expect(register.openAlarms()).toEqual([]);
  });

  it("the readiness counts devices by category and state, gives the safety-critical shares, the oldest heartbeat and the open alarms", () => {
    const now = { ms: T0 + 90_000 };
    const stale = device("cam-b", "safety-critical", { lastSeen: T0 - 30_000 });
    const down = device("cam-c", "safety-critical", { state: "offline", reason: "timeout", lastSeen: T0 - 10_000 });
    const { register } = setup([device("cam-a", "safety-critical", {}), stale, down, device("sw-1", "operational", { state: "degraded", reason: "slow" })], now);
    const policy = parsePolicy('version: 1\nfirmware:\n  - { manufacturer: Lumen Optics, model: "LX-4410", minimum: "5.7.0" }\n', "policy.yaml");
    register.setPolicy({ file: "/etc/campus-agent/policy.yaml", sha256: "ab".repeat(32), policy });
    register.noteAlarms(down.info, [alarm("a-1", "alarm")]);
    const r = register.readiness({ connected: false, outbox_depth: 12 });
    expect(r).toMatchObject({
      devices: { total: 4, online: 2, degraded: 1, offline: 1, unknown: 0, compliant: 0, non_compliant: 4 },
      by_category: { "safety-critical": { total: 3, online: 2, offline: 1 }, operational: { total: 1, degraded: 1 } },
      safety_critical: { total: 3, online: 0.6667, compliant: 0, ready: 0 },
      failing: { firmware_outdated: 4, firmware_blocked: 0 },
      policy: { file: "/etc/campus-agent/policy.yaml" },
      oldest_heartbeat: { device: "cam-b", category: "safety-critical", last_seen: new Date(T0 - 30_000).toISOString(), age_s: 120 },
      open_alarms: [{ device: "cam-c", alarm_id: "a-1", type: "panic", since: new Date(T0).toISOString(), zone: { id: "12", name: "Front office" } }],
      uplink: { connected: false, outbox_depth: 12 },
    });
  });

  it("without a policy nothing is evaluated: every device counts as compliant and the readiness names no policy", () => {
    const { register } = setup([device("cam-a", "safety-critical", {})]);
    register.setPolicy(undefined);
    expect(register.rows()[0]?.compliance).toEqual({ evaluated: false, compliant: true, failing: [], unchecked: [], since: expect.any(String) as unknown });
    expect(register.readiness({ connected: true, outbox_depth: 0 })).toMatchObject({
      policy: null,
      safety_critical: { total: 1, online: 1, compliant: 1, ready: 1 },
    });
  });
});
