/**
 * How the simulated camera authenticates (ONVIF Core 5.12): WS-Security
 * UsernameToken digests checked against its own (possibly skewed) clock,
 * HTTP Digest on SOAP and on the snapshot, and which operations need neither.
 * Digests are computed here from the WSS profile and RFC 7616, not by the simulator.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { descend } from "../../scripts/sim/camera-xml.js";
import {
  digestAuthorization,
  digestGet,
  faultSubcodes,
  jpegStructure,
  op,
  request,
  soap,
  soapEnvelope,
  TRT,
  useCameras,
} from "./camera-helpers.js";

const camera = useCameras();
const admin = { username: "admin", password: "secret" };
const info = op("GetDeviceInformation");

/** The camera's clock as GetSystemDateAndTime reports it (UTC, whole seconds). */
async function reportedUtc(cam: Awaited<ReturnType<typeof camera>>): Promise<number> {
  const r = await soap(cam, op("GetSystemDateAndTime"));
  const t = descend(r.body, "GetSystemDateAndTimeResponse", "SystemDateAndTime", "UTCDateTime");
  const n = (...p: string[]) => Number(descend(t, ...p)?.text);
  return Date.UTC(n("Date", "Year"), n("Date", "Month") - 1, n("Date", "Day"), n("Time", "Hour"), n("Time", "Minute"), n("Time", "Second"));
}

describe("simulated ONVIF camera, WS-Security UsernameToken", () => {
  it("accepts a digest of the right password and refuses a wrong one with env:Sender ter:NotAuthorized and HTTP 400", async () => {
    const cam = await camera();
    expect((await soap(cam, info, admin)).status).toBe(200);
    const bad = await soap(cam, info, { ...admin, password: "guess" });
    expect(bad.status).toBe(400);
    expect(descend(bad.body, "Fault", "Code", "Value")?.text).toBe("env:Sender");
    expect(faultSubcodes(bad.body)).toEqual(["ter:NotAuthorized"]);
    expect(descend(bad.body, "Fault", "Reason", "Text")?.text).toBe("Sender not Authorized");
    expect((await soap(cam, info, { ...admin, username: "root" })).status).toBe(400);
    expect(cam.stats().rejected).toEqual({ "bad-credentials": 2 });
  });

  it("accepts the password as PasswordText too (UsernameToken Profile 3.1)", async () => {
    const cam = await camera();
    expect((await soap(cam, info, { ...admin, text: true })).status).toBe(200);
    expect((await soap(cam, info, { ...admin, password: "guess", text: true })).status).toBe(400);
  });

  it("refuses a token whose nonce it has already accepted", async () => {
    const cam = await camera();
    const token = { ...admin, nonce: randomBytes(16), created: new Date().toISOString() };
    expect((await soap(cam, info, token)).status).toBe(200);
    expect((await soap(cam, info, token)).status).toBe(400);
    expect(cam.stats().rejected).toEqual({ replayed: 1 });
  });

  it("refuses a token without a Created timestamp (ONVIF Core: nonce and Created are both required)", async () => {
    const cam = await camera();
    const body = soapEnvelope(info, admin).replace(/<wsu:Created>[^<]*<\/wsu:Created>/, "");
    const r = await request(`${cam.url}onvif/device_service`, { body });
    expect(r.status).toBe(400);
    expect(cam.stats().rejected).toEqual({ incomplete: 1 });
  });

  it("refuses a right password whose Created is outside ±authWindowMs of the camera's skewed clock, and accepts one made from that clock", async () => {
    const cam = await camera({ clockOffsetMs: 90_000 });
    // Same fault as a wrong password: a client tells them apart by comparing clocks.
    const fromGateway = await soap(cam, info, admin);
    expect(fromGateway.status).toBe(400);
    expect(faultSubcodes(fromGateway.body)).toEqual(["ter:NotAuthorized"]);
    expect(cam.stats().rejected).toEqual({ stale: 1 });
    const skew = (await reportedUtc(cam)) - Date.now();
    expect(skew).toBeGreaterThan(88_000);
    expect(skew).toBeLessThan(91_000);
    expect((await soap(cam, info, { ...admin, created: new Date(Date.now() + skew).toISOString() })).status).toBe(200);
  });

  it("honours a wider authWindowMs, as lenient cameras do", async () => {
    const cam = await camera({ clockOffsetMs: 90_000, authWindowMs: 300_000 });
    expect((await soap(cam, info, admin)).status).toBe(200);
  });

  it("answers GetSystemDateAndTime without credentials, and GetServices and GetCapabilities too only with preAuth date-and-services", async () => {
    const strict = await camera();
    const lenient = await camera({ preAuth: "date-and-services" });
    for (const [cam, services] of [
      [strict, 401],
      [lenient, 200],
    ] as const) {
      expect((await soap(cam, op("GetSystemDateAndTime"))).status).toBe(200);
      expect((await soap(cam, op("GetServices", undefined, "<IncludeCapability>false</IncludeCapability>"))).status).toBe(services);
      expect((await soap(cam, op("GetCapabilities"))).status).toBe(services);
      expect((await soap(cam, info)).status).toBe(401);
    }
  });

  it("still answers GetSystemDateAndTime to a client with a wrong password", async () => {
    const cam = await camera();
    expect((await soap(cam, op("GetSystemDateAndTime"), { ...admin, password: "guess" })).status).toBe(200);
  });
});

describe("simulated ONVIF camera, HTTP Digest on SOAP (ONVIF Core 5.12.1)", () => {
  it("asks a request without credentials for Digest with a 401 challenge, and accepts a correct Digest response", async () => {
    const cam = await camera();
    const url = `${cam.url}onvif/device_service`;
    const first = await request(url, { body: soapEnvelope(info) });
    expect(first.status).toBe(401);
    const challenge = String(first.headers["www-authenticate"]);
    expect(challenge).toMatch(/^Digest realm="[^"]+", qop="auth", nonce="[0-9a-f]+", opaque="[0-9a-f]+", algorithm=MD5$/);
    const ok = await request(url, {
      body: soapEnvelope(info),
      headers: { Authorization: digestAuthorization(challenge, "POST", "/onvif/device_service", "admin", "secret") },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.toString()).toMatch(/<tds:GetDeviceInformationResponse>/);
  });

  it("refuses a Digest response with a wrong password or computed for another URI", async () => {
    const cam = await camera();
    const url = `${cam.url}onvif/device_service`;
    const challenge = String((await request(url, { body: soapEnvelope(info) })).headers["www-authenticate"]);
    for (const authorization of [
      digestAuthorization(challenge, "POST", "/onvif/device_service", "admin", "guess"),
      digestAuthorization(challenge, "POST", "/onvif/media_service", "admin", "secret"),
    ]) {
      const r = await request(url, { body: soapEnvelope(info), headers: { Authorization: authorization } });
      expect(r.status).toBe(401);
      expect(r.headers["www-authenticate"]).toMatch(/^Digest /);
    }
  });

  it("checks a WS-Security token sent along with a valid Digest, and refuses a wrong one", async () => {
    const cam = await camera();
    const url = `${cam.url}onvif/device_service`;
    const challenge = String((await request(url, { body: soapEnvelope(info) })).headers["www-authenticate"]);
    const authorization = digestAuthorization(challenge, "POST", "/onvif/device_service", "admin", "secret");
    const r = await request(url, { body: soapEnvelope(info, { ...admin, password: "guess" }), headers: { Authorization: authorization } });
    expect(r.status).toBe(400);
    expect(r.body.toString()).toMatch(/ter:NotAuthorized/);
  });

  it("with soapAuth ws-security, answers a request without credentials 400 NotAuthorized and offers no Digest", async () => {
    const cam = await camera({ soapAuth: "ws-security" });
    const r = await request(`${cam.url}onvif/device_service`, { body: soapEnvelope(info) });
    expect(r.status).toBe(400);
    expect(r.headers["www-authenticate"]).toBeUndefined();
  });

  it("with authFaultStatus 401, answers a bad token 401 with NotAuthorized and a Digest challenge", async () => {
    const cam = await camera({ authFaultStatus: 401 });
    const r = await soap(cam, info, { ...admin, password: "guess" });
    expect(r.status).toBe(401);
    expect(faultSubcodes(r.body)).toEqual(["ter:NotAuthorized"]);
    expect(r.headers["www-authenticate"]).toMatch(/^Digest /);
  });
});

describe("simulated ONVIF camera, snapshot behind HTTP Digest", () => {
  it("serves a real JPEG of a few KB only to a correct Digest response", async () => {
    const cam = await camera();
    const uri = descend(
      (await soap(cam, op("GetSnapshotUri", TRT, "<ProfileToken>Profile_1</ProfileToken>"), admin)).body,
      "GetSnapshotUriResponse",
      "MediaUri",
      "Uri",
    )?.text;
    const { first, second } = await digestGet(uri ?? "", "admin", "secret");
    expect(first.status).toBe(401);
    expect(first.headers["www-authenticate"]).toMatch(/qop="auth"/);
    expect(second.status).toBe(200);
    expect(second.headers["content-type"]).toBe("image/jpeg");
    expect(Number(second.headers["content-length"])).toBe(second.body.length);
    expect(second.body.length).toBeGreaterThan(2000);
    expect(second.body.length).toBeLessThan(64 * 1024);
    const jpeg = jpegStructure(second.body);
    expect(jpeg).toMatchObject({ width: 320, height: 240, components: 3 });
    expect(jpeg.markers).toEqual([0xd8, 0xe0, 0xdb, 0xc0, 0xc4, 0xda, 0xd9]);
    expect(cam.stats().snapshots).toBe(1);
  });

  it("refuses a wrong password with 401 and a fresh challenge, and answers an unknown profile 404", async () => {
    const cam = await camera();
    const wrong = await digestGet(`${cam.url}onvif/snapshot?profile=Profile_1`, "admin", "guess");
    expect(wrong.second.status).toBe(401);
    expect(wrong.second.headers["www-authenticate"]).toMatch(/^Digest /);
    expect((await digestGet(`${cam.url}onvif/snapshot?profile=Profile_7`, "admin", "secret")).second.status).toBe(404);
  });

  it("gives each camera its own picture", async () => {
    const [a, b] = [await camera({ serialNumber: "A1" }), await camera({ serialNumber: "B2" })];
    const get = async (c: typeof a) => (await digestGet(`${c.url}onvif/snapshot?profile=Profile_1`, "admin", "secret")).second.body;
    expect((await get(a)).equals(await get(b))).toBe(false);
  });
});
