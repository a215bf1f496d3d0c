/**
 * The simulated camera's faults, each seen from a client over real sockets;
 * the ones that never end (hang, drip, huge) bounded by client-side deadlines
 * or byte caps.
 */
import net from "node:net";
import { describe, expect, it, vi } from "vitest";
import { attr, childrenNamed, descend, parseXml } from "../../scripts/sim/camera-xml.js";
import { digestGet, faultSubcodes, must, op, request, soap, soapEnvelope, TRT, useCameras } from "./camera-helpers.js";

const camera = useCameras();
const admin = { username: "admin", password: "secret" };
type Cam = Awaited<ReturnType<typeof camera>>;
const deviceUrl = (cam: Cam) => `${cam.url}onvif/device_service`;
const dateRequest = () => ({ body: soapEnvelope(op("GetSystemDateAndTime")) });

function connects(cam: Cam): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: cam.host, port: cam.port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

describe("simulated ONVIF camera, faults", () => {
  it("slow: answers delayMs late", async () => {
    const cam = await camera({ fault: { kind: "slow", delayMs: 300 } });
    const t0 = performance.now();
    expect((await request(deviceUrl(cam), dateRequest())).status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it("hang: reads the request and never answers, until the fault is cleared", async () => {
    const cam = await camera({ fault: { kind: "hang" } });
    const r = await request(deviceUrl(cam), { ...dateRequest(), deadlineMs: 300 });
    expect(r).toMatchObject({ ended: "deadline", status: 0 });
    expect(cam.stats().requests).toBe(1);
    await cam.setFault(null);
    expect((await request(deviceUrl(cam), dateRequest())).status).toBe(200);
  });

  it("drip: sends the headers, then the body a few bytes per tick, so that only an overall deadline stops a client", async () => {
    const cam = await camera({ fault: { kind: "drip", bytesPerTick: 64, tickMs: 5 } });
    const full = await request(deviceUrl(cam), dateRequest());
    expect(full.ended).toBe("end");
    expect(full.chunks.length).toBeGreaterThan(10);
    expect(Math.max(...full.chunks)).toBeLessThanOrEqual(64);
    expect(() => parseXml(full.body.toString())).not.toThrow();
    await cam.setFault({ kind: "drip", bytesPerTick: 8, tickMs: 50 });
    const cut = await request(deviceUrl(cam), { ...dateRequest(), deadlineMs: 400 });
    expect(cut).toMatchObject({ ended: "deadline", status: 200 });
    expect(cut.body.length).toBeGreaterThan(0);
    expect(cut.body.length).toBeLessThan(Number(cut.headers["content-length"]));
  });

  it("http500: answers every request, SOAP or snapshot, with 500 and an HTML page", async () => {
    const cam = await camera({ fault: { kind: "http500" } });
    for (const r of [await request(deviceUrl(cam), dateRequest()), await request(`${cam.url}onvif/snapshot`)]) {
      expect(r.status).toBe(500);
      expect(r.headers["content-type"]).toMatch(/^text\/html/);
    }
  });

  it("malformed-xml: answers 200 with a SOAP content type and a body no XML parser accepts", async () => {
    const cam = await camera({ fault: { kind: "malformed-xml" } });
    const r = await request(deviceUrl(cam), dateRequest());
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("application/soap+xml; charset=utf-8");
    expect(() => parseXml(r.body.toString())).toThrow(/does not match/);
  });

  it("invalid-utf8: sends Latin-1 bytes in free-text fields of an answer that declares UTF-8 and is otherwise valid", async () => {
    const cam = await camera({ manufacturer: "Lumen", fault: { kind: "invalid-utf8" } });
    const strict = new TextDecoder("utf-8", { fatal: true });
    const read = async (body: string) => (await request(deviceUrl(cam), { body: soapEnvelope(body, admin) })).body;
    const infoBytes = await read(op("GetDeviceInformation"));
    expect(() => strict.decode(infoBytes)).toThrow();
    expect(descend(parseXml(infoBytes.toString("latin1")), "Body", "GetDeviceInformationResponse", "Manufacturer")?.text).toBe("Lumen®");
    const profiles = parseXml((await read(op("GetProfiles", TRT))).toString("latin1"));
    expect(descend(profiles, "Body", "GetProfilesResponse", "Profiles", "Name")?.text).toBe("Eingang Süd MainStream");
  });

  it("huge: announces and streams `bytes` of valid SOAP, padding and all, at the client's pace", async () => {
    const cam = await camera({ fault: { kind: "huge", bytes: 400_000 } });
    const whole = await request(deviceUrl(cam), dateRequest());
    expect(whole.body.length).toBe(400_000);
    expect(Number(whole.headers["content-length"])).toBe(400_000);
    expect(descend(parseXml(whole.body.toString()), "Body", "GetSystemDateAndTimeResponse")).toBeDefined();
    await cam.setFault({ kind: "huge" });
    const capped = await request(deviceUrl(cam), { ...dateRequest(), maxBytes: 64 * 1024 });
    expect(capped.ended).toBe("cap");
    expect(Number(capped.headers["content-length"])).toBe(50 * 1024 * 1024);
  });

  it("wrong-credentials: refuses the right password on SOAP and on the snapshot, and still tells the time", async () => {
    const cam = await camera({ fault: { kind: "wrong-credentials" } });
    expect(faultSubcodes((await soap(cam, op("GetDeviceInformation"), admin)).body)).toEqual(["ter:NotAuthorized"]);
    expect((await digestGet(`${cam.url}onvif/snapshot`, "admin", "secret")).second.status).toBe(401);
    expect((await soap(cam, op("GetSystemDateAndTime"))).status).toBe(200);
  });

  it("auth-skew: the camera clock jumps, so tokens timed by the old clock are refused until the client rereads the time", async () => {
    const cam = await camera();
    expect((await soap(cam, op("GetDeviceInformation"), admin)).status).toBe(200);
    await cam.setFault({ kind: "auth-skew", jumpMs: 120_000 });
    expect(cam.now() - Date.now()).toBeGreaterThanOrEqual(119_000);
    expect((await soap(cam, op("GetDeviceInformation"), admin)).status).toBe(400);
    const created = new Date(Date.now() + 120_000).toISOString();
    expect((await soap(cam, op("GetDeviceInformation"), { ...admin, created })).status).toBe(200);
    await cam.setFault(null);
    expect((await soap(cam, op("GetDeviceInformation"), admin)).status).toBe(200);
  });

  it("reboot: refuses connections and drops open ones for downMs, then comes back healthy on the same port", async () => {
    const cam = await camera();
    const port = cam.port;
    await cam.setFault({ kind: "hang" });
    const pending = request(deviceUrl(cam), dateRequest());
    await vi.waitFor(() => expect(cam.stats().requests).toBe(1));
    await cam.setFault({ kind: "reboot", downMs: 1500 });
    expect((await pending).ended).toBe("ECONNRESET");
    expect(await connects(cam)).toBe(false);
    expect(cam.fault()).toEqual({ kind: "reboot", downMs: 1500 });
    await vi.waitFor(async () => expect(await connects(cam)).toBe(true), { timeout: 8000, interval: 50 });
    expect(cam.port).toBe(port);
    expect(cam.fault()).toBeNull();
    expect((await request(deviceUrl(cam), dateRequest())).status).toBe(200);
  });

  it("no-video-source: no profile's source configuration names a video source that GetVideoSources lists", async () => {
    const cam = await camera({ fault: { kind: "no-video-source" } });
    const sources = childrenNamed(
      must(descend((await soap(cam, op("GetVideoSources", TRT), admin)).body, "GetVideoSourcesResponse")),
      "VideoSources",
    );
    const tokens = sources.map((s) => attr(s, "token"));
    const profiles = childrenNamed(must(descend((await soap(cam, op("GetProfiles", TRT), admin)).body, "GetProfilesResponse")), "Profiles");
    expect(tokens).toEqual(["VideoSource_1"]);
    expect(profiles.length).toBe(2);
    for (const p of profiles) expect(tokens).not.toContain(descend(p, "VideoSourceConfiguration", "SourceToken")?.text);
  });

  it("snapshot faults: 500, a 200 HTML login page, or a 4-byte image/jpeg, to an authenticated client", async () => {
    const cam = await camera();
    const snap = async () => (await digestGet(`${cam.url}onvif/snapshot?profile=Profile_1`, "admin", "secret")).second;
    await cam.setFault({ kind: "snapshot-500" });
    expect((await snap()).status).toBe(500);
    await cam.setFault({ kind: "snapshot-wrong-type" });
    expect(await snap()).toMatchObject({ status: 200, headers: { "content-type": "text/html; charset=utf-8" } });
    await cam.setFault({ kind: "snapshot-tiny" });
    const tiny = await snap();
    expect(tiny).toMatchObject({ status: 200, headers: { "content-type": "image/jpeg" } });
    expect(tiny.body.length).toBe(4);
    // The SOAP side is untouched by snapshot faults.
    expect((await soap(cam, op("GetDeviceInformation"), admin)).status).toBe(200);
    expect(cam.stats().snapshots).toBe(0);
  });

  it("limits a fault to some operations: the others, and snapshots, are spared", async () => {
    const cam = await camera({ fault: { kind: "hang", ops: ["GetNetworkInterfaces"] } });
    const hung = await request(deviceUrl(cam), { body: soapEnvelope(op("GetNetworkInterfaces"), admin), deadlineMs: 300 });
    expect(hung).toMatchObject({ ended: "deadline", status: 0 });
    expect((await soap(cam, op("GetDeviceInformation"), admin)).status).toBe(200);
    expect((await digestGet(`${cam.url}onvif/snapshot?profile=Profile_1`, "admin", "secret")).second.status).toBe(200);
    await cam.setFault({ kind: "wrong-credentials", ops: ["GetNetworkInterfaces", "GetProfiles"] });
    expect(faultSubcodes((await soap(cam, op("GetNetworkInterfaces"), admin)).body)).toEqual(["ter:NotAuthorized"]);
    expect(faultSubcodes((await soap(cam, op("GetProfiles", TRT), admin)).body)).toEqual(["ter:NotAuthorized"]);
    expect((await soap(cam, op("GetDeviceInformation"), admin)).status).toBe(200);
    await cam.setFault({ kind: "malformed-xml", ops: ["GetNetworkInterfaces"] });
    const bad = await request(deviceUrl(cam), { body: soapEnvelope(op("GetNetworkInterfaces"), admin) });
    expect(() => parseXml(bad.body.toString())).toThrow(/does not match/);
    expect((await soap(cam, op("GetDeviceInformation"), admin)).status).toBe(200);
  });

  it("cycles through phases: healthy, then hanging, then healthy again", async () => {
    const cam = await camera({
      fault: {
        cycle: [
          { fault: null, forMs: 150 },
          { fault: { kind: "hang" }, forMs: 150 },
        ],
      },
    });
    expect(cam.fault()).toBeNull();
    await vi.waitFor(() => expect(cam.fault()).toEqual({ kind: "hang" }), { timeout: 2000, interval: 10 });
    await vi.waitFor(() => expect(cam.fault()).toBeNull(), { timeout: 2000, interval: 10 });
  });

  it("rejects a cycle without phases", async () => {
    const cam = await camera();
    await expect(cam.setFault({ cycle: [] })).rejects.toThrow(/at least one phase/);
  });

  it("frees its port and drops hung connections on close", async () => {
    const cam = await camera({ fault: { kind: "hang" } });
    const pending = request(deviceUrl(cam), dateRequest());
    await vi.waitFor(() => expect(cam.stats().requests).toBe(1));
    await cam.close();
    expect((await pending).ended).toBe("ECONNRESET");
    expect(await connects(cam)).toBe(false);
  });
});

describe("simulated ONVIF camera, start-up", () => {
  it("starts nothing when its WS-Discovery port is taken, and says why", async () => {
    const squatter = await camera({ discovery: {} });
    const servers = () => process.getActiveResourcesInfo().filter((r) => r === "TCPServerWrap").length;
    const before = servers();
    await expect(camera({ discovery: { port: squatter.discoveryPort } })).rejects.toThrow(/EADDRINUSE/);
    await vi.waitFor(() => expect(servers()).toBe(before));
  });

  it("rejects a bad time zone or profile count before listening", async () => {
    await expect(camera({ timeZone: "Mars/Olympus" })).rejects.toThrow(/time zone "Mars\/Olympus"/);
    await expect(camera({ profiles: 0 })).rejects.toThrow(/profiles: expected 1–32/);
  });
});
