/**
 * Command line of the camera simulator (run as scripts/sim/camera.js):
 *
 *   --host 127.0.0.1 --port 0
 *   --vendor NAME --model NAME --firmware VERSION --serial S --hardware-id ID
 *   --mac HWADDRESS (sent as written; "none": GetNetworkInterfaces not implemented)
 *   --clock-offset-ms N (may be negative) --timezone POSIX-TZ
 *   --time-report utc-and-local|utc-only|local-only|local-as-utc --date-time-type NTP|Manual
 *   --username U --password P --profiles N --rtsp-port N
 *   --pre-auth date-only|date-and-services --soap-auth ws-security|ws-security-or-digest
 *   --auth-fault-status 400|401 --auth-window-ms N
 *   --name S --location S --discovery-port N (WS-Discovery; 3702 is the standard port) --multicast
 *   --fault KIND[:N][@OP+OP]    e.g. hang, slow:2000, reboot:5000, huge:1000000, hang@GetNetworkInterfaces
 *   --cycle KIND:MS,KIND:MS     e.g. none:40000,hang:20000 (silent 20 s every minute)
 *
 * Parsing only: importing types from camera.ts keeps this free of its runtime.
 */
import { parseArgs } from "node:util";
import type { CameraOptions, PreAuth, SoapAuth } from "./camera.js";
import { parseFault, parseFaultCycle } from "./camera-faults.js";
import { TIME_REPORTS, type TimeReport } from "./camera-time.js";

export function parseCameraArgs(argv: string[]): CameraOptions {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "0" },
      vendor: { type: "string" },
      model: { type: "string" },
      firmware: { type: "string" },
      serial: { type: "string" },
      "hardware-id": { type: "string" },
      mac: { type: "string" },
      "clock-offset-ms": { type: "string" },
      timezone: { type: "string" },
      "time-report": { type: "string" },
      "date-time-type": { type: "string" },
      username: { type: "string" },
      password: { type: "string" },
      profiles: { type: "string" },
      "rtsp-port": { type: "string" },
      "pre-auth": { type: "string" },
      "soap-auth": { type: "string" },
      "auth-fault-status": { type: "string" },
      "auth-window-ms": { type: "string" },
      name: { type: "string" },
      location: { type: "string" },
      "discovery-port": { type: "string" },
      multicast: { type: "boolean" },
      fault: { type: "string" },
      cycle: { type: "string" },
    },
  });
  const int = (name: string, s: string | undefined, min = 0): number | undefined => {
    if (s === undefined) return undefined;
    const n = Number(s);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected an integer${min === 0 ? " >= 0" : ""}, got "${s}"`);
    return n;
  };
  const oneOf = <T extends string>(name: string, s: string | undefined, allowed: readonly T[]): T | undefined => {
    if (s === undefined) return undefined;
    if ((allowed as readonly string[]).includes(s)) return s as T;
    throw new Error(`--${name}: expected one of ${allowed.join(", ")}; got "${s}"`);
  };

  const o: CameraOptions = { host: v.host, port: int("port", v.port) ?? 0 };
  const set = <K extends keyof CameraOptions>(k: K, value: CameraOptions[K] | undefined) => {
    if (value !== undefined) o[k] = value;
  };
  set("manufacturer", v.vendor);
  set("model", v.model);
  set("firmwareVersion", v.firmware);
  set("serialNumber", v.serial);
  set("hardwareId", v["hardware-id"]);
  if (v.mac !== undefined) o.macAddress = v.mac === "none" ? null : v.mac;
  set("clockOffsetMs", int("clock-offset-ms", v["clock-offset-ms"], Number.MIN_SAFE_INTEGER));
  set("timeZone", v.timezone);
  set("timeReport", oneOf<TimeReport>("time-report", v["time-report"], TIME_REPORTS));
  set("dateTimeType", oneOf("date-time-type", v["date-time-type"], ["NTP", "Manual"] as const));
  set("username", v.username);
  set("password", v.password);
  set("profiles", int("profiles", v.profiles, 1));
  set("rtspPort", int("rtsp-port", v["rtsp-port"]));
  set("preAuth", oneOf<PreAuth>("pre-auth", v["pre-auth"], ["date-only", "date-and-services"]));
  set("soapAuth", oneOf<SoapAuth>("soap-auth", v["soap-auth"], ["ws-security", "ws-security-or-digest"]));
  const status = oneOf("auth-fault-status", v["auth-fault-status"], ["400", "401"] as const);
  if (status !== undefined) o.authFaultStatus = status === "400" ? 400 : 401;
  set("authWindowMs", int("auth-window-ms", v["auth-window-ms"]));
  set("name", v.name);
  set("location", v.location);
  const discoveryPort = int("discovery-port", v["discovery-port"]);
  if (discoveryPort !== undefined || v.multicast) o.discovery = { host: v.host, port: discoveryPort ?? 0, multicast: v.multicast === true };
  if (v.fault !== undefined && v.cycle !== undefined) throw new Error("--fault and --cycle: give one or the other");
  try {
    if (v.fault !== undefined) o.fault = parseFault(v.fault);
    if (v.cycle !== undefined) o.fault = { cycle: parseFaultCycle(v.cycle) };
  } catch (e) {
    throw new Error(`--${v.fault !== undefined ? "fault" : "cycle"}: ${(e as Error).message}`, { cause: e });
  }
  return o;
}
