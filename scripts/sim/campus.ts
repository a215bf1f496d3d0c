/**
 * The demo campus: starts the simulated devices of demo-campus.ts. Run by the
 * agent's demo mode as a child process:
 *
 *   node dist/scripts/sim/campus.js [--ephemeral-ports]
 *
 * Starts every device of DEMO_DEVICES: network devices and cameras.
 * Prints exactly one line on stdout, `READY {"devices":N}`, once every device
 * listens; logs go to stderr. Stops cleanly on SIGTERM, SIGINT, end of stdin
 * (the parent spawned it with a stdin pipe and died) or a change of parent pid.
 * --ephemeral-ports keeps the addresses but lets the system pick free ports
 * (for tests, which must not depend on fixed ports; the ports are logged).
 *
 * Node builtins only: the compiled file must run without node_modules.
 */
import { parseArgs } from "node:util";
import { startCamera } from "./camera.js";
import { describeFault } from "./camera-faults.js";
import {
  type CameraSpec,
  DEMO_DEVICES,
  type NetDeviceSpec,
  type SimulatedDeviceSpec,
  type SimulatorKind,
} from "./demo-campus.js";
import { startNetDevice } from "./netdevice.js";
import { isMain, untilShutdown } from "./process.js";

export interface RunningSim {
  id: string;
  host: string;
  port: number;
  /** A camera's WS-Discovery UDP port. */
  discoveryPort?: number;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Listen on port 0 instead of each device's port. */
  ephemeralPorts?: boolean;
}

type Starter<S extends SimulatedDeviceSpec> = (spec: S, opts: StartOptions) => Promise<RunningSim>;

/** One starter per simulator family; a new family adds its spec type and a line here. */
const STARTERS: { [K in SimulatorKind]: Starter<Extract<SimulatedDeviceSpec, { simulator: K }>> } = {
  netdevice: startNetDeviceSim,
  camera: startCameraSim,
};

async function startNetDeviceSim(spec: NetDeviceSpec, opts: StartOptions): Promise<RunningSim> {
  const dev = await startNetDevice({
    host: spec.address,
    tcpPort: opts.ephemeralPorts ? 0 : spec.port,
    behaviour: spec.behaviour,
    ...(spec.http ? { http: spec.http } : {}),
    ...(spec.slowDelayMs !== undefined ? { slowDelayMs: spec.slowDelayMs } : {}),
  });
  return { id: spec.id, host: dev.host, port: dev.port, close: () => dev.close() };
}

async function startCameraSim(spec: CameraSpec, opts: StartOptions): Promise<RunningSim> {
  const cam = await startCamera({
    ...spec.camera,
    host: spec.address,
    port: opts.ephemeralPorts ? 0 : spec.port,
    discovery: { host: spec.address, port: opts.ephemeralPorts ? 0 : spec.discoveryPort },
    ...(spec.fault ? { fault: spec.fault } : {}),
  });
  return { id: spec.id, host: cam.host, port: cam.port, discoveryPort: cam.discoveryPort, close: () => cam.close() };
}

export interface Campus {
  devices: readonly RunningSim[];
  close(): Promise<void>;
}

/** Start every device, or none: if one fails (port taken), those started are closed again. */
export async function startCampus(specs: readonly SimulatedDeviceSpec[], opts: StartOptions = {}): Promise<Campus> {
  const results = await Promise.allSettled(
    specs.map((s) => {
      const start = STARTERS[s.simulator] as Starter<SimulatedDeviceSpec>;
      return start(s, opts).catch((e: unknown) => {
        throw new Error(`${s.id} on ${s.address}:${s.port}: ${(e as Error).message}`, { cause: e });
      });
    }),
  );
  const devices = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const close = async () => {
    await Promise.all(devices.map((d) => d.close()));
  };
  const failed = results.flatMap((r) => (r.status === "rejected" ? [r.reason as Error] : []));
  if (failed.length > 0) {
    await close();
    throw new AggregateError(failed, `campus did not start: ${failed.map((e) => e.message).join("; ")}`);
  }
  return { devices, close };
}

function describeBehaviour(spec: SimulatedDeviceSpec): string {
  if (spec.simulator === "camera") return spec.fault ? `${spec.scenario} (${describeFault(spec.fault)})` : spec.scenario;
  const b = spec.behaviour;
  return typeof b === "string" ? b : b.cycle.map((p) => `${p.behaviour} ${p.forMs / 1000} s`).join(", then ");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: { "ephemeral-ports": { type: "boolean" } },
  });
  const specs = DEMO_DEVICES;
  // Before READY: a parent that signals as soon as it reads READY must find
  // the handlers installed (until then SIGTERM's default action kills us).
  const stop = untilShutdown({ watchParent: true });
  const campus = await startCampus(specs, { ephemeralPorts: values["ephemeral-ports"] === true });
  for (const d of campus.devices) {
    const spec = specs.find((s) => s.id === d.id) as SimulatedDeviceSpec;
    const discovery = d.discoveryPort === undefined ? "" : ` (WS-Discovery on udp ${d.discoveryPort})`;
    process.stderr.write(`campus-sim: ${d.id} (${spec.name}) on ${d.host}:${d.port}${discovery}: ${describeBehaviour(spec)}\n`);
  }
  process.stdout.write(`READY ${JSON.stringify({ devices: campus.devices.length })}\n`);
  const why = await stop;
  process.stderr.write(`campus-sim: stopping (${why})\n`);
  await campus.close();
}

if (isMain(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`campus-sim: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
