/**
 * The camera simulator checked by implementations that are not ours, so that
 * it cannot merely agree with our driver:
 * - Debian's python3-zeep builds the SOAP 1.2 requests from a WSDL
 *   (test/fixtures/onvif/device-media.wsdl), computes its own WS-Security
 *   UsernameToken digest, and validates and parses every answer with lxml
 *   (GetNetworkInterfaces against a WSDL of its own, below);
 * - the expected local times come from the platform's IANA zone data (Intl),
 *   not from the simulator's POSIX TZ rules;
 * - curl computes HTTP Digest for the snapshot, and libjpeg-turbo's djpeg
 *   decodes it.
 * Needs /usr/bin/python3 with python3-zeep, curl, and djpeg (libjpeg-turbo-progs).
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
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

/**
 * GetNetworkInterfaces, which device-media.wsdl does not cover: a WSDL of its
 * own, with the ONVIF schema's types for tt:NetworkInterface (ver10
 * onvif.xsd: DeviceEntity's token; Enabled, Info (Name?, HwAddress, MTU?),
 * Link, IPv4 (Enabled, Config: Manual*, LinkLocal?, FromDHCP?, DHCP), IPv6?,
 * Extension?), which zeep validates the answer against.
 */
const NETWORK_WSDL = `<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/"
  xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:tt="http://www.onvif.org/ver10/schema"
  xmlns:tds="http://www.onvif.org/ver10/device/wsdl" targetNamespace="http://www.onvif.org/ver10/device/wsdl">
  <wsdl:types>
    <xs:schema targetNamespace="http://www.onvif.org/ver10/schema" elementFormDefault="qualified">
      <xs:simpleType name="ReferenceToken"><xs:restriction base="xs:string"><xs:maxLength value="64"/></xs:restriction></xs:simpleType>
      <xs:simpleType name="HwAddress"><xs:restriction base="xs:token"/></xs:simpleType>
      <xs:simpleType name="IPv4Address"><xs:restriction base="xs:token"/></xs:simpleType>
      <xs:simpleType name="IANA-IfTypes"><xs:restriction base="xs:int"/></xs:simpleType>
      <xs:simpleType name="Duplex"><xs:restriction base="xs:string">
        <xs:enumeration value="Full"/><xs:enumeration value="Half"/>
      </xs:restriction></xs:simpleType>
      <xs:complexType name="DeviceEntity"><xs:attribute name="token" type="tt:ReferenceToken" use="required"/></xs:complexType>
      <xs:complexType name="NetworkInterfaceInfo"><xs:sequence>
        <xs:element name="Name" type="xs:string" minOccurs="0"/><xs:element name="HwAddress" type="tt:HwAddress"/>
        <xs:element name="MTU" type="xs:int" minOccurs="0"/>
      </xs:sequence></xs:complexType>
      <xs:complexType name="NetworkInterfaceConnectionSetting"><xs:sequence>
        <xs:element name="AutoNegotiation" type="xs:boolean"/><xs:element name="Speed" type="xs:int"/>
        <xs:element name="Duplex" type="tt:Duplex"/>
      </xs:sequence></xs:complexType>
      <xs:complexType name="NetworkInterfaceLink"><xs:sequence>
        <xs:element name="AdminSettings" type="tt:NetworkInterfaceConnectionSetting"/>
        <xs:element name="OperSettings" type="tt:NetworkInterfaceConnectionSetting"/>
        <xs:element name="InterfaceType" type="tt:IANA-IfTypes"/>
      </xs:sequence></xs:complexType>
      <xs:complexType name="PrefixedIPv4Address"><xs:sequence>
        <xs:element name="Address" type="tt:IPv4Address"/><xs:element name="PrefixLength" type="xs:int"/>
      </xs:sequence></xs:complexType>
      <xs:complexType name="IPv4Configuration"><xs:sequence>
        <xs:element name="Manual" type="tt:PrefixedIPv4Address" minOccurs="0" maxOccurs="unbounded"/>
        <xs:element name="LinkLocal" type="tt:PrefixedIPv4Address" minOccurs="0"/>
        <xs:element name="FromDHCP" type="tt:PrefixedIPv4Address" minOccurs="0"/>
        <xs:element name="DHCP" type="xs:boolean"/>
        <xs:element name="Extension" type="xs:anyType" minOccurs="0"/>
      </xs:sequence></xs:complexType>
      <xs:complexType name="IPv4NetworkInterface"><xs:sequence>
        <xs:element name="Enabled" type="xs:boolean"/><xs:element name="Config" type="tt:IPv4Configuration"/>
      </xs:sequence></xs:complexType>
      <xs:complexType name="NetworkInterface"><xs:complexContent><xs:extension base="tt:DeviceEntity"><xs:sequence>
        <xs:element name="Enabled" type="xs:boolean"/>
        <xs:element name="Info" type="tt:NetworkInterfaceInfo" minOccurs="0"/>
        <xs:element name="Link" type="tt:NetworkInterfaceLink" minOccurs="0"/>
        <xs:element name="IPv4" type="tt:IPv4NetworkInterface" minOccurs="0"/>
        <xs:element name="IPv6" type="xs:anyType" minOccurs="0"/>
        <xs:element name="Extension" type="xs:anyType" minOccurs="0"/>
      </xs:sequence></xs:extension></xs:complexContent></xs:complexType>
    </xs:schema>
    <xs:schema targetNamespace="http://www.onvif.org/ver10/device/wsdl" elementFormDefault="qualified">
      <xs:import namespace="http://www.onvif.org/ver10/schema"/>
      <xs:element name="GetNetworkInterfaces"><xs:complexType><xs:sequence/></xs:complexType></xs:element>
      <xs:element name="GetNetworkInterfacesResponse"><xs:complexType><xs:sequence>
        <xs:element name="NetworkInterfaces" type="tt:NetworkInterface" maxOccurs="unbounded"/>
      </xs:sequence></xs:complexType></xs:element>
    </xs:schema>
  </wsdl:types>
  <wsdl:message name="GetNetworkInterfacesRequest"><wsdl:part name="parameters" element="tds:GetNetworkInterfaces"/></wsdl:message>
  <wsdl:message name="GetNetworkInterfacesResponse"><wsdl:part name="parameters" element="tds:GetNetworkInterfacesResponse"/></wsdl:message>
  <wsdl:portType name="Device">
    <wsdl:operation name="GetNetworkInterfaces"><wsdl:input message="tds:GetNetworkInterfacesRequest"/><wsdl:output message="tds:GetNetworkInterfacesResponse"/></wsdl:operation>
  </wsdl:portType>
  <wsdl:binding name="DeviceBinding" type="tds:Device">
    <soap12:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="GetNetworkInterfaces"><soap12:operation soapAction="http://www.onvif.org/ver10/device/wsdl/GetNetworkInterfaces"/>
      <wsdl:input><soap12:body use="literal"/></wsdl:input><wsdl:output><soap12:body use="literal"/></wsdl:output></wsdl:operation>
  </wsdl:binding>
</wsdl:definitions>
`;

/** zeep calls GetNetworkInterfaces, signed with its own UsernameToken digest: the interfaces as it parsed them, or the fault. */
const NETWORK_ZEEP = `
import json, sys
from zeep import Client, Settings
from zeep.exceptions import Fault
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken
wsdl, url, user, password = sys.argv[1:5]
client = Client(wsdl, wsse=UsernameToken(user, password, use_digest=True), transport=Transport(timeout=5, operation_timeout=5), settings=Settings(strict=True))
device = client.create_service("{http://www.onvif.org/ver10/device/wsdl}DeviceBinding", url)
try:
    nics = device.GetNetworkInterfaces()
    print(json.dumps({"interfaces": [{
        "token": n.token, "enabled": n.Enabled, "name": n.Info.Name, "hw": n.Info.HwAddress, "mtu": n.Info.MTU,
        "duplex": n.Link.OperSettings.Duplex, "ipv4": [m.Address for m in n.IPv4.Config.Manual] if n.IPv4 is not None else None,
    } for n in nics]}))
except Fault as f:
    print(json.dumps({"fault": f.code, "subcodes": [[q.namespace, q.localname] for q in f.subcodes or []]}))
`;

describe("camera GetNetworkInterfaces, seen by python3-zeep", () => {
  let dir: string;
  let wsdl: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "camera-network-"));
    wsdl = join(dir, "network.wsdl");
    writeFileSync(wsdl, NETWORK_WSDL);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function interfaces(cam: SimCamera, password = "secret"): Promise<Record<string, unknown>> {
    const r = await run(PYTHON, ["-c", NETWORK_ZEEP, wsdl, cam.deviceServiceUrl, "admin", password]);
    if (r.code !== 0) throw new Error(`zeep GetNetworkInterfaces exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }

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
