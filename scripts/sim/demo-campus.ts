/**
 * The demo campus as data: every simulated device, where it listens, how it
 * misbehaves, and how config/demo.yaml checks it. One source of truth: the
 * campus simulator starts these lists, and a test checks that every device
 * of config/demo.yaml with a simulator here points at it (same id, same
 * driver kind, same options).
 *
 * Each device has its own loopback address, as on a real campus network
 * (Linux routes all of 127.0.0.0/8 to lo, nothing to configure). Third octet
 * by simulator family, so later families slot in without renumbering:
 *   127.77.0.x  network devices checked for reachability
 *   127.77.1.x  cameras (ONVIF)
 *   127.77.2.x  door controllers (Modbus)  — later
 *   127.77.3.x  panic receivers (DC-09)    — later
 * Ports are the real service's, moved above 1024 so no root is needed
 * (80 → 8080, 554 → 8554, 22 → 2222; SIP's 5060 is already unprivileged;
 * WS-Discovery's UDP 3702 too).
 */
import type { ReachabilityOptionsInput } from "../../drivers/reachability/options.js";
import type { CameraOptions, FaultSpec } from "./camera.js";
import { type BehaviourSpec, flap, type NetDeviceHttp } from "./netdevice.js";

/** Simulator families the campus knows how to start; one entry per family in campus.ts. */
export const SIMULATOR_KINDS = ["netdevice", "camera"] as const;
export type SimulatorKind = (typeof SIMULATOR_KINDS)[number];

interface SimulatedBase {
  /** The device id in config/demo.yaml. */
  id: string;
  name: string;
  simulator: SimulatorKind;
  address: string;
  port: number;
}

export interface NetDeviceSpec extends SimulatedBase {
  simulator: "netdevice";
  behaviour: BehaviourSpec;
  http?: NetDeviceHttp;
  slowDelayMs?: number;
  /** How config/demo.yaml checks this device. */
  driver: { kind: "reachability"; options: ReachabilityOptionsInput };
}

/**
 * Options of the onvif driver as config/demo.yaml gives them: the shape of
 * drivers/onvif/options.ts (OnvifOptionsInput), kept local while that driver
 * lands. The password is never inline: the demo names an environment
 * variable (password_file must be an absolute path, which a shipped config
 * cannot know).
 */
export interface OnvifDriverOptions {
  host: string;
  port: number;
  username: string;
  password_env?: string;
  password_file?: string;
  /** "fetch": download the snapshot (HTTP Digest) on each poll and check it is an image. */
  snapshot?: { mode: "off" | "fetch" };
}

export interface CameraSpec extends SimulatedBase {
  simulator: "camera";
  /** The simulated camera; its address and port come from the spec. */
  camera: Omit<CameraOptions, "host" | "port" | "discovery" | "fault">;
  fault?: FaultSpec;
  /** Its WS-Discovery responder's UDP port, on the same address. */
  discoveryPort: number;
  /** What it shows, in words (the campus logs it). */
  scenario: string;
  /** How config/demo.yaml checks this device. */
  driver: { kind: "onvif"; options: OnvifDriverOptions };
}

/** Grows a member per simulator family (door controllers, panic receivers). */
export type SimulatedDeviceSpec = NetDeviceSpec | CameraSpec;

/** A device whose only check is "is it answering?". */
function netDevice(
  spec: Omit<NetDeviceSpec, "simulator" | "address" | "driver"> & {
    octet: number;
    check: { tcp: true; httpPath?: string; degradedAboveMs?: number } | { tcp: false; httpPath: string; degradedAboveMs?: number };
  },
): NetDeviceSpec {
  const { octet, check, ...rest } = spec;
  const address = `127.77.0.${octet}`;
  const options: ReachabilityOptionsInput = { host: address };
  if (check.tcp) options.port = spec.port;
  if (check.httpPath !== undefined) options.http = { url: `http://${address}:${spec.port}${check.httpPath}` };
  if (check.degradedAboveMs !== undefined) options.degraded_above_ms = check.degradedAboveMs;
  return { ...rest, simulator: "netdevice", address, driver: { kind: "reachability", options } };
}

/** The network devices (reachability checks). */
export const DEMO_CAMPUS: readonly NetDeviceSpec[] = [
  netDevice({
    id: "intercom-main-entrance",
    name: "Main entrance intercom",
    octet: 10,
    port: 5060, // SIP
    behaviour: "normal",
    check: { tcp: true },
  }),
  netDevice({
    id: "pa-headend",
    name: "PA / intercom head end",
    octet: 11,
    port: 8080,
    behaviour: "normal",
    check: { tcp: true, httpPath: "/status" },
  }),
  netDevice({
    id: "nvr-main",
    name: "Network video recorder (main office)",
    octet: 12,
    port: 8554, // RTSP
    behaviour: "normal",
    check: { tcp: true },
  }),
  netDevice({
    id: "signage-lobby",
    name: "Lobby digital signage player",
    octet: 13,
    port: 8080,
    // An overloaded player: always answers, never fast enough.
    behaviour: "slow",
    slowDelayMs: 1500,
    check: { tcp: false, httpPath: "/", degradedAboveMs: 1000 },
  }),
  netDevice({
    id: "ap-gym",
    name: "Gymnasium Wi-Fi access point",
    octet: 14,
    port: 8080,
    // A PoE port that browns out: down 20 s every 60 s.
    behaviour: flap(40_000, 20_000),
    check: { tcp: true },
  }),
  netDevice({
    id: "ap-library",
    name: "Library Wi-Fi access point",
    octet: 15,
    port: 8080,
    behaviour: "normal",
    check: { tcp: false, httpPath: "/" },
  }),
  netDevice({
    id: "switch-core",
    name: "Core switch (MDF)",
    octet: 16,
    port: 2222, // SSH management
    behaviour: "normal",
    check: { tcp: true },
  }),
  netDevice({
    id: "ens-server",
    name: "Emergency notification server",
    octet: 17,
    port: 8080,
    // Its health endpoint reports 503 for 15 s every minute (a dependency it checks is down).
    behaviour: {
      cycle: [
        { behaviour: "normal", forMs: 45_000 },
        { behaviour: "unhealthy", forMs: 15_000 },
      ],
    },
    check: { tcp: true, httpPath: "/health" },
  }),
];

/**
 * The demo cameras' account. The demo sets DEMO_CAMERA_PASSWORD_ENV to
 * DEMO_CAMERA_PASSWORD for the agent (a demo secret, public on purpose);
 * the library camera's own password differs.
 */
export const DEMO_CAMERA_USERNAME = "campus-agent";
export const DEMO_CAMERA_PASSWORD = "demo-camera-pass";
export const DEMO_CAMERA_PASSWORD_ENV = "CAMPUS_DEMO_CAMERA_PASSWORD";
/** What the current firmware of the demo's LX-4410 cameras is; older is outdated. */
export const DEMO_CURRENT_FIRMWARE = "7.4.1";

/** A camera on 127.77.1.octet, ONVIF on 8080 (for 80), WS-Discovery on 3702. */
function camera(
  spec: Omit<CameraSpec, "simulator" | "address" | "port" | "discoveryPort" | "driver"> & { octet: number; snapshot?: boolean },
): CameraSpec {
  const { octet, snapshot, ...rest } = spec;
  const address = `127.77.1.${octet}`;
  const options: OnvifDriverOptions = {
    host: address,
    port: 8080,
    username: DEMO_CAMERA_USERNAME,
    password_env: DEMO_CAMERA_PASSWORD_ENV,
  };
  if (snapshot) options.snapshot = { mode: "fetch" };
  return {
    ...rest,
    simulator: "camera",
    address,
    port: 8080,
    discoveryPort: 3702,
    camera: { username: DEMO_CAMERA_USERNAME, password: DEMO_CAMERA_PASSWORD, location: "demo-hs", ...rest.camera },
    driver: { kind: "onvif", options },
  };
}

const LX = { manufacturer: "Lumen Optics", model: "LX-4410", hardwareId: "LX4410-R2" } as const;
const BF = { manufacturer: "Brightfield Security", model: "BF-D220", hardwareId: "BFD220-01", firmwareVersion: "3.8.12" } as const;

/** The cameras (ONVIF driver). */
export const DEMO_CAMERAS: readonly CameraSpec[] = [
  camera({
    id: "cam-main-entrance",
    name: "Main entrance camera",
    octet: 10,
    scenario: "healthy, current firmware, snapshot checked",
    camera: { ...LX, firmwareVersion: DEMO_CURRENT_FIRMWARE, serialNumber: "LX4410A0117", name: "Main entrance" },
    snapshot: true,
  }),
  camera({
    id: "cam-gym",
    name: "Gymnasium camera",
    octet: 11,
    scenario: `firmware 5.2.0: outdated (current ${DEMO_CURRENT_FIRMWARE})`,
    camera: { ...LX, firmwareVersion: "5.2.0", serialNumber: "LX4410A0042", name: "Gymnasium" },
  }),
  camera({
    id: "cam-parking",
    name: "Parking lot camera",
    octet: 12,
    // Set by hand once and never synchronised: 90 s fast. WS-Security still works
    // for a client that takes its time from GetSystemDateAndTime first.
    scenario: "clock 90 s fast (manual time, no NTP)",
    camera: { ...BF, serialNumber: "BF22019377", name: "Parking lot", clockOffsetMs: 90_000, dateTimeType: "Manual" },
  }),
  camera({
    id: "cam-library",
    name: "Library camera",
    octet: 13,
    // The installer changed the camera's password and nobody told IT.
    scenario: "password changed on the camera: the agent's is refused (auth)",
    camera: {
      ...LX,
      firmwareVersion: DEMO_CURRENT_FIRMWARE,
      serialNumber: "LX4410A0230",
      name: "Library",
      password: "changed-by-installer",
    },
  }),
  camera({
    id: "cam-cafeteria",
    name: "Cafeteria camera",
    octet: 14,
    scenario: "reports local time only (US Eastern, EST5EDT,M3.2.0,M11.1.0); clock right",
    camera: { ...BF, serialNumber: "BF22019512", name: "Cafeteria", timeZone: "EST5EDT,M3.2.0,M11.1.0", timeReport: "local-only" },
  }),
  camera({
    id: "cam-bus-loop",
    name: "Bus loop camera",
    octet: 15,
    scenario: "goes silent 20 s every minute (accepts, never answers)",
    camera: { ...LX, firmwareVersion: DEMO_CURRENT_FIRMWARE, serialNumber: "LX4410A0301", name: "Bus loop" },
    fault: {
      cycle: [
        { fault: null, forMs: 40_000 },
        { fault: { kind: "hang" }, forMs: 20_000 },
      ],
    },
  }),
];

/** Every simulated device of the demo campus. */
export const DEMO_DEVICES: readonly SimulatedDeviceSpec[] = [...DEMO_CAMPUS, ...DEMO_CAMERAS];

/** The simulated device behind a config device id, if there is one. */
export function simulatorFor(id: string): SimulatedDeviceSpec | undefined {
  return DEMO_DEVICES.find((d) => d.id === id);
}
