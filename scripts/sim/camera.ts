/**
 * A simulated ONVIF camera (Profile S subset) over real HTTP, with fault
 * injection. Used in-process by tests and the demo campus, and as a CLI
 * (options in camera-cli.ts) that prints `READY {"url":…,"port":…}`:
 *
 *   node dist/scripts/sim/camera.js --port 8080 [--vendor … --fault hang …]
 *
 * SOAP 1.2 at /onvif/device_service and /onvif/media_service (either path
 * answers every operation, as many cameras do: the operation's namespace
 * names the service). Operations: GetSystemDateAndTime, GetCapabilities,
 * GetServices, GetDeviceInformation, GetNetworkInterfaces (one interface,
 * eth0, with the camera's macAddress), GetProfiles, GetVideoSources,
 * GetStreamUri, GetSnapshotUri; anything else is ter:ActionNotSupported.
 * GET /onvif/snapshot?profile=… serves a JPEG behind HTTP Digest.
 *
 * Authentication (ONVIF Core 5.12.1): GetSystemDateAndTime never needs it
 * (and, with preAuth "date-and-services", neither do GetServices and
 * GetCapabilities, their PRE_AUTH access class); everything else needs a
 * WS-Security UsernameToken or, with soapAuth "ws-security-or-digest", HTTP
 * Digest. A request with no credentials at all then gets 401 and a Digest
 * challenge ("the server shall assume that the client intends to use digest
 * authentication"); a bad UsernameToken gets env:Sender/ter:NotAuthorized
 * with HTTP 400 (authFaultStatus: 401 for cameras that answer so, with a
 * challenge). A token is bad when its digest is wrong, its nonce replayed,
 * or its Created more than authWindowMs from the camera's own clock — the
 * same fault either way, as real cameras answer: compare clocks to tell skew.
 *
 * Faults (setFault; one at a time, or a cycle of phases; `ops` limits one to
 * some SOAP operations, e.g. { kind: "hang", ops: ["GetNetworkInterfaces"] }):
 *   slow                every answer delayMs late (default 3 s)
 *   hang                read the request, never answer (until the client or close() ends it)
 *   drip                headers, then the body bytesPerTick bytes every tickMs (8 B / 100 ms)
 *   http500             every request: 500 with an HTML error page
 *   malformed-xml       SOAP answers cut short and closed with the wrong tag (not well-formed)
 *   invalid-utf8        Latin-1 bytes where UTF-8 is declared: ® after the Manufacturer, ü in profile names
 *   huge                SOAP answers padded to `bytes` (default 50 MiB, Content-Length up front), streamed
 *   wrong-credentials   no password is right (NotAuthorized; snapshot 401)
 *   auth-skew           the camera's clock jumps by jumpMs (default +10 min) while on: it reports the jumped
 *                       time, and judges tokens by it, so a client whose time shift is stale is rejected
 *   reboot              stop listening and drop every connection for downMs (default 5 s), then come back healthy
 *   no-video-source     profiles name a video source that GetVideoSources does not list
 *   snapshot-500 / snapshot-wrong-type (200 text/html) / snapshot-tiny (200 image/jpeg, 4 bytes)
 *
 * Node builtins only: the compiled file must run without node_modules.
 */

import type { TokenVerdict } from "./camera-auth.js";
import { parseCameraArgs } from "./camera-cli.js";
import type { CameraFault, FaultSpec } from "./camera-faults.js";
import { CameraSim } from "./camera-server.js";
import type { CameraIdentity, OperationName } from "./camera-services.js";
import type { TimeReport } from "./camera-time.js";
import { isMain, untilShutdown } from "./process.js";

export type { CameraFault, FaultPhase, FaultSpec } from "./camera-faults.js";
export type { CameraIdentity } from "./camera-services.js";
export type { TimeReport } from "./camera-time.js";

export type PreAuth = "date-only" | "date-and-services";
export type SoapAuth = "ws-security" | "ws-security-or-digest";

export interface CameraOptions {
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  manufacturer?: string;
  model?: string;
  firmwareVersion?: string;
  /** Default: random, so that cameras differ. */
  serialNumber?: string;
  hardwareId?: string;
  /**
   * HwAddress in GetNetworkInterfaces, sent as written (so a test can send
   * garbage). Default: derived from the serial number, locally administered
   * (02:…) and the same for the same serial. null: the camera does not
   * implement GetNetworkInterfaces (ter:ActionNotSupported).
   */
  macAddress?: string | null;
  /** Camera time = real time + this (default 0). */
  clockOffsetMs?: number;
  /** POSIX TZ string (default "UTC0"), e.g. "CET-1CEST,M3.5.0,M10.5.0/3". */
  timeZone?: string;
  /** Which of UTCDateTime / LocalDateTime GetSystemDateAndTime carries (default "utc-and-local"). */
  timeReport?: TimeReport;
  /** What GetSystemDateAndTime says sets the clock (default "NTP"). */
  dateTimeType?: "NTP" | "Manual";
  /** Default "admin" / "admin". */
  username?: string;
  password?: string;
  /** Media profiles (default 2: main and sub stream). */
  profiles?: number;
  /**
   * Render the snapshot JPEG at start, not at the first snapshot request.
   * Rendering takes about 200 ms of CPU: a process that simulates other
   * devices too (the demo campus) would stop answering them that long, in
   * the middle of a run, and a panic receiver's I/O module polled with a
   * 150 ms deadline would time out.
   */
  snapshotAtStart?: boolean;
  /** Port in the RTSP stream URIs (default 554; nothing listens there). */
  rtspPort?: number;
  /** Operations answered without credentials (default "date-only"). */
  preAuth?: PreAuth;
  /** Authentication accepted on SOAP requests (default "ws-security-or-digest"). */
  soapAuth?: SoapAuth;
  /** HTTP status of a NotAuthorized fault (default 400, ONVIF Core 5.12.1; some cameras send 401). */
  authFaultStatus?: 400 | 401;
  /**
   * How far a UsernameToken's Created may be from the camera clock (default
   * ±5 s). Strict, like cameras with replay protection on (Axis); the WSS
   * profile suggests minutes and lenient cameras accept those: 300_000.
   */
  authWindowMs?: number;
  /** WS-Discovery scope values (defaults: the manufacturer; "campus"). */
  name?: string;
  location?: string;
  /** WS-Discovery endpoint reference (default: a random urn:uuid). */
  endpointReference?: string;
  /** Answer WS-Discovery probes too (off by default). */
  discovery?: { host?: string; port?: number; multicast?: boolean };
  fault?: FaultSpec;
}

export interface CameraStats {
  /** TCP connections accepted. */
  connections: number;
  /** HTTP requests received (any path). */
  requests: number;
  /** SOAP requests by operation ("unknown" for the rest), whatever their outcome. */
  operations: Partial<Record<OperationName | "unknown", number>>;
  /** Requests refused for their credentials, by why (never told to the client). */
  rejected: Partial<Record<Exclude<TokenVerdict, "ok"> | "digest", number>>;
  /** Snapshots served (200 image/jpeg). */
  snapshots: number;
  /** WS-Discovery Probes received and answered, when the responder runs. */
  discovery?: { probes: number; matches: number };
}

export interface SimCamera {
  readonly host: string;
  readonly port: number;
  /** http://host:port/ */
  readonly url: string;
  /** The device service address a client starts from. */
  readonly deviceServiceUrl: string;
  readonly endpointReference: string;
  readonly scopes: readonly string[];
  /** The WS-Discovery responder's unicast port, when started. */
  readonly discoveryPort: number | undefined;
  identity(): CameraIdentity;
  /** Change identity fields (a firmware upgrade, a replaced unit). */
  setIdentity(change: Partial<CameraIdentity>): void;
  /** The camera's clock now, in ms since the epoch (real time + offset, + an auth-skew jump). */
  now(): number;
  setClockOffset(ms: number): void;
  /** The fault in force now (the current phase of a cycle); null when healthy. */
  fault(): CameraFault | null;
  /** Resolves once it is in force (for reboot: the port is closed). */
  setFault(spec: FaultSpec): Promise<void>;
  stats(): CameraStats;
  close(): Promise<void>;
}

export async function startCamera(opts: CameraOptions = {}): Promise<SimCamera> {
  const cam = new CameraSim(opts);
  await cam.start();
  return cam;
}

async function main(): Promise<void> {
  let opts: CameraOptions;
  try {
    opts = parseCameraArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`camera: ${(e as Error).message}\n`);
    process.exit(2);
  }
  // Handlers first: until they exist, a SIGTERM right after READY would kill us uncleanly.
  const stop = untilShutdown({ watchParent: false });
  const cam = await startCamera(opts);
  const ready: Record<string, unknown> = { url: cam.deviceServiceUrl, port: cam.port };
  if (cam.discoveryPort !== undefined) ready.discoveryPort = cam.discoveryPort;
  process.stdout.write(`READY ${JSON.stringify(ready)}\n`);
  await stop;
  await cam.close();
}

if (isMain(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`camera: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
