/**
 * The simulated camera's SOAP operations over real HTTP: each answers a
 * well-formed SOAP 1.2 envelope with the elements ONVIF defines, and the
 * generic faults come with their codes and HTTP statuses.
 */
import { describe, expect, it } from "vitest";
import { attr, child, childrenNamed, descend } from "../../scripts/sim/camera-xml.js";
import { faultSubcodes, must, op, request, SOAP_ENV, soap, TDS, TRT, TT, useCameras } from "./camera-helpers.js";

const camera = useCameras();
const admin = { username: "admin", password: "secret" };

const OPS: [string, string, string][] = [
  ["GetSystemDateAndTime", TDS, ""],
  ["GetCapabilities", TDS, "<Category>All</Category>"],
  ["GetServices", TDS, "<IncludeCapability>true</IncludeCapability>"],
  ["GetDeviceInformation", TDS, ""],
  ["GetNetworkInterfaces", TDS, ""],
  ["GetProfiles", TRT, ""],
  ["GetVideoSources", TRT, ""],
  [
    "GetStreamUri",
    TRT,
    `<StreamSetup><Stream xmlns="${TT}">RTP-Unicast</Stream><Transport xmlns="${TT}"><Protocol>RTSP</Protocol></Transport></StreamSetup><ProfileToken>Profile_1</ProfileToken>`,
  ],
  ["GetSnapshotUri", TRT, "<ProfileToken>Profile_1</ProfileToken>"],
];

describe("simulated ONVIF camera, SOAP operations", () => {
  it("answers every operation with a well-formed SOAP 1.2 envelope holding its response, with an exact Content-Length", async () => {
    const cam = await camera();
    for (const [name, ns, inner] of OPS) {
      const r = await soap(cam, op(name, ns, inner), admin);
      expect(r.status, name).toBe(200);
      expect(r.headers["content-type"], name).toBe("application/soap+xml; charset=utf-8");
      expect(Number(r.headers["content-length"]), name).toBe(Buffer.byteLength(r.xml));
      const response = r.body.children[0];
      expect({ local: response?.local, ns: response?.ns }, name).toEqual({ local: `${name}Response`, ns });
    }
    expect(cam.stats().operations).toEqual(Object.fromEntries(OPS.map(([name]) => [name, 1])));
  });

  it("reports its identity in GetDeviceInformation, and a changed one after setIdentity", async () => {
    const cam = await camera({ manufacturer: "Acme & Sons", model: "X1", firmwareVersion: "1.0", serialNumber: "S1", hardwareId: "H1" });
    const info = async () => {
      const r = descend((await soap(cam, op("GetDeviceInformation"), admin)).body, "GetDeviceInformationResponse");
      return Object.fromEntries((r?.children ?? []).map((c) => [c.local, c.text]));
    };
    expect(await info()).toEqual({
      Manufacturer: "Acme & Sons",
      Model: "X1",
      FirmwareVersion: "1.0",
      SerialNumber: "S1",
      HardwareId: "H1",
    });
    cam.setIdentity({ firmwareVersion: "2.0" });
    expect((await info()).FirmwareVersion).toBe("2.0");
  });

  it("lists one enabled interface in GetNetworkInterfaces, in the schema's order, with its MAC: given, or a locally administered one from the serial", async () => {
    const iface = async (cam: Awaited<ReturnType<typeof camera>>) =>
      must(descend((await soap(cam, op("GetNetworkInterfaces"), admin)).body, "GetNetworkInterfacesResponse", "NetworkInterfaces"));
    const given = await iface(await camera({ macAddress: "00:40:8C:12:34:56" }));
    expect(attr(given, "token")).toBe("eth0");
    expect(given.children.map((c) => c.local)).toEqual(["Enabled", "Info", "Link", "IPv4"]);
    expect(given.children.every((c) => c.ns === TT)).toBe(true);
    expect(child(given, "Enabled")?.text).toBe("true");
    expect(Object.fromEntries(must(child(given, "Info")).children.map((c) => [c.local, c.text]))).toEqual({
      Name: "eth0",
      HwAddress: "00:40:8C:12:34:56",
      MTU: "1500",
    });
    expect(descend(given, "IPv4", "Config", "Manual", "Address")?.text).toBe("127.0.0.1");
    const mac = async (serialNumber: string) => descend(await iface(await camera({ serialNumber })), "Info", "HwAddress")?.text;
    const a = await mac("LX4410A0117");
    expect(a).toMatch(/^02(:[0-9a-f]{2}){5}$/);
    expect(await mac("LX4410A0117")).toBe(a);
    expect(await mac("LX4410A0118")).not.toBe(a);
  });

  it("asks for credentials on GetNetworkInterfaces as on GetDeviceInformation, and faults it with ter:ActionNotSupported when it has no MAC", async () => {
    const cam = await camera();
    expect((await soap(cam, op("GetNetworkInterfaces"))).status).toBe(401);
    const wrong = await soap(cam, op("GetNetworkInterfaces"), { ...admin, password: "guess" });
    expect([wrong.status, faultSubcodes(wrong.body)]).toEqual([400, ["ter:NotAuthorized"]]);
    const none = await soap(await camera({ macAddress: null }), op("GetNetworkInterfaces"), admin);
    expect([none.status, faultSubcodes(none.body)]).toEqual([500, ["ter:ActionNotSupported"]]);
  });

  it("lists the device and media services in GetServices at the address the client used, with capabilities only when asked", async () => {
    const cam = await camera();
    const services = async (include: boolean, host?: string) =>
      childrenNamed(
        must(
          descend(
            (
              await soap(cam, op("GetServices", TDS, `<IncludeCapability>${include}</IncludeCapability>`), admin, {
                headers: host ? { Host: host } : {},
              })
            ).body,
            "GetServicesResponse",
          ),
        ),
        "Service",
      );
    const plain = await services(false, "camera.example:8080");
    expect(plain.map((s) => [child(s, "Namespace")?.text, child(s, "XAddr")?.text])).toEqual([
      [TDS, "http://camera.example:8080/onvif/device_service"],
      [TRT, "http://camera.example:8080/onvif/media_service"],
    ]);
    expect(plain.map((s) => child(s, "Capabilities"))).toEqual([undefined, undefined]);
    const withCaps = await services(true);
    expect(child(withCaps[0], "XAddr")?.text).toBe(`${cam.url}onvif/device_service`);
    expect(attr(descend(withCaps[0], "Capabilities", "Capabilities", "Security"), "UsernameToken")).toBe("true");
    expect(attr(descend(withCaps[1], "Capabilities", "Capabilities"), "SnapshotUri")).toBe("true");
  });

  it("answers GetCapabilities for All, Device or Media, and faults other categories with ter:ActionNotSupported/ter:NoSuchService", async () => {
    const cam = await camera();
    const caps = async (category: string) => soap(cam, op("GetCapabilities", TDS, `<Category>${category}</Category>`), admin);
    const all = descend((await caps("All")).body, "GetCapabilitiesResponse", "Capabilities");
    expect(all?.children.map((c) => c.local)).toEqual(["Device", "Media"]);
    expect(descend(all, "Media", "XAddr")?.text).toBe(`${cam.url}onvif/media_service`);
    expect(descend((await caps("Media")).body, "GetCapabilitiesResponse", "Capabilities")?.children.map((c) => c.local)).toEqual(["Media"]);
    const ptz = await caps("PTZ");
    expect(ptz.status).toBe(500);
    expect(faultSubcodes(ptz.body)).toEqual(["ter:ActionNotSupported", "ter:NoSuchService"]);
  });

  it("lists the configured number of profiles, each with an H264 encoder and a source configuration naming the video source", async () => {
    const cam = await camera({ profiles: 3 });
    const profiles = childrenNamed(must(descend((await soap(cam, op("GetProfiles", TRT), admin)).body, "GetProfilesResponse")), "Profiles");
    expect(profiles.map((p) => attr(p, "token"))).toEqual(["Profile_1", "Profile_2", "Profile_3"]);
    const sources = childrenNamed(
      must(descend((await soap(cam, op("GetVideoSources", TRT), admin)).body, "GetVideoSourcesResponse")),
      "VideoSources",
    );
    expect(sources.map((s) => attr(s, "token"))).toEqual(["VideoSource_1"]);
    for (const p of profiles) {
      expect(descend(p, "VideoSourceConfiguration", "SourceToken")?.text).toBe("VideoSource_1");
      expect(descend(p, "VideoEncoderConfiguration", "Encoding")?.text).toBe("H264");
    }
  });

  it("returns stream and snapshot URIs for a known profile, and ter:InvalidArgVal/ter:NoProfile for an unknown one", async () => {
    const cam = await camera({ rtspPort: 8554 });
    const uri = async (name: string, token: string) =>
      soap(cam, op(name, TRT, `<ProfileToken>${token}</ProfileToken>`), admin, { path: "/onvif/media_service" });
    expect(descend((await uri("GetStreamUri", "Profile_2")).body, "GetStreamUriResponse", "MediaUri", "Uri")?.text).toBe(
      "rtsp://127.0.0.1:8554/Streaming/Profile_2",
    );
    expect(descend((await uri("GetSnapshotUri", "Profile_1")).body, "GetSnapshotUriResponse", "MediaUri", "Uri")?.text).toBe(
      `${cam.url}onvif/snapshot?profile=Profile_1`,
    );
    for (const name of ["GetStreamUri", "GetSnapshotUri"]) {
      const bad = await uri(name, "Profile_9");
      expect(bad.status, name).toBe(400);
      expect(faultSubcodes(bad.body), name).toEqual(["ter:InvalidArgVal", "ter:NoProfile"]);
    }
  });

  it("answers any operation on either service path, as many cameras do", async () => {
    const cam = await camera();
    const onMedia = await soap(cam, op("GetDeviceInformation"), admin, { path: "/onvif/media_service" });
    const onDevice = await soap(cam, op("GetProfiles", TRT), admin, { path: "/onvif/device_service" });
    expect([onMedia.status, onMedia.body.children[0]?.local]).toEqual([200, "GetDeviceInformationResponse"]);
    expect([onDevice.status, onDevice.body.children[0]?.local]).toEqual([200, "GetProfilesResponse"]);
  });

  it("faults an unknown operation, or a known name in another service's namespace, with env:Receiver ter:ActionNotSupported and HTTP 500", async () => {
    const cam = await camera();
    for (const body of [op("GetHostname"), op("GetProfiles", "http://www.onvif.org/ver20/media/wsdl")]) {
      const r = await soap(cam, body, admin);
      expect(r.status).toBe(500);
      expect(descend(r.body, "Fault", "Code", "Value")?.text).toBe("env:Receiver");
      expect(faultSubcodes(r.body)).toEqual(["ter:ActionNotSupported"]);
      expect(descend(r.body, "Fault", "Reason", "Text")?.text).toBe("Optional Action Not Implemented");
    }
    expect(cam.stats().operations).toEqual({ unknown: 2 });
  });

  it("faults a request that is not well-formed XML with env:Sender ter:WellFormed and HTTP 400", async () => {
    const cam = await camera();
    for (const body of [
      "<s:Envelope xmlns:s='x'><s:Body>",
      "not xml at all",
      `<s:Envelope xmlns:s="${SOAP_ENV}"><s:Body><a></b></s:Body></s:Envelope>`,
    ]) {
      const r = await request(`${cam.url}onvif/device_service`, { body });
      expect(r.status).toBe(400);
      expect(r.body.toString()).toMatch(/<env:Value>ter:WellFormed<\/env:Value>/);
    }
  });

  it("answers a SOAP 1.1 envelope with a VersionMismatch fault that names SOAP 1.2 in an Upgrade header", async () => {
    const cam = await camera();
    const r = await request(`${cam.url}onvif/device_service`, {
      body: `<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body>${op("GetSystemDateAndTime")}</e:Body></e:Envelope>`,
    });
    expect(r.status).toBe(500);
    const text = r.body.toString();
    expect(text).toMatch(/<env:Value>env:VersionMismatch<\/env:Value>/);
    expect(text).toMatch(
      /<env:Upgrade><env:SupportedEnvelope qname="ns:Envelope" xmlns:ns="http:\/\/www.w3.org\/2003\/05\/soap-envelope"\/>/,
    );
  });

  it("answers GET on a service path with 405 and any other path with 404", async () => {
    const cam = await camera();
    expect((await request(`${cam.url}onvif/device_service`)).status).toBe(405);
    expect((await request(`${cam.url}index.html`)).status).toBe(404);
  });
});
