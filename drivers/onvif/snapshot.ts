/**
 * The snapshot check: GET the URI from GetSnapshotUri with the camera's
 * credentials (HTTP Digest, RFC 7616, after the camera's 401 challenge) and
 * check that an image of a plausible size comes back.
 *
 * The request always goes to the configured camera host: a camera behind NAT
 * advertises its inside address, and credentials must not be sent to
 * whatever host an answer names. Only the first max_bytes are read.
 */
import http from "node:http";
import { digestAuthorization, pickChallenge } from "./digest.js";
import { CallFailure } from "./errors.js";
import type { Credentials } from "./options.js";
import type { CameraSession, Outcome } from "./session.js";
import type { TraceStep } from "../contract.js";
import { errorLine, type HttpHead, httpHead, roundMs } from "../trace.js";

export interface Snapshot {
  bytes: number;
  contentType: string;
  /** The image was longer than max_bytes; the rest was not downloaded. */
  capped: boolean;
  /** The response, for a traced poll's raw answer (its status line and headers). */
  head: HttpHead;
}

export interface SnapshotLimits {
  min_bytes: number;
  max_bytes: number;
}

/** Where the snapshot is fetched from: the advertised URI's port and path (the host is the configured one), or why it cannot be. */
export function snapshotTarget(advertised: string): { port: number; path: string } | string {
  let u: URL;
  try {
    u = new URL(advertised);
  } catch {
    return `the snapshot URI ${JSON.stringify(advertised.slice(0, 80))} is not a URL`;
  }
  if (u.protocol !== "http:") return `snapshot URIs over ${u.protocol.replace(":", "")} are not supported`;
  return { port: u.port === "" ? 80 : Number(u.port), path: `${u.pathname}${u.search}` };
}

export function fetchSnapshot(
  s: CameraSession,
  signal: AbortSignal,
  target: { host: string; port: number; path: string },
  creds: Credentials | undefined,
  limits: SnapshotLimits,
): Promise<Outcome<Snapshot>> {
  // The connection cap is off: this check caps the image itself, and reaching that cap is not an error.
  return s.call<Snapshot>("Snapshot", signal, (done) => get(s, target, creds, limits, done), { limitBytes: undefined });
}

/** The snapshot download as a traced step: "GET /snapshot.jpg → 200", the image's type and size, the response head as raw. */
export function snapshotStep(path: string, out: Outcome<Snapshot>): TraceStep {
  const ms = roundMs(out.timing.ms);
  if (!out.ok) return { step: `GET ${path}`, ms, ok: false, detail: errorLine(out.failure, "Snapshot") };
  const { bytes, contentType, capped, head } = out.value;
  return {
    step: `GET ${path} → ${head.statusCode ?? 200}`,
    ms,
    ok: true,
    detail: `${contentType}, ${bytes} bytes${capped ? " read (the rest not read: max_bytes)" : ""}`,
    raw: httpHead(head),
  };
}

function get(
  s: CameraSession,
  target: { host: string; port: number; path: string },
  creds: Credentials | undefined,
  limits: SnapshotLimits,
  done: (err: unknown, value?: Snapshot) => void,
  authorization?: string,
): void {
  const fail = (kind: "auth" | "answer", message: string) =>
    done(new CallFailure(kind, kind === "auth" ? "auth" : "snapshot", `Snapshot: ${message}`, { retryable: kind !== "auth" }));
  const req = http.request({
    host: target.host,
    port: target.port,
    path: target.path,
    method: "GET",
    agent: s.transport,
    headers: { accept: "image/*", "user-agent": "campus-edge-agent onvif", ...(authorization ? { authorization } : {}) },
  });
  req.on("error", (e) => done(e));
  req.on("response", (res) => {
    const status = res.statusCode ?? 0;
    if (status === 401 && authorization === undefined && creds) {
      res.destroy();
      const challenges = res.rawHeaders.filter((_, i, a) => i % 2 === 1 && a[i - 1]?.toLowerCase() === "www-authenticate");
      const challenge = pickChallenge(challenges);
      if (!challenge) return fail("auth", "the camera asks for an authentication other than HTTP Digest");
      const header = digestAuthorization(challenge, { method: "GET", uri: target.path, ...creds });
      return get(s, target, creds, limits, done, header);
    }
    if (status === 401) {
      res.destroy();
      return fail("auth", creds ? "credentials refused (HTTP Digest)" : "the camera wants credentials and none are configured");
    }
    const contentType = String(res.headers["content-type"] ?? "");
    if (status !== 200) {
      res.destroy();
      return fail("answer", `HTTP ${status}`);
    }
    if (!/^image\//i.test(contentType)) {
      res.destroy();
      return fail("answer", `not an image (content type ${JSON.stringify(contentType.slice(0, 60)) || "missing"})`);
    }
    let bytes = 0;
    let over = false;
    res.on("data", (chunk: Buffer) => {
      if (over) return;
      bytes += chunk.length;
      if (bytes >= limits.max_bytes) {
        over = bytes > limits.max_bytes;
        bytes = Math.min(bytes, limits.max_bytes);
        res.destroy();
        done(null, { bytes, contentType, capped: over, head: res });
      }
    });
    res.on("end", () => {
      if (bytes < limits.min_bytes) return fail("answer", `image of ${bytes} bytes, below min_bytes (${limits.min_bytes})`);
      done(null, { bytes, contentType, capped: false, head: res });
    });
    res.on("close", () => {
      if (!res.complete) done(Object.assign(new Error("snapshot cut short"), { code: "ECONNRESET" }));
    });
  });
  req.end();
}
