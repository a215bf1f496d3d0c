import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parse } from "yaml";
import { systemClock } from "../../agent/clock.js";
import { ID_PATTERN } from "../../config/schema.js";
import { parseUnitList } from "../../drivers/modbus/discover.js";
import { modbusDoorDriver, modbusOptionsSchema } from "../../drivers/modbus/index.js";
import { expandTargets } from "../../drivers/onvif/discovery.js";
import { type ReachabilityOptionsInput, reachabilityDriver, reachabilityOptionsSchema } from "../../drivers/reachability/index.js";
import { type Campus, startCampus } from "../../scripts/sim/campus.js";
import {
  DEMO_CAMPUS,
  DEMO_DATA_DIR,
  DEMO_DEVICES,
  DEMO_DOORS,
  DEMO_GATEWAY_PORT,
  DEMO_MISSING,
  DEMO_MODBUS_PORT,
  DEMO_SIMULATED,
  DEMO_UNCONFIGURED,
  type DoorSpec,
  simulatorFor,
} from "../../scripts/sim/demo-campus.js";
import { parseScenario } from "../../scripts/sim/modbus-scenario.js";
import { startNetDevice } from "../../scripts/sim/netdevice.js";
import { compileSimulators, startUntilReady } from "./helpers.js";

const log = pino({ level: "silent" });

describe("demo campus data", () => {
  it("has unique topic-safe ids and one loopback address per device in 127.77.0.0/24", () => {
    const ids = DEMO_CAMPUS.map((d) => d.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(ID_PATTERN);
    const addresses = DEMO_CAMPUS.map((d) => d.address);
    expect(new Set(addresses).size).toBe(addresses.length);
    for (const a of addresses) expect(a).toMatch(/^127\.77\.0\.(\d{1,3})$/);
    for (const d of DEMO_CAMPUS) expect(d.port).toBeGreaterThanOrEqual(1024);
  });

  it("checks every device with valid reachability options pointing at its simulator", () => {
    for (const d of DEMO_CAMPUS) {
      const o = reachabilityOptionsSchema.parse(d.driver.options);
      expect(o.host, d.id).toBe(d.address);
      if (o.port !== undefined) expect(o.port, d.id).toBe(d.port);
      if (o.http) expect(new URL(o.http.url).port, d.id).toBe(String(d.port));
      expect(simulatorFor(d.id)).toBe(d);
    }
  });

  it("includes a flapping device, a slow one and one whose health endpoint answers 503 at times", () => {
    const cycles = DEMO_CAMPUS.map((d) => (typeof d.behaviour === "string" ? [d.behaviour] : d.behaviour.cycle.map((p) => p.behaviour)));
    expect(cycles.some((c) => c.includes("normal") && c.includes("refuse"))).toBe(true);
    expect(cycles.some((c) => c.length === 1 && c[0] === "slow")).toBe(true);
    expect(cycles.some((c) => c.includes("normal") && c.includes("unhealthy"))).toBe(true);
  });
});

describe("demo campus doors, as data", () => {
  const endpointOf = (d: DoorSpec) => (d.link.transport === "rtu" ? `rtu:${d.link.line}` : `${d.link.transport}://${d.link.address}:${d.link.port}`);

  it("puts each Ethernet controller on its own 127.77.2.x address on 5020, and two unit ids behind a 4001 gateway and on an RS-485 line", () => {
    const tcp = DEMO_DOORS.filter((d) => d.link.transport === "tcp");
    const byEndpoint = new Map<string, DoorSpec[]>();
    for (const d of DEMO_DOORS) byEndpoint.set(endpointOf(d), [...(byEndpoint.get(endpointOf(d)) ?? []), d]);
    for (const d of DEMO_DOORS) {
      if (d.link.transport !== "rtu") expect(d.link.address, d.id).toMatch(/^127\.77\.2\.\d{1,3}$/);
      if (d.link.transport === "tcp") expect(d.link.port, d.id).toBe(DEMO_MODBUS_PORT);
      if (d.link.transport === "rtu_over_tcp") expect(d.link.port, d.id).toBe(DEMO_GATEWAY_PORT);
      // No two controllers answer for the same unit id on one wire.
      expect(byEndpoint.get(endpointOf(d))?.filter((o) => o.unit === d.unit), d.id).toHaveLength(1);
    }
    expect(tcp.length).toBeGreaterThanOrEqual(5);
    expect(new Set(tcp.map(endpointOf)).size).toBe(tcp.length);
    const shared = [...byEndpoint.entries()].filter(([, ds]) => ds.length === 2).map(([k]) => k.split(":")[0]);
    expect(shared.sort()).toEqual(["rtu", "rtu_over_tcp"]);
    // Every address of the campus belongs to one device (simulated, configured or not, or missing), or to one
    // endpoint of door controllers (DC-09 panels have none: they send to the agent's receiver, panic-campus.test.ts
    // checks them). The unconfigured door controller shares a configured endpoint, on a unit id of its own.
    const allDoors = [...DEMO_DOORS, ...DEMO_UNCONFIGURED.filter((d): d is DoorSpec => d.simulator === "door")];
    const allEndpoints = new Map<string, DoorSpec[]>();
    for (const d of allDoors) allEndpoints.set(endpointOf(d), [...(allEndpoints.get(endpointOf(d)) ?? []), d]);
    for (const d of allDoors) expect(allEndpoints.get(endpointOf(d))?.filter((o) => o.unit === d.unit), d.id).toHaveLength(1);
    const addresses = [...DEMO_DEVICES, ...DEMO_UNCONFIGURED].flatMap((d) => ("address" in d ? [d.address] : []));
    const doorAddresses = [...allEndpoints.values()].flatMap(([d]) => (d && d.link.transport !== "rtu" ? [d.link.address] : []));
    expect(new Set([...addresses, ...doorAddresses]).size).toBe(addresses.length + doorAddresses.length);
  });

  it("gives each door modbus-door options the driver accepts, pointing at its link, with the generic-door profile", () => {
    for (const d of DEMO_DOORS) {
      const o = modbusOptionsSchema.parse(d.driver.options);
      expect(d.driver.kind).toBe("modbus-door");
      expect([o.transport, o.unit_id, o.profile], d.id).toEqual([d.link.transport, d.unit, "generic-door"]);
      if (d.link.transport === "rtu") {
        expect([o.path, o.baud_rate, o.parity], d.id).toEqual([`${DEMO_DATA_DIR}/${d.link.line}`, d.link.baud, "none"]);
      } else {
        expect([o.host, o.port], d.id).toEqual([d.link.address, d.link.port]);
      }
      expect(simulatorFor(d.id)).toBe(d);
    }
  });

  it("gives every door a valid looping timeline that acts within the first minute", () => {
    for (const d of DEMO_DOORS) {
      const t = parseScenario(d.timeline);
      expect(t.loop_ms, d.id).toBeDefined();
      expect(t.steps[0]?.at_ms, d.id).toBeLessThan(60_000);
      expect(t.steps.every((s) => s.unit === undefined), d.id).toBe(true);
    }
  });

  it("includes an exit with REX, a forced door, a door held open 45 s, tamper, mains lost down to battery low, and a controller silent 20 s every minute", () => {
    const actions = (id: string) => DEMO_DOORS.find((d) => d.id === id)?.timeline.steps.map((s) => s.action);
    expect(actions("door-a-main-entrance")).toEqual(["rex", "open", "rex_release", "close", "open", "close"]);
    expect(actions("door-b-east-exit")).toEqual(["force", "close"]);
    const dock = DEMO_DOORS.find((d) => d.id === "door-b-loading-dock")?.timeline.steps ?? [];
    expect(dock.map((s) => s.action)).toEqual(["open", "hold", "close"]);
    expect((dock[2]?.at_ms ?? 0) - (dock[0]?.at_ms ?? 0)).toBe(45_000);
    expect(actions("door-a-staff-entrance")).toEqual(["tamper", "tamper_clear"]);
    const power = DEMO_DOORS.find((d) => d.id === "door-a-north-exit")?.timeline.steps ?? [];
    expect(power.map((s) => s.action)).toEqual(expect.arrayContaining(["power_loss", "power_restore"]));
    // The generic controller's battery-low threshold is 11.50 V.
    expect(Math.min(...power.flatMap((s) => (s.action === "battery_set" && s.value !== undefined ? [s.value] : [])))).toBeLessThan(1150);
    expect(DEMO_DOORS.find((d) => d.id === "door-b-library")?.fault).toEqual({
      cycle: [
        { fault: { kind: "none" }, forMs: 40_000 },
        { fault: { kind: "no-answer" }, forMs: 20_000 },
      ],
    });
  });
});

describe("demo campus assets config/demo.yaml does not know, and the one it knows that is not there", () => {
  interface RawDevice {
    id: string;
    kind: string;
    options: { host?: string; port?: number; transport?: string; path?: string; unit_id?: number };
  }
  const raw = parse(readFileSync(join(import.meta.dirname, "..", "..", "config", "demo.yaml"), "utf8")) as {
    devices: RawDevice[];
    discovery: { onvif: { targets: string[] }; modbus: { units: string } };
  };
  /** A Modbus device's wire, as config/demo.yaml names it. */
  const wireOf = (o: RawDevice["options"]) => (o.transport === "rtu" ? `rtu:${o.path ?? ""}` : `${o.transport ?? ""}://${o.host ?? ""}:${o.port ?? 0}`);
  const cameraTargets = () => {
    const t = expandTargets(raw.discovery.onvif.targets);
    if (!t.ok) throw new Error(t.problem);
    return t.addresses;
  };

  it("leaves every unconfigured device out of config/demo.yaml, by id and by where it is, and the campus starts it", () => {
    expect(DEMO_UNCONFIGURED.length).toBeGreaterThan(0);
    for (const u of DEMO_UNCONFIGURED) {
      expect(raw.devices.map((d) => d.id), u.id).not.toContain(u.id);
      expect(simulatorFor(u.id), u.id).toBeUndefined();
      expect(DEMO_SIMULATED, u.id).toContain(u);
      if (u.simulator === "camera") expect(raw.devices.filter((d) => d.options.host === u.address), u.id).toEqual([]);
      else {
        const wire = wireOf(u.driver.options);
        expect(raw.devices.filter((d) => wireOf(d.options) === wire && d.options.unit_id === u.unit), u.id).toEqual([]);
      }
    }
  });

  it("has an unknown camera in the cameras' discovery targets", () => {
    const cams = DEMO_UNCONFIGURED.filter((u) => u.simulator === "camera");
    expect(cams.length).toBeGreaterThan(0);
    for (const c of cams) expect(cameraTargets(), c.id).toContain(c.address);
  });

  it("has an unknown Modbus unit on an endpoint config/demo.yaml names, at a unit id its discovery scans and no configured device uses", () => {
    const doors = DEMO_UNCONFIGURED.filter((u): u is DoorSpec => u.simulator === "door");
    expect(doors.length).toBeGreaterThan(0);
    const units = parseUnitList(raw.discovery.modbus.units);
    if (!units.ok) throw new Error(units.problem);
    for (const d of doors) {
      const wire = wireOf(d.driver.options);
      const configured = raw.devices.filter((c) => c.options.unit_id !== undefined && wireOf(c.options) === wire);
      expect(configured.length, d.id).toBeGreaterThan(0);
      expect(configured.map((c) => c.options.unit_id), d.id).not.toContain(d.unit);
      expect(units.units, d.id).toContain(d.unit);
    }
  });

  it("configures a missing device: no simulator, nothing else at its address, which discovery probes", () => {
    expect(DEMO_MISSING.length).toBeGreaterThan(0);
    for (const m of DEMO_MISSING) {
      const configured = raw.devices.find((d) => d.id === m.id);
      expect({ kind: configured?.kind, options: configured?.options }, m.id).toEqual(m.driver);
      expect(simulatorFor(m.id), m.id).toBe(m);
      expect(DEMO_SIMULATED.map((s) => s.id), m.id).not.toContain(m.id);
      expect(DEMO_SIMULATED.filter((s) => "address" in s && s.address === m.address), m.id).toEqual([]);
      expect(cameraTargets(), m.id).toContain(m.address);
    }
  });
});

describe("demo campus doors, started in process", () => {
  let dir: string;
  let campus: Campus;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "campus-doors-"));
    campus = await startCampus(DEMO_DOORS, { ephemeralPorts: true, serialDir: dir });
  });
  afterAll(async () => {
    await campus.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers the modbus-door driver for every door, over Modbus TCP, the gateway's RTU over TCP and RTU on the PTY line", async () => {
    expect(campus.devices.map((d) => d.id)).toEqual(DEMO_DOORS.map((d) => d.id));
    const driver = modbusDoorDriver.create({ log, clock: systemClock });
    try {
      const readings = await Promise.all(
        campus.devices.map(async (running) => {
          const spec = DEMO_DOORS.find((d) => d.id === running.id) as DoorSpec;
          expect(running.unavailable, running.id).toBeUndefined();
          // The spec's options, moved to where the test campus runs: ephemeral ports, the temporary serial folder.
          const input = { ...spec.driver.options };
          if (spec.link.transport === "rtu") {
            expect(running.host).toBe(join(dir, spec.link.line));
            input.path = running.host;
          } else {
            expect(running.host).toBe(spec.link.address);
            input.port = running.port;
          }
          const options = modbusOptionsSchema.parse(input);
          const r = await driver.poll({ id: running.id, timeoutMs: 5000, options }, { signal: AbortSignal.timeout(5000), log });
          return [running.id, { health: r.health, serial: r.identity?.serial }] as const;
        }),
      );
      // Nothing in the timelines degrades a door in its first 10 s; every cycle starts answering.
      expect(Object.fromEntries(readings)).toEqual(
        Object.fromEntries(DEMO_DOORS.map((d) => [d.id, { health: "ok", serial: String(d.controller.serial) }])),
      );
    } finally {
      await driver.close?.();
    }
  });

  it("makes the RS-485 line's link in the serial folder, as a symbolic link to a PTY", () => {
    expect(lstatSync(join(dir, "rs485-a")).isSymbolicLink()).toBe(true);
    expect(lstatSync(join(dir, "rs485-a.sim")).isSymbolicLink()).toBe(true);
  });

  it("stops socat when the campus closes, which removes the line's links; a temporary serial folder goes too", async () => {
    const serial = DEMO_DOORS.filter((d) => d.link.transport === "rtu");
    const own = await startCampus(serial);
    const path = own.devices[0]?.host as string;
    expect(existsSync(path)).toBe(true);
    await own.close();
    expect(existsSync(path)).toBe(false);
    expect(existsSync(join(path, ".."))).toBe(false);
  });
});

describe("demo campus simulator, in process", () => {
  let campus: Campus;
  beforeAll(async () => {
    campus = await startCampus(DEMO_CAMPUS, { ephemeralPorts: true });
  });
  afterAll(() => campus.close());

  it("starts every device on its own address, each answering the reachability driver as its behaviour says", async () => {
    expect(campus.devices.map((d) => d.id)).toEqual(DEMO_CAMPUS.map((d) => d.id));
    const driver = reachabilityDriver.create({ log, clock: systemClock });
    const readings = await Promise.all(
      campus.devices.map(async (running) => {
        const spec = DEMO_CAMPUS.find((s) => s.id === running.id);
        expect(running.host).toBe(spec?.address);
        // The spec's options, moved to the ephemeral port the test campus got.
        const input = JSON.parse(
          JSON.stringify(spec?.driver.options).replaceAll(`:${spec?.port}/`, `:${running.port}/`),
        ) as ReachabilityOptionsInput;
        if (input.port !== undefined) input.port = running.port;
        const options = reachabilityOptionsSchema.parse(input);
        const r = await driver.poll({ id: running.id, timeoutMs: 5000, options }, { signal: AbortSignal.timeout(5000), log });
        return [running.id, r.reason] as const;
      }),
    );
    // Every cycle starts in its "normal" phase; only the slow signage player is degraded at start.
    expect(Object.fromEntries(readings)).toEqual(
      Object.fromEntries(DEMO_CAMPUS.map((d) => [d.id, d.id === "signage-lobby" ? "slow" : "ok"])),
    );
  });

  it("starts nothing when one device cannot listen, and says which", async () => {
    const squatter = await startNetDevice({ host: "127.77.0.99" });
    const before = process.getActiveResourcesInfo().filter((r) => r === "TCPServerWrap").length;
    try {
      const specs = [
        { ...(DEMO_CAMPUS[0] as (typeof DEMO_CAMPUS)[number]), id: "first", address: "127.77.0.98", port: 0 },
        { ...(DEMO_CAMPUS[0] as (typeof DEMO_CAMPUS)[number]), id: "clash", address: "127.77.0.99", port: squatter.port },
      ];
      await expect(startCampus(specs)).rejects.toThrow(/clash on 127\.77\.0\.99:\d+: .*EADDRINUSE/);
      const servers = () => process.getActiveResourcesInfo().filter((r) => r === "TCPServerWrap").length;
      await vi.waitFor(() => expect(servers()).toBe(before));
    } finally {
      await squatter.close();
    }
  });
});

describe("demo campus simulator, as the demo's child process", () => {
  let build: { dir: string; remove(): void };
  beforeAll(() => {
    build = compileSimulators();
  });
  afterAll(() => build.remove());
  const campusJs = () => join(build.dir, "scripts/sim/campus.js");

  it("prints exactly one READY line with the device count and exits 0 when its stdin closes", async () => {
    const p = await startUntilReady(campusJs(), ["--ephemeral-ports"]);
    expect(p.ready).toBe(`READY {"devices":${DEMO_SIMULATED.length}}`);
    p.child.stdin.end();
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(p.stdout()).toBe(`READY {"devices":${DEMO_SIMULATED.length}}\n`);
    expect(p.stderr()).toMatch(/stopping \(stdin closed\)/);
  });

  it("exits 0 on SIGTERM", async () => {
    const p = await startUntilReady(campusJs(), ["--ephemeral-ports"]);
    p.child.kill("SIGTERM");
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(p.stderr()).toMatch(/stopping \(SIGTERM\)/);
  });

  it("makes its serial lines in --serial-dir and says where each door is", async () => {
    const dir = mkdtempSync(join(tmpdir(), "campus-serial-dir-"));
    try {
      const p = await startUntilReady(campusJs(), ["--ephemeral-ports", "--serial-dir", join(dir, "made")]);
      expect(lstatSync(join(dir, "made", "rs485-a")).isSymbolicLink()).toBe(true);
      expect(p.stderr()).toContain(`door-a-courtyard (Courtyard door controller) on RS-485 line rs485-a (RTU 9600 8N1) at ${join(dir, "made", "rs485-a")}, unit 2:`);
      expect(p.stderr()).toMatch(/door-b-kitchen \(Kitchen service door controller\) on 127\.77\.2\.20:\d+ \(RTU over TCP, serial gateway\), unit 2:/);
      expect(p.stderr()).toMatch(/door-b-library \(.*\) on 127\.77\.2\.14:\d+ \(Modbus TCP\), unit 1: .*\(none 40 s, then no-answer 20 s\)/);
      p.child.kill("SIGTERM");
      expect(await p.exited).toEqual({ code: 0, signal: null });
      // socat stopped with the campus, and removed its links.
      expect(existsSync(join(dir, "made", "rs485-a"))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("starts without socat: one line on stderr says what to install, READY names the doors left out", async () => {
    const serial = DEMO_DOORS.filter((d) => d.link.transport === "rtu").map((d) => d.id);
    // No PATH: socat cannot be found (node itself is started by its absolute path).
    const p = await startUntilReady(campusJs(), ["--ephemeral-ports"], { PATH: "" });
    expect(JSON.parse(p.ready.slice("READY ".length))).toEqual({ devices: DEMO_SIMULATED.length - serial.length, unavailable: serial });
    const lines = p.stderr().split("\n").filter((l) => l.includes("socat"));
    expect(lines).toEqual([
      `campus-sim: not started: ${serial.join(", ")}: RS-485 line rs485-a needs socat, which is not installed (apt-get install socat); the agent shows its doors offline (serial port missing)`,
    ]);
    p.child.stdin.end();
    expect(await p.exited).toEqual({ code: 0, signal: null });
  });
});
