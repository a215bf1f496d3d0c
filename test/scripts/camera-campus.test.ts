/**
 * The demo campus's cameras (data, and started in process and as the campus
 * child process), and the camera simulator's command line.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ID_PATTERN } from "../../config/schema.js";
import { parseCameraArgs } from "../../scripts/sim/camera-cli.js";
import { child, descend, parseXml, type XmlElement } from "../../scripts/sim/camera-xml.js";
import { type Campus, startCampus } from "../../scripts/sim/campus.js";
import {
  DEMO_CAMERA_PASSWORD,
  DEMO_CAMERA_PASSWORD_ENV,
  DEMO_CAMERA_USERNAME,
  DEMO_BLOCKED_FIRMWARE,
  DEMO_CAMERAS,
  DEMO_CURRENT_FIRMWARE,
  DEMO_DEVICES,
  DEMO_SIMULATED,
  DEMO_UNCONFIGURED,
  simulatorFor,
} from "../../scripts/sim/demo-campus.js";
import { digestGet, op, request, SOAP_ENV, soapEnvelope, type Token } from "./camera-helpers.js";
import { compileSimulators, startUntilReady } from "./helpers.js";

const demo: Token = { username: DEMO_CAMERA_USERNAME, password: DEMO_CAMERA_PASSWORD };

async function soapAt(url: string, body: string, token?: Token): Promise<{ status: number; body: XmlElement | undefined }> {
  const r = await request(url, { body: soapEnvelope(body, token) });
  return { status: r.status, body: child(parseXml(r.body.toString()), "Body", SOAP_ENV) };
}

describe("demo campus cameras, as data", () => {
  it("puts each camera on its own 127.77.1.x address, ONVIF on 8080 and WS-Discovery on 3702, with ids unique across the campus", () => {
    // The configured devices (the missing one too), and those left out of the config on purpose.
    const all = [...DEMO_DEVICES, ...DEMO_UNCONFIGURED];
    const ids = all.map((d) => d.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(ID_PATTERN);
    // Door controllers share an address behind a gateway, or have none on a serial line: campus.test.ts checks them;
    // DC-09 panels listen nowhere (they send to the agent): panic-campus.test.ts.
    const listening = all.flatMap((d) => ("address" in d ? [d.address] : []));
    expect(new Set(listening).size).toBe(listening.length);
    expect(DEMO_CAMERAS.length).toBe(6);
    for (const c of DEMO_CAMERAS) {
      expect(c.address).toMatch(/^127\.77\.1\.\d{1,3}$/);
      expect([c.port, c.discoveryPort]).toEqual([8080, 3702]);
    }
  });

  it("gives each camera onvif driver options that point at its simulator and keep the password out of the config", () => {
    for (const c of DEMO_CAMERAS) {
      expect(c.driver.kind).toBe("onvif");
      expect(c.driver.options).toMatchObject({
        host: c.address,
        port: c.port,
        username: DEMO_CAMERA_USERNAME,
        password_env: DEMO_CAMERA_PASSWORD_ENV,
      });
      expect(Object.keys(c.driver.options)).not.toContain("password");
      expect(simulatorFor(c.id)).toBe(c);
    }
  });

  it("includes outdated, blocked and unreadable firmware, a clock 90 s off, a password that differs from the config's, local time only, and a camera that goes silent", () => {
    const by = (id: string) => DEMO_CAMERAS.find((c) => c.id === id)?.camera;
    expect(by("cam-main-entrance")?.firmwareVersion).toBe(DEMO_CURRENT_FIRMWARE);
    expect(by("cam-gym")?.firmwareVersion).not.toBe(DEMO_CURRENT_FIRMWARE);
    expect(by("cam-bus-loop")?.firmwareVersion).toBe(DEMO_BLOCKED_FIRMWARE);
    expect(by("cam-cafeteria")?.firmwareVersion).toBe("N/A");
    expect(by("cam-parking")?.clockOffsetMs).toBe(90_000);
    expect(by("cam-library")?.password).not.toBe(DEMO_CAMERA_PASSWORD);
    expect(by("cam-cafeteria")).toMatchObject({ timeReport: "local-only", timeZone: "EST5EDT,M3.2.0,M11.1.0" });
    expect(DEMO_CAMERAS.find((c) => c.id === "cam-bus-loop")?.fault).toEqual({
      cycle: [
        { fault: null, forMs: 40_000 },
        { fault: { kind: "hang" }, forMs: 20_000 },
      ],
    });
  });
});

describe("demo campus cameras, started in process", () => {
  let campus: Campus;
  beforeAll(async () => {
    campus = await startCampus(DEMO_CAMERAS, { ephemeralPorts: true });
  });
  afterAll(() => campus.close());
  const running = (id: string) => {
    const r = campus.devices.find((d) => d.id === id);
    if (!r) throw new Error(`${id} not started`);
    return { ...r, service: `http://${r.host}:${r.port}/onvif/device_service` };
  };

  it("starts every camera on its own address, and shows each scenario to a client with the demo credentials", async () => {
    expect(campus.devices.map((d) => [d.id, d.host])).toEqual(DEMO_CAMERAS.map((c) => [c.id, c.address]));
    const firmware = async (id: string) => {
      const r = await soapAt(running(id).service, op("GetDeviceInformation"), demo);
      return descend(r.body, "GetDeviceInformationResponse", "FirmwareVersion")?.text;
    };
    expect(await firmware("cam-main-entrance")).toBe(DEMO_CURRENT_FIRMWARE);
    expect(await firmware("cam-gym")).toBe("5.2.0");
    expect(await firmware("cam-bus-loop")).toBe(DEMO_BLOCKED_FIRMWARE);
    expect(await firmware("cam-cafeteria")).toBe("N/A");
    const library = await soapAt(running("cam-library").service, op("GetDeviceInformation"), demo);
    expect([library.status, descend(library.body, "Fault", "Code", "Subcode", "Value")?.text]).toEqual([400, "ter:NotAuthorized"]);

    const time = async (id: string) =>
      descend((await soapAt(running(id).service, op("GetSystemDateAndTime"))).body, "GetSystemDateAndTimeResponse", "SystemDateAndTime");
    const utc = child(await time("cam-parking"), "UTCDateTime");
    const n = (...p: string[]) => Number(descend(utc, ...p)?.text);
    const parkingSkew =
      Date.UTC(n("Date", "Year"), n("Date", "Month") - 1, n("Date", "Day"), n("Time", "Hour"), n("Time", "Minute"), n("Time", "Second")) -
      Date.now();
    expect(parkingSkew).toBeGreaterThan(88_000);
    expect(parkingSkew).toBeLessThan(91_000);
    const cafeteria = await time("cam-cafeteria");
    expect(cafeteria?.children.map((c) => c.local)).toEqual(["DateTimeType", "DaylightSavings", "TimeZone", "LocalDateTime"]);

    const entrance = running("cam-main-entrance");
    const snapshot = await digestGet(
      `http://${entrance.host}:${entrance.port}/onvif/snapshot?profile=Profile_1`,
      demo.username,
      demo.password,
    );
    expect([snapshot.second.status, snapshot.second.headers["content-type"]]).toEqual([200, "image/jpeg"]);
  });

  it("gives each camera a WS-Discovery responder on its own address", () => {
    for (const d of campus.devices) expect(d.discoveryPort, d.id).toBeGreaterThan(0);
  });
});

describe("camera simulator command line", () => {
  it("parses identity, clock, authentication, discovery and fault options", () => {
    expect(
      parseCameraArgs([
        "--port",
        "8080",
        "--vendor",
        "Acme",
        "--model",
        "X1",
        "--firmware",
        "1.2",
        "--serial",
        "S9",
        "--mac",
        "00:40:8c:12:34:56",
        "--clock-offset-ms=-90000",
        "--timezone",
        "CET-1CEST,M3.5.0,M10.5.0/3",
        "--time-report",
        "local-only",
        "--username",
        "u",
        "--password",
        "p",
        "--pre-auth",
        "date-and-services",
        "--auth-fault-status",
        "401",
        "--discovery-port",
        "3702",
        "--fault",
        "slow:2000",
      ]),
    ).toEqual({
      host: "127.0.0.1",
      port: 8080,
      manufacturer: "Acme",
      model: "X1",
      firmwareVersion: "1.2",
      serialNumber: "S9",
      macAddress: "00:40:8c:12:34:56",
      clockOffsetMs: -90000,
      timeZone: "CET-1CEST,M3.5.0,M10.5.0/3",
      timeReport: "local-only",
      username: "u",
      password: "p",
      preAuth: "date-and-services",
      authFaultStatus: 401,
      discovery: { host: "127.0.0.1", port: 3702, multicast: false },
      fault: { kind: "slow", delayMs: 2000 },
    });
    expect(parseCameraArgs(["--cycle", "none:40000,hang:20000"]).fault).toEqual({
      cycle: [
        { fault: null, forMs: 40000 },
        { fault: { kind: "hang" }, forMs: 20000 },
      ],
    });
    expect(parseCameraArgs(["--mac", "none"]).macAddress).toBeNull();
    expect(parseCameraArgs(["--fault", "slow:500@GetNetworkInterfaces+GetProfiles"]).fault).toEqual({
      kind: "slow",
      delayMs: 500,
      ops: ["GetNetworkInterfaces", "GetProfiles"],
    });
    expect(parseCameraArgs(["--cycle", "none:40000,hang@GetNetworkInterfaces:20000"]).fault).toEqual({
      cycle: [
        { fault: null, forMs: 40000 },
        { fault: { kind: "hang", ops: ["GetNetworkInterfaces"] }, forMs: 20000 },
      ],
    });
  });

  it("rejects unknown values with the option's name", () => {
    expect(() => parseCameraArgs(["--fault", "sleepy"])).toThrow(/--fault: unknown fault "sleepy"/);
    expect(() => parseCameraArgs(["--time-report", "gmt"])).toThrow(/--time-report: expected one of utc-and-local/);
    expect(() => parseCameraArgs(["--cycle", "hang"])).toThrow(/--cycle: cycle phase "hang"/);
    expect(() => parseCameraArgs(["--port", "x"])).toThrow(/--port/);
    expect(() => parseCameraArgs(["--fault", "hang:5"])).toThrow(/takes no number/);
    expect(() => parseCameraArgs(["--fault", "hang@GetHostname"])).toThrow(/--fault: unknown operation "GetHostname"/);
  });

  describe("as processes", () => {
    let build: { dir: string; remove(): void };
    beforeAll(() => {
      build = compileSimulators();
    });
    afterAll(() => build.remove());

    it("prints READY with its device service URL and discovery port, answers, and exits 0 on SIGTERM", async () => {
      const p = await startUntilReady(join(build.dir, "scripts/sim/camera.js"), ["--discovery-port", "0", "--vendor", "Acme"]);
      const ready = JSON.parse(p.ready.slice("READY ".length)) as { url: string; port: number; discoveryPort: number };
      expect(ready.url).toBe(`http://127.0.0.1:${ready.port}/onvif/device_service`);
      expect(ready.discoveryPort).toBeGreaterThan(0);
      expect((await soapAt(ready.url, op("GetSystemDateAndTime"))).status).toBe(200);
      p.child.kill("SIGTERM");
      expect(await p.exited).toEqual({ code: 0, signal: null });
    });

    it("exits 2 with the option's name on a bad option", async () => {
      await expect(startUntilReady(join(build.dir, "scripts/sim/camera.js"), ["--fault", "sleepy"])).rejects.toThrow(
        /exited with 2.*--fault/s,
      );
    });

    it("starts the cameras with the rest of the campus, and says so in one READY line", async () => {
      const p = await startUntilReady(join(build.dir, "scripts/sim/campus.js"), ["--ephemeral-ports"]);
      expect(p.ready).toBe(`READY {"devices":${DEMO_SIMULATED.length}}`);
      p.child.stdin.end();
      expect(await p.exited).toEqual({ code: 0, signal: null });
      expect(p.stderr()).toMatch(/cam-bus-loop \(Bus loop camera\) on 127\.77\.1\.15:\d+ \(WS-Discovery on udp \d+\): goes silent/);
      // The camera left out of the config runs too; the missing one is only named.
      expect(p.stderr()).toMatch(/cam-science-wing \(Science wing hallway camera\) on 127\.77\.1\.20:\d+ \(WS-Discovery on udp \d+\): not in config\/demo\.yaml/);
      expect(p.stderr()).toContain("campus-sim: not simulated: cam-stadium (Stadium camera): taken down for the stadium renovation");
    });
  });
});
