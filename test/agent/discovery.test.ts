/**
 * `campus-agent discover`: what answers on the campus against the config.
 * Simulated cameras answer WS-Discovery over real UDP on their own loopback
 * addresses; a Modbus TCP simulator hosts some unit ids; the discovery runs
 * through a running agent (control method `discover`) and on its own.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { discover } from "../../agent/commands/discover.js";
import { controlRequest } from "../../agent/control/client.js";
import type { DiscoveryReport } from "../../agent/discovery.js";
import { systemClock } from "../../agent/clock.js";
import { createLogger } from "../../agent/log.js";
import { startEmbeddedBroker } from "../../agent/mqtt/broker.js";
import { parseConfig } from "../../config/load.js";
import { parseUnitList } from "../../drivers/modbus/discover.js";
import { modbusDoorDriver, modbusOptionsSchema } from "../../drivers/modbus/index.js";
import { DRIVERS } from "../../drivers/registry.js";
import { type SimCamera, startCamera } from "../../scripts/sim/camera.js";
import { DoorControllerSim } from "../../scripts/sim/modbus-door.js";
import { startModbusSim } from "../../scripts/sim/modbus-server.js";
import { freePort } from "../helpers/net.js";
import { campusConfig, startTestAgent } from "../helpers/agent.js";
import { sink } from "../helpers/streams.js";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const silent = createLogger({ level: "silent" });
const PASSWORD_ENV = "DISCOVERY_TEST_CAMERA_PASSWORD";

async function camera(host: string, discoveryPort: number, extra: Parameters<typeof startCamera>[0] = {}): Promise<SimCamera> {
  const cam = await startCamera({ host, discovery: { host, port: discoveryPort }, ...extra });
  cleanups.push(() => cam.close());
  return cam;
}

/**
 * A campus: cameras at 127.0.3.1 (configured) and 127.0.3.2 (not configured),
 * a configured camera at 127.0.3.3 that is not there; a Modbus TCP endpoint
 * hosting units 1, 2 and 5 with doors configured as units 1 and 3; and one
 * hosting units 1-5 that answers every id scanned (one configured door).
 */
async function campus(opts: { agent: boolean }) {
  const dir = mkdtempSync(join(tmpdir(), "discover-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const known = await camera("127.0.3.1", port, { model: "LX-9000", firmwareVersion: "5.7.3" });
  const stranger = await camera("127.0.3.2", port, { model: "LX-2000", name: "Unlabelled", firmwareVersion: "1.0.0" });
  const bus = await startModbusSim({ units: [1, 2, 5] });
  cleanups.push(() => bus.close());
  const greedy = await startModbusSim({ units: [1, 2, 3, 4, 5] });
  cleanups.push(() => greedy.close());
  const broker = await startEmbeddedBroker({ host: "127.0.0.1", port: 0, log: silent });
  cleanups.push(() => broker.close());
  const door = (id: string, p: number, unit: number) => ({
    id,
    kind: "modbus-door",
    category: "safety-critical",
    options: { transport: "tcp", host: "127.0.0.1", port: p, unit_id: unit, profile: "generic-door", request_timeout_ms: 200 },
  });
  const cam = (id: string, host: string, p: number) => ({
    id,
    kind: "onvif",
    category: "safety-critical",
    options: { host, port: p, username: "admin", password_env: PASSWORD_ENV },
  });
  const loaded = campusConfig(
    dir,
    {
      broker: { url: broker.url },
      polling: { interval_ms: 30_000, timeout_ms: 2000 },
      discovery: {
        onvif: { multicast: "off", targets: ["127.0.3.1-4"], port, wait_ms: 300, identify: { username: "admin", password_env: PASSWORD_ENV } },
        modbus: { units: "1-4,5", timeout_ms: 100 },
      },
      devices: [
        cam("cam-entrance", "127.0.3.1", known.port),
        cam("cam-roof", "127.0.3.3", 80),
        door("door-1", bus.tcpPort ?? 0, 1),
        door("door-3", bus.tcpPort ?? 0, 3),
        door("door-greedy", greedy.tcpPort ?? 0, 1),
      ],
    },
    { drivers: DRIVERS, env: { [PASSWORD_ENV]: "admin" } },
  );
  process.env[PASSWORD_ENV] = "admin";
  let socket = join(dir, "none.sock");
  if (opts.agent) {
    ({ socket } = await startTestAgent(loaded, DRIVERS, cleanups));
  }
  const run = async (over: Partial<Parameters<typeof discover>[0]> = {}) => {
    const out = sink();
    const err = sink();
    const code = await discover({ json: false, socket, standalone: false, loaded, drivers: DRIVERS, ...over }, out.stream, err.stream);
    return { code, out: out.text(), err: err.text() };
  };
  return { loaded, socket, port, run, known, stranger, bus, greedy };
}

describe("discovery against the config", () => {
  it("finds configured and unknown cameras and Modbus units, and the configured ones that did not answer, with why", async () => {
    const { socket, port, known, stranger, bus, greedy } = await campus({ agent: true });
    const r = (await controlRequest(socket, "discover", {}, 30_000)) as DiscoveryReport;
    expect(r.scans.map((s) => [s.kind, s.ok])).toEqual([
      ["modbus", true],
      ["modbus", true],
      ["onvif", true],
    ]);
    expect(r.scans.find((s) => s.kind === "onvif")?.target).toBe(`WS-Discovery: unicast to 4 addresses on udp ${port}`);

    const onvif = r.found.filter((f) => f.kind === "onvif");
    expect(onvif.map((f) => [f.address, f.configured])).toEqual([
      ["127.0.3.1", ["cam-entrance"]],
      ["127.0.3.2", []],
    ]);
    expect(onvif[0]?.identity).toMatchObject({ model: "LX-9000", firmware: "5.7.3", serial: known.identity().serialNumber });
    // An unknown camera comes with what it says of itself: its scopes, and its identity when the credentials work.
    expect(onvif[1]).toMatchObject({ identity: { model: "LX-2000", firmware: "1.0.0", serial: stranger.identity().serialNumber }, details: { name: "Unlabelled" } });

    const busKey = `tcp://127.0.0.1:${String(bus.tcpPort)}`;
    expect(r.found.filter((f) => f.details.endpoint === busKey).map((f) => [f.address, f.configured])).toEqual([
      [`${busKey} unit 1`, ["door-1"]],
      [`${busKey} unit 2`, []],
      [`${busKey} unit 5`, []],
    ]);
    const greedyKey = `tcp://127.0.0.1:${String(greedy.tcpPort)}`;
    expect(r.found.filter((f) => f.details.endpoint === greedyKey)).toEqual([
      { kind: "modbus", address: greedyKey, details: { endpoint: greedyKey, unit: null, ignores_unit_id: true, units_answered: 5 }, configured: ["door-greedy"] },
    ]);
    expect(r.unknown.map((f) => f.address)).toEqual([`${busKey} unit 2`, `${busKey} unit 5`, "127.0.3.2"]);
    expect(r.not_found.map((n) => [n.id, n.why])).toEqual([
      ["cam-roof", `no answer to WS-Discovery at 127.0.3.3:${port} (discovery may be turned off on the camera)`],
      ["door-3", `unit 3 did not answer on ${busKey}`],
    ]);
  });

  it("campus-agent discover prints found, unknown and not found devices and exits 1 while there are any; on its own when the agent does not answer", async () => {
    const { run } = await campus({ agent: false });
    const r = await run();
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^discover on campus lincoln on its own \(the agent was not asked: no control socket at .*\): [\d.]+ s; nothing is published\n/);
    expect(r.out).toMatch(/\nFound and configured \(3\)\n {2}DEVICE +KIND +ADDRESS +WHAT IT SAYS\n/);
    expect(r.out).toMatch(/\n {2}cam-entrance +onvif +127\.0\.3\.1 +Lumen Optics LX-9000 serial \S+ firmware 5\.7\.3\n/);
    expect(r.out).toMatch(/\nUnknown: found, not in the config \(3\)\n {2}KIND +ADDRESS +WHAT IT SAYS\n {2}modbus +tcp:\/\/127\.0\.0\.1:\d+ unit 2 +answered a read of holding register 0 with exception 02: a device is there\n/);
    expect(r.out).toMatch(/\nConfigured, not found \(2\)\n {2}DEVICE +KIND +ADDRESS +POLLED STATE +WHY\n {2}cam-roof +onvif +127\.0\.3\.3 +- +no answer to WS-Discovery/);
    expect(r.out).toContain("\nPROBLEMS (2):\n  - 3 unknown devices on the campus: not in the config\n  - 2 configured devices not found by discovery\n");
    const json = await run({ json: true });
    expect(JSON.parse(json.out)).toMatchObject({ ok: false, via: "standalone", unknown: [{ kind: "modbus" }, { kind: "modbus" }, { kind: "onvif" }] });
  });
});

describe("the Modbus unit scan", () => {
  it("lets polls of the same serial line through between its reads, instead of holding the line for the whole scan", async () => {
    const sim = await startModbusSim({ tcpPort: null, rtuTcpPort: 0, units: [1] });
    cleanups.push(() => sim.close());
    new DoorControllerSim(sim.bank(1), { serial: 1001 });
    const driver = modbusDoorDriver.create({ log: silent, clock: systemClock });
    cleanups.push(() => driver.close?.());
    const endpoint = { transport: "rtu_over_tcp" as const, host: "127.0.0.1", port: sim.rtuTcpPort ?? 0 };
    const ctx = { signal: AbortSignal.timeout(20_000), log: silent };
    let scanDone = false;
    const scan = (driver.discover?.(ctx, { endpoint, units: Array.from({ length: 40 }, (_, i) => i + 1), timeout_ms: 60 }) ?? Promise.reject(new Error("no discover"))).then((r) => {
      scanDone = true;
      return r;
    });
    scan.catch(() => {});
    // 39 silent ids of 60 ms each: the scan takes over 2 s; a poll queued now must not wait for all of them.
    const options = modbusOptionsSchema.parse({ ...endpoint, unit_id: 1, profile: "generic-door", request_timeout_ms: 500 });
    const reading = await driver.poll({ id: "door-1", timeoutMs: 1500, options }, { signal: AbortSignal.timeout(1500), log: silent });
    expect(reading.responseTimeMs).toBeGreaterThan(0);
    expect(scanDone).toBe(false);
    expect((await scan).map((f) => f.details?.unit)).toEqual([1]);
  });

  it("reads unit lists and ranges, and says what is wrong with a bad one", () => {
    expect(parseUnitList("1-3, 10,2")).toEqual({ ok: true, units: [1, 2, 3, 10] });
    expect(parseUnitList("0-255")).toEqual({ ok: false, problem: "256 unit ids: scan at most 247 at once" });
    expect(parseUnitList("5-1")).toEqual({ ok: false, problem: '"5-1": the range ends before it starts' });
    expect(parseUnitList("a")).toEqual({ ok: false, problem: '"a" is not a unit id or a range of them (e.g. 1-247)' });
    expect(() => parseConfig("campus: {id: c}\ngateway: {id: g}\ndiscovery:\n  modbus: {units: '1-300'}\n", { file: "c.yaml", drivers: DRIVERS, env: {} })).toThrow(
      /discovery\.modbus\.units: "1-300": unit ids go from 0 to 255/,
    );
  });
});
