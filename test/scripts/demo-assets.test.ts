/**
 * The demo campus as the asset register sees it: its lifecycle policy
 * (config/demo-policy.yaml) makes every compliance rule fail on at least one
 * demo device, as config/demo.yaml's header table says; and discovery finds
 * the devices the config leaves out (an unknown camera, an unknown Modbus
 * unit) and not the one with nothing behind it (the missing camera).
 *
 * Cameras are polled with the real onvif driver, in process on ephemeral
 * ports, so the identity and clock drift the policy is checked against are
 * what the agent would read.
 */
import { readFileSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../../agent/clock.js";
import { runDiscovery } from "../../agent/discovery.js";
import { COMPLIANCE_RULES, type ComplianceRule, type DeviceFacts, evaluate } from "../../agent/lifecycle/evaluate.js";
import { loadPolicyFile } from "../../agent/lifecycle/policy.js";
import { type LoadedConfig, loadConfigFile } from "../../config/load.js";
import type { Config, DeviceConfig } from "../../config/schema.js";
import type { Driver, Identity } from "../../drivers/contract.js";
import { onvifOptionsSchema } from "../../drivers/onvif/index.js";
import { DRIVERS } from "../../drivers/registry.js";
import { type Campus, startCampus } from "../../scripts/sim/campus.js";
import {
  DEMO_CAMERA_PASSWORD,
  DEMO_CAMERA_PASSWORD_ENV,
  DEMO_CAMERAS,
  DEMO_DEVICES,
  DEMO_DOORS,
  DEMO_MISSING,
  DEMO_UNCONFIGURED,
  type DemoDeviceSpec,
  type DoorSpec,
  simulatorFor,
} from "../../scripts/sim/demo-campus.js";

const ROOT = join(import.meta.dirname, "..", "..");
const log = pino({ level: "silent" });
process.env[DEMO_CAMERA_PASSWORD_ENV] = DEMO_CAMERA_PASSWORD;

const loadDemo = (): LoadedConfig => loadConfigFile(join(ROOT, "config/demo.yaml"), { drivers: DRIVERS });

function driverOf(kind: string): Driver<unknown> {
  const factory = DRIVERS.find((d) => d.kind === kind);
  if (factory === undefined) throw new Error(`no driver ${kind}`);
  return factory.create({ log, clock: systemClock }) as Driver<unknown>;
}

/** What config/demo.yaml's header table says each device fails (every other device passes), at the date below. */
const EXPECTED: Record<string, ComplianceRule[]> = {
  "switch-core": ["warranty_expired"],
  "cam-gym": ["firmware_outdated", "warranty_expired"],
  "cam-parking": ["end_of_support", "clock_drift"],
  "cam-cafeteria": ["firmware_unknown", "end_of_support"],
  "cam-bus-loop": ["firmware_blocked"],
  "cam-stadium": ["not_seen"],
  "door-b-cafeteria": ["end_of_support", "warranty_expired"],
  "door-b-kitchen": ["end_of_support", "warranty_expired"],
};
/** The day the table describes; the tests also check that every rule still fails on some device today. */
const TABLE_DATE = Date.parse("2026-12-07T12:00:00Z");
/** How long the agent has run when the table holds: two minutes. */
const RUNNING_MS = 120_000;

describe("the demo's lifecycle policy", () => {
  let loaded: LoadedConfig;
  /** What each camera's poll told: its identity and clock drift. */
  const readings = new Map<string, { identity?: Identity; driftMs: number | null }>();
  let cameras: Campus;

  beforeAll(async () => {
    loaded = loadDemo();
    cameras = await startCampus(DEMO_CAMERAS, { ephemeralPorts: true });
    const driver = driverOf("onvif");
    try {
      await Promise.all(
        cameras.devices.map(async (running) => {
          const spec = DEMO_CAMERAS.find((c) => c.id === running.id);
          const options = onvifOptionsSchema.parse({ ...spec?.driver.options, port: running.port });
          const r = await driver.poll({ id: running.id, timeoutMs: 8000, options }, { signal: AbortSignal.timeout(8000), log });
          const drift = r.metrics.clock_drift_ms;
          readings.set(running.id, { ...(r.identity ? { identity: r.identity } : {}), driftMs: typeof drift === "number" ? drift : null });
        }),
      );
    } finally {
      await driver.close?.();
    }
  }, 30_000);
  afterAll(() => cameras.close());

  /** What the agent knows of a device after running RUNNING_MS up to `now`: every simulated device has answered just now. */
  function factsOf(d: DeviceConfig, now: number): DeviceFacts {
    const spec = simulatorFor(d.id) as DemoDeviceSpec;
    const facts: DeviceFacts = { id: d.id, kind: d.kind, category: d.category, lifecycle: { ...d.lifecycle }, watchedSince: now - RUNNING_MS };
    if (spec.simulator === "none") return { ...facts, lastSeen: null, status: { state: "offline", reason: "unreachable" } };
    facts.lastSeen = now;
    const reading = readings.get(d.id);
    if (reading !== undefined) {
      if (reading.identity) facts.identity = reading.identity;
      facts.clockDriftMs = reading.driftMs;
    }
    if (spec.simulator === "door") {
      // The generic-door map: serial and firmware, no manufacturer or model (drivers/modbus/identity.ts).
      const [major, minor] = spec.controller.firmware ?? [2, 3];
      facts.identity = { serial: String(spec.controller.serial), firmware: `${major}.${minor}` };
    }
    return facts;
  }

  const failing = (now: number) =>
    Object.fromEntries(loaded.config.devices.map((d) => [d.id, evaluate(factsOf(d, now), policy(), now, { timeZone: "UTC" }).failing.map((f) => f.rule)]));
  const policy = () => loadPolicyFile(loaded.config.policy?.file ?? "");

  it("is config/demo-policy.yaml, next to config/demo.yaml, and valid", () => {
    expect(loaded.config.policy?.file).toBe(join(ROOT, "config", "demo-policy.yaml"));
    const p = policy();
    expect(p.firmware.map((r) => `${r.manufacturer} ${r.model}`)).toEqual(["Lumen Optics LX-4410", "Brightfield Security BF-D2*"]);
    expect(p.clock).toEqual({ max_drift_s: 30 });
  });

  it("the cameras tell the driver what the policy checks: make, model and firmware, and their clock drift", () => {
    expect(readings.get("cam-gym")?.identity).toMatchObject({ manufacturer: "Lumen Optics", model: "LX-4410", firmware: "5.2.0" });
    expect(readings.get("cam-bus-loop")?.identity).toMatchObject({ firmware: "7.5.0" });
    expect(readings.get("cam-cafeteria")?.identity).toMatchObject({ manufacturer: "Brightfield Security", model: "BF-D220", firmware: "N/A" });
    // The library camera refuses the agent's password: no identity, but its clock is read without one.
    expect(readings.get("cam-library")?.identity).toBeUndefined();
    expect(readings.get("cam-parking")?.driftMs).toBeGreaterThan(85_000);
    for (const id of ["cam-main-entrance", "cam-cafeteria", "cam-library"]) expect(Math.abs(readings.get(id)?.driftMs ?? Infinity), id).toBeLessThan(5000);
  });

  it("fails exactly the devices of config/demo.yaml's table, for the rules it says, two minutes after the start", () => {
    const got = failing(TABLE_DATE);
    expect(Object.fromEntries(Object.entries(got).filter(([, rules]) => rules.length > 0))).toEqual(EXPECTED);
    // The table in the header names the same devices.
    const header = /^#[\s\S]*?\n(?!#)/.exec(readFileSync(join(ROOT, "config/demo.yaml"), "utf8"))?.[0] ?? "";
    for (const [id, rules] of Object.entries(EXPECTED)) {
      expect(header, id).toContain(id);
      for (const rule of rules) expect(header, rule).toContain(rule);
    }
  });

  it("fails every compliance rule on at least one device today", () => {
    const now = Date.now();
    const rules = new Set(Object.values(failing(now)).flat());
    expect([...rules].sort()).toEqual([...COMPLIANCE_RULES].sort());
  });

  it("sees the missing device fail not_seen only after the safety-critical limit, and no flapping device come near it", () => {
    const p = policy();
    const limit = p.not_seen?.categories["safety-critical"] ?? Infinity;
    // Within two minutes of the start.
    expect(limit).toBeLessThan(RUNNING_MS / 1000);
    // The demo's devices that go silent do so for 20 s at most, then the agent backs off up to max_backoff_ms,
    // then polls (cameras every 10 s): limits shorter than that would show them not seen.
    const longestSilence = Math.max(
      ...DEMO_CAMERAS.flatMap((c) => (c.fault && "cycle" in c.fault ? c.fault.cycle.filter((ph) => ph.fault !== null).map((ph) => ph.forMs) : [])),
      ...DEMO_DOORS.flatMap((d) => (d.fault && "cycle" in d.fault ? d.fault.cycle.filter((ph) => ph.fault.kind !== "none").map((ph) => ph.forMs) : [])),
    );
    expect(longestSilence).toBe(20_000);
    expect(limit * 1000).toBeGreaterThan(longestSilence + loadDemo().config.polling.max_backoff_ms + 10_000);
    const stadium = loadDemo().config.devices.find((d) => d.id === "cam-stadium") as DeviceConfig;
    const at = (ms: number) => evaluate(factsOf(stadium, TABLE_DATE), p, TABLE_DATE - RUNNING_MS + ms, { timeZone: "UTC" });
    expect(at(limit * 1000).failing).toEqual([]);
    expect(at(limit * 1000 + 1).failing.map((f) => f.rule)).toEqual(["not_seen"]);
  });
});

describe("the demo's unknown and missing assets, found by discovery", () => {
  const unconfiguredDoor = DEMO_UNCONFIGURED.find((d): d is DoorSpec => d.simulator === "door") as DoorSpec;
  const unknownCamera = DEMO_UNCONFIGURED.find((d) => d.simulator === "camera");

  it("has nothing listening at the missing device's address", async () => {
    for (const m of DEMO_MISSING) {
      const refused = await new Promise<string>((resolve) => {
        const s = createConnection({ host: m.address, port: m.port });
        s.once("connect", () => {
          s.destroy();
          resolve("connected");
        });
        s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      });
      expect(refused, m.id).toBe("ECONNREFUSED");
    }
  });

  it("finds the unknown camera by WS-Discovery and reads its identity with the demo's account; not the missing one", async () => {
    const cam = await startCampus(unknownCamera ? [unknownCamera] : [], { ephemeralPorts: true });
    const onvif = driverOf("onvif");
    try {
      const running = cam.devices[0];
      const demo = loadDemo().config;
      // The demo's discovery, at the port the test campus got: its targets, its cameras (the missing one among them) probed too.
      const discovery = {
        ...demo.discovery,
        modbus: { ...demo.discovery.modbus, enabled: false },
        onvif: { ...demo.discovery.onvif, port: running?.discoveryPort ?? 0 },
      };
      const config: Config = { ...demo, discovery };
      const report = await runDiscovery({ config, driverFor: (k) => (k === "onvif" ? onvif : driverOf(k)), log, clock: systemClock });
      expect(report.unknown.map((u) => [u.kind, u.address])).toEqual([["onvif", "127.77.1.20"]]);
      expect(report.unknown[0]?.identity).toMatchObject({ manufacturer: "Lumen Optics", model: "LX-4410", serial: "LX4410A0412" });
      expect(report.not_found.map((n) => n.id)).toContain("cam-stadium");
    } finally {
      await onvif.close?.();
      await cam.close();
    }
  });

  it("finds the unknown unit behind the serial gateway, next to the two configured doors", async () => {
    const link = unconfiguredDoor.link;
    if (link.transport !== "rtu_over_tcp") throw new Error("expected the unknown unit behind the serial gateway");
    const behind = DEMO_DOORS.filter((d) => d.link.transport === "rtu_over_tcp" && d.link.address === link.address);
    const campus = await startCampus([...behind, unconfiguredDoor], { ephemeralPorts: true });
    const modbus = driverOf("modbus-door");
    try {
      const port = campus.devices[0]?.port;
      const demo = loadDemo().config;
      // The demo's devices on that gateway, at the port the test campus got.
      const devices = demo.devices
        .filter((d) => behind.some((b) => b.id === d.id))
        .map((d) => ({ ...d, options: { ...(d.options as Record<string, unknown>), port } }) as DeviceConfig);
      const config: Config = { ...demo, devices, discovery: { ...demo.discovery, onvif: { ...demo.discovery.onvif, enabled: false } } };
      const report = await runDiscovery({ config, driverFor: () => modbus, log, clock: systemClock });
      expect(report.unknown.map((u) => u.address)).toEqual([`rtu+tcp://${link.address}:${port} unit ${unconfiguredDoor.unit}`]);
      expect(report.found.filter((f) => f.configured.length > 0).flatMap((f) => f.configured).sort()).toEqual(behind.map((b) => b.id).sort());
      expect(report.not_found).toEqual([]);
    } finally {
      await modbus.close?.();
      await campus.close();
    }
  });

  it("keeps every configured device's order in DEMO_DEVICES (config/demo.yaml's), the missing one after the cameras", () => {
    expect(loadDemo().config.devices.map((d) => d.id)).toEqual(DEMO_DEVICES.map((d) => d.id));
  });
});
