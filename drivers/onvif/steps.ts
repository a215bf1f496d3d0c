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
import type { Identity } from "../contract.js";
import { CallFailure } from "./errors.js";
import type { CameraSession, Operation, Timing } from "./session.js";
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

async function soap<T>(
  s: CameraSession,
  op: string,
  signal: AbortSignal,
  run: Operation<unknown>,
  read: (body: string) => T | undefined,
  what: string,
): Promise<Step<T>> {
  const o = await s.call(op, signal, run);
  const ok2xx = o.raw !== undefined && o.raw.status >= 200 && o.raw.status < 300;
  const value = ok2xx && o.raw ? read(o.raw.body) : undefined;
  if (value !== undefined) return { op, value, timing: o.timing };
  if (!o.ok) throw o.failure;
  throw new CallFailure("answer", "protocol", `${op}: the answer holds no ${what}`);
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
export async function readClock(s: CameraSession, signal: AbortSignal): Promise<Step<ClockReading>> {
  const step = await soap(
    s,
    "GetSystemDateAndTime",
    signal,
    (done) => s.cam.getSystemDateAndTime((err) => done(err)),
    (body) => (element(body, "GetSystemDateAndTimeResponse") === undefined ? undefined : (parseSystemDateAndTime(body) ?? null)),
    "GetSystemDateAndTimeResponse",
  );
  const clock = step.value;
  // Seen on a GWellTimes camera: a response with no date in it.
  if (clock === null) return { ...step, value: { clock, driftMs: null, source: null, problem: "the camera gave no date" } };
  const utc = cameraUtc(clock);
  if (!utc.ok) return { ...step, value: { clock, driftMs: null, source: null, problem: utc.problem } };
  const driftMs = clockDriftMs(utc.utcMs, step.timing.sentAt, step.timing.receivedAt);
  return { ...step, value: { clock, driftMs, source: utc.source } };
}

/** GetDeviceInformation (ONVIF Device service): the identity, read with credentials. */
export function deviceInformation(s: CameraSession, signal: AbortSignal): Promise<Step<Identity>> {
  return soap(
    s,
    "GetDeviceInformation",
    signal,
    (done) => s.cam.getDeviceInformation((err) => done(err)),
    (body) => {
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
    "GetDeviceInformationResponse",
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
export async function locateMedia(s: CameraSession, signal: AbortSignal): Promise<Step<string>[]> {
  const steps: Step<string>[] = [];
  const capabilities = () =>
    soap(
      s,
      "GetCapabilities",
      signal,
      (done) => s.cam.getCapabilities((err) => done(err)),
      (body) => (element(body, "GetCapabilitiesResponse") === undefined ? undefined : (text(element(body, "Media") ?? "", "XAddr") ?? "")),
      "GetCapabilitiesResponse",
    );
  const services = () =>
    soap(
      s,
      "GetServices",
      signal,
      (done) => s.cam.getServices(false, (err) => done(err)),
      (body) => {
        if (element(body, "GetServicesResponse") === undefined) return undefined;
        const media = find(body, "Service").find((f) => text(f.inner, "Namespace") === MEDIA_NS);
        return media ? (text(media.inner, "XAddr") ?? "") : "";
      },
      "GetServicesResponse",
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
export function profiles(s: CameraSession, signal: AbortSignal): Promise<Step<Profiles>> {
  return soap(
    s,
    "GetProfiles",
    signal,
    (done) => s.cam.getProfiles((err) => done(err)),
    (body) => {
      const r = element(body, "GetProfilesResponse");
      if (r === undefined) return undefined;
      const all = find(r, "Profiles");
      const video = all.find(
        (p) => element(p.inner, "VideoSourceConfiguration") !== undefined && element(p.inner, "VideoEncoderConfiguration") !== undefined,
      );
      return { count: all.length, videoToken: video ? attr(video.attrs, "token") : undefined };
    },
    "GetProfilesResponse",
  );
}

/** GetStreamUri (ONVIF Media service) for RTSP unicast; "" when the answer has no URI. */
export function streamUri(s: CameraSession, signal: AbortSignal, profileToken: string): Promise<Step<string>> {
  return soap(
    s,
    "GetStreamUri",
    signal,
    (done) => s.cam.getStreamUri({ protocol: "RTSP", stream: "RTP-Unicast", profileToken }, (err) => done(err)),
    (body) => {
      const r = element(body, "GetStreamUriResponse");
      return r === undefined ? undefined : (text(r, "Uri") ?? "");
    },
    "GetStreamUriResponse",
  );
}

/** GetSnapshotUri (ONVIF Media service); "" when the answer has no URI. */
export function snapshotUri(s: CameraSession, signal: AbortSignal, profileToken: string): Promise<Step<string>> {
  return soap(
    s,
    "GetSnapshotUri",
    signal,
    (done) => s.cam.getSnapshotUri({ profileToken }, (err) => done(err)),
    (body) => {
      const r = element(body, "GetSnapshotUriResponse");
      return r === undefined ? undefined : (text(r, "Uri") ?? "");
    },
    "GetSnapshotUriResponse",
  );
}
