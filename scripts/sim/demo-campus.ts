/**
 * The demo campus as data: every simulated device, where it listens, how it
 * misbehaves, and how config/demo.yaml checks it. One source of truth: the
 * campus simulator starts exactly this list, and a test checks that every
 * device of config/demo.yaml with a simulator here points at it (same id,
 * same driver kind, same host and port).
 *
 * Each device has its own loopback address, as on a real campus network
 * (Linux routes all of 127.0.0.0/8 to lo, nothing to configure). Third octet
 * by simulator family, so later families slot in without renumbering:
 *   127.77.0.x  network devices checked for reachability
 *   127.77.1.x  cameras (ONVIF)            — later
 *   127.77.2.x  door controllers (Modbus)  — later
 *   127.77.3.x  panic receivers (DC-09)    — later
 * Ports are the real service's, moved above 1024 so no root is needed
 * (80 → 8080, 554 → 8554, 22 → 2222; SIP's 5060 is already unprivileged).
 */
import type { ReachabilityOptionsInput } from "../../drivers/reachability/options.js";
import { type BehaviourSpec, flap, type NetDeviceHttp } from "./netdevice.js";

/** Simulator families the campus knows how to start; one entry per family in campus.ts. */
export const SIMULATOR_KINDS = ["netdevice"] as const;
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

/** Grows a member per simulator family (cameras, door controllers, panic receivers). */
export type SimulatedDeviceSpec = NetDeviceSpec;

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

export const DEMO_CAMPUS: readonly SimulatedDeviceSpec[] = [
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

/** The simulated device behind a config device id, if there is one. */
export function simulatorFor(id: string): SimulatedDeviceSpec | undefined {
  return DEMO_CAMPUS.find((d) => d.id === id);
}
