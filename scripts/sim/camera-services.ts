/**
 * The ONVIF operations the simulated camera answers, as body XML: the device
 * service (ONVIF Core 8, tds) and the media service (ONVIF Media 5, trt), with
 * the elements and order of their WSDL/XSD types, written the way cameras
 * write them (tds/trt/tt prefixes, unpadded integers, XAddrs built from the
 * Host the client used — Core 8.1.2.1: "the device shall match the scheme and
 * IP part of the one used in the GetServices request").
 */

import { createHash } from "node:crypto";
import { FAULTS, NS, type SoapFault } from "./camera-soap.js";
import { cameraClock, type DateTimeFields, type PosixTz, type TimeReport } from "./camera-time.js";
import { childrenNamed, descend, escapeXml, type XmlElement } from "./camera-xml.js";

export const DEVICE_PATH = "/onvif/device_service";
export const MEDIA_PATH = "/onvif/media_service";
export const SNAPSHOT_PATH = "/onvif/snapshot";

/** Each operation and the service namespace that defines it. */
export const OPERATIONS = {
  GetSystemDateAndTime: NS.tds,
  GetCapabilities: NS.tds,
  GetServices: NS.tds,
  GetDeviceInformation: NS.tds,
  GetNetworkInterfaces: NS.tds,
  GetProfiles: NS.trt,
  GetVideoSources: NS.trt,
  GetStreamUri: NS.trt,
  GetSnapshotUri: NS.trt,
} as const;
export type OperationName = keyof typeof OPERATIONS;

export function operationOf(el: XmlElement): OperationName | undefined {
  const name = el.local as OperationName;
  // Namespace, not path, names the service: Media2's GetProfiles (ver20) is another operation.
  return Object.hasOwn(OPERATIONS, name) && OPERATIONS[name] === el.ns ? name : undefined;
}

export interface CameraIdentity {
  manufacturer: string;
  model: string;
  firmwareVersion: string;
  serialNumber: string;
  hardwareId: string;
  /** HwAddress of its one network interface, sent as written; null: GetNetworkInterfaces is not implemented. */
  macAddress: string | null;
}

/**
 * The default MAC address of a camera with this serial number: locally
 * administered (02:…, the IEEE 802 U/L bit set: no vendor's OUI) and
 * unicast, the other five octets from a hash of the serial, so that one
 * camera keeps its MAC and cameras differ.
 */
export function defaultMacAddress(serialNumber: string): string {
  const octets = [0x02, ...createHash("sha256").update(serialNumber, "utf8").digest().subarray(0, 5)];
  return octets.map((o) => o.toString(16).padStart(2, "0")).join(":");
}

/** Everything an answer depends on, fixed for one request. */
export interface ServiceState {
  identity: CameraIdentity;
  tz: PosixTz;
  timeReport: TimeReport;
  dateTimeType: "NTP" | "Manual";
  /** The camera's clock (real time + its offset), ms since the epoch. */
  cameraNowMs: number;
  /** scheme://host:port the client addressed, no trailing slash. */
  baseUrl: string;
  rtspPort: number;
  profiles: number;
  /** Whether HTTP Digest is offered on SOAP requests (reported in GetServices' security capabilities). */
  httpDigest: boolean;
  /** Fault no-video-source: profiles name a video source that does not exist. */
  noVideoSource: boolean;
  /** Fault invalid-utf8: free-text fields carry non-ASCII text (sent as Latin-1 bytes by the caller). */
  latin1Text: boolean;
}

const STREAMS = [
  { name: "MainStream", width: 1920, height: 1080, fps: 25, kbps: 4096 },
  { name: "SubStream", width: 640, height: 360, fps: 15, kbps: 512 },
  { name: "ThirdStream", width: 320, height: 180, fps: 10, kbps: 256 },
] as const;
const VIDEO_SOURCE = "VideoSource_1";

export function profileTokens(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `Profile_${i + 1}`);
}

type Handler = (req: XmlElement, s: ServiceState) => string | SoapFault;

const el = (name: string, content: string | number | boolean) => `<${name}>${content}</${name}>`;
const text = (name: string, value: string) => el(name, escapeXml(value));
const dateTime = (name: string, f: DateTimeFields) =>
  el(
    name,
    el("tt:Time", el("tt:Hour", f.hour) + el("tt:Minute", f.minute) + el("tt:Second", f.second)) +
    el("tt:Date", el("tt:Year", f.year) + el("tt:Month", f.month) + el("tt:Day", f.day)),
  );

const HANDLERS: Record<OperationName, Handler> = {
  // Core 8.3.9 GetSystemDateAndTime; tt:SystemDateTime = DateTimeType, DaylightSavings, TimeZone?, UTCDateTime?, LocalDateTime?.
  GetSystemDateAndTime(_req, s) {
    const clock = cameraClock(s.tz, s.cameraNowMs);
    const tz = el("tt:TimeZone", text("tt:TZ", s.tz.source));
    const times = {
      "utc-and-local": dateTime("tt:UTCDateTime", clock.utc) + dateTime("tt:LocalDateTime", clock.local),
      "utc-only": dateTime("tt:UTCDateTime", clock.utc),
      "local-only": dateTime("tt:LocalDateTime", clock.local),
      // A firmware bug seen in the field: local time under the UTCDateTime name.
      "local-as-utc": dateTime("tt:UTCDateTime", clock.local) + dateTime("tt:LocalDateTime", clock.local),
    }[s.timeReport];
    return el(
      "tds:GetSystemDateAndTimeResponse",
      el("tds:SystemDateAndTime", el("tt:DateTimeType", s.dateTimeType) + el("tt:DaylightSavings", clock.dst) + tz + times),
    );
  },

  // Core 8.1.2.5 GetCapabilities (deprecated by GetServices, still what older clients ask).
  GetCapabilities(req, s) {
    const asked = childrenNamed(req, "Category").map((c) => c.text.trim());
    const want = new Set(asked.length === 0 || asked.includes("All") ? ["Device", "Media"] : asked);
    for (const c of want) if (c !== "Device" && c !== "Media") return FAULTS.noSuchService;
    const no = (...names: string[]) => names.map((n) => el(`tt:${n}`, false)).join("");
    const device = el(
      "tt:Device",
      el("tt:XAddr", `${s.baseUrl}${DEVICE_PATH}`) +
      el("tt:Network", no("IPFilter", "ZeroConfiguration", "IPVersion6", "DynDNS")) +
      el(
        "tt:System",
        no("DiscoveryResolve", "DiscoveryBye", "RemoteDiscovery", "SystemBackup", "SystemLogging", "FirmwareUpgrade") +
        el("tt:SupportedVersions", el("tt:Major", 2) + el("tt:Minor", 60)),
      ) +
      el(
        "tt:Security",
        no("TLS1.1", "TLS1.2", "OnboardKeyGeneration", "AccessPolicyConfig", "X.509Token", "SAMLToken", "KerberosToken", "RELToken"),
      ),
    );
    const media = el(
      "tt:Media",
      el("tt:XAddr", `${s.baseUrl}${MEDIA_PATH}`) +
      el("tt:StreamingCapabilities", el("tt:RTPMulticast", false) + el("tt:RTP_TCP", true) + el("tt:RTP_RTSP_TCP", true)),
    );
    // tt:Capabilities orders Analytics, Device, Events, Imaging, Media, PTZ.
    return el("tds:GetCapabilitiesResponse", el("tds:Capabilities", (want.has("Device") ? device : "") + (want.has("Media") ? media : "")));
  },

  // Core 8.1.2.1 GetServices: one tds:Service per service, capabilities only when asked.
  GetServices(req, s) {
    const include = descend(req, "IncludeCapability")?.text.trim() === "true";
    const service = (ns: string, path: string, caps: string) =>
      el(
        "tds:Service",
        el("tds:Namespace", ns) +
        el("tds:XAddr", `${s.baseUrl}${path}`) +
        (include ? el("tds:Capabilities", caps) : "") +
        el("tds:Version", el("tt:Major", 2) + el("tt:Minor", 60)),
      );
    const deviceCaps =
      "<tds:Capabilities><tds:Network IPFilter=\"false\" ZeroConfiguration=\"false\" IPVersion6=\"false\" DynDNS=\"false\"/>" +
      `<tds:Security UsernameToken="true" HttpDigest="${s.httpDigest}" TLS1.2="false" DefaultAccessPolicy="false"/>` +
      "<tds:System DiscoveryResolve=\"false\" DiscoveryBye=\"false\" RemoteDiscovery=\"false\" SystemBackup=\"false\" SystemLogging=\"false\" FirmwareUpgrade=\"false\"/></tds:Capabilities>";
    const mediaCaps =
      `<trt:Capabilities SnapshotUri="true" Rotation="false"><trt:ProfileCapabilities MaximumNumberOfProfiles="${s.profiles}"/>` +
      "<trt:StreamingCapabilities RTPMulticast=\"false\" RTP_TCP=\"true\" RTP_RTSP_TCP=\"true\"/></trt:Capabilities>";
    return el("tds:GetServicesResponse", service(NS.tds, DEVICE_PATH, deviceCaps) + service(NS.trt, MEDIA_PATH, mediaCaps));
  },

  // Core 8.3.1 GetDeviceInformation.
  GetDeviceInformation(_req, s) {
    const id = s.identity;
    // ® as a Latin-1 byte: a vendor string written by firmware that does not speak UTF-8.
    const manufacturer = s.latin1Text ? `${id.manufacturer}\u00ae` : id.manufacturer;
    return el(
      "tds:GetDeviceInformationResponse",
      text("tds:Manufacturer", manufacturer) +
      text("tds:Model", id.model) +
      text("tds:FirmwareVersion", id.firmwareVersion) +
      text("tds:SerialNumber", id.serialNumber) +
      text("tds:HardwareId", id.hardwareId),
    );
  },

  // Core, device management (network) GetNetworkInterfaces: tt:NetworkInterface (token) = Enabled, Info? (Name?, HwAddress, MTU?), Link?, IPv4?, IPv6?.
  GetNetworkInterfaces(_req, s) {
    const mac = s.identity.macAddress;
    if (mac === null) return FAULTS.actionNotSupported;
    const link = (name: string) => el(name, el("tt:AutoNegotiation", true) + el("tt:Speed", 100) + el("tt:Duplex", "Full"));
    const host = new URL(s.baseUrl).hostname;
    // The address the client reached, when it is IPv4 (a camera lists its own; this one's is where it listens).
    const config = el("tt:Config", el("tt:Manual", el("tt:Address", host) + el("tt:PrefixLength", 24)) + el("tt:DHCP", false));
    const ipv4 = /^\d{1,3}(\.\d{1,3}){3}$/.test(host) ? el("tt:IPv4", el("tt:Enabled", true) + config) : "";
    return el(
      "tds:GetNetworkInterfacesResponse",
      `<tds:NetworkInterfaces token="eth0">${el("tt:Enabled", true)}` +
      el("tt:Info", text("tt:Name", "eth0") + text("tt:HwAddress", mac) + el("tt:MTU", 1500)) +
      // InterfaceType 6: ethernetCsmacd (IANA ifType).
      el("tt:Link", link("tt:AdminSettings") + link("tt:OperSettings") + el("tt:InterfaceType", 6)) +
      `${ipv4}</tds:NetworkInterfaces>`,
    );
  },

  // Media 5.2.1 GetProfiles: tt:Profile = Name, VideoSourceConfiguration, VideoEncoderConfiguration, ...
  GetProfiles(_req, s) {
    return el(
      "trt:GetProfilesResponse",
      profileTokens(s.profiles)
        .map((token, i) => profileXml(token, i, s))
        .join(""),
    );
  },

  // Media 5.4.1 GetVideoSources.
  GetVideoSources() {
    const main = STREAMS[0];
    return el(
      "trt:GetVideoSourcesResponse",
      `<trt:VideoSources token="${VIDEO_SOURCE}">${el("tt:Framerate", main.fps)}${el("tt:Resolution", el("tt:Width", main.width) + el("tt:Height", main.height))}</trt:VideoSources>`,
    );
  },

  // Media 5.15.1 GetStreamUri.
  GetStreamUri(req, s) {
    const token = profileOf(req, s);
    if (typeof token !== "string") return token;
    const stream = descend(req, "StreamSetup", "Stream")?.text.trim() ?? "RTP-Unicast";
    const protocol = descend(req, "StreamSetup", "Transport", "Protocol")?.text.trim() ?? "RTSP";
    if (!["RTP-Unicast", "RTP-Multicast"].includes(stream) || !["UDP", "TCP", "RTSP", "HTTP"].includes(protocol)) {
      return FAULTS.invalidStreamSetup;
    }
    const host = new URL(s.baseUrl).hostname;
    return el("trt:GetStreamUriResponse", mediaUri(`rtsp://${host}:${s.rtspPort}/Streaming/${token}`));
  },

  // Media 5.15.2 GetSnapshotUri.
  GetSnapshotUri(req, s) {
    const token = profileOf(req, s);
    if (typeof token !== "string") return token;
    return el("trt:GetSnapshotUriResponse", mediaUri(`${s.baseUrl}${SNAPSHOT_PATH}?profile=${token}`));
  },
};

export function answer(op: OperationName, req: XmlElement, s: ServiceState): string | SoapFault {
  return HANDLERS[op](req, s);
}

function profileOf(req: XmlElement, s: ServiceState): string | SoapFault {
  const token = descend(req, "ProfileToken")?.text.trim();
  return token !== undefined && profileTokens(s.profiles).includes(token) ? token : FAULTS.noProfile;
}

function mediaUri(uri: string): string {
  return el(
    "trt:MediaUri",
    text("tt:Uri", uri) + el("tt:InvalidAfterConnect", false) + el("tt:InvalidAfterReboot", false) + el("tt:Timeout", "PT0S"),
  );
}

function profileXml(token: string, i: number, s: ServiceState): string {
  const st = STREAMS[Math.min(i, STREAMS.length - 1)] as (typeof STREAMS)[number];
  const name = i < STREAMS.length ? st.name : `Stream${i + 1}`;
  // ü as a Latin-1 byte in a name an installer typed: the usual source of invalid UTF-8 in the field.
  const profileName = s.latin1Text ? `Eingang S\u00fcd ${name}` : name;
  // The onvif library hangs on connect when no profile's source configuration names the first video source.
  const sourceToken = s.noVideoSource ? "VideoSource_2" : VIDEO_SOURCE;
  const main = STREAMS[0];
  const vsc =
    `<tt:VideoSourceConfiguration token="VideoSourceConfig_1">${text("tt:Name", "VideoSourceConfig_1")}${el("tt:UseCount", s.profiles)}` +
    `${el("tt:SourceToken", sourceToken)}<tt:Bounds x="0" y="0" width="${main.width}" height="${main.height}"/></tt:VideoSourceConfiguration>`;
  const vec =
    `<tt:VideoEncoderConfiguration token="VideoEncoder_${i + 1}">${text("tt:Name", `VideoEncoder_${i + 1}`)}${el("tt:UseCount", 1)}` +
    el("tt:Encoding", "H264") +
    el("tt:Resolution", el("tt:Width", st.width) + el("tt:Height", st.height)) +
    el("tt:Quality", 5) +
    el("tt:RateControl", el("tt:FrameRateLimit", st.fps) + el("tt:EncodingInterval", 1) + el("tt:BitrateLimit", st.kbps)) +
    el("tt:H264", el("tt:GovLength", st.fps * 2) + el("tt:H264Profile", "Main")) +
    el(
      "tt:Multicast",
      el("tt:Address", el("tt:Type", "IPv4") + el("tt:IPv4Address", "0.0.0.0")) +
      el("tt:Port", 0) +
      el("tt:TTL", 1) +
      el("tt:AutoStart", false),
    ) +
    el("tt:SessionTimeout", "PT60S") +
    "</tt:VideoEncoderConfiguration>";
  return `<trt:Profiles token="${token}" fixed="true">${text("tt:Name", profileName)}${vsc}${vec}</trt:Profiles>`;
}
