/**
 * The simulated camera's server: HTTP listener, routing, authentication flow
 * and fault injection. Public API and documentation: camera.ts.
 */
import { randomBytes, randomUUID } from "node:crypto";
import http from "node:http";
import type net from "node:net";
import type { CameraOptions, CameraStats, PreAuth, SimCamera } from "./camera.js";
import { HttpDigest, NonceCache, verifyUsernameToken } from "./camera-auth.js";
import { type DiscoveryResponder, onvifScopes, startDiscoveryResponder } from "./camera-discovery.js";
import { type CameraFault, dripResponse, FAULT_DEFAULTS, type FaultPhase, type FaultSpec, hugeResponse } from "./camera-faults.js";
import { answerSnapshot, type Reply, SNAPSHOT_REPLIES } from "./camera-http.js";
import { testCardJpeg } from "./camera-jpeg.js";
import {
  answer,
  type CameraIdentity,
  DEVICE_PATH,
  defaultMacAddress,
  MEDIA_PATH,
  type OperationName,
  operationOf,
  profileTokens,
  SNAPSHOT_PATH,
} from "./camera-services.js";
import {
  envelope,
  FAULTS,
  faultEnvelope,
  faultStatus,
  isFault,
  parseSoapRequest,
  SOAP_CONTENT_TYPE,
  type SoapFault,
} from "./camera-soap.js";
import { type PosixTz, parsePosixTz } from "./camera-time.js";
import { listenOn } from "./process.js";

const MAX_REQUEST_BYTES = 1024 * 1024;
const PRE_AUTH: Record<PreAuth, readonly OperationName[]> = {
  "date-only": ["GetSystemDateAndTime"],
  "date-and-services": ["GetSystemDateAndTime", "GetServices", "GetCapabilities"],
};

export class CameraSim implements SimCamera {
  readonly host: string;
  port: number;
  readonly endpointReference: string;
  private ident: CameraIdentity;
  private readonly tz: PosixTz;
  private clockOffsetMs: number;
  private readonly digest: HttpDigest;
  private readonly nonces = new NonceCache();
  private server: http.Server | undefined;
  private discovery: DiscoveryResponder | undefined;
  private current: CameraFault | null = null;
  private cycleTimer: NodeJS.Timeout | undefined;
  private rebootTimer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private closing: Promise<void> | undefined;
  private jpeg: Buffer | undefined;
  private counts: CameraStats = { connections: 0, requests: 0, operations: {}, rejected: {}, snapshots: 0 };

  constructor(private readonly opts: CameraOptions) {
    this.host = opts.host ?? "127.0.0.1";
    this.port = opts.port ?? 0;
    this.endpointReference = opts.endpointReference ?? `urn:uuid:${randomUUID()}`;
    const serialNumber = opts.serialNumber ?? `LX${randomBytes(4).toString("hex").toUpperCase()}`;
    this.ident = {
      manufacturer: opts.manufacturer ?? "Lumen Optics",
      model: opts.model ?? "LX-4410",
      firmwareVersion: opts.firmwareVersion ?? "7.4.1",
      serialNumber,
      hardwareId: opts.hardwareId ?? "LX4410-R2",
      macAddress: opts.macAddress === undefined ? defaultMacAddress(serialNumber) : opts.macAddress,
    };
    this.tz = parsePosixTz(opts.timeZone ?? "UTC0");
    const profiles = opts.profiles ?? 2;
    if (!Number.isInteger(profiles) || profiles < 1 || profiles > 32) throw new Error(`profiles: expected 1–32, got ${profiles}`);
    this.clockOffsetMs = opts.clockOffsetMs ?? 0;
    this.digest = new HttpDigest(`campus-sim ${this.ident.model}`);
  }

  get url(): string {
    const host = this.host.includes(":") ? `[${this.host}]` : this.host;
    return `http://${host}:${this.port}/`;
  }

  get deviceServiceUrl(): string {
    return `${this.url.slice(0, -1)}${DEVICE_PATH}`;
  }

  get scopes(): readonly string[] {
    const o = this.opts;
    return onvifScopes({ model: this.ident.model, name: o.name ?? this.ident.manufacturer, location: o.location ?? "campus" });
  }

  get discoveryPort(): number | undefined {
    return this.discovery?.port;
  }

  identity(): CameraIdentity {
    return { ...this.ident };
  }

  setIdentity(change: Partial<CameraIdentity>): void {
    this.ident = { ...this.ident, ...change };
  }

  now(): number {
    const f = this.current;
    return Date.now() + this.clockOffsetMs + (f?.kind === "auth-skew" ? (f.jumpMs ?? FAULT_DEFAULTS.authSkewMs) : 0);
  }

  setClockOffset(ms: number): void {
    this.clockOffsetMs = ms;
  }

  fault(): CameraFault | null {
    return this.current;
  }

  stats(): CameraStats {
    const c = this.counts;
    const stats: CameraStats = { ...c, operations: { ...c.operations }, rejected: { ...c.rejected } };
    if (this.discovery) stats.discovery = this.discovery.stats();
    return stats;
  }

  async start(): Promise<void> {
    if (this.opts.snapshotAtStart) this.jpeg = testCardJpeg(this.ident.serialNumber);
    await this.listen();
    try {
      if (this.opts.discovery) {
        this.discovery = await startDiscoveryResponder({
          ...this.opts.discovery,
          // A rebooting camera answers nothing, probes included.
          target: () =>
            this.server
              ? { endpointReference: this.endpointReference, scopes: this.scopes, xaddrs: [this.deviceServiceUrl], metadataVersion: 1 }
              : undefined,
        });
      }
      if (this.opts.fault) await this.setFault(this.opts.fault);
    } catch (e) {
      // All or nothing: a camera whose discovery port is taken must not leave its HTTP port open.
      await this.close();
      throw e;
    }
  }

  setFault(spec: FaultSpec): Promise<void> {
    clearTimeout(this.cycleTimer);
    this.cycleTimer = undefined;
    if (spec === null || !("cycle" in spec)) return this.enqueue(spec);
    if (spec.cycle.length === 0 || spec.cycle.some((p) => !(p.forMs > 0))) {
      return Promise.reject(new Error("a cycle needs at least one phase, each with forMs > 0"));
    }
    const enter = (i: number): Promise<void> => {
      const phase = spec.cycle[i % spec.cycle.length] as FaultPhase;
      this.cycleTimer = setTimeout(() => void enter(i + 1), phase.forMs);
      // The cycle must not keep a test process (or a closing campus) alive.
      this.cycleTimer.unref();
      return this.enqueue(phase.fault);
    };
    return enter(0);
  }

  /** Idempotent: a second call gets the first one's promise. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      clearTimeout(this.cycleTimer);
      clearTimeout(this.rebootTimer);
      await this.chain;
      await Promise.all([this.stopListening(), this.discovery?.close()]);
    })();
    return this.closing;
  }

  /** Fault changes run one after another: a cycle tick and setFault must not interleave listen/close. */
  private enqueue(f: CameraFault | null): Promise<void> {
    const next = this.chain.then(() => this.apply(f));
    this.chain = next.catch((e: unknown) => {
      process.emitWarning(`camera ${this.host}:${this.port}: ${(e as Error).message}`);
    });
    return next;
  }

  private async apply(f: CameraFault | null): Promise<void> {
    if (this.closed) return;
    clearTimeout(this.rebootTimer);
    this.current = f;
    if (f?.kind !== "reboot") {
      if (!this.server) await this.listen();
      return;
    }
    await this.stopListening();
    this.rebootTimer = setTimeout(() => {
      // Back up healthy, unless something else was set meanwhile.
      if (this.current === f) void this.enqueue(null);
    }, f.downMs ?? FAULT_DEFAULTS.rebootDownMs);
    this.rebootTimer.unref();
  }

  private async listen(): Promise<void> {
    const server = http.createServer((req, res) => this.onRequest(req, res));
    server.on("connection", (s: net.Socket) => {
      this.counts.connections++;
      // Clients vanish mid-answer (deadlines, capped bodies): nothing to report.
      s.on("error", () => s.destroy());
    });
    server.on("clientError", (_e, s) => s.destroy());
    // Drop connections of clients that vanished without closing (a hung answer included).
    server.setTimeout(120_000, (s) => s.destroy());
    this.port = await listenOn(server, this.host, this.port);
    this.server = server;
  }

  private stopListening(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      // A reboot drops open connections, hung and dripping ones included.
      server.closeAllConnections();
    });
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.counts.requests++;
    const current = this.current;
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= MAX_REQUEST_BYTES) chunks.push(c);
    });
    req.on("end", () => {
      const fault = size > MAX_REQUEST_BYTES ? current : this.faultFor(current, req, Buffer.concat(chunks));
      if (fault?.kind === "hang") return;
      const delay = fault?.kind === "slow" ? (fault.delayMs ?? FAULT_DEFAULTS.slowDelayMs) : 0;
      const go = () =>
        this.send(
          res,
          size > MAX_REQUEST_BYTES ? textReply(413, "Payload Too Large") : this.route(req, Buffer.concat(chunks), fault),
          fault,
        );
      if (delay === 0) go();
      else {
        const timer = setTimeout(go, delay);
        res.once("close", () => clearTimeout(timer));
      }
    });
  }

  /** The fault as this request suffers it: a fault limited to some operations spares every other request. */
  private faultFor(fault: CameraFault | null, req: http.IncomingMessage, body: Buffer): CameraFault | null {
    if (fault?.ops === undefined) return fault;
    const path = (req.url ?? "/").split("?")[0];
    if (path !== DEVICE_PATH && path !== MEDIA_PATH) return null;
    const parsed = parseSoapRequest(body.toString("utf8"));
    const op = isFault(parsed) ? undefined : operationOf(parsed.operation);
    return op !== undefined && fault.ops.includes(op) ? fault : null;
  }

  private route(req: http.IncomingMessage, body: Buffer, fault: CameraFault | null): Reply & { huge?: number } {
    if (fault?.kind === "http500") return SNAPSHOT_REPLIES.serverError();
    const path = (req.url ?? "/").split("?")[0];
    if (path === SNAPSHOT_PATH) {
      const reply = answerSnapshot(req, {
        digest: this.digest,
        creds: this.credentials(fault),
        profiles: profileTokens(this.opts.profiles ?? 2),
        fault,
        jpeg: () => {
          this.jpeg ??= testCardJpeg(this.ident.serialNumber);
          return this.jpeg;
        },
      });
      if (reply.status === 200 && reply.headers["Content-Type"] === "image/jpeg" && reply.body.length > 64) this.counts.snapshots++;
      return reply;
    }
    if (path !== DEVICE_PATH && path !== MEDIA_PATH) return textReply(404, "Not Found");
    if (req.method !== "POST") {
      const r = textReply(405, "Method Not Allowed");
      return { ...r, headers: { ...r.headers, Allow: "POST" } };
    }
    return this.soap(req, body, fault);
  }

  private soap(req: http.IncomingMessage, body: Buffer, fault: CameraFault | null): Reply & { huge?: number } {
    const parsed = parseSoapRequest(body.toString("utf8"));
    if (isFault(parsed)) return soapFaultReply(parsed);
    const op = operationOf(parsed.operation);
    const ops = this.counts.operations;
    ops[op ?? "unknown"] = (ops[op ?? "unknown"] ?? 0) + 1;
    if (!op) return soapFaultReply(FAULTS.actionNotSupported);
    if (!PRE_AUTH[this.opts.preAuth ?? "date-only"].includes(op)) {
      const denied = this.authorize(req, parsed.header, fault);
      if (denied) return denied;
    }
    const result = answer(op, parsed.operation, {
      identity: this.ident,
      tz: this.tz,
      timeReport: this.opts.timeReport ?? "utc-and-local",
      dateTimeType: this.opts.dateTimeType ?? "NTP",
      cameraNowMs: this.now(),
      baseUrl: `http://${req.headers.host ?? `${this.host}:${this.port}`}`,
      rtspPort: this.opts.rtspPort ?? 554,
      profiles: this.opts.profiles ?? 2,
      httpDigest: this.soapDigest(),
      noVideoSource: fault?.kind === "no-video-source",
      latin1Text: fault?.kind === "invalid-utf8",
    });
    if (isFault(result)) return soapFaultReply(result);
    const xml = envelope(result);
    if (fault?.kind === "malformed-xml") {
      // Cut after a tag halfway through and closed with a tag that was never opened: no parser can accept it.
      const cut = xml.lastIndexOf(">", Math.floor(xml.length / 2)) + 1;
      return soapReply(200, Buffer.from(`${xml.slice(0, cut)}</tt:Truncated>`, "utf8"));
    }
    // Every character of the answer is ASCII but the Latin-1 ones the fault put in.
    if (fault?.kind === "invalid-utf8") return soapReply(200, Buffer.from(xml, "latin1"));
    if (fault?.kind === "huge") return { ...soapReply(200, Buffer.from(xml, "utf8")), huge: fault.bytes ?? FAULT_DEFAULTS.hugeBytes };
    return soapReply(200, Buffer.from(xml, "utf8"));
  }

  private soapDigest(): boolean {
    return (this.opts.soapAuth ?? "ws-security-or-digest") === "ws-security-or-digest";
  }

  private credentials(fault: CameraFault | null) {
    return {
      username: this.opts.username ?? "admin",
      password: fault?.kind === "wrong-credentials" ? undefined : (this.opts.password ?? "admin"),
    };
  }

  /** ONVIF Core 5.12.1 (and its figure "Authentication of a WS request"); undefined when authorised. */
  private authorize(
    req: http.IncomingMessage,
    header: Parameters<typeof verifyUsernameToken>[0],
    fault: CameraFault | null,
  ): Reply | undefined {
    const creds = this.credentials(fault);
    const rejected = this.counts.rejected;
    const authorization = req.headers.authorization;
    const challenge = (stale = false) => ({ "WWW-Authenticate": this.digest.challenge(stale) });
    const notAuthorized = faultEnvelope(FAULTS.notAuthorized);
    if (this.soapDigest() && authorization !== undefined) {
      // HTTP credentials are checked first; when valid, WS credentials (if any) must be valid too.
      const v = this.digest.verify(authorization, req.method ?? "POST", req.url ?? "/", creds);
      if (v !== "ok") {
        rejected.digest = (rejected.digest ?? 0) + 1;
        return { ...soapReply(401, Buffer.from(notAuthorized, "utf8")), headers: { ...soapHeaders(), ...challenge(v === "stale-nonce") } };
      }
    }
    const verdict = verifyUsernameToken(header, creds, this.now(), this.opts.authWindowMs ?? 5000, this.nonces);
    if (verdict === "ok" || (verdict === "missing" && this.soapDigest() && authorization !== undefined)) return undefined;
    rejected[verdict] = (rejected[verdict] ?? 0) + 1;
    if (verdict === "missing" && this.soapDigest()) {
      // No credentials at all: the client is assumed to want Digest.
      return { ...soapReply(401, Buffer.from(notAuthorized, "utf8")), headers: { ...soapHeaders(), ...challenge() } };
    }
    const status = this.opts.authFaultStatus ?? 400;
    const reply = soapReply(status, Buffer.from(notAuthorized, "utf8"));
    return status === 401 && this.soapDigest() ? { ...reply, headers: { ...reply.headers, ...challenge() } } : reply;
  }

  private send(res: http.ServerResponse, reply: Reply & { huge?: number }, fault: CameraFault | null): void {
    const headers = { "Content-Length": reply.body.length, Server: "campus-sim-camera", ...reply.headers };
    if (reply.huge !== undefined) {
      const [prefix = "", suffix = ""] = reply.body.toString("utf8").split("<env:Body>");
      // Whitespace padding in a Header keeps the document valid, just enormous.
      const [head, tail] = [Buffer.from(`${prefix}<env:Header>`), Buffer.from(`</env:Header><env:Body>${suffix}`)];
      hugeResponse(res, { status: reply.status, headers }, head, tail, reply.huge);
    } else if (fault?.kind === "drip") {
      dripResponse(res, { status: reply.status, headers }, reply.body, fault);
    } else {
      res.writeHead(reply.status, headers);
      res.end(reply.body);
    }
  }
}

function soapHeaders(): Record<string, string> {
  return { "Content-Type": SOAP_CONTENT_TYPE };
}

function soapReply(status: number, body: Buffer): Reply {
  return { status, headers: soapHeaders(), body };
}

function soapFaultReply(f: SoapFault): Reply {
  return soapReply(faultStatus(f), Buffer.from(faultEnvelope(f), "utf8"));
}

function textReply(status: number, text: string): Reply {
  return { status, headers: { "Content-Type": "text/plain" }, body: Buffer.from(`${text}\n`) };
}
