import { afterEach, describe, expect, it, vi } from "vitest";
import type { SimCamera } from "../../scripts/sim/camera.js";
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

/** Discover the one simulated camera by unicast and read its identity. */
const discoverIdentified = async (cam: SimCamera, identify: Record<string, unknown> = {}) => {
  const found = await discover({ multicast: "off", targets: ["127.0.0.1"], port: cam.discoveryPort, wait_ms: 200, identify: { ...creds, ...identify } });
  expect(found).toHaveLength(1);
  return found[0];
};

/** What GetDeviceInformation gives of a simulated camera, as an identity. */
const deviceInformation = (cam: SimCamera) => {
  const id = cam.identity();
  return { manufacturer: id.manufacturer, model: id.model, firmware: id.firmwareVersion, serial: id.serialNumber, hardware_id: id.hardwareId };
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

  it("reads each found camera's identity when given credentials, its MAC address included", async () => {
    const cam = await cameras.start({ firmwareVersion: "9.9.9", discovery: { port: 0 } });
    const found = await discoverIdentified(cam);
    expect(found?.identity).toMatchObject({ manufacturer: "Lumen Optics", firmware: "9.9.9", serial: cam.identity().serialNumber });
    expect(found?.identity).toEqual({ ...deviceInformation(cam), mac: cam.identity().macAddress });
    expect(found?.identity?.mac).toMatch(/^02(:[0-9a-f]{2}){5}$/);
    expect(found?.details).not.toHaveProperty("mac_error");
    expect(found?.details).not.toHaveProperty("identify_error");
    expect(cam.stats().operations).toEqual({ GetSystemDateAndTime: 1, GetDeviceInformation: 1, GetNetworkInterfaces: 1 });
  });

  it("writes the MAC address the way identify() does, whatever form the camera sends", async () => {
    const cam = await cameras.start({ macAddress: "00-40-8C-12-34-56", discovery: { port: 0 } });
    const found = await discoverIdentified(cam);
    expect(found?.identity?.mac).toBe("00:40:8c:12:34:56");
  });

  const withoutMac = [
    { name: "does not implement GetNetworkInterfaces", camera: { macAddress: null }, why: /^GetNetworkInterfaces: .*ActionNotSupported/ },
    { name: "sends a HwAddress that is no MAC", camera: { macAddress: "garbage" }, why: /valid MAC address \(eth0: "garbage"\)/ },
    {
      name: "never answers GetNetworkInterfaces",
      camera: { fault: { kind: "hang", ops: ["GetNetworkInterfaces"] } },
      why: /^GetNetworkInterfaces: no complete answer within 400 ms$/,
    },
  ] as const;
  for (const { name, camera, why } of withoutMac) {
    it(`keeps the identity of a camera that ${name}, without mac, and says why in mac_error`, async () => {
      const cam = await cameras.start({ ...camera, discovery: { port: 0 } });
      const found = await discoverIdentified(cam, { timeout_ms: 400 });
      // Manufacturer, model, serial, firmware and hardware id as GetDeviceInformation gave them; only mac is missing.
      expect(found?.identity).toEqual(deviceInformation(cam));
      expect(found?.details?.mac_error).toMatch(why);
      expect(found?.details).not.toHaveProperty("identify_error");
      // GetSystemDateAndTime, GetDeviceInformation, GetNetworkInterfaces: the MAC was asked for once, not retried.
      expect(cam.stats().requests).toBe(3);
    });
  }

  it("keeps the identity read when its signal aborts during GetNetworkInterfaces", async () => {
    const cam = await cameras.start({ fault: { kind: "hang", ops: ["GetNetworkInterfaces"] }, discovery: { port: 0 } });
    const ctl = new AbortController();
    const pending = discover({ multicast: "off", targets: ["127.0.0.1"], port: cam.discoveryPort, wait_ms: 200, identify: creds }, ctl.signal);
    await vi.waitFor(() => expect(cam.stats().requests).toBe(3), { timeout: 3000 });
    ctl.abort(new Error("discovery deadline"));
    const [found] = await pending;
    expect(found?.identity).toMatchObject({ manufacturer: "Lumen Optics", serial: cam.identity().serialNumber });
    expect(found?.identity).not.toHaveProperty("mac");
    expect(found?.details?.mac_error).toMatch(/^GetNetworkInterfaces: /);
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
