/**
 * The camera's plain-HTTP side: the snapshot endpoint (ONVIF Media 5.15.2:
 * the URI from GetSnapshotUri serves a JPEG over HTTP GET), protected by HTTP
 * Digest (RFC 7616; ONVIF Core 5.12.1 requires Digest for HTTP methods), and
 * the HTML pages a camera's web server answers with when things go wrong.
 */
import type http from "node:http";
import type { Credentials, HttpDigest } from "./camera-auth.js";
import type { CameraFault } from "./camera-faults.js";

export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

const html = (status: number, title: string, text: string): Reply => ({
  status,
  headers: { "Content-Type": "text/html; charset=utf-8" },
  body: Buffer.from(`<!DOCTYPE html>\n<html><head><title>${title}</title></head><body><h1>${title}</h1><p>${text}</p></body></html>\n`),
});

export const SNAPSHOT_REPLIES = {
  serverError: () => html(500, "500 Internal Server Error", "The server encountered an internal error."),
  unauthorized: () => html(401, "401 Unauthorized", "Authentication required."),
  notFound: () => html(404, "404 Not Found", "No such profile."),
  // What many cameras answer instead of an image: their web interface's login page.
  loginPage: () =>
    html(200, "Camera login", '<form method="post" action="/login"><input name="user"><input name="pass" type="password"></form>'),
};

/** SOI immediately followed by EOI: a JPEG with no image in it. */
const TINY_JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xd9]);

export interface SnapshotContext {
  digest: HttpDigest;
  creds: Credentials;
  profiles: readonly string[];
  fault: CameraFault | null;
  jpeg: () => Buffer;
}

/** GET (or HEAD) /onvif/snapshot?profile=TOKEN, answered as the context says. */
export function answerSnapshot(req: http.IncomingMessage, ctx: SnapshotContext): Reply {
  if (req.method !== "GET" && req.method !== "HEAD") {
    return {
      ...html(405, "405 Method Not Allowed", "Use GET."),
      headers: { "Content-Type": "text/html; charset=utf-8", Allow: "GET, HEAD" },
    };
  }
  const v = ctx.digest.verify(req.headers.authorization, req.method, req.url ?? "/", ctx.creds);
  if (v !== "ok") {
    const r = SNAPSHOT_REPLIES.unauthorized();
    return { ...r, headers: { ...r.headers, "WWW-Authenticate": ctx.digest.challenge(v === "stale-nonce") } };
  }
  const profile = new URL(req.url ?? "/", "http://camera").searchParams.get("profile") ?? ctx.profiles[0];
  if (profile === undefined || !ctx.profiles.includes(profile)) return SNAPSHOT_REPLIES.notFound();
  switch (ctx.fault?.kind) {
    case "snapshot-500":
      return SNAPSHOT_REPLIES.serverError();
    case "snapshot-wrong-type":
      return SNAPSHOT_REPLIES.loginPage();
    case "snapshot-tiny":
      return { status: 200, headers: { "Content-Type": "image/jpeg" }, body: TINY_JPEG };
    default:
      return { status: 200, headers: { "Content-Type": "image/jpeg", "Cache-Control": "no-store" }, body: ctx.jpeg() };
  }
}
