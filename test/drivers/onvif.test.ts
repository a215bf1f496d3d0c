import { afterEach, describe, expect, it, vi } from "vitest";
import type { Reading, TraceStep } from "../../drivers/contract.js";
import { type OnvifOptionsInput, onvifOptionsSchema } from "../../drivers/onvif/index.js";
import type { CameraOptions } from "../../scripts/sim/camera.js";
import { startNetDevice } from "../../scripts/sim/netdevice.js";
import { Cameras, creds, log, newDriver, optionsFor, poll, pollError } from "./onvif-helpers.js";

const cameras = new Cameras();
const driver = newDriver();
afterEach(async () => {
  await cameras.closeAll();
});

describe("onvif driver: reachability levels", () => {
  it("reads a healthy camera as ok, with identity, clock drift, profiles, stream URI and per-call response times", async () => {
    const cam = await cameras.start({
      manufacturer: "Acme",
      model: "A-1",
      firmwareVersion: "1.10",
      serialNumber: "00123",
      hardwareId: "HW-7",
    });
    const r = await poll(driver, "healthy", optionsFor(cam));
    expect(r).toMatchObject({ health: "ok", reason: "ok" });
    // Read from the raw answer: the onvif library would have turned "1.10" into 1.1.
    expect(r.identity).toEqual({ manufacturer: "Acme", model: "A-1", firmware: "1.10", serial: "00123", hardware_id: "HW-7" });
    expect(r.metrics).toMatchObject({
      authenticated: true,
      profiles_count: 2,
      stream_uri_ok: true,
      clock_source: "utc",
      clock_mode: "NTP",
    });
    expect(Math.abs(r.metrics.clock_drift_ms as number)).toBeLessThan(1000);
    for (const op of ["get_system_date_and_time", "get_device_information", "get_capabilities", "get_profiles", "get_stream_uri"]) {
      expect(r.metrics[`rt_${op}_ms`], op).toBeTypeOf("number");
    }
    expect(cam.stats().operations.GetVideoSources).toBeUndefined();
    // The MAC is the inventory's (identify()), not worth a call on every poll.
    expect(cam.stats().operations.GetNetworkInterfaces).toBeUndefined();
  });

  it("keeps the camera session between polls: the Media service is located once", async () => {
    const cam = await cameras.start();
    await poll(driver, "reuse", optionsFor(cam));
    const r = await poll(driver, "reuse", optionsFor(cam));
    expect(r.health).toBe("ok");
    expect(r.metrics.rt_get_capabilities_ms).toBeUndefined();
    expect(cam.stats().operations).toMatchObject({ GetCapabilities: 1, GetSystemDateAndTime: 2, GetDeviceInformation: 2 });
  });

  it("fails with refused when nothing listens (no TCP)", async () => {
    const cam = await cameras.start();
    await cam.setFault({ kind: "reboot", downMs: 60_000 });
    const e = await pollError(driver, "refused", optionsFor(cam));
    expect({ code: e.code, retryable: e.retryable }).toEqual({ code: "refused", retryable: true });
  });

  it("fails with protocol, not retryable, when TCP and HTTP answer but not ONVIF", async () => {
    const web = await startNetDevice({ http: { body: "<html>router login</html>" } });
    try {
      const e = await pollError(driver, "web", { host: web.host, port: web.port });
      expect({ code: e.code, retryable: e.retryable }).toEqual({ code: "protocol", retryable: false });
      expect(e.message).toMatch(/GetSystemDateAndTime: answers HTTP 200 but not ONVIF/);
    } finally {
      await web.close();
    }
  });

  it("reads a camera whose only open door is GetSystemDateAndTime (credentials refused) as degraded auth, still with its clock", async () => {
    const cam = await cameras.start({ fault: { kind: "wrong-credentials" } });
    const r = await poll(driver, "wrong-creds", optionsFor(cam));
    expect(r).toMatchObject({ health: "degraded", reason: "auth", metrics: { authenticated: false } });
    expect(r.reasonText).toMatch(/GetDeviceInformation: credentials refused/);
    expect(r.metrics.clock_drift_ms).toBeTypeOf("number");
    expect(r.identity).toBeUndefined();
  });

  it("reads credentials refused over HTTP Digest too (cameras that answer 401 with a challenge) as auth", async () => {
    const cam = await cameras.start({ authFaultStatus: 401, fault: { kind: "wrong-credentials" } });
    const r = await poll(driver, "digest-refused", optionsFor(cam));
    expect(r).toMatchObject({ health: "degraded", reason: "auth" });
    expect(r.reasonText).toContain("GetDeviceInformation: credentials refused (HTTP Digest)");
  });

  it("says no credentials are configured when a camera needs them and none are given", async () => {
    const cam = await cameras.start();
    const r = await poll(driver, "no-creds", { host: cam.host, port: cam.port });
    expect(r).toMatchObject({ health: "degraded", reason: "auth" });
    expect(r.reasonText).toContain("no credentials are configured");
  });

  it("fails with config, not retryable, when the password's environment variable is not set", async () => {
    const cam = await cameras.start();
    const e = await pollError(driver, "no-env", optionsFor(cam, { password_env: "ONVIF_TEST_UNSET_VARIABLE" }));
    expect({ code: e.code, retryable: e.retryable }).toEqual({ code: "config", retryable: false });
    expect(cam.stats().requests).toBe(0);
  });
});

describe("onvif driver: camera clocks", () => {
  it("authenticates a camera whose clock is 90 s off and reads it as degraded clock_skew", async () => {
    const cam = await cameras.start({ clockOffsetMs: 90_000 });
    const r = await poll(driver, "clock-90", optionsFor(cam));
    expect(r).toMatchObject({ health: "degraded", reason: "clock_skew", metrics: { authenticated: true } });
    expect(r.metrics.clock_drift_ms as number).toBeGreaterThan(89_000);
    expect(r.metrics.clock_drift_ms as number).toBeLessThan(91_000);
    expect(r.reasonText).toContain("90 s ahead of the gateway");
    expect(r.identity?.manufacturer).toBe("Lumen Optics");
  });

  it("honours max_clock_drift_ms", async () => {
    const cam = await cameras.start({ clockOffsetMs: -3_000 });
    expect((await poll(driver, "drift-ok", optionsFor(cam))).health).toBe("ok");
    expect((await poll(driver, "drift-strict", optionsFor(cam, { max_clock_drift_ms: 1000 }))).reason).toBe("clock_skew");
  });

  it("converts a camera that reports only local time and a POSIX TZ back to UTC", async () => {
    const cam = await cameras.start({ timeReport: "local-only", timeZone: "EST5EDT,M3.2.0,M11.1.0" });
    const r = await poll(driver, "local-only", optionsFor(cam));
    expect(r).toMatchObject({ health: "ok", metrics: { clock_source: "local_tz" } });
    expect(Math.abs(r.metrics.clock_drift_ms as number)).toBeLessThan(1000);
  });

  it("reads a camera that sends local time as UTC as clock_skew, signing with the gateway's clock it still accepts", async () => {
    const cam = await cameras.start({ timeReport: "local-as-utc", timeZone: "JST-9" });
    const r = await poll(driver, "local-as-utc", optionsFor(cam));
    expect(r).toMatchObject({ health: "degraded", reason: "clock_skew", metrics: { authenticated: true, stream_uri_ok: true } });
    expect(Math.round((r.metrics.clock_drift_ms as number) / 3_600_000)).toBe(9);
  });

  it("follows a camera clock that jumps between polls (auth-skew): re-reads it and still authenticates", async () => {
    const cam = await cameras.start();
    expect((await poll(driver, "jump", optionsFor(cam))).health).toBe("ok");
    await cam.setFault({ kind: "auth-skew", jumpMs: 600_000 });
    const r = await poll(driver, "jump", optionsFor(cam));
    expect(r).toMatchObject({ reason: "clock_skew", metrics: { authenticated: true } });
    expect(cam.stats().rejected).toEqual({});
    const identity = await driver.identify?.(
      { id: "jump", timeoutMs: 5000, options: onvifOptionsSchema.parse(optionsFor(cam)) },
      { signal: AbortSignal.timeout(5000), log },
    );
    expect(identity?.model).toBe("LX-4410");
  });

  it("blames the clock, and names the credentials too, when credentials are refused by a camera 10 minutes off", async () => {
    const cam = await cameras.start({ clockOffsetMs: 600_000, fault: { kind: "wrong-credentials" } });
    const r = await poll(driver, "skew-and-creds", optionsFor(cam));
    expect(r).toMatchObject({ health: "degraded", reason: "clock_skew", metrics: { authenticated: false } });
    expect(r.reasonText).toMatch(/credentials refused.*600 s ahead of the gateway.*check the credentials/);
  });
});

describe("onvif driver: identify()", () => {
  /** identify() as the inventory runs it, traced, under a deadline of timeoutMs; an error comes back as the value. */
  async function identify(id: string, input: OnvifOptionsInput, timeoutMs = 5000) {
    const steps: TraceStep[] = [];
    const options = onvifOptionsSchema.parse(input);
    const started = performance.now();
    const identity = await driver
      .identify?.({ id, timeoutMs, options }, { signal: AbortSignal.timeout(timeoutMs), log, trace: (s) => steps.push(s) })
      .catch((e: unknown) => e as Error);
    return { identity, steps, ms: performance.now() - started };
  }

  it("reads manufacturer, model, firmware, serial and hardware id, and the MAC address from GetNetworkInterfaces", async () => {
    const cam = await cameras.start({ firmwareVersion: "8.0.2" });
    const options = onvifOptionsSchema.parse(optionsFor(cam));
    const id = await driver.identify?.({ id: "ident", timeoutMs: 5000, options }, { signal: AbortSignal.timeout(5000), log });
    expect(id).toEqual({
      manufacturer: "Lumen Optics",
      model: "LX-4410",
      firmware: "8.0.2",
      serial: cam.identity().serialNumber,
      hardware_id: "LX4410-R2",
      mac: cam.identity().macAddress,
    });
    expect(id?.mac).toMatch(/^02(:[0-9a-f]{2}){5}$/);
    expect(cam.stats().operations).toEqual({ GetSystemDateAndTime: 1, GetDeviceInformation: 1, GetNetworkInterfaces: 1 });
  });

  it("normalises the MAC the camera writes to lower case with colons", async () => {
    const cam = await cameras.start({ macAddress: "00-40-8C-12-34-56" });
    expect((await identify("mac-form", optionsFor(cam))).identity).toMatchObject({ mac: "00:40:8c:12:34:56" });
  });

  it("reads GetNetworkInterfaces from the configured device service path, after a poll learned the Media service", async () => {
    const cam = await cameras.start();
    expect((await poll(driver, "mac-after-poll", optionsFor(cam))).health).toBe("ok");
    expect((await identify("mac-after-poll", optionsFor(cam))).identity).toMatchObject({ mac: cam.identity().macAddress });
    expect((await identify("mac-by-xaddr", { ...creds, xaddr: cam.deviceServiceUrl })).identity).toMatchObject({ mac: cam.identity().macAddress });
  });

  const noMac: { name: string; camera: CameraOptions; detail: RegExp }[] = [
    { name: "does not implement it", camera: { macAddress: null }, detail: /^SOAP fault: env:Receiver \/ ter:ActionNotSupported: / },
    {
      name: "refuses our credentials for it",
      camera: { fault: { kind: "wrong-credentials", ops: ["GetNetworkInterfaces"] } },
      detail: /^credentials refused \(.*NotAuthorized/,
    },
    { name: "sends a HwAddress that is no MAC", camera: { macAddress: "garbage" }, detail: /^no enabled network interface has a valid MAC address \(eth0: "garbage"\)$/ },
    { name: "sends all zeros", camera: { macAddress: "00:00:00:00:00:00" }, detail: /^no enabled network interface has a valid MAC address/ },
    { name: "sends malformed XML", camera: { fault: { kind: "malformed-xml", ops: ["GetNetworkInterfaces"] } }, detail: /^the camera's answer could not be read/ },
    { name: "answers HTTP 500 with a web page", camera: { fault: { kind: "http500", ops: ["GetNetworkInterfaces"] } }, detail: /^HTTP 500 with an HTML page$/ },
    {
      name: "sends more than max_response_bytes",
      camera: { fault: { kind: "huge", bytes: 64 * 1024, ops: ["GetNetworkInterfaces"] } },
      detail: /^answer longer than max_response_bytes/,
    },
  ];
  for (const c of noMac) {
    it(`gives the identity without a MAC when the camera ${c.name}, with the failed step saying why`, async () => {
      const cam = await cameras.start(c.camera);
      const { identity, steps } = await identify(`no-mac-${c.name}`, optionsFor(cam, { max_response_bytes: 16 * 1024 }));
      expect(identity).toMatchObject({ model: "LX-4410", serial: cam.identity().serialNumber });
      expect(identity).not.toHaveProperty("mac");
      expect(steps.map((s) => [s.step, s.ok])).toEqual([
        ["GetSystemDateAndTime", true],
        ["GetDeviceInformation", true],
        ["GetNetworkInterfaces", false],
      ]);
      expect(steps[2]?.detail).toMatch(c.detail);
    });
  }

  it("gives up on a camera silent on GetNetworkInterfaces in time to return the identity within identify()'s deadline; the next poll is fine", async () => {
    const cam = await cameras.start({ fault: { kind: "hang", ops: ["GetNetworkInterfaces"] } });
    // timeout_ms (5 s) is longer than the whole identify() may take: the MAC gets what is left, less a reserve.
    const { identity, steps, ms } = await identify("mac-silent", optionsFor(cam), 1500);
    expect(identity).toMatchObject({ serial: cam.identity().serialNumber });
    expect(identity).not.toHaveProperty("mac");
    expect(ms).toBeLessThan(1500);
    expect(steps[2]).toMatchObject({ step: "GetNetworkInterfaces", ok: false, detail: expect.stringMatching(/^no complete answer within \d+ ms$/) });
    expect(Number(/(\d+) ms$/.exec(steps[2]?.detail ?? "")?.[1])).toBeLessThanOrEqual(1300);
    expect((await poll(driver, "mac-silent", optionsFor(cam))).health).toBe("ok");
  });

  it("does not send GetNetworkInterfaces when too little of the deadline is left, and says so", async () => {
    // 600 ms in all, 350 of them for GetDeviceInformation: at most 250 ms left, less than the reserve and the least worth trying.
    const cam = await cameras.start({ fault: { kind: "slow", delayMs: 350, ops: ["GetDeviceInformation"] } });
    const { identity, steps } = await identify("mac-late", optionsFor(cam), 600);
    expect(identity).toMatchObject({ serial: cam.identity().serialNumber });
    expect(steps[2]).toMatchObject({ step: "GetNetworkInterfaces", ok: false, detail: expect.stringMatching(/^not sent: \d+ ms of the deadline left$/) });
    expect(cam.stats().operations.GetNetworkInterfaces).toBeUndefined();
  });

  it("fails as before when identify()'s own deadline passes during GetNetworkInterfaces", async () => {
    const cam = await cameras.start({ fault: { kind: "hang", ops: ["GetNetworkInterfaces"] } });
    const options = onvifOptionsSchema.parse(optionsFor(cam));
    const controller = new AbortController();
    const pending = driver.identify?.({ id: "mac-aborted", timeoutMs: 5000, options }, { signal: controller.signal, log });
    await vi.waitFor(() => expect(cam.stats().requests).toBe(3));
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: "DriverError", code: "timeout" });
  });

  it("sees a firmware change at the next read", async () => {
    const cam = await cameras.start({ firmwareVersion: "7.4.1" });
    const options = onvifOptionsSchema.parse(optionsFor(cam));
    const read = () => driver.identify?.({ id: "fw", timeoutMs: 5000, options }, { signal: AbortSignal.timeout(5000), log });
    expect((await read())?.firmware).toBe("7.4.1");
    cam.setIdentity({ firmwareVersion: "7.5.0" });
    expect((await read())?.firmware).toBe("7.5.0");
  });

  it("fails with auth when the credentials are refused", async () => {
    const cam = await cameras.start({ fault: { kind: "wrong-credentials" } });
    const options = onvifOptionsSchema.parse(optionsFor(cam));
    await expect(
      driver.identify?.({ id: "ident-bad", timeoutMs: 5000, options }, { signal: AbortSignal.timeout(5000), log }),
    ).rejects.toMatchObject({
      name: "DriverError",
      code: "auth",
    });
  });

  it("waits its turn while a poll has the camera, instead of talking over it", async () => {
    const cam = await cameras.start({ fault: { kind: "slow", delayMs: 100 } });
    const options = onvifOptionsSchema.parse(optionsFor(cam));
    const polled = poll(driver, "turns", optionsFor(cam));
    const identified = driver.identify?.({ id: "turns", timeoutMs: 5000, options }, { signal: AbortSignal.timeout(5000), log });
    await vi.waitFor(() => expect(cam.stats().requests).toBeGreaterThan(0));
    const [r, id] = await Promise.all([polled, identified]);
    expect(r.health).toBe("ok");
    expect(id?.serial).toBe(r.identity?.serial);
    // Never two requests at once: the camera saw them strictly one after another.
    expect(cam.stats().connections).toBe(cam.stats().requests);
  });
});

describe("onvif driver, traced (campus-agent probe)", () => {
  /** A poll as `campus-agent probe` makes it: the steps traced, and what the poll gave. */
  async function tracedPoll(id: string, input: OnvifOptionsInput): Promise<{ steps: TraceStep[]; outcome: Reading | Error }> {
    const steps: TraceStep[] = [];
    const options = onvifOptionsSchema.parse(input);
    const outcome = await driver
      .poll({ id, timeoutMs: 5000, options }, { signal: AbortSignal.timeout(5000), log, trace: (s) => steps.push(s) })
      .catch((e: unknown) => e as Error);
    return { steps, outcome };
  }

  it("reports every call in order, timed as its rt_ metric, with the SOAP body as raw and what it said as detail", async () => {
    const cam = await cameras.start({ manufacturer: "Acme", model: "A-1", firmwareVersion: "1.10", serialNumber: "00123", hardwareId: "HW-7" });
    const { steps, outcome } = await tracedPoll("traced", optionsFor(cam, { snapshot: { mode: "fetch" } }));
    const r = outcome as Reading;
    expect(r.health).toBe("ok");
    const ops = ["GetSystemDateAndTime", "GetDeviceInformation", "GetCapabilities", "GetProfiles", "GetStreamUri", "GetSnapshotUri"];
    expect(steps.map((s) => [s.step, s.ok])).toEqual([...ops.map((op) => [op, true]), [expect.stringMatching(/^GET \/onvif\/snapshot\S* → 200$/), true]]);
    for (const [i, op] of ops.entries()) {
      expect(steps[i]?.ms, op).toBe(r.metrics[`rt_${op.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase()}_ms`]);
      expect(steps[i]?.raw, op).toMatch(new RegExp(`^<\\?xml[\\s\\S]*<\\w+:${op}Response[\\s>]`));
    }
    const detail = (op: string) => steps.find((s) => s.step === op)?.detail;
    expect(detail("GetSystemDateAndTime")).toMatch(/^camera time \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(UTC, NTP\), clock drift [+-]\d+\.\d s$/);
    expect(detail("GetDeviceInformation")).toBe("Acme A-1, firmware 1.10, serial 00123, hardware HW-7");
    expect(steps[1]?.raw).toContain("<tds:FirmwareVersion>1.10</tds:FirmwareVersion>");
    expect(detail("GetProfiles")).toMatch(/^2 profiles; video on profile \S+$/);
    expect(detail("GetStreamUri")).toMatch(/^rtsp:\/\/127\.0\.0\.1:554\//);
    const snapshot = steps[6];
    expect(snapshot?.ms).toBe(r.metrics.snapshot_ms);
    expect(snapshot?.detail).toBe(`image/jpeg, ${String(r.metrics.snapshot_bytes)} bytes`);
    expect(snapshot?.raw).toMatch(/^HTTP\/1\.1 200 OK\n(.+: .+\n)*[Cc]ontent-[Tt]ype: image\/jpeg/);
  });

  it("gives the same reading traced as untraced", async () => {
    const cam = await cameras.start({ clockOffsetMs: 90_000 });
    const timeless = (r: Reading) => ({
      ...r,
      responseTimeMs: 0,
      metrics: Object.fromEntries(Object.entries(r.metrics).map(([k, v]) => [k, /_ms$/.test(k) ? typeof v : v])),
      reasonText: r.reasonText?.replace(/\d+ s ahead/, "N s ahead"),
    });
    const plain = await poll(driver, "same-plain", optionsFor(cam));
    const { outcome } = await tracedPoll("same-traced", optionsFor(cam));
    expect(timeless(outcome as Reading)).toEqual(timeless(plain));
  });

  it("reports a camera that refuses connections as a failed first call saying so", async () => {
    const cam = await cameras.start();
    await cam.setFault({ kind: "reboot", downMs: 60_000 });
    const { steps, outcome } = await tracedPoll("traced-refused", optionsFor(cam));
    expect(steps).toEqual([{ step: "GetSystemDateAndTime", ms: expect.any(Number) as unknown, ok: false, detail: "connection refused (nothing listening on that port)" }]);
    expect(outcome).toMatchObject({ code: "refused" });
  });

  it("reports a call with no answer in time as failed with the call's deadline", async () => {
    const cam = await cameras.start({ fault: { kind: "hang" } });
    const { steps, outcome } = await tracedPoll("traced-hang", optionsFor(cam, { timeout_ms: 300 }));
    expect(steps).toMatchObject([{ step: "GetSystemDateAndTime", ok: false, detail: "no complete answer within 300 ms" }]);
    expect(steps[0]?.ms).toBeGreaterThanOrEqual(290);
    expect(outcome).toMatchObject({ code: "timeout" });
  });

  it("reports refused credentials as a failed GetDeviceInformation, with the camera's SOAP fault as raw", async () => {
    const cam = await cameras.start({ fault: { kind: "wrong-credentials" } });
    const { steps } = await tracedPoll("traced-creds", optionsFor(cam));
    expect(steps.map((s) => [s.step, s.ok])).toEqual([
      ["GetSystemDateAndTime", true],
      ["GetDeviceInformation", false],
    ]);
    expect(steps[1]?.detail).toMatch(/^credentials refused \(.*NotAuthorized/);
    expect(steps[1]?.raw).toMatch(/<\w+:Fault>[\s\S]*NotAuthorized/);
  });

  it("shows what a web server that is not a camera answered", async () => {
    const web = await startNetDevice({ http: { body: "<html>router login</html>" } });
    try {
      const { steps } = await tracedPoll("traced-web", { host: web.host, port: web.port });
      expect(steps).toMatchObject([{ step: "GetSystemDateAndTime", ok: false, detail: "answers HTTP 200 but not ONVIF (an HTML page)", raw: "<html>router login</html>" }]);
    } finally {
      await web.close();
    }
  });

  it("traces identify(): the clock, the identity, then the MAC", async () => {
    const cam = await cameras.start({ firmwareVersion: "8.0.2", macAddress: "00:40:8C:12:34:56" });
    const steps: TraceStep[] = [];
    const options = onvifOptionsSchema.parse(optionsFor(cam));
    await driver.identify?.({ id: "traced-ident", timeoutMs: 5000, options }, { signal: AbortSignal.timeout(5000), log, trace: (s) => steps.push(s) });
    expect(steps.map((s) => [s.step, s.ok])).toEqual([
      ["GetSystemDateAndTime", true],
      ["GetDeviceInformation", true],
      ["GetNetworkInterfaces", true],
    ]);
    expect(steps[1]?.detail).toBe(`Lumen Optics LX-4410, firmware 8.0.2, serial ${cam.identity().serialNumber}, hardware LX4410-R2`);
    expect(steps[2]?.detail).toBe("MAC 00:40:8c:12:34:56 (eth0)");
    expect(steps[2]?.raw).toMatch(/<tds:GetNetworkInterfacesResponse>[\s\S]*<tt:HwAddress>00:40:8C:12:34:56<\/tt:HwAddress>/);
  });
});
