/**
 * HTTP Digest authentication (RFC 7616), client side, for the snapshot
 * download: ONVIF cameras protect their snapshot URI with the same account,
 * over HTTP Digest (ONVIF Core, "HTTP digest authentication"). Pure, except
 * for the random client nonce, which can be passed in for tests.
 */
import { createHash, randomBytes } from "node:crypto";

export interface DigestChallenge {
  realm: string;
  nonce: string;
  qop?: string;
  algorithm: string;
  opaque?: string;
}

/** auth-param pairs (RFC 7235 §2.1): key=token or key="quoted, string". */
export function parseAuthParams(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /\s*([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/gy;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    out[(m[1] ?? "").toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, "$1") : (m[3] ?? "");
  }
  return out;
}

const HASHES: Record<string, string> = { MD5: "md5", "MD5-SESS": "md5", "SHA-256": "sha256", "SHA-256-SESS": "sha256" };

/**
 * The strongest Digest challenge we can answer among a response's
 * WWW-Authenticate values (RFC 7616 §3.7: a server may offer several, one per
 * algorithm); undefined when none is Digest with a known algorithm.
 */
export function pickChallenge(headers: readonly string[]): DigestChallenge | undefined {
  let best: DigestChallenge | undefined;
  for (const h of headers) {
    if (!/^Digest\s/i.test(h)) continue;
    const p = parseAuthParams(h.replace(/^Digest\s+/i, ""));
    const algorithm = (p.algorithm ?? "MD5").toUpperCase();
    if (p.realm === undefined || p.nonce === undefined || HASHES[algorithm] === undefined) continue;
    const c: DigestChallenge = {
      realm: p.realm,
      nonce: p.nonce,
      algorithm,
      ...(p.qop !== undefined ? { qop: p.qop } : {}),
      ...(p.opaque !== undefined ? { opaque: p.opaque } : {}),
    };
    if (!best || (best.algorithm.startsWith("MD5") && algorithm.startsWith("SHA-256"))) best = c;
  }
  return best;
}

export interface DigestRequest {
  method: string;
  /** The request-target as sent (path and query). */
  uri: string;
  username: string;
  password: string;
  /** Client nonce; random when omitted. */
  cnonce?: string;
  /** Nonce count, 1 for the first request with this nonce. */
  nc?: number;
}

/** The Authorization header value answering a challenge (RFC 7616 §3.4). */
export function digestAuthorization(c: DigestChallenge, r: DigestRequest): string {
  const hashName = HASHES[c.algorithm] ?? "md5";
  const H = (s: string) => createHash(hashName).update(s, "utf8").digest("hex");
  const cnonce = r.cnonce ?? randomBytes(12).toString("hex");
  const nc = (r.nc ?? 1).toString(16).padStart(8, "0");
  // §3.4.2: "-sess" variants hash the nonces into A1.
  let ha1 = H(`${r.username}:${c.realm}:${r.password}`);
  if (c.algorithm.endsWith("-SESS")) ha1 = H(`${ha1}:${c.nonce}:${cnonce}`);
  const ha2 = H(`${r.method}:${r.uri}`);
  // Only qop "auth" is offered by cameras in practice; "auth-int" alone is not supported.
  const qop = c.qop
    ?.split(",")
    .map((q) => q.trim())
    .find((q) => q === "auth");
  const response = qop ? H(`${ha1}:${c.nonce}:${nc}:${cnonce}:${qop}:${ha2}`) : H(`${ha1}:${c.nonce}:${ha2}`);
  const parts = [
    `username="${r.username}"`,
    `realm="${c.realm}"`,
    `nonce="${c.nonce}"`,
    `uri="${r.uri}"`,
    `algorithm=${c.algorithm}`,
    `response="${response}"`,
    ...(qop ? [`qop=${qop}`, `nc=${nc}`, `cnonce="${cnonce}"`] : []),
    ...(c.opaque !== undefined ? [`opaque="${c.opaque}"`] : []),
  ];
  return `Digest ${parts.join(", ")}`;
}
