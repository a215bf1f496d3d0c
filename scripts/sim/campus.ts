/**
 * The demo campus: starts the simulated devices of demo-campus.ts. Run by the
 * agent's demo mode as a child process:
 *
 *   node dist/scripts/sim/campus.js [--ephemeral-ports] [--serial-dir DIR]
 *
 * Starts every device of DEMO_SIMULATED: network devices, cameras, door
 * controllers and panic receivers (DC-09 panels, which send to the agent's
 * receiver, and a contact receiver's Modbus I/O module), the configured ones
 * and those config/demo.yaml leaves out on purpose (unknown assets); the
 * missing ones (DEMO_MISSING) are only named on stderr. Prints exactly one
 * line on stdout, `READY {"devices":N}`, once every device listens or is
 * ready to send (N: those started; when some could not be, their ids
 * follow: `READY {"devices":N,"unavailable":[...]}`); logs go to stderr:
 * what each device does, and each DC-09 report the receiver did not ACK.
 * Stops cleanly on SIGTERM, SIGINT, end of stdin (the parent spawned it with a
 * stdin pipe and died) or a change of parent pid.
 * --ephemeral-ports keeps the addresses but lets the system pick free ports
 * (for tests, which must not depend on fixed ports; the ports are logged).
 * The DC-09 panels still send to the receiver of their spec: a test that
 * wants their reports runs the campus in process, with panelTarget.
 * --serial-dir is where the RS-485 lines' PTY links go (created if missing;
 * the demo passes its data folder). Default: a temporary folder, removed on
 * exit.
 *
 * The RS-485 lines need socat (serial-line.ts). Without it the campus still
 * starts: it says once on stderr that the doors on those lines need
 * `apt-get install socat`, and the agent finds their serial port missing and
 * shows them offline.
 *
 * Node builtins only: the compiled file must run without node_modules.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startCamera } from "./camera.js";
import { describeFault } from "./camera-faults.js";
import { runDc09Scenario } from "./dc09-scenario.js";
import { Dc09Sender, type SendReport } from "./dc09-sender.js";
import {
  type CameraSpec,
  type ContactReceiverSpec,
  type Dc09PanelSpec,
  DEMO_MISSING,
  DEMO_SIMULATED,
  type DoorLink,
  type DoorSpec,
  type NetDeviceSpec,
  type SimulatedDeviceSpec,
  type SimulatorKind,
} from "./demo-campus.js";
import { DoorControllerSim } from "./modbus-door.js";
import { describeModbusFault } from "./modbus-faults.js";
import { ContactModuleSim, runContacts } from "./modbus-io.js";
import { parseScenario, runScenario } from "./modbus-scenario.js";
import { type ModbusSim, startModbusSim } from "./modbus-server.js";
import { startNetDevice } from "./netdevice.js";
import { isMain, untilShutdown } from "./process.js";
import { type SerialLine, SocatMissingError, startSerialLine } from "./serial-line.js";

export interface RunningSim {
  id: string;
  /**
   * Where the agent reaches it: its address, or for a door on a serial line,
   * the line's device path (port 0); for a DC-09 panel, where it sends (the
   * agent's receiver).
   */
  host: string;
  port: number;
  /** A camera's WS-Discovery UDP port. */
  discoveryPort?: number;
  /** A door controller's Modbus unit id. */
  unit?: number;
  /** Set when the device could not be simulated, and why (it is not running; the agent sees it offline). */
  unavailable?: string;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Listen on port 0 instead of each device's port. */
  ephemeralPorts?: boolean;
  /** Folder of the serial lines' PTY links (created if missing). Default: a temporary folder, removed on close. */
  serialDir?: string;
  /** Where a DC-09 panel sends instead of its spec's receiver (tests: a receiver on a free port). */
  panelTarget?: (spec: Dc09PanelSpec) => { host: string; port: number };
  /** Where the devices say what goes wrong while they run (a DC-09 report not acknowledged). Default: nowhere. */
  log?: (line: string) => void;
}

type Starter<S extends SimulatedDeviceSpec> = (spec: S, opts: StartOptions) => Promise<RunningSim>;
type Starters = { [K in SimulatorKind]: Starter<Extract<SimulatedDeviceSpec, { simulator: K }>> };

/**
 * One starter per simulator family; a new family adds its spec type and a line
 * here. Made per campus: door controllers behind one endpoint share its server.
 */
function starters(doors: DoorEndpoints): Starters {
  return {
    netdevice: startNetDeviceSim,
    camera: startCameraSim,
    door: (spec) => doors.start(spec),
    "dc09-panel": startPanelSim,
    "contact-module": startContactModuleSim,
  };
}

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

/**
 * A DC-09 panel: its timeline's reports and a NULL link test every
 * linkTestS, through one sender (one message at a time, retried as panels
 * do). Nothing is sent at start: the agent's receiver is not up yet when the
 * demo starts its campus, and the first report comes seconds later.
 */
function startPanelSim(spec: Dc09PanelSpec, opts: StartOptions): Promise<RunningSim> {
  const to = opts.panelTarget?.(spec) ?? { host: spec.receiver.address, port: spec.receiver.port };
  const sender = new Dc09Sender({
    ...to,
    transport: spec.receiver.transport,
    account: spec.account,
    format: spec.format,
    ...(spec.key !== undefined ? { key: spec.key } : {}),
    // A real panel keeps its sequence number across restarts, and a receiver takes a number it saw
    // within 10 minutes with the same content as a retransmission (ACKed, not reported). Counting
    // from the clock's seconds stands in for that: these panels send less than once a second, so a
    // campus restarted on the same agent never reuses a recent number.
    firstSequence: (Math.floor(Date.now() / 1000) % 9999) + 1,
  });
  let stopping = false;
  const onReport = (what: string, r: SendReport | Error) => {
    if (stopping || (!(r instanceof Error) && r.result === "ACK")) return;
    const why = r instanceof Error ? r.message : [r.result, r.attempts.at(-1)?.detail].filter((x) => x !== undefined).join(": ");
    opts.log?.(`campus-sim: ${spec.id}: ${what} not acknowledged by the receiver at ${to.host}:${to.port} (${why})`);
  };
  const run = runDc09Scenario(sender, spec.timeline, (step, r) => onReport(step.event, r));
  const linkTests = setInterval(() => {
    sender.send({ event: "null" }).then(
      (r) => onReport("link test", r),
      (e: unknown) => onReport("link test", e as Error),
    );
  }, spec.linkTestS * 1000);
  return Promise.resolve({
    id: spec.id,
    host: to.host,
    port: to.port,
    close: () => {
      stopping = true;
      clearInterval(linkTests);
      run.stop();
      return sender.close();
    },
  });
}

/** A contact receiver's I/O module: Modbus TCP on its own address, its contacts moved by its timeline. */
async function startContactModuleSim(spec: ContactReceiverSpec, opts: StartOptions): Promise<RunningSim> {
  const sim = await startModbusSim({ host: spec.address, tcpPort: opts.ephemeralPorts ? 0 : spec.port, units: [spec.unit] });
  let run: ReturnType<typeof runContacts>;
  try {
    run = runContacts(new ContactModuleSim(sim.bank(spec.unit)), spec.timeline);
  } catch (e) {
    await sim.close();
    throw e;
  }
  return {
    id: spec.id,
    host: sim.host,
    port: sim.tcpPort ?? 0,
    unit: spec.unit,
    close: () => {
      run.stop();
      return sim.close();
    },
  };
}

/** A Modbus server shared by the door controllers behind one endpoint, or why it could not start. */
type DoorEndpoint =
  | { sim: ModbusSim; line?: SerialLine; close(): Promise<void> } |
  { unavailable: string; path: string; close(): Promise<void> };

/**
 * The door controllers' Modbus servers, one per endpoint (a controller's own
 * Ethernet port, a serial gateway, an RS-485 line), each hosting the unit ids
 * behind it. A controller's close() stops its timeline and removes its unit;
 * the servers and serial lines stop in close(), after every controller.
 */
class DoorEndpoints {
  private readonly endpoints = new Map<string, Promise<DoorEndpoint>>();
  private serialDir: string | undefined;
  private tempDir: string | undefined;

  constructor(private readonly opts: StartOptions) {}

  async start(spec: DoorSpec): Promise<RunningSim> {
    // Checked before anything is started: a bad timeline fails the start, not the run.
    const timeline = parseScenario(spec.timeline);
    const ep = await this.endpoint(spec.link);
    const base = { id: spec.id, unit: spec.unit };
    if ("unavailable" in ep) return { ...base, host: ep.path, port: 0, unavailable: ep.unavailable, close: () => Promise.resolve() };
    const { sim } = ep;
    if (sim.units().includes(spec.unit)) throw new Error(`unit ${spec.unit} is taken by another controller on ${linkText(spec.link)}`);
    const door = new DoorControllerSim(sim.addUnit(spec.unit), spec.controller);
    if (spec.fault) sim.setFault(spec.unit, spec.fault);
    const run = runScenario(new Map([[spec.unit, door]]), timeline);
    const at = ep.line ? { host: ep.line.path, port: 0 } : { host: sim.host, port: sim.tcpPort ?? sim.rtuTcpPort ?? 0 };
    return {
      ...base,
      ...at,
      close: () => {
        run.stop();
        sim.removeUnit(spec.unit);
        return Promise.resolve();
      },
    };
  }

  /** Stop every server and serial line; remove the temporary serial folder if one was made. */
  async close(): Promise<void> {
    const all = [...this.endpoints.values()];
    this.endpoints.clear();
    // An endpoint that failed to start has nothing to close.
    await Promise.all(all.map((p) => p.then((ep) => ep.close(), () => {})));
    if (this.tempDir !== undefined) rmSync(this.tempDir, { recursive: true, force: true });
  }

  /** The endpoint's server, started by the first controller behind it. */
  private endpoint(link: DoorLink): Promise<DoorEndpoint> {
    const key = link.transport === "rtu" ? `rtu:${link.line}` : `${link.transport}://${link.address}:${link.port}`;
    let ep = this.endpoints.get(key);
    if (ep === undefined) {
      ep = this.startEndpoint(link);
      this.endpoints.set(key, ep);
    }
    return ep;
  }

  private async startEndpoint(link: DoorLink): Promise<DoorEndpoint> {
    const port = (p: number) => (this.opts.ephemeralPorts ? 0 : p);
    if (link.transport === "tcp") {
      const sim = await startModbusSim({ host: link.address, tcpPort: port(link.port) });
      return { sim, close: () => sim.close() };
    }
    if (link.transport === "rtu_over_tcp") {
      const sim = await startModbusSim({ host: link.address, tcpPort: null, rtuTcpPort: port(link.port) });
      return { sim, close: () => sim.close() };
    }
    const dir = this.folder();
    let line: SerialLine;
    try {
      line = await startSerialLine(dir, link.line);
    } catch (e) {
      if (!(e instanceof SocatMissingError)) throw e;
      // Not fatal: the rest of the campus runs, and the agent shows these doors offline (serial port not found).
      return {
        unavailable: `RS-485 line ${link.line} needs socat, which is not installed (apt-get install socat); the agent shows its doors offline (serial port missing)`,
        path: join(dir, link.line),
        close: () => Promise.resolve(),
      };
    }
    try {
      const sim = await startModbusSim({ tcpPort: null, rtu: { path: line.simPath, baud: link.baud } });
      return {
        sim,
        line,
        close: async () => {
          // The server lets go of its end before socat removes the PTYs.
          await sim.close();
          await line.close();
        },
      };
    } catch (e) {
      await line.close();
      throw e;
    }
  }

  /** The serial lines' folder: the one given (created if missing), or a temporary one. */
  private folder(): string {
    if (this.serialDir !== undefined) return this.serialDir;
    if (this.opts.serialDir !== undefined) {
      mkdirSync(this.opts.serialDir, { recursive: true });
      this.serialDir = this.opts.serialDir;
    } else {
      this.tempDir = mkdtempSync(join(tmpdir(), "campus-serial-"));
      this.serialDir = this.tempDir;
    }
    return this.serialDir;
  }
}

function linkText(link: DoorLink): string {
  switch (link.transport) {
    case "tcp": return `${link.address}:${link.port} (Modbus TCP)`;
    case "rtu_over_tcp": return `${link.address}:${link.port} (RTU over TCP, serial gateway)`;
    case "rtu": return `RS-485 line ${link.line} (RTU ${link.baud} 8N1)`;
  }
}

/** Where a spec says the device is, for messages. */
function specWhere(spec: SimulatedDeviceSpec): string {
  if (spec.simulator === "door") return linkText(spec.link);
  if (spec.simulator === "dc09-panel") return `${spec.receiver.transport} ${spec.receiver.address}:${spec.receiver.port}`;
  return `${spec.address}:${spec.port}`;
}

export interface Campus {
  /** Every device, started or (unavailable set) not. */
  devices: readonly RunningSim[];
  close(): Promise<void>;
}

/** Start every device, or none: if one fails (port taken), those started are closed again. */
export async function startCampus(specs: readonly SimulatedDeviceSpec[], opts: StartOptions = {}): Promise<Campus> {
  const doors = new DoorEndpoints(opts);
  const byKind = starters(doors);
  const results = await Promise.allSettled(
    specs.map((s) => {
      const start = byKind[s.simulator] as Starter<SimulatedDeviceSpec>;
      return start(s, opts).catch((e: unknown) => {
        throw new Error(`${s.id} on ${specWhere(s)}: ${(e as Error).message}`, { cause: e });
      });
    }),
  );
  const devices = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const close = async () => {
    await Promise.all(devices.map((d) => d.close()));
    await doors.close();
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
  if (spec.simulator === "door") return spec.fault ? `${spec.scenario} (${describeModbusFault(spec.fault)})` : spec.scenario;
  if (spec.simulator === "dc09-panel") return `${spec.scenario}; NULL link test every ${spec.linkTestS} s`;
  if (spec.simulator === "contact-module") return spec.scenario;
  const b = spec.behaviour;
  return typeof b === "string" ? b : b.cycle.map((p) => `${p.behaviour} ${p.forMs / 1000} s`).join(", then ");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: { "ephemeral-ports": { type: "boolean" }, "serial-dir": { type: "string" } },
  });
  const specs = DEMO_SIMULATED;
  // Before READY: a parent that signals as soon as it reads READY must find
  // the handlers installed (until then SIGTERM's default action kills us).
  const stop = untilShutdown({ watchParent: true });
  const campus = await startCampus(specs, {
    ephemeralPorts: values["ephemeral-ports"] === true,
    ...(values["serial-dir"] !== undefined ? { serialDir: values["serial-dir"] } : {}),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const started = campus.devices.filter((d) => d.unavailable === undefined);
  for (const d of started) {
    const spec = specs.find((s) => s.id === d.id) as SimulatedDeviceSpec;
    process.stderr.write(`campus-sim: ${d.id} (${spec.name}) on ${runningWhere(spec, d)}: ${describeBehaviour(spec)}\n`);
  }
  for (const m of DEMO_MISSING) process.stderr.write(`campus-sim: not simulated: ${m.id} (${m.name}): ${m.scenario}\n`);
  // One line per cause (a serial line without socat), naming every device it keeps down.
  const unavailable = campus.devices.filter((d) => d.unavailable !== undefined);
  for (const why of new Set(unavailable.map((d) => d.unavailable))) {
    const ids = unavailable.filter((d) => d.unavailable === why).map((d) => d.id);
    process.stderr.write(`campus-sim: not started: ${ids.join(", ")}: ${why}\n`);
  }
  const ready = unavailable.length === 0 ? { devices: started.length } : { devices: started.length, unavailable: unavailable.map((d) => d.id) };
  process.stdout.write(`READY ${JSON.stringify(ready)}\n`);
  const why = await stop;
  process.stderr.write(`campus-sim: stopping (${why})\n`);
  await campus.close();
}

/** Where a started device is, for the log: its address and port, and a door's link and unit. */
function runningWhere(spec: SimulatedDeviceSpec, d: RunningSim): string {
  if (spec.simulator === "camera") return `${d.host}:${d.port} (WS-Discovery on udp ${d.discoveryPort})`;
  if (spec.simulator === "dc09-panel") {
    return `account ${spec.account}, reporting to the receiver at ${spec.receiver.transport} ${d.host}:${d.port}${spec.key !== undefined ? " (AES)" : ""}`;
  }
  if (spec.simulator === "contact-module") return `${d.host}:${d.port} (Modbus TCP), unit ${spec.unit}`;
  if (spec.simulator !== "door") return `${d.host}:${d.port}`;
  const link = spec.link.transport === "rtu" ? { ...spec.link } : { ...spec.link, address: d.host, port: d.port };
  const path = spec.link.transport === "rtu" ? ` at ${d.host}` : "";
  return `${linkText(link)}${path}, unit ${spec.unit}`;
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
