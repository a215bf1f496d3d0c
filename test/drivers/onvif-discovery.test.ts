import { afterEach, describe, expect, it } from "vitest";
import { Cameras, creds, handles, log, newDriver, settle } from "./onvif-helpers.js";

const cameras = new Cameras();
const driver = newDriver();
afterEach(async () => {
  await cameras.closeAll();
});

const discover = (params: Record<string, unknown>, signal = new AbortController().signal) => {
  if (!driver.discover) throw new Error("the onvif driver has no discover()");
  return driver.discover({ signal, log }, params);
};

describe("onvif discovery (WS-Discovery)", () => {
  it("finds a camera by unicast Probe and reports its address, XAddr and scopes without contacting it", async () => {
    const cam = await cameras.start({ model: "LX-9000", name: "Gym East", location: "gym", discovery: { port: 0 } });
    const found = await discover({ multicast: "off", targets: ["127.0.0.1"], port: cam.discoveryPort, wait_ms: 300 });
    expect(found).toEqual([
      {
        kind: "onvif",
        address: "127.0.0.1",
        details: expect.objectContaining({
          xaddr: cam.deviceServiceUrl,
          endpoint: cam.endpointReference,
          hardware: "LX-9000",
          name: "Gym East",
          location: "gym",
          responded_from: "127.0.0.1",
        }),
      },
    ]);
    // Discovery alone never talks ONVIF to what it finds.
    expect(cam.stats().requests).toBe(0);
  });

  it("reads each found camera's identity when given credentials", async () => {
    const cam = await cameras.start({ firmwareVersion: "9.9.9", discovery: { port: 0 } });
    const [found] = await discover({ multicast: "off", targets: ["127.0.0.1"], port: cam.discoveryPort, wait_ms: 200, identify: creds });
    expect(found?.identity).toMatchObject({ manufacturer: "Lumen Optics", firmware: "9.9.9", serial: cam.identity().serialNumber });
    expect(cam.stats().operations).toEqual({ GetSystemDateAndTime: 1, GetDeviceInformation: 1 });
  });

  it("records why a found camera could not be identified, and still lists it", async () => {
    const cam = await cameras.start({ fault: { kind: "wrong-credentials" }, discovery: { port: 0 } });
    const [found] = await discover({ multicast: "off", targets: ["127.0.0.1"], port: cam.discoveryPort, wait_ms: 200, identify: creds });
    expect(found?.identity).toBeUndefined();
    expect(found?.details?.identify_error).toMatch(/credentials refused/);
  });

  it("finds cameras by unicast whether or not the multicast Probe can go out", async () => {
    const cam = await cameras.start({ discovery: { port: 0 } });
    const found = await discover({ multicast: "on", targets: ["127.0.0.1"], port: cam.discoveryPort, wait_ms: 200 });
    expect(found.map((f) => f.details?.endpoint)).toContain(cam.endpointReference);
  });

  it("finds nothing, quietly, where nobody answers", async () => {
    const found = await discover({ multicast: "off", targets: ["127.0.0.1"], port: 9, wait_ms: 100 });
    expect(found).toEqual([]);
  });

  it("refuses bad parameters and too many addresses with config, before sending anything", async () => {
    await expect(discover({ targets: ["10.0.0.0/20"] })).rejects.toMatchObject({
      name: "DriverError",
      code: "config",
      message: expect.stringContaining("1024"),
    });
    await expect(discover({ wait: 5 })).rejects.toMatchObject({ code: "config", message: expect.stringContaining("wait") });
    await expect(discover({ identify: { username: "admin" } })).rejects.toMatchObject({
      code: "config",
      message: expect.stringContaining("identify.username: a username needs a password"),
    });
    await expect(discover({ identify: { ...creds, password_env: "ONVIF_TEST_UNSET_VARIABLE" } })).rejects.toMatchObject({ code: "config" });
  });

  it("ends with timeout when its signal aborts, and releases its socket", async () => {
    await settle(() => handles().udp === 0);
    const before = handles();
    const ctl = new AbortController();
    const pending = discover({ multicast: "off", targets: ["127.0.0.1"], port: 9, wait_ms: 30_000 }, ctl.signal);
    ctl.abort(new Error("stop"));
    await expect(pending).rejects.toMatchObject({ name: "DriverError", code: "timeout" });
    // libuv releases a closed handle on the next loop turn.
    await settle(() => handles().udp === before.udp);
    expect(handles().udp).toBe(before.udp);
  });
});
