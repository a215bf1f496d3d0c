/**
 * How the simulated camera authenticates: WS-Security UsernameToken on SOAP
 * requests, HTTP Digest on SOAP requests (optionally) and on the snapshot.
 *
 * - UsernameToken: OASIS WSS UsernameToken Profile 1.0 §3.1 (PasswordDigest =
 *   Base64(SHA-1(nonce + created + password)), PasswordText as is) and §4
 *   (reject stale Created timestamps and replayed nonces). ONVIF Core 5.12.4
 *   "Username token profile": the server shall reject a token without both a
 *   nonce and a Created timestamp.
 * - HTTP Digest: RFC 7616 (and RFC 2617) with MD5 and qop=auth, the ONVIF
 *   default (Core 5.12.3).
 *
 * Neither says WHY a credential failed to the client (ONVIF Core 5.11.2.3: a
 * server should avoid exposing internals), but the verdicts below do, for the
 * camera's own statistics. A client tells clock skew from a wrong password by
 * comparing clocks, as it must with a real camera.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { attr, child, type XmlElement } from "./camera-xml.js";

export const WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
export const WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";

export type TokenVerdict = "ok" | "missing" | "incomplete" | "bad-credentials" | "stale" | "replayed";

export interface Credentials {
  username: string;
  /** undefined: no password is right (the wrong-credentials fault). */
  password: string | undefined;
}

/** Remembers the nonces of accepted tokens for as long as their Created is fresh (Profile §4). */
export class NonceCache {
  private readonly seen = new Map<string, number>();
  constructor(private readonly maxEntries = 10_000) {}

  /** false when the nonce was already used; remembers it until expiresAt otherwise. */
  remember(nonce: string, nowMs: number, expiresAt: number): boolean {
    for (const [n, exp] of this.seen) {
      if (exp > nowMs && this.seen.size < this.maxEntries) break;
      this.seen.delete(n);
    }
    if (this.seen.has(nonce)) return false;
    this.seen.set(nonce, expiresAt);
    return true;
  }
}

/**
 * Check the UsernameToken in a SOAP header against the camera's credentials
 * and clock (cameraNowMs), accepting Created within ±windowMs.
 */
export function verifyUsernameToken(
  header: XmlElement | undefined,
  creds: Credentials,
  cameraNowMs: number,
  windowMs: number,
  nonces: NonceCache,
): TokenVerdict {
  const token = child(child(header, "Security", WSSE_NS), "UsernameToken", WSSE_NS);
  if (!token) return "missing";
  const username = child(token, "Username", WSSE_NS)?.text.trim();
  const passwordEl = child(token, "Password", WSSE_NS);
  const nonceText = child(token, "Nonce", WSSE_NS)?.text.trim();
  const created = child(token, "Created", WSU_NS)?.text.trim();
  if (username === undefined || !passwordEl || !nonceText || !created) return "incomplete";
  const createdMs = Date.parse(created);
  if (Number.isNaN(createdMs)) return "incomplete";

  // Profile §3.1: no Type means PasswordText. ONVIF clients send the digest.
  const isDigest = (attr(passwordEl, "Type") ?? "").endsWith("PasswordDigest");
  const sent = passwordEl.text.trim();
  let matches = false;
  if (username === creds.username && creds.password !== undefined) {
    if (isDigest) {
      // The nonce is Base64 (its EncodingType, the only one ONVIF clients use);
      // Created is hashed exactly as sent, not as parsed.
      const expected = createHash("sha1")
        .update(Buffer.concat([Buffer.from(nonceText, "base64"), Buffer.from(created, "utf8"), Buffer.from(creds.password, "utf8")]))
        .digest();
      matches = sameBytes(Buffer.from(sent, "base64"), expected);
    } else {
      matches = sameBytes(Buffer.from(sent, "utf8"), Buffer.from(creds.password, "utf8"));
    }
  }
  if (!matches) return "bad-credentials";
  if (Math.abs(createdMs - cameraNowMs) > windowMs) return "stale";
  if (!nonces.remember(nonceText, cameraNowMs, createdMs + windowMs)) return "replayed";
  return "ok";
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export type DigestVerdict = "ok" | "missing" | "malformed" | "bad-credentials" | "stale-nonce";

/**
 * HTTP Digest (RFC 7616 §3.3–3.4) with MD5 and qop=auth. Nonces are
 * stateless: hex time + HMAC of it under a per-camera secret, valid for
 * nonceLifetimeMs (after that the challenge says stale=true, §3.3).
 */
export class HttpDigest {
  private readonly secret = randomBytes(32);
  private readonly opaque = randomBytes(8).toString("hex");

  constructor(
    readonly realm: string,
    private readonly nonceLifetimeMs = 300_000,
  ) {}

  /** The WWW-Authenticate value of a 401 (§3.3). */
  challenge(stale = false): string {
    const t = Date.now().toString(16);
    const nonce = `${t}${this.mac(t)}`;
    return `Digest realm="${this.realm}", qop="auth", nonce="${nonce}", opaque="${this.opaque}", algorithm=MD5${stale ? ", stale=true" : ""}`;
  }

  /** Check an Authorization header for method and request-target (§3.4). */
  verify(header: string | undefined, method: string, requestTarget: string, creds: Credentials): DigestVerdict {
    if (header === undefined) return "missing";
    if (!/^Digest\s/i.test(header)) return "malformed";
    const p = parseAuthParams(header.replace(/^Digest\s+/i, ""));
    const { username, realm, nonce, uri, response, qop, nc, cnonce } = p;
    if (!username || !nonce || !uri || !response || realm !== this.realm) return "malformed";
    if ((p.algorithm ?? "MD5").toUpperCase() !== "MD5") return "malformed";
    // We offered qop="auth" only; RFC 7616 §3.4 makes qop, nc and cnonce mandatory.
    if (qop !== "auth" || !nc || !cnonce) return "malformed";
    // §3.4.6: the uri parameter must name the request-target, or the response proves nothing about this request.
    if (uri !== requestTarget) return "malformed";
    const t = nonce.slice(0, -32);
    if (!/^[0-9a-f]+$/.test(t) || !sameText(nonce.slice(-32), this.mac(t))) return "malformed";
    if (username !== creds.username || creds.password === undefined) return "bad-credentials";
    const md5 = (s: string) => createHash("md5").update(s, "utf8").digest("hex");
    const ha1 = md5(`${username}:${this.realm}:${creds.password}`);
    const ha2 = md5(`${method}:${uri}`);
    if (!sameText(response.toLowerCase(), md5(`${ha1}:${nonce}:${nc}:${cnonce}:${qop}:${ha2}`))) return "bad-credentials";
    // Only after the password is proven: a stale nonce with the right password gets stale=true.
    if (Date.now() - Number.parseInt(t, 16) > this.nonceLifetimeMs) return "stale-nonce";
    return "ok";
  }

  private mac(t: string): string {
    return createHmac("sha256", this.secret).update(t).digest("hex").slice(0, 32);
  }
}

function sameText(a: string, b: string): boolean {
  return sameBytes(Buffer.from(a), Buffer.from(b));
}

/** key=value, key="quoted, value" pairs of an auth-param list (RFC 7235 §2.1). */
export function parseAuthParams(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /\s*([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/gy;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const key = (m[1] ?? "").toLowerCase();
    out[key] = m[2] !== undefined ? m[2].replace(/\\(.)/g, "$1") : (m[3] ?? "");
  }
  return out;
}
