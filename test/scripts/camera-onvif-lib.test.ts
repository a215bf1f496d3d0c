/**
 * The simulated camera seen by the client the driver uses: the npm `onvif`
 * 0.8.3 library, unmodified. It must connect the way it connects to real
 * cameras, and fail the way it fails on them (PRODUCT.md, "onvif (0.8.x)").
 * Every library call here races a deadline: the library's own timeout is 120 s.
 */
import onvif, { type Cam, type DeviceInformation } from "onvif";
import { describe, expect, it } from "vitest";
import type { CameraOptions } from "../../scripts/sim/camera.js";
import { useCameras } from "./camera-helpers.js";

const camera = useCameras();
const DEADLINE_MS = 3000;

/** A library camera object for sim, not yet connected. */
async function client(
  opts: CameraOptions = {},
  creds = { username: "admin", password: "secret" },
  extra: Partial<ConstructorParameters<typeof onvif.Cam>[0]> = {},
) {
  const sim = await camera(opts);
  const cam = new onvif.Cam({ hostname: sim.host, port: sim.port, ...creds, timeout: DEADLINE_MS, autoconnect: false, ...extra });
  return { sim, cam };
}

/** A callback-style library call as a promise, rejected with "deadline" after DEADLINE_MS (the library may never call back). */
function call<T>(start: (cb: (err: Error | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("deadline")), DEADLINE_MS);
    start((err, value) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(value as T);
    });
  });
}

const connect = (cam: Cam) => call<void>((cb) => cam.connect((err) => cb(err)));

describe("simulated ONVIF camera, seen by the onvif 0.8.3 library", () => {
  it("connects with WS-Security and reads identity, profiles, stream and snapshot URIs", async () => {
    const { sim, cam } = await client({ manufacturer: "Lumen Optics", model: "LX-4410", firmwareVersion: "7.4.1", serialNumber: "LX1" });
    await connect(cam);
    expect(cam.uri?.media?.href).toBe(`${sim.url}onvif/media_service`);
    expect(cam.profiles?.length).toBe(2);
    expect(cam.activeSource).toMatchObject({ sourceToken: "VideoSource_1", profileToken: "Profile_1", width: 1920, height: 1080 });
    expect(await call((cb) => cam.getDeviceInformation(cb))).toEqual({
      manufacturer: "Lumen Optics",
      model: "LX-4410",
      firmwareVersion: "7.4.1",
      serialNumber: "LX1",
      hardwareId: "LX4410-R2",
    });
    expect((await call<{ uri: string }>((cb) => cam.getStreamUri({ protocol: "RTSP" }, cb))).uri).toBe(
      `rtsp://${sim.host}:554/Streaming/Profile_1`,
    );
    expect((await call<{ uri: string }>((cb) => cam.getSnapshotUri({}, cb))).uri).toBe(`${sim.url}onvif/snapshot?profile=Profile_1`);
    expect(sim.stats().rejected).toEqual({});
  });

  it("falls back to HTTP Digest after the 401 when WS-Security is off, and connects", async () => {
    const { sim, cam } = await client({}, undefined, { useWSSecurity: false });
    await connect(cam);
    expect((await call<DeviceInformation>((cb) => cam.getDeviceInformation(cb))).model).toBe("LX-4410");
    // Each first request brought no credentials and was asked for Digest.
    expect(sim.stats().rejected.missing).toBeGreaterThan(0);
  });

  it("fails to connect with a wrong password, with the NotAuthorized fault's reason", async () => {
    const { cam } = await client({}, { username: "admin", password: "guess" });
    await expect(connect(cam)).rejects.toThrow(/Sender not Authorized/);
  });

  it("connects to a camera whose clock is 90 s off, and reads that clock (it times its tokens by it)", async () => {
    const { cam } = await client({ clockOffsetMs: 90_000 });
    await connect(cam);
    const reported = await call<Date>((cb) => cam.getSystemDateAndTime(cb));
    expect(reported.getTime() - Date.now()).toBeGreaterThan(88_000);
    expect(reported.getTime() - Date.now()).toBeLessThan(91_000);
  });

  it("reads a local-only camera's LocalDateTime as if it were UTC, so its tokens are off by the zone offset and refused", async () => {
    const { sim, cam } = await client({ timeZone: "EST5EDT,M3.2.0,M11.1.0", timeReport: "local-only" });
    await expect(connect(cam)).rejects.toThrow(/Sender not Authorized/);
    expect(sim.stats().rejected.stale).toBeGreaterThan(0);
  });

  it("never finishes connecting to a camera whose profiles do not reference its first video source (the known hang)", async () => {
    const { sim, cam } = await client({ fault: { kind: "no-video-source" } });
    await expect(connect(cam)).rejects.toThrow("deadline");
    expect(sim.stats().operations).toMatchObject({ GetProfiles: 1, GetVideoSources: 1 });
  });
});
