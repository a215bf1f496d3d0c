/**
 * The ONVIF operations one poll makes, each under its own deadline.
 *
 * The onvif library sends the requests (WS-Security UsernameToken, HTTP
 * Digest fallback); the answers are read here from the raw XML, not from the
 * library's parse, because that parse
 * - turns numeric-looking strings into numbers: firmware "1.10" becomes 1.1,
 *   which breaks firmware-baseline comparison in the asset register;
 * - reads LocalDateTime as if it were UTC;
 * - is strict xml2js: one unescaped `&` in a model name fails the whole answer.
 * So an answer counts when it is HTTP 2xx and holds the expected response
 * element, whatever the library made of it.
 */
import { parse as parseUrl } from "node:url";
import type { Identity, TraceStep } from "../contract.js";
import { errorLine, roundMs, type Trace } from "../trace.js";
import { CallFailure } from "./errors.js";
import type { CameraSession, Operation, Outcome, Timing } from "./session.js";
import { type CameraClock, cameraUtc, clockDriftMs, parseSystemDateAndTime } from "./time.js";
import { attr, cleanField, element, find, text } from "./xml.js";

export interface Step<T> {
  op: string;
  value: T;
  timing: Timing;
}

/** rt_<operation in snake case>_ms: the metric name of an operation's response time. */
export function rtMetric(op: string): string {
  return `rt_${op.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase()}_ms`;
}

/** One SOAP operation: how the library sends it, how its answer is read, and what it says, in a line, for a trace. */
interface SoapCall<T> {
  op: string;
  run: Operation<unknown>;
  /** The value the answer gives, or undefined when it holds no `what`. */
  read: (body: string, timing: Timing) => T | undefined;
  what: string;
  /** The step's name in a trace, when it says more than the operation. */
  step?: () => string;
  /** A traced step's detail: the value decoded. */
  describe: (value: T) => string;
  /** Why a value read is still of no use (the step then fails with it, as an answer failure); undefined: it is fine. */
  problem?: (value: T) => string | undefined;
  /** A deadline shorter than timeout_ms (see CameraSession.call). */
  timeoutMs?: number;
}

/**
 * Send one operation and read its answer. Traced: a step when it ends, its
 * raw answer the SOAP body as received, failed ones too.
 */
async function soap<T>(s: CameraSession, call: SoapCall<T>, signal: AbortSignal, trace: Trace | undefined): Promise<Step<T>> {
  const { op } = call;
  const o = await s.call(op, signal, call.run, call.timeoutMs !== undefined ? { timeoutMs: call.timeoutMs } : {});
  const ok2xx = o.raw !== undefined && o.raw.status >= 200 && o.raw.status < 300;
  const value = ok2xx && o.raw ? call.read(o.raw.body, o.timing) : undefined;
  const problem = value === undefined ? undefined : call.problem?.(value);
  if (value !== undefined && problem === undefined) {
    trace?.(soapStep(call, o, true, call.describe(value)));
    return { op, value, timing: o.timing };
  }
  let failure = o.ok ? new CallFailure("answer", "protocol", `${op}: the answer holds no ${call.what}`) : o.failure;
  if (problem !== undefined) failure = new CallFailure("answer", "protocol", `${op}: ${problem}`);
  trace?.(soapStep(call, o, false, errorLine(failure, op)));
  throw failure;
}

function soapStep(call: Pick<SoapCall<unknown>, "op" | "step">, o: Outcome<unknown>, ok: boolean, detail: string): TraceStep {
  return { step: call.step?.() ?? call.op, ms: roundMs(o.timing.ms), ok, detail, ...(o.raw !== undefined ? { raw: o.raw.body } : {}) };
}

export interface ClockReading {
  clock: CameraClock | null;
  /** Camera UTC minus gateway UTC; null when the camera's UTC time cannot be known. */
  driftMs: number | null;
  /** How the camera gave its time: "utc", "local_tz" (local time and zone), or null. */
  source: string | null;
  /** Why driftMs is null. */
  problem?: string;
}

/**
 * GetSystemDateAndTime (ONVIF Device service). Sent without credentials, as
 * the spec allows precisely so clients can learn the camera's clock before
 * signing; the library retries with credentials on a NotAuthorized answer
 * (some Panasonic and Digital Barriers cameras want them).
 */
export function readClock(s: CameraSession, signal: AbortSignal, trace?: Trace): Promise<Step<ClockReading>> {
  return soap(
    s,
    {
      op: "GetSystemDateAndTime",
      run: (done) => s.cam.getSystemDateAndTime((err) => done(err)),
      read: (body, timing) => (element(body, "GetSystemDateAndTimeResponse") === undefined ? undefined : clockReading(body, timing)),
      what: "GetSystemDateAndTimeResponse",
      describe: describeClock,
    },
    signal,
    trace,
  );
}

function clockReading(body: string, timing: Timing): ClockReading {
  const clock = parseSystemDateAndTime(body) ?? null;
  // Seen on a GWellTimes camera: a response with no date in it.
  if (clock === null) return { clock, driftMs: null, source: null, problem: "the camera gave no date" };
  const utc = cameraUtc(clock);
  if (!utc.ok) return { clock, driftMs: null, source: null, problem: utc.problem };
  return { clock, driftMs: clockDriftMs(utc.utcMs, timing.sentAt, timing.receivedAt), source: utc.source };
}

/** "camera time 2026-11-23T09:00:01Z (UTC, NTP), clock drift +1.2 s". */
function describeClock(c: ClockReading): string {
  const utc = c.clock === null ? undefined : cameraUtc(c.clock);
  if (c.driftMs === null || utc?.ok !== true) return `clock drift unknown: ${c.problem ?? "no usable time"}`;
  const given = c.source === "utc" ? "UTC" : `local time, TZ ${c.clock?.tz ?? "?"}`;
  const mode = c.clock?.mode === undefined ? "" : `, ${c.clock.mode}`;
  const drift = `${c.driftMs >= 0 ? "+" : "-"}${(Math.abs(c.driftMs) / 1000).toFixed(1)} s`;
  return `camera time ${new Date(utc.utcMs).toISOString().replace(".000Z", "Z")} (${given}${mode}), clock drift ${drift}`;
}

/** GetDeviceInformation (ONVIF Device service): the identity, read with credentials. */
export function deviceInformation(s: CameraSession, signal: AbortSignal, trace?: Trace): Promise<Step<Identity>> {
  return soap(
    s,
    {
      op: "GetDeviceInformation",
      run: (done) => s.cam.getDeviceInformation((err) => done(err)),
      read: (body) => {
        const r = element(body, "GetDeviceInformationResponse");
        if (r === undefined) return undefined;
        const fields: Identity = {};
        const set = (key: keyof Identity, element: string) => {
          const v = cleanField(text(r, element));
          if (v !== undefined) fields[key] = v;
        };
        set("manufacturer", "Manufacturer");
        set("model", "Model");
        set("firmware", "FirmwareVersion");
        set("serial", "SerialNumber");
        set("hardware_id", "HardwareId");
        return fields;
      },
      what: "GetDeviceInformationResponse",
      // A camera that checks tokens against another clock than it reports (see CameraSession.signWith).
      step: () => (s.signWith === "gateway" ? "GetDeviceInformation (signed with the gateway's clock)" : "GetDeviceInformation"),
      describe: (id) =>
        [
          [id.manufacturer, id.model].filter((v) => v !== undefined).join(" ") || "no manufacturer or model",
          `firmware ${id.firmware ?? "?"}`,
          `serial ${id.serial ?? "?"}`,
          ...(id.hardware_id !== undefined ? [`hardware ${id.hardware_id}`] : []),
        ].join(", "),
    },
    signal,
    trace,
  );
}

/** What GetNetworkInterfaces says of the camera's MAC address. */
export interface NetworkMac {
  /** The first enabled interface's valid MAC address, lower-case and colon-separated; undefined when none has one. */
  mac: string | undefined;
  /** The interface it is from: its Name, else its token. */
  from?: string;
  /** Interfaces listed, and how many of them are enabled. */
  listed: number;
  enabled: number;
  /** Why there is no mac. */
  problem?: string;
}

/**
 * A MAC address as the asset register keeps it ("00:40:8c:12:34:56"), from
 * the forms firmware writes: colon- or hyphen-separated (leading zeros
 * optional), Cisco-style dotted (0040.8c12.3456) or 12 bare hex digits.
 * undefined for anything else, for 00:00:00:00:00:00 (firmware that never
 * read its EEPROM) and for group addresses (the low bit of the first octet
 * set: multicast and broadcast, which name no interface).
 */
export function normaliseMac(raw: string): string | undefined {
  const s = raw.trim();
  let octets: string[] | undefined;
  const separated = /^[0-9a-f]{1,2}([:-])[0-9a-f]{1,2}(?:\1[0-9a-f]{1,2}){4}$/i.exec(s);
  if (separated) octets = s.split(separated[1] as string).map((o) => o.padStart(2, "0"));
  else if (/^(?:[0-9a-f]{4}\.){2}[0-9a-f]{4}$/i.test(s) || /^[0-9a-f]{12}$/i.test(s)) octets = s.replace(/\./g, "").match(/../g) ?? undefined;
  if (octets === undefined) return undefined;
  const mac = octets.join(":").toLowerCase();
  if (mac === "00:00:00:00:00:00" || (Number.parseInt(octets[0] as string, 16) & 1) === 1) return undefined;
  return mac;
}

/**
 * The MAC address in a GetNetworkInterfacesResponse (ONVIF Core, network;
 * tt:NetworkInterface = Enabled, Info? (Name?, HwAddress, MTU?), Link?,
 * IPv4?, IPv6?): the first enabled interface with a valid HwAddress.
 * Enabled is read as xs:boolean ("false" or "0" is off); an interface
 * without it (sloppy firmware) counts as enabled. undefined when the body is
 * not that answer.
 */
export function parseNetworkInterfaces(body: string): NetworkMac | undefined {
  const r = element(body, "GetNetworkInterfacesResponse");
  if (r === undefined) return undefined;
  const all = find(r, "NetworkInterfaces").map((f, i) => {
    const info = element(f.inner, "Info") ?? "";
    // The interface's own Enabled comes first: IPv4 and IPv6 have one of their own further in.
    const enabled = text(f.inner, "Enabled");
    return {
      name: cleanField(text(info, "Name"), 64) ?? cleanField(attr(f.attrs, "token"), 64) ?? `interface ${i + 1}`,
      enabled: enabled === undefined || !/^(false|0)$/i.test(enabled),
      hw: text(info, "HwAddress"),
    };
  });
  const enabled = all.filter((n) => n.enabled);
  const counts = { listed: all.length, enabled: enabled.length };
  for (const n of enabled) {
    const mac = n.hw === undefined ? undefined : normaliseMac(n.hw);
    if (mac !== undefined) return { mac, from: n.name, ...counts };
  }
  return { mac: undefined, ...counts, problem: noMacProblem(all.length, enabled) };
}

function noMacProblem(listed: number, enabled: { name: string; hw: string | undefined }[]): string {
  if (listed === 0) return "the camera lists no network interfaces";
  if (enabled.length === 0) return `no enabled network interface (${listed} listed, all disabled)`;
  const given = enabled.filter((n) => n.hw !== undefined && n.hw !== "");
  if (given.length === 0) return "no enabled network interface has a HwAddress";
  const values = given.map((n) => `${n.name}: ${JSON.stringify(cleanField(n.hw, 40) ?? "")}`).join(", ");
  return `no enabled network interface has a valid MAC address (${values})`;
}

/**
 * GetNetworkInterfaces (ONVIF Device service): the camera's MAC address, for
 * identify() only (the asset register's inventory; not worth a call on every
 * poll). Sent to the configured device service path: the library would send
 * it to the Device XAddr GetCapabilities gave, or to the path "device" when
 * it has none. timeoutMs bounds it below timeout_ms, so that a camera silent
 * on it still leaves identify() time to return the identity without it.
 */
export function networkInterfaces(s: CameraSession, signal: AbortSignal, timeoutMs: number, trace?: Trace): Promise<Step<NetworkMac>> {
  return soap(
    s,
    {
      op: "GetNetworkInterfaces",
      run: (done) => {
        s.cam.uri = { ...(s.cam.uri ?? {}), device: parseUrl(s.cfg.endpoint.path) };
        s.cam.getNetworkInterfaces((err) => done(err));
      },
      read: parseNetworkInterfaces,
      what: "GetNetworkInterfacesResponse",
      problem: (n) => n.problem,
      describe: (n) =>
        `MAC ${n.mac ?? "?"} (${n.from ?? "?"}${n.listed > 1 ? `; ${n.enabled} of ${n.listed} interfaces enabled` : ""})`,
      timeoutMs,
    },
    signal,
    trace,
  );
}

const MEDIA_NS = "http://www.onvif.org/ver10/media/wsdl";

/**
 * Where the Media service is: GetCapabilities (Media/XAddr), or GetServices
 * when the camera no longer implements GetCapabilities (deprecated since
 * ONVIF 2.1). Only the path is used: the library sends every request to the
 * configured host and port, which is right for cameras behind NAT that
 * advertise their inside address.
 */
export async function locateMedia(s: CameraSession, signal: AbortSignal, trace?: Trace): Promise<Step<string>[]> {
  const steps: Step<string>[] = [];
  const media = (xaddr: string) => (xaddr === "" ? "no Media service listed" : `Media service at ${xaddr}`);
  const capabilities = () =>
    soap(
      s,
      {
        op: "GetCapabilities",
        run: (done) => s.cam.getCapabilities((err) => done(err)),
        read: (body) => (element(body, "GetCapabilitiesResponse") === undefined ? undefined : (text(element(body, "Media") ?? "", "XAddr") ?? "")),
        what: "GetCapabilitiesResponse",
        describe: media,
      },
      signal,
      trace,
    );
  const services = () =>
    soap(
      s,
      {
        op: "GetServices",
        run: (done) => s.cam.getServices(false, (err) => done(err)),
        read: (body) => {
          if (element(body, "GetServicesResponse") === undefined) return undefined;
          const found = find(body, "Service").find((f) => text(f.inner, "Namespace") === MEDIA_NS);
          return found ? (text(found.inner, "XAddr") ?? "") : "";
        },
        what: "GetServicesResponse",
        describe: media,
      },
      signal,
      trace,
    );
  let step: Step<string>;
  try {
    step = await capabilities();
  } catch (e) {
    if (!(e instanceof CallFailure) || e.kind !== "answer") throw e;
    step = await services();
  }
  steps.push(step);
  if (step.value === "") throw new CallFailure("answer", "no_video", "the camera lists no Media service (ONVIF Profile S)");
  const xaddr = parseUrl(step.value);
  s.cam.uri = { ...(s.cam.uri ?? {}), media: xaddr };
  // Media1 requests only: the library switches to Media2 when GetServices lists it.
  s.cam.media2Support = false;
  s.mediaReady = true;
  return steps;
}

export interface Profiles {
  count: number;
  /** Token of the first profile with a video source and a video encoder. */
  videoToken: string | undefined;
}

/**
 * GetProfiles (ONVIF Media service). The profile used is the first one with
 * a video source and encoder configuration; the library's connect() instead
 * insists on one for the first video source and hangs when there is none.
 */
export function profiles(s: CameraSession, signal: AbortSignal, trace?: Trace): Promise<Step<Profiles>> {
  return soap(
    s,
    {
      op: "GetProfiles",
      run: (done) => s.cam.getProfiles((err) => done(err)),
      read: (body) => {
        const r = element(body, "GetProfilesResponse");
        if (r === undefined) return undefined;
        const all = find(r, "Profiles");
        const video = all.find(
          (p) => element(p.inner, "VideoSourceConfiguration") !== undefined && element(p.inner, "VideoEncoderConfiguration") !== undefined,
        );
        return { count: all.length, videoToken: video ? attr(video.attrs, "token") : undefined };
      },
      what: "GetProfilesResponse",
      describe: (p) =>
        `${p.count} profile${p.count === 1 ? "" : "s"}; ${p.videoToken === undefined ? "none with a video source and encoder" : `video on profile ${p.videoToken}`}`,
    },
    signal,
    trace,
  );
}

/** GetStreamUri (ONVIF Media service) for RTSP unicast; "" when the answer has no URI. */
export function streamUri(s: CameraSession, signal: AbortSignal, profileToken: string, trace?: Trace): Promise<Step<string>> {
  return soap(
    s,
    {
      op: "GetStreamUri",
      run: (done) => s.cam.getStreamUri({ protocol: "RTSP", stream: "RTP-Unicast", profileToken }, (err) => done(err)),
      read: (body) => uriIn(body, "GetStreamUriResponse"),
      what: "GetStreamUriResponse",
      describe: (uri) => (uri === "" ? "no URI" : uri),
    },
    signal,
    trace,
  );
}

/** GetSnapshotUri (ONVIF Media service); "" when the answer has no URI. */
export function snapshotUri(s: CameraSession, signal: AbortSignal, profileToken: string, trace?: Trace): Promise<Step<string>> {
  return soap(
    s,
    {
      op: "GetSnapshotUri",
      run: (done) => s.cam.getSnapshotUri({ profileToken }, (err) => done(err)),
      read: (body) => uriIn(body, "GetSnapshotUriResponse"),
      what: "GetSnapshotUriResponse",
      describe: (uri) => (uri === "" ? "no URI" : uri),
    },
    signal,
    trace,
  );
}

/** The Uri of a Get…UriResponse; "" when it has none, undefined when the answer is not one. */
function uriIn(body: string, response: string): string | undefined {
  const r = element(body, response);
  return r === undefined ? undefined : (text(r, "Uri") ?? "");
}
