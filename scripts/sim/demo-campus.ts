/**
 * The demo campus as data: every simulated device, where it listens, how it
 * misbehaves, and how config/demo.yaml checks it. One source of truth: the
 * campus simulator starts these lists, and a test checks that every device
 * of config/demo.yaml with a simulator here points at it (same id, same
 * driver kind, same options).
 *
 * Two lists stand apart, for the asset register's reconciliation:
 * DEMO_MISSING, configured devices with nothing behind them (the campus
 * starts nothing; discovery and polls find nothing there), and
 * DEMO_UNCONFIGURED, simulated devices deliberately left out of
 * config/demo.yaml (discovery finds them: unknown assets). DEMO_DEVICES is
 * what config/demo.yaml configures, in its order, missing ones included;
 * DEMO_SIMULATED is what the campus starts.
 *
 * Each device has its own loopback address, as on a real campus network
 * (Linux routes all of 127.0.0.0/8 to lo, nothing to configure). Third octet
 * by simulator family, so later families slot in without renumbering:
 *   127.77.0.x  network devices checked for reachability
 *   127.77.1.x  cameras (ONVIF)
 *   127.77.2.x  door controllers (Modbus): .10 and up on their own Ethernet
 *               port, .20 and up serial-to-Ethernet gateways
 *   127.77.3.x  panic receivers: .1 is the gateway's own DC-09 receiver (the
 *               agent listens there, the simulated panels send to it), .20 and
 *               up the Modbus I/O modules that read receivers' relay outputs
 * Ports are the real service's, moved above 1024 so no root is needed
 * (80 → 8080, 554 → 8554, 22 → 2222, Modbus 502 → 5020; SIP's 5060 is already
 * unprivileged, WS-Discovery's UDP 3702 too, and so is 4001, the raw TCP port
 * of the usual serial-to-Ethernet gateways). DC-09 has no assigned port: the
 * demo's receiver listens on 9000.
 *
 * Door controllers on the gateway's own RS-485 bus have no address: they sit
 * on a serial line, a socat PTY pair whose links the campus makes in a folder
 * it is given (serial-line.ts). config/demo.yaml names that folder
 * DEMO_DATA_DIR, a placeholder the demo (agent/demo.ts) rewrites into its
 * data folder; the encrypted DC-09 panel's key file is there too.
 */
import type { PanicDc09OptionsInput } from "../../drivers/panic-dc09/options.js";
import type { ReachabilityOptionsInput } from "../../drivers/reachability/options.js";
import type { CameraOptions, FaultSpec } from "./camera.js";
import type { SimFormat } from "./dc09-events.js";
import type { Dc09Scenario } from "./dc09-scenario.js";
import type { ContactTimeline } from "./modbus-io.js";
import type { DoorControllerOptions } from "./modbus-door.js";
import type { ModbusFaultSpec } from "./modbus-faults.js";
import type { Scenario } from "./modbus-scenario.js";
import { type BehaviourSpec, flap, type NetDeviceHttp } from "./netdevice.js";

/** Simulator families the campus knows how to start; one entry per family in campus.ts. */
export const SIMULATOR_KINDS = ["netdevice", "camera", "door", "dc09-panel", "contact-module"] as const;
export type SimulatorKind = (typeof SIMULATOR_KINDS)[number];

interface SimulatedBase {
  /** The device id in config/demo.yaml. */
  id: string;
  name: string;
  simulator: SimulatorKind;
}

/** A device with its own address on the campus network. */
interface Listening {
  address: string;
  port: number;
}

export interface NetDeviceSpec extends SimulatedBase, Listening {
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

export interface CameraSpec extends SimulatedBase, Listening {
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

/**
 * How a door controller is wired, as on a real campus: its own Ethernet port
 * (Modbus TCP), an RS-485 bus behind a serial-to-Ethernet gateway (RTU over
 * TCP), or an RS-485 bus on the gateway's own serial adapter (RTU). Unit ids
 * on the same gateway or line share it, as they share the wire.
 */
export type DoorLink =
  | ({ transport: "tcp" } & Listening) |
  ({ transport: "rtu_over_tcp" } & Listening) |
  { transport: "rtu"; /** The line's name: its PTY link's file name in the serial folder. */ line: string; baud: number };

/**
 * Options of the modbus-door driver as config/demo.yaml gives them: the
 * shape of drivers/modbus/options.ts (its input), kept local like the onvif
 * options above; a test parses them with the driver's schema.
 */
export interface ModbusDoorDriverOptions {
  transport: DoorLink["transport"];
  host?: string;
  port?: number;
  path?: string;
  baud_rate?: number;
  parity?: "none" | "even" | "odd";
  unit_id: number;
  profile: string;
}

export interface DoorSpec extends SimulatedBase {
  simulator: "door";
  link: DoorLink;
  /** Modbus unit id (slave address) of the controller on its link. */
  unit: number;
  /** The simulated controller (generic-door layout, modbus-door.ts). */
  controller: Pick<DoorControllerOptions, "serial" | "firmware" | "batteryVx100" | "temperatureX10">;
  /** What happens at the door: timed actions of modbus-door.ts (DOOR_ACTIONS), looping. */
  timeline: Scenario;
  fault?: ModbusFaultSpec;
  /** What it shows, in words (the campus logs it). */
  scenario: string;
  /** How config/demo.yaml checks this device. */
  driver: { kind: "modbus-door"; options: ModbusDoorDriverOptions };
}

/**
 * A panel or panic-button receiver reporting over DC-09 to the agent, which
 * is its alarm receiver: the simulator sends, the agent listens (so this
 * device has no address of its own on the campus network; `receiver` is the
 * agent's). It sends a NULL link test every `linkTestS` and its timeline's
 * reports, looping.
 */
export interface Dc09PanelSpec extends SimulatedBase {
  simulator: "dc09-panel";
  /** Where and how it reports: the agent's DC-09 receiver, over one transport. */
  receiver: Listening & { transport: "tcp" | "udp" };
  /** Its account (#acct), 3-16 hex digits. */
  account: string;
  format: SimFormat;
  /** AES key (hex) when it encrypts; the agent reads the same key from the key_file its options name. */
  key?: string;
  /** A NULL link test every this many seconds (the agent's supervision_s is longer). */
  linkTestS: number;
  /** What it reports, when (dc09-scenario.ts): looping. */
  timeline: Dc09Scenario & { loop_ms: number };
  /** What it shows, in words (the campus logs it). */
  scenario: string;
  /** How config/demo.yaml receives it. */
  driver: { kind: "panic-dc09"; options: PanicDc09OptionsInput };
}

/** What a contact of the I/O module is wired to: drivers/panic-contacts/options.ts (contactInputSchema), kept local like the options above. */
export interface ContactInputOptions {
  meaning: "panic" | "trouble" | "tamper" | "supervision";
  alarm?: "panic" | "duress" | "holdup" | "medical" | "fire" | "emergency";
  zone?: string;
  name?: string;
  location?: { building?: string; floor?: string; room?: string };
}

/** Options of the panic-contacts driver as config/demo.yaml gives them; a test parses them with the driver's schema. */
export interface PanicContactsDriverOptions {
  transport: "tcp";
  host: string;
  port: number;
  unit_id: number;
  profile: "io-8di";
  inputs: Record<string, ContactInputOptions>;
}

/**
 * A panic-button receiver whose relay outputs are wired to a Modbus I/O
 * module (io-8di layout, Modbus TCP on its own Ethernet port): the simulator
 * is the module, its timeline closes and opens the contacts as the
 * receiver's outputs would.
 */
export interface ContactReceiverSpec extends SimulatedBase, Listening {
  simulator: "contact-module";
  /** Modbus unit id of the module. */
  unit: number;
  /** Contacts closed and opened (modbus-io.ts), looping. */
  timeline: ContactTimeline & { loop_ms: number };
  /** What it shows, in words (the campus logs it). */
  scenario: string;
  /** How config/demo.yaml reads it. */
  driver: { kind: "panic-contacts"; options: PanicContactsDriverOptions };
}

/** Grows a member per simulator family. */
export type SimulatedDeviceSpec = NetDeviceSpec | CameraSpec | DoorSpec | Dc09PanelSpec | ContactReceiverSpec;

/**
 * A configured device with nothing behind it: the campus starts no simulator
 * for it and nothing else listens at its address, so its polls fail
 * (connection refused) and discovery does not find it. The demo's missing
 * asset.
 */
export interface AbsentDeviceSpec extends Listening {
  id: string;
  name: string;
  simulator: "none";
  /** Why nothing answers, in words (the campus logs it). */
  scenario: string;
  /** How config/demo.yaml checks this device. */
  driver: CameraSpec["driver"];
}

/** A device of config/demo.yaml: simulated, or deliberately absent. */
export type DemoDeviceSpec = SimulatedDeviceSpec | AbsentDeviceSpec;

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
/**
 * What the current firmware of the demo's LX-4410 cameras is; older is
 * outdated (config/demo-policy.yaml's minimum for the model).
 */
export const DEMO_CURRENT_FIRMWARE = "7.4.1";
/** An LX-4410 firmware newer than the current one, but pulled by the vendor: config/demo-policy.yaml blocks it. */
export const DEMO_BLOCKED_FIRMWARE = "7.5.0";

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
    camera: {
      username: DEMO_CAMERA_USERNAME,
      password: DEMO_CAMERA_PASSWORD,
      location: "demo-hs",
      // The snapshot is rendered before the campus is READY, not when the agent first asks while every device runs.
      ...(snapshot ? { snapshotAtStart: true } : {}),
      ...rest.camera,
    },
    driver: { kind: "onvif", options },
  };
}

const LX = { manufacturer: "Lumen Optics", model: "LX-4410", hardwareId: "LX4410-R2" } as const;
// Out of its vendor's support (config/demo-policy.yaml).
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
    // Recovered from a failed update in the vendor's recovery mode, which leaves the version field unset.
    scenario: 'reports local time only (US Eastern, EST5EDT,M3.2.0,M11.1.0); clock right; firmware version "N/A"',
    camera: {
      ...BF,
      firmwareVersion: "N/A",
      serialNumber: "BF22019512",
      name: "Cafeteria",
      timeZone: "EST5EDT,M3.2.0,M11.1.0",
      timeReport: "local-only",
    },
  }),
  camera({
    id: "cam-bus-loop",
    name: "Bus loop camera",
    octet: 15,
    // Updated to a release the vendor has since pulled (it hangs under load): the policy blocks it.
    scenario: `goes silent 20 s every minute (accepts, never answers); firmware ${DEMO_BLOCKED_FIRMWARE}, pulled by the vendor`,
    camera: { ...LX, firmwareVersion: DEMO_BLOCKED_FIRMWARE, serialNumber: "LX4410A0301", name: "Bus loop" },
    fault: {
      cycle: [
        { fault: null, forMs: 40_000 },
        { fault: { kind: "hang" }, forMs: 20_000 },
      ],
    },
  }),
];

/**
 * Configured devices with nothing behind them (the asset register's missing
 * assets): in config/demo.yaml, after the cameras.
 */
export const DEMO_MISSING: readonly AbsentDeviceSpec[] = [
  {
    id: "cam-stadium",
    name: "Stadium camera",
    simulator: "none",
    // In the cameras' block, so discovery probes it (and finds nothing).
    address: "127.77.1.16",
    port: 8080,
    scenario: "taken down for the stadium renovation and never put back: nothing answers at 127.77.1.16 (the missing asset)",
    driver: {
      kind: "onvif",
      options: { host: "127.77.1.16", port: 8080, username: DEMO_CAMERA_USERNAME, password_env: DEMO_CAMERA_PASSWORD_ENV },
    },
  },
];

/**
 * Where config/demo.yaml puts the serial lines and the DC-09 key file: a
 * placeholder (the schema wants absolute paths), which the demo rewrites into
 * its data folder, the folder the campus makes the PTY links in and the demo
 * writes the key to. agent/demo.ts holds the same value (the agent does not
 * load the simulators); a test checks they agree.
 */
export const DEMO_DATA_DIR = "/demo-data";

/** Modbus TCP's 502, moved above 1024. */
export const DEMO_MODBUS_PORT = 5020;
/** Raw TCP port of the serial-to-Ethernet gateway (4001, the usual one, is unprivileged). */
export const DEMO_GATEWAY_PORT = 4001;

type DoorInput = Omit<DoorSpec, "simulator" | "link" | "driver" | "controller"> & {
  controller: DoorSpec["controller"] & { serial: number };
};

/** A door controller with its own Ethernet port: Modbus TCP on 127.77.2.octet:5020. */
function tcpDoor(spec: DoorInput & { octet: number }): DoorSpec {
  const { octet, ...rest } = spec;
  const address = `127.77.2.${octet}`;
  return door(rest, { transport: "tcp", address, port: DEMO_MODBUS_PORT }, { transport: "tcp", host: address, port: DEMO_MODBUS_PORT });
}

/** A door controller on an RS-485 bus behind the serial-to-Ethernet gateway at 127.77.2.octet:4001. */
function gatewayDoor(spec: DoorInput & { octet: number }): DoorSpec {
  const { octet, ...rest } = spec;
  const address = `127.77.2.${octet}`;
  return door(
    rest,
    { transport: "rtu_over_tcp", address, port: DEMO_GATEWAY_PORT },
    { transport: "rtu_over_tcp", host: address, port: DEMO_GATEWAY_PORT },
  );
}

/** A door controller on the gateway's own RS-485 bus `line`, 9600 baud 8N1. */
function serialDoor(spec: DoorInput & { line: string }): DoorSpec {
  const { line, ...rest } = spec;
  return door(
    rest,
    { transport: "rtu", line, baud: 9600 },
    { transport: "rtu", path: `${DEMO_DATA_DIR}/${line}`, baud_rate: 9600, parity: "none" },
  );
}

function door(spec: DoorInput, link: DoorLink, endpoint: Omit<ModbusDoorDriverOptions, "unit_id" | "profile">): DoorSpec {
  return {
    ...spec,
    simulator: "door",
    link,
    driver: { kind: "modbus-door", options: { ...endpoint, unit_id: spec.unit, profile: "generic-door" } },
  };
}

/**
 * The door controllers (modbus-door driver, generic-door profile). Each one's
 * timeline starts acting within the first minute and loops. Times in ms from
 * the start of each loop. Controllers close and relock on their own when the
 * door closes (modbus-door.ts); the generic controller's held-open timer is 30 s.
 */
export const DEMO_DOORS: readonly DoorSpec[] = [
  tcpDoor({
    id: "door-a-main-entrance",
    name: "Main entrance door controller",
    octet: 10,
    unit: 1,
    controller: { serial: 240101 },
    scenario: "busy entrance: someone leaves with the exit button (REX), someone badges in, every 20 s",
    timeline: {
      loop_ms: 20_000,
      steps: [
        // Leaving: the REX button shunts the alarm and unlocks, the door opens, the button is let go, the door closes.
        { at_ms: 2000, action: "rex" },
        { at_ms: 2500, action: "open" },
        { at_ms: 3500, action: "rex_release" },
        { at_ms: 7000, action: "close" },
        // Arriving: a badge is accepted (unlock and open), the door closes behind.
        { at_ms: 12_000, action: "open" },
        { at_ms: 15_000, action: "close" },
      ],
    },
  }),
  tcpDoor({
    id: "door-a-staff-entrance",
    name: "Staff entrance door controller",
    octet: 11,
    unit: 1,
    controller: { serial: 240102 },
    scenario: "reader cover loose: tamper for 30 s every minute (degraded, tamper)",
    timeline: {
      loop_ms: 60_000,
      steps: [
        { at_ms: 10_000, action: "tamper" },
        { at_ms: 40_000, action: "tamper_clear" },
      ],
    },
  }),
  tcpDoor({
    id: "door-b-east-exit",
    name: "East stairwell exit door controller",
    octet: 12,
    unit: 1,
    controller: { serial: 240103 },
    scenario: "forced open every minute (pushed open without the exit button), closed 6 s later",
    timeline: {
      loop_ms: 60_000,
      steps: [
        { at_ms: 15_000, action: "force" },
        { at_ms: 21_000, action: "close" },
      ],
    },
  }),
  tcpDoor({
    id: "door-b-loading-dock",
    name: "Loading dock door controller",
    octet: 13,
    unit: 1,
    controller: { serial: 240104 },
    scenario: "propped open for a delivery: open 45 s, held-open alarm after 30 s, every 90 s",
    timeline: {
      loop_ms: 90_000,
      steps: [
        { at_ms: 5000, action: "open" },
        // The controller's held-open timer (30 s) runs out.
        { at_ms: 35_000, action: "hold" },
        { at_ms: 50_000, action: "close" },
      ],
    },
  }),
  tcpDoor({
    id: "door-b-library",
    name: "Library entrance door controller",
    octet: 14,
    unit: 1,
    controller: { serial: 240105, firmware: [2, 1] },
    scenario: "opened twice a minute; stops answering 20 s every minute (offline, timeout)",
    // In step with the fault cycle, and clear of the silent 20 s and of the
    // agent's backed-off polls after it: a door opened while the agent cannot
    // see it would show as open for the whole outage.
    timeline: {
      loop_ms: 60_000,
      steps: [
        { at_ms: 20_000, action: "open" },
        { at_ms: 24_000, action: "close" },
        { at_ms: 30_000, action: "open" },
        { at_ms: 33_000, action: "close" },
      ],
    },
    // Answers nothing for 20 s, then answers again: the agent's connection stays up, its requests time out.
    fault: {
      cycle: [
        { fault: { kind: "none" }, forMs: 40_000 },
        { fault: { kind: "no-answer" }, forMs: 20_000 },
      ],
    },
  }),
  serialDoor({
    id: "door-a-north-exit",
    name: "North exit door controller",
    line: "rs485-a",
    unit: 1,
    controller: { serial: 240106 },
    scenario: "mains lost: on battery, draining to low, mains back and recharging, every 2 min (degraded, mains_lost then battery_low)",
    timeline: {
      loop_ms: 120_000,
      steps: [
        { at_ms: 10_000, action: "power_loss" },
        { at_ms: 25_000, action: "battery_set", value: 1280 },
        { at_ms: 40_000, action: "battery_set", value: 1210 },
        // Under the 11.50 V threshold: battery low.
        { at_ms: 55_000, action: "battery_set", value: 1120 },
        { at_ms: 75_000, action: "power_restore" },
        { at_ms: 80_000, action: "battery_set", value: 1250 },
        { at_ms: 100_000, action: "battery_set", value: 1365 },
      ],
    },
  }),
  serialDoor({
    id: "door-a-courtyard",
    name: "Courtyard door controller",
    line: "rs485-a",
    unit: 2,
    controller: { serial: 240107 },
    scenario: "badge entries every 30 s",
    timeline: {
      loop_ms: 30_000,
      steps: [
        { at_ms: 6000, action: "open" },
        { at_ms: 10_000, action: "close" },
      ],
    },
  }),
  gatewayDoor({
    id: "door-b-cafeteria",
    name: "Cafeteria door controller",
    octet: 20,
    unit: 1,
    controller: { serial: 230051, firmware: [1, 8] },
    scenario: "lunch traffic: opened twice every 40 s",
    timeline: {
      loop_ms: 40_000,
      steps: [
        { at_ms: 4000, action: "open" },
        { at_ms: 9000, action: "close" },
        { at_ms: 24_000, action: "open" },
        { at_ms: 27_000, action: "close" },
      ],
    },
  }),
  gatewayDoor({
    id: "door-b-kitchen",
    name: "Kitchen service door controller",
    octet: 20,
    unit: 2,
    controller: { serial: 230052, firmware: [1, 8] },
    scenario: "unlocked 30 s every minute for deliveries (lock state), door stays closed",
    timeline: {
      loop_ms: 60_000,
      steps: [
        { at_ms: 10_000, action: "unlock" },
        { at_ms: 40_000, action: "lock" },
      ],
    },
  }),
];

/** The gateway's DC-09 receiver: the agent listens here, the demo's panels send here. */
export const DEMO_DC09_RECEIVER = { address: "127.77.3.1", port: 9000 } as const;

/**
 * The encrypted demo panel's AES-256 key, a demo secret, public on purpose.
 * The demo (agent/demo.ts, which holds the same value) writes it to the
 * key_file config/demo.yaml names, in its data folder, as an installer
 * would on a real gateway.
 */
export const DEMO_DC09_KEY = "DE63FFC1DE1A19407B37A74485068683BE9271FD3E7D93F5E609535327B16768";

type PanelInput = Omit<Dc09PanelSpec, "simulator" | "receiver" | "key" | "linkTestS" | "driver"> & {
  transport: "tcp" | "udp";
  encrypted: boolean;
  zones: NonNullable<PanicDc09OptionsInput["zones"]>;
};

/**
 * A panel reporting to the gateway's receiver (DEMO_DC09_RECEIVER) over one
 * transport: a NULL link test every 30 s, supervised at 90 s. An encrypted
 * one uses DEMO_DC09_KEY, which the agent reads from `<data folder>/<id>.key`.
 */
function dc09Panel(spec: PanelInput): Dc09PanelSpec {
  const { transport, encrypted, zones, ...rest } = spec;
  const { address, port } = DEMO_DC09_RECEIVER;
  return {
    ...rest,
    simulator: "dc09-panel",
    receiver: { address, port, transport },
    ...(encrypted ? { key: DEMO_DC09_KEY } : {}),
    linkTestS: 30,
    driver: {
      kind: "panic-dc09",
      options: {
        listen: { host: address, port, protocols: [transport] },
        account: spec.account,
        ...(encrypted ? { key_file: `${DEMO_DATA_DIR}/${spec.id}.key` } : {}),
        supervision_s: 90,
        zones,
      },
    },
  };
}

/**
 * The panic receivers, of both kinds. The DC-09 panels send their scheduled
 * manual test report (Contact ID 601, SIA RX) soon after the start and every
 * 2 min; they and the contact receiver press a panic button every few
 * minutes, the first within the first minute. Times in ms from the start of
 * each loop.
 */
export const DEMO_PANIC_RECEIVERS: readonly (Dc09PanelSpec | ContactReceiverSpec)[] = [
  dc09Panel({
    id: "panic-rx-a-office",
    name: "Building A panic receiver (main office)",
    transport: "tcp",
    encrypted: true,
    account: "1001",
    format: "cid",
    zones: {
      11: { name: "Room 114 pendant", location: { building: "A", room: "114" } },
      12: { name: "Front desk duress button", location: { building: "A", room: "Main office" } },
    },
    scenario: "DC-09 over TCP, AES-256, Contact ID: manual test report at 15 s and every 2 min; Room 114 pendant pressed at 40 s, restored 10 s later, every 4 min",
    timeline: {
      loop_ms: 240_000,
      steps: [
        { at_ms: 15_000, event: "manual-test" },
        { at_ms: 40_000, event: "panic", zone: 11 },
        { at_ms: 50_000, event: "panic-restore", zone: 11 },
        { at_ms: 135_000, event: "manual-test" },
      ],
    },
  }),
  dc09Panel({
    id: "panic-rx-b-office",
    name: "Building B alarm panel (front office)",
    transport: "udp",
    encrypted: false,
    account: "1002",
    format: "sia",
    zones: {
      21: { name: "Library circulation desk panic button", location: { building: "B", room: "Library" } },
      22: { name: "Cafeteria manager's pendant", location: { building: "B", room: "Cafeteria" } },
    },
    scenario: "DC-09 over UDP, plain, SIA DCS: manual test report at 25 s and every 2 min; cafeteria pendant pressed at 160 s, restored 12 s later, every 4 min",
    timeline: {
      loop_ms: 240_000,
      steps: [
        { at_ms: 25_000, event: "manual-test" },
        { at_ms: 145_000, event: "manual-test" },
        { at_ms: 160_000, event: "panic", zone: 22 },
        { at_ms: 172_000, event: "panic-restore", zone: 22 },
      ],
    },
  }),
  {
    id: "panic-rx-c-gym",
    name: "Gymnasium panic receiver (relay outputs)",
    simulator: "contact-module",
    address: "127.77.3.20",
    port: DEMO_MODBUS_PORT,
    unit: 1,
    scenario: "gym office panic button held 4 s at 20 s, receiver trouble output on from 90 s to 120 s, every 3 min",
    timeline: {
      loop_ms: 180_000,
      steps: [
        { at_ms: 20_000, action: "close", input: 1 },
        { at_ms: 24_000, action: "open", input: 1 },
        { at_ms: 90_000, action: "close", input: 7 },
        { at_ms: 120_000, action: "open", input: 7 },
      ],
    },
    driver: {
      kind: "panic-contacts",
      options: {
        transport: "tcp",
        host: "127.77.3.20",
        port: DEMO_MODBUS_PORT,
        unit_id: 1,
        profile: "io-8di",
        inputs: {
          input_1: { meaning: "panic", zone: "1", name: "Gym office panic button", location: { building: "C", room: "Gym office" } },
          input_2: { meaning: "panic", alarm: "duress", zone: "2", name: "Coach's duress pendant", location: { building: "C", room: "Gymnasium" } },
          input_3: { meaning: "panic", alarm: "medical", zone: "3", name: "Weight room medical button", location: { building: "C", room: "Weight room" } },
          input_6: { meaning: "supervision", name: "Pendant supervision fault" },
          input_7: { meaning: "trouble", name: "Receiver trouble" },
          input_8: { meaning: "tamper", name: "Receiver cabinet tamper" },
        },
      },
    },
  },
];

/**
 * Devices on the campus that config/demo.yaml leaves out, on purpose: the
 * asset register's unknown assets, found by discovery (config/demo.yaml's
 * discovery section). Their `driver` is what a config entry would say.
 */
export const DEMO_UNCONFIGURED: readonly (CameraSpec | DoorSpec)[] = [
  // Put up by the installer for the new science wing, on the district's camera account, and never entered in the config.
  camera({
    id: "cam-science-wing",
    name: "Science wing hallway camera",
    octet: 20,
    scenario: "not in config/demo.yaml: installed, never registered (an unknown asset, found by WS-Discovery)",
    camera: { ...LX, firmwareVersion: DEMO_CURRENT_FIRMWARE, serialNumber: "LX4410A0412", name: "Science wing" },
  }),
  // Still wired to the cafeteria's old RS-485 bus, behind the serial gateway, and never entered in the config.
  gatewayDoor({
    id: "door-b-kitchen-back",
    name: "Kitchen back corridor door controller",
    octet: 20,
    unit: 3,
    controller: { serial: 230053, firmware: [1, 8] },
    scenario: "not in config/demo.yaml: still on the cafeteria's bus (an unknown asset, found by the unit-id scan); opened now and then",
    timeline: {
      loop_ms: 120_000,
      steps: [
        { at_ms: 30_000, action: "open" },
        { at_ms: 36_000, action: "close" },
      ],
    },
  }),
];

/** Every device of config/demo.yaml, in its order: the simulated ones and the missing one. */
export const DEMO_DEVICES: readonly DemoDeviceSpec[] = [...DEMO_CAMPUS, ...DEMO_CAMERAS, ...DEMO_MISSING, ...DEMO_DOORS, ...DEMO_PANIC_RECEIVERS];

/** Every device the campus simulator starts: the configured ones that exist, and the unconfigured ones. */
export const DEMO_SIMULATED: readonly SimulatedDeviceSpec[] = [
  ...DEMO_DEVICES.filter((d): d is SimulatedDeviceSpec => d.simulator !== "none"),
  ...DEMO_UNCONFIGURED,
];

/** The demo device behind a config device id, if there is one (a missing device's spec says nothing runs). */
export function simulatorFor(id: string): DemoDeviceSpec | undefined {
  return DEMO_DEVICES.find((d) => d.id === id);
}
