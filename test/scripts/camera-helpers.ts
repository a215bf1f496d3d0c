/**
 * The client side of the camera simulator's tests, written from the specs
 * rather than from the simulator: SOAP 1.2 envelopes, WS-Security
 * UsernameToken digests (WSS UsernameToken Profile 1.0 §3.1), HTTP Digest
 * responses (RFC 7616 §3.4.1) and raw HTTP exchanges with deadlines.
 */
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import { afterEach } from "vitest";
import { type CameraOptions, type SimCamera, startCamera } from "../../scripts/sim/camera.js";
import { child, descend, parseXml, type XmlElement } from "../../scripts/sim/camera-xml.js";

export const SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope";
export const TDS = "http://www.onvif.org/ver10/device/wsdl";
export const TRT = "http://www.onvif.org/ver10/media/wsdl";
export const TT = "http://www.onvif.org/ver10/schema";

/** Call at a test file's top level: a camera starter (admin / secret unless told) whose cameras close after each test. */
export function useCameras(): (opts?: CameraOptions) => Promise<SimCamera> {
  const open: SimCamera[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });
  return async (opts = {}) => {
    const c = await startCamera({ username: "admin", password: "secret", ...opts });
    open.push(c);
    return c;
  };
}

export interface Token {
  username: string;
  password: string;
  /** Default: now, from the test's clock. */
  created?: string;
  nonce?: Buffer;
  /** Send the password as PasswordText instead of a digest. */
  text?: boolean;
}

/** A wsse:Security header with a UsernameToken: digest = Base64(SHA-1(nonce + created + password)). */
export function securityHeader(t: Token): string {
  const nonce = t.nonce ?? randomBytes(16);
  const created = t.created ?? new Date().toISOString();
  const profile = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0";
  const password = t.text
    ? `<wsse:Password Type="${profile}#PasswordText">${t.password}</wsse:Password>`
    : `<wsse:Password Type="${profile}#PasswordDigest">${createHash("sha1")
      .update(Buffer.concat([nonce, Buffer.from(created), Buffer.from(t.password)]))
      .digest("base64")}</wsse:Password>`;
  return (
    "<wsse:Security s:mustUnderstand=\"1\" xmlns:wsse=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd\" " +
    "xmlns:wsu=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd\"><wsse:UsernameToken>" +
    `<wsse:Username>${t.username}</wsse:Username>${password}` +
    `<wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary">${nonce.toString("base64")}</wsse:Nonce>` +
    `<wsu:Created>${created}</wsu:Created></wsse:UsernameToken></wsse:Security>`
  );
}

/** A SOAP 1.2 request for one operation (body: the operation element, with its namespace). */
export function soapEnvelope(body: string, token?: Token): string {
  const header = token ? `<s:Header>${securityHeader(token)}</s:Header>` : "";
  return `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="${SOAP_ENV}">${header}<s:Body>${body}</s:Body></s:Envelope>`;
}

export const op = (name: string, ns = TDS, inner = "") => `<${name} xmlns="${ns}">${inner}</${name}>`;

export interface Exchange {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** Body bytes of each data event, in order. */
  chunks: number[];
  /** How it ended: "end", or the client-side deadline, or a socket error code. */
  ended: string;
}

/** One HTTP request over a fresh connection, given up after deadlineMs (the exchange then says "deadline"). */
export function request(
  url: string,
  opts: { method?: string; body?: string | Buffer; headers?: http.OutgoingHttpHeaders; deadlineMs?: number; maxBytes?: number } = {},
): Promise<Exchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const sizes: number[] = [];
    let status = 0;
    let headers: http.IncomingHttpHeaders = {};
    const done = (ended: string) => {
      clearTimeout(timer);
      req.destroy();
      resolve({ status, headers, body: Buffer.concat(chunks), chunks: sizes, ended });
    };
    const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
    const req = http.request(url, {
      method: opts.method ?? (body ? "POST" : "GET"),
      agent: false,
      headers: {
        ...(body ? { "Content-Type": "application/soap+xml; charset=utf-8", "Content-Length": body.length } : {}),
        ...opts.headers,
      },
    });
    const timer = setTimeout(() => done("deadline"), opts.deadlineMs ?? 5000);
    req.on("response", (res) => {
      status = res.statusCode ?? 0;
      headers = res.headers;
      let received = 0;
      res.on("data", (c: Buffer) => {
        sizes.push(c.length);
        received += c.length;
        // Counting, not keeping, past maxBytes: a huge answer must not fill the test's memory.
        if (opts.maxBytes === undefined || received <= opts.maxBytes) chunks.push(c);
        else done("cap");
      });
      res.on("end", () => done("end"));
      res.on("error", (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
    });
    req.on("error", (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
    req.end(body);
  });
}

/** POST a SOAP request to a camera path and parse the answer (throws when it is not well-formed XML). */
export async function soap(
  cam: SimCamera,
  body: string,
  token?: Token,
  opts: { path?: string; headers?: http.OutgoingHttpHeaders } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; xml: string; doc: XmlElement; body: XmlElement }> {
  const r = await request(`${cam.url.slice(0, -1)}${opts.path ?? "/onvif/device_service"}`, {
    body: soapEnvelope(body, token),
    headers: opts.headers,
  });
  const xml = r.body.toString("utf8");
  const doc = parseXml(xml);
  const soapBody = child(doc, "Body", SOAP_ENV);
  if (doc.local !== "Envelope" || doc.ns !== SOAP_ENV || !soapBody) throw new Error(`not a SOAP 1.2 envelope: ${xml.slice(0, 200)}`);
  return { status: r.status, headers: r.headers, xml, doc, body: soapBody };
}

/** The value, or a test failure saying what was missing. */
export function must<T>(x: T | undefined, what = "element"): T {
  if (x === undefined) throw new Error(`missing ${what}`);
  return x;
}

/** The fault's subcode values (e.g. ["ter:NotAuthorized"]), outermost first; [] when the body is no fault. */
export function faultSubcodes(body: XmlElement): string[] {
  const out: string[] = [];
  let sub = descend(body, "Fault", "Code", "Subcode");
  while (sub) {
    out.push(child(sub, "Value")?.text.trim() ?? "");
    sub = child(sub, "Subcode");
  }
  return out;
}

/** RFC 7616 §3.4.1 response for qop=auth and MD5, from a WWW-Authenticate challenge. */
export function digestAuthorization(challenge: string, method: string, uri: string, username: string, password: string): string {
  const param = (k: string) => new RegExp(`${k}="?([^",]*)"?`).exec(challenge)?.[1] ?? "";
  const realm = param("realm");
  const nonce = param("nonce");
  const md5 = (s: string) => createHash("md5").update(s).digest("hex");
  const cnonce = randomBytes(8).toString("hex");
  const nc = "00000001";
  const response = md5(`${md5(`${username}:${realm}:${password}`)}:${nonce}:${nc}:${cnonce}:auth:${md5(`${method}:${uri}`)}`);
  return `Digest username="${username}", realm="${realm}", nonce="${nonce}", uri="${uri}", qop=auth, nc=${nc}, cnonce="${cnonce}", response="${response}", opaque="${param("opaque")}", algorithm=MD5`;
}

/** GET a Digest-protected URL: unauthenticated first for the challenge, then with the computed response. */
export async function digestGet(url: string, username: string, password: string): Promise<{ first: Exchange; second: Exchange }> {
  const first = await request(url);
  const challenge = String(first.headers["www-authenticate"] ?? "");
  const u = new URL(url);
  const second = await request(url, {
    headers: { Authorization: digestAuthorization(challenge, "GET", `${u.pathname}${u.search}`, username, password) },
  });
  return { first, second };
}

/** The markers of a JPEG (T.81 Annex B) and its frame size; throws when the structure is broken. */
export function jpegStructure(b: Buffer): { markers: number[]; width: number; height: number; components: number } {
  if (b[0] !== 0xff || b[1] !== 0xd8) throw new Error("no SOI");
  const markers = [0xd8];
  let i = 2;
  let frame = { width: 0, height: 0, components: 0 };
  while (i < b.length) {
    if (b[i] !== 0xff) throw new Error(`expected a marker at ${i}`);
    const m = b[i + 1] as number;
    markers.push(m);
    if (m === 0xd9) return { markers, ...frame };
    const len = b.readUInt16BE(i + 2);
    if (m === 0xc0) frame = { height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7), components: b[i + 9] as number };
    i += 2 + len;
    if (m === 0xda) {
      // Entropy-coded data runs to the next marker that is not a stuffed 0xFF00 or a restart marker.
      while (i < b.length && !(b[i] === 0xff && b[i + 1] !== 0 && !((b[i + 1] as number) >= 0xd0 && (b[i + 1] as number) <= 0xd7))) i++;
    }
  }
  throw new Error("no EOI");
}
