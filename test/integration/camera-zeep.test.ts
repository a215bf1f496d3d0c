/**
 * The camera simulator checked by implementations that are not ours, so that
 * it cannot merely agree with our driver:
 * - Debian's python3-zeep builds the SOAP 1.2 requests from a WSDL
 *   (test/fixtures/onvif/device-media.wsdl), computes its own WS-Security
 *   UsernameToken digest, and validates and parses every answer with lxml
 *   (GetNetworkInterfaces against the ONVIF schema's types for
 *   tt:NetworkInterface);
 * - the expected local times come from the platform's IANA zone data (Intl),
 *   not from the simulator's POSIX TZ rules;
 * - curl computes HTTP Digest for the snapshot, and libjpeg-turbo's djpeg
 *   decodes it.
 * Needs /usr/bin/python3 with python3-zeep, curl, and djpeg (libjpeg-turbo-progs).
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type CameraOptions, type SimCamera, startCamera } from "../../scripts/sim/camera.js";
import { curl } from "../scripts/helpers.js";

const ZEEP = join(import.meta.dirname, "../fixtures/onvif/zeep_check.py");
const PYTHON = "/usr/bin/python3";

function run(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Run zeep_check.py; it prints one JSON object. */
async function zeep(...args: string[]): Promise<Record<string, unknown>> {
  const r = await run(PYTHON, [ZEEP, ...args]);
  if (r.code !== 0) throw new Error(`zeep_check.py ${args[0]} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** Calendar fields of an instant in an IANA zone, from the platform's time zone data. */
function zoneFields(ms: number, timeZone: string) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    ...{ year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric" },
  }).formatToParts(ms);
  const n = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  return { year: n("year"), month: n("month"), day: n("day"), hour: n("hour"), minute: n("minute") };
}

const cams: SimCamera[] = [];
async function camera(opts: CameraOptions = {}): Promise<SimCamera> {
  const c = await startCamera({ username: "admin", password: "secret", ...opts });
  cams.push(c);
  return c;
}
afterEach(async () => {
  await Promise.all(cams.splice(0).map((c) => c.close()));
});

beforeAll(async () => {
  const r = await run(PYTHON, ["-c", "import zeep, lxml"]);
  if (r.code !== 0) throw new Error(`python3-zeep is missing (apt-get install -y python3-zeep): ${r.stderr}`);
});

describe("camera simulator, seen by python3-zeep", () => {
  it("answers every operation as zeep builds it from the WSDL, and zeep validates and parses each answer", async () => {
    const cam = await camera({
      manufacturer: "Lumen Optics",
      model: "LX-4410",
      firmwareVersion: "7.4.1",
      serialNumber: "LX4410A0117",
      hardwareId: "LX4410-R2",
      timeZone: "CET-1CEST,M3.5.0,M10.5.0/3",
    });
    const out = await zeep("operations", cam.deviceServiceUrl, "admin", "secret");
    expect(out.info).toEqual({
      Manufacturer: "Lumen Optics",
      Model: "LX-4410",
      FirmwareVersion: "7.4.1",
      SerialNumber: "LX4410A0117",
      HardwareId: "LX4410-R2",
    });
    const base = cam.url.slice(0, -1);
    expect(out.services).toEqual([
      ["http://www.onvif.org/ver10/device/wsdl", `${base}/onvif/device_service`, 2],
      ["http://www.onvif.org/ver10/media/wsdl", `${base}/onvif/media_service`, 2],
    ]);
    expect(out.capabilities).toEqual({ device: `${base}/onvif/device_service`, media: `${base}/onvif/media_service` });
    expect(out.profiles).toEqual([
      { token: "Profile_1", source: "VideoSource_1", encoding: "H264", width: 1920 },
      { token: "Profile_2", source: "VideoSource_1", encoding: "H264", width: 640 },
    ]);
    expect(out.sources).toEqual([["VideoSource_1", 1920, 1080]]);
    expect(out.streamUri).toBe(`rtsp://${cam.host}:554/Streaming/Profile_1`);
    expect(out.snapshotUri).toBe(`${base}/onvif/snapshot?profile=Profile_1`);

    const time = out.time as { tz: string; utc: Record<string, number>; local: Record<string, number> };
    expect(time.tz).toBe("CET-1CEST,M3.5.0,M10.5.0/3");
    const utcMs = Date.UTC(
      time.utc.year as number,
      (time.utc.month as number) - 1,
      time.utc.day,
      time.utc.hour,
      time.utc.minute,
      time.utc.second,
    );
    expect(Math.abs(utcMs - Date.now())).toBeLessThan(10_000);
    const { second: _s, ...localMinute } = time.local;
    expect(localMinute).toEqual(zoneFields(utcMs, "Europe/Berlin"));
  });

  it("reports a local-only US Eastern camera's time as IANA's America/New_York has it", async () => {
    const cam = await camera({ timeZone: "EST5EDT,M3.2.0,M11.1.0", timeReport: "local-only" });
    const before = Date.now();
    const time = (await zeep("operations", cam.deviceServiceUrl, "admin", "secret")).time as {
      utc: unknown;
      local: Record<string, number>;
    };
    expect(time.utc).toBeNull();
    const { second: _s, ...localMinute } = time.local;
    // The request took a moment: the local minute is that of some instant since `before`.
    expect([zoneFields(before, "America/New_York"), zoneFields(Date.now(), "America/New_York")]).toContainEqual(localMinute);
  });

  it("accepts zeep's own UsernameToken digest, and refuses a wrong password or a Created 60 s off with env:Sender ter:NotAuthorized", async () => {
    const cam = await camera();
    expect(await zeep("fault", cam.deviceServiceUrl, "admin", "secret")).toEqual({ fault: false, model: "LX-4410" });
    const notAuthorized = {
      fault: true,
      code: "env:Sender",
      reason: "Sender not Authorized",
      subcodes: [["http://www.onvif.org/ver10/error", "NotAuthorized"]],
    };
    expect(await zeep("fault", cam.deviceServiceUrl, "admin", "guess")).toEqual(notAuthorized);
    expect(await zeep("fault", cam.deviceServiceUrl, "admin", "secret", "60")).toEqual(notAuthorized);
  });

  it("accepts a token from a camera 90 s fast only when its Created follows the camera's clock", async () => {
    const cam = await camera({ clockOffsetMs: 90_000 });
    expect((await zeep("fault", cam.deviceServiceUrl, "admin", "secret")).fault).toBe(true);
    expect(await zeep("fault", cam.deviceServiceUrl, "admin", "secret", "90")).toEqual({ fault: false, model: "LX-4410" });
  });

  it("sends answers lxml parses strictly, except under the invalid-utf8 and malformed-xml faults", async () => {
    const cam = await camera();
    const parse = () => zeep("strict-parse", cam.deviceServiceUrl, "admin", "secret");
    expect(await parse()).toEqual({ parsed: true, status: 200, model: "LX-4410" });
    await cam.setFault({ kind: "invalid-utf8" });
    expect(await parse()).toMatchObject({ parsed: false, status: 200, error: expect.stringMatching(/not proper UTF-8/) });
    await cam.setFault({ kind: "malformed-xml" });
    expect(await parse()).toMatchObject({ parsed: false, status: 200, error: expect.stringMatching(/tag mismatch/) });
  });
});

describe("camera GetNetworkInterfaces, seen by python3-zeep", () => {
  /** zeep calls GetNetworkInterfaces, signed with its own UsernameToken digest: the interfaces as it parsed them, or the fault. */
  const interfaces = (cam: SimCamera, password = "secret") => zeep("interfaces", cam.deviceServiceUrl, "admin", password);

  it("answers with one enabled interface that validates against the ONVIF schema's types, with the camera's MAC", async () => {
    const cam = await camera({ macAddress: "00:40:8C:12:34:56" });
    expect(await interfaces(cam)).toEqual({
      interfaces: [{ token: "eth0", enabled: true, name: "eth0", hw: "00:40:8C:12:34:56", mtu: 1500, duplex: "Full", ipv4: [cam.host] }],
    });
    const byDefault = await camera({ serialNumber: "LX4410A0117" });
    const [nic] = (await interfaces(byDefault)).interfaces as { hw: string }[];
    expect(nic?.hw).toBe(byDefault.identity().macAddress);
    expect(nic?.hw).toMatch(/^02(:[0-9a-f]{2}){5}$/);
  });

  it("refuses zeep's token with a wrong password with ter:NotAuthorized, and faults ter:ActionNotSupported on a camera without it", async () => {
    const cam = await camera();
    expect(await interfaces(cam, "guess")).toEqual({ fault: "env:Sender", subcodes: [["http://www.onvif.org/ver10/error", "NotAuthorized"]] });
    const none = await camera({ macAddress: null });
    expect(await interfaces(none)).toEqual({ fault: "env:Receiver", subcodes: [["http://www.onvif.org/ver10/error", "ActionNotSupported"]] });
  });
});

describe("camera snapshot, seen by curl and libjpeg", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "camera-snapshot-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("gives curl --digest a JPEG that djpeg decodes to 320x240 without a warning", async () => {
    const cam = await camera();
    const file = join(dir, "snapshot.jpg");
    // --digest: curl reads the 401's challenge and answers it (RFC 7616) on its own.
    const r = await run("curl", [
      "-sS",
      "--digest",
      "-u",
      "admin:secret",
      "-o",
      file,
      "-w",
      "%{http_code} %{content_type}",
      `${cam.url}onvif/snapshot?profile=Profile_1`,
    ]);
    expect({ code: r.code, out: r.stdout }).toEqual({ code: 0, out: "200 image/jpeg" });
    const decoded = await run("djpeg", ["-pnm", file]);
    expect({ code: decoded.code, stderr: decoded.stderr }).toEqual({ code: 0, stderr: "" });
    expect(decoded.stdout.startsWith("P6\n320 240\n255\n")).toBe(true);
  });

  it("refuses curl --digest with a wrong password", async () => {
    const cam = await camera();
    const r = await curl(`${cam.url}onvif/snapshot?profile=Profile_1`, ["--digest", "-u", "admin:guess"]);
    expect(r.status).toBe(401);
    expect(r.headers).toMatch(/^WWW-Authenticate: Digest realm=/im);
  });
});
