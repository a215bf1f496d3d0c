/**
 * WS-Discovery for ONVIF devices (ONVIF Core "Device discovery", over
 * WS-Discovery 2005/04): a multicast Probe to 239.255.255.250:3702, and the
 * same Probe sent by unicast to configured addresses and ranges, for
 * networks that filter multicast (most campus VLAN boundaries do).
 *
 * Not the onvif library's Discovery.probe: it creates a Cam — and connects —
 * for every answer unless resolve is false, emits "error" on a singleton
 * (which throws when nobody listens, so one malformed datagram from any device
 * on the LAN would crash the agent), and cannot probe by unicast.
 *
 * Found devices are only contacted when the params carry credentials
 * (params.identify), and then only with GetSystemDateAndTime,
 * GetDeviceInformation and GetNetworkInterfaces (for the MAC address), a few
 * at a time.
 */
import { randomUUID } from "node:crypto";
import dgram from "node:dgram";
import { setTimeout as delay } from "node:timers/promises";
import type { Logger } from "pino";
import { z } from "zod";
import type { Clock } from "../../agent/clock.js";
import { type Discovered, DriverError, type MetricValue, type PollContext } from "../contract.js";
import { type Credentials, endpoint, type OnvifOptions, onvifOptionsSchema, resolvePassword } from "./options.js";
import { authenticate } from "./poll.js";
import { CameraSession } from "./session.js";
import { networkInterfaces, readClock } from "./steps.js";
import { cleanField, element, find, text } from "./xml.js";

export const MULTICAST_ADDRESS = "239.255.255.250";
export const MAX_ADDRESSES = 1024;
const MAX_FOUND = 1024;

export const discoverParamsSchema = z.strictObject({
  targets: z
    .array(z.string())
    .max(256)
    .default([])
    .describe(
      `IPv4 addresses, CIDR blocks ("10.1.2.0/28") or ranges ("10.1.2.10-10.1.2.40", "10.1.2.10-40") probed by unicast; at most ${MAX_ADDRESSES} addresses in all.`,
    ),
  multicast: z.enum(["on", "off"]).default("on").describe("Also send the multicast Probe."),
  port: z.int().min(1).max(65535).default(3702).describe("WS-Discovery port of the unicast targets."),
  wait_ms: z.int().min(50).max(30_000).default(3000).describe("How long to listen for answers after the last Probe is sent."),
  rate_per_s: z.int().min(1).max(2000).default(200).describe("Most unicast Probes sent per second."),
  identify: z
    .strictObject({
      username: z.string(),
      password_env: z.string().optional(),
      password_file: z.string().optional(),
      timeout_ms: z.int().positive().default(3000),
    })
    .optional()
    .describe("Credentials to read each found device's identity with (GetDeviceInformation, and the MAC address with GetNetworkInterfaces). Without them, nothing found is contacted."),
});
export type DiscoverParams = z.output<typeof discoverParamsSchema>;

// ------------------------------------------------------------ addresses

function ipv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s.trim());
  if (!m) return undefined;
  const o = m.slice(1).map(Number);
  if (o.some((x) => x > 255)) return undefined;
  return ((o[0] ?? 0) * 2 ** 24 + (o[1] ?? 0) * 2 ** 16 + (o[2] ?? 0) * 2 ** 8 + (o[3] ?? 0)) >>> 0;
}

const dotted = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");

/** The addresses a list of targets names, in order, without duplicates; or what is wrong with it. */
export function expandTargets(
  specs: readonly string[],
  max = MAX_ADDRESSES,
): { ok: true; addresses: string[] } | { ok: false; problem: string } {
  const out = new Set<string>();
  const add = (lo: number, hi: number, spec: string): string | undefined => {
    if (hi < lo) return `${spec}: the range ends before it starts`;
    if (hi - lo + 1 + out.size > max) return `${spec}: more than ${max} addresses to probe in all`;
    for (let n = lo; n <= hi; n++) out.add(dotted(n));
    return undefined;
  };
  for (const spec of specs) {
    let problem: string | undefined;
    const cidr = /^([\d.]+)\/(\d{1,2})$/.exec(spec.trim());
    const range = /^([\d.]+)-([\d.]+)$/.exec(spec.trim());
    if (cidr) {
      const base = ipv4(cidr[1] ?? "");
      const bits = Number(cidr[2]);
      if (base === undefined || bits > 32) problem = `${spec}: not an IPv4 CIDR block`;
      else {
        const size = 2 ** (32 - bits);
        const network = base - (base % size);
        // Network and broadcast addresses are skipped, except in /31 and /32 (RFC 3021).
        problem = size > 2 ? add(network + 1, network + size - 2, spec) : add(network, network + size - 1, spec);
      }
    } else if (range) {
      const lo = ipv4(range[1] ?? "");
      const last = range[2] ?? "";
      const hi = /^\d{1,3}$/.test(last) && lo !== undefined && Number(last) <= 255 ? lo - (lo % 256) + Number(last) : ipv4(last);
      problem = lo === undefined || hi === undefined ? `${spec}: not an IPv4 range` : add(lo, hi, spec);
    } else {
      const one = ipv4(spec);
      problem = one === undefined ? `${spec}: not an IPv4 address, CIDR block or range` : add(one, one, spec);
    }
    if (problem) return { ok: false, problem };
  }
  return { ok: true, addresses: [...out] };
}

// ------------------------------------------------------------ messages

/** A WS-Discovery Probe for ONVIF video transmitters (WS-Discovery 2005/04 §5.2; ONVIF Core, Device discovery). */
export function probeMessage(messageId: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"' +
    ' xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">' +
    "<s:Header>" +
    '<a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>' +
    `<a:MessageID>${messageId}</a:MessageID>` +
    "<a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>" +
    '<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>' +
    "</s:Header>" +
    "<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body>" +
    "</s:Envelope>"
  );
}

export interface ProbeMatch {
  endpoint: string;
  types: string[];
  scopes: string[];
  xaddrs: string[];
}

/** The ProbeMatch entries of a ProbeMatches message that answers messageId; [] for anything else. */
export function parseProbeMatches(xml: string, messageId: string): ProbeMatch[] {
  if (element(xml, "ProbeMatches") === undefined) return [];
  // WS-Addressing RelatesTo names the Probe answered; another client's answers on the multicast group are not ours.
  const relatesTo = text(xml, "RelatesTo");
  if (relatesTo !== undefined && relatesTo !== messageId) return [];
  const words = (s: string | undefined) => (s ?? "").split(/\s+/).filter((w) => w !== "");
  return find(xml, "ProbeMatch").map((m) => ({
    endpoint: text(element(m.inner, "EndpointReference") ?? "", "Address") ?? "",
    types: words(text(m.inner, "Types")),
    scopes: words(text(m.inner, "Scopes")),
    xaddrs: words(text(m.inner, "XAddrs")),
  }));
}

/** name, hardware and location from onvif://www.onvif.org/<category>/<value> scopes. */
export function scopeFields(scopes: readonly string[]): Record<string, string> {
  const out: Record<string, string[]> = {};
  for (const s of scopes) {
    const m = /^onvif:\/\/www\.onvif\.org\/(name|hardware|location|mac)\/(.+)$/i.exec(s);
    if (!m) continue;
    let v = m[2] ?? "";
    try {
      v = decodeURIComponent(v);
    } catch {
      // A camera's own percent-encoding mistake: keep the raw text.
    }
    const key = (m[1] ?? "").toLowerCase();
    const cleaned = cleanField(v);
    if (cleaned) out[key] = [...(out[key] ?? []), cleaned];
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.join(" / ")]));
}

/** The XAddr to use: an http one on the address that answered, else the first http one. */
export function pickXAddr(xaddrs: readonly string[], from: string): string | undefined {
  const http = xaddrs.filter((x) => /^http:\/\//i.test(x));
  return http.find((x) => URL.canParse(x) && new URL(x).hostname === from) ?? http[0];
}

// ------------------------------------------------------------ the probe

interface Found {
  match: ProbeMatch;
  from: string;
}

/**
 * Probe, listen wait_ms after the last Probe, then (with params.identify)
 * read the identity of what answered. Aborting the signal ends it with a
 * DriverError "timeout"; the socket and timers are released either way.
 */
export async function discover(ctx: PollContext, raw: Record<string, unknown>, deps: { clock: Clock; log: Logger }): Promise<Discovered[]> {
  const parsed = discoverParamsSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "params"}: ${i.message}`).join("; ");
    throw new DriverError("config", `discovery parameters: ${problems}`, { retryable: false });
  }
  const params = parsed.data;
  const targets = expandTargets(params.targets);
  if (!targets.ok) throw new DriverError("config", `discovery targets: ${targets.problem}`, { retryable: false });
  // Credentials are checked, and read, before anything is sent: a typo must not cost a whole discovery.
  let template: OnvifOptions | undefined;
  let creds: Credentials | undefined;
  if (params.identify) {
    const { timeout_ms, ...account } = params.identify;
    const o = onvifOptionsSchema.safeParse({ host: "discovery", timeout_ms, ...account });
    if (!o.success) {
      const problems = o.error.issues.map((i) => `identify.${i.path.join(".")}: ${i.message}`).join("; ");
      throw new DriverError("config", `discovery parameters: ${problems}`, { retryable: false });
    }
    template = o.data;
    creds = await resolvePassword(template);
  }

  const found = new Map<string, Found>();
  const messageId = `urn:uuid:${randomUUID()}`;
  const message = Buffer.from(probeMessage(messageId));
  const socket = dgram.createSocket({ type: "udp4" });
  let sendErrors = 0;
  socket.on("error", (e) => deps.log.debug({ err: e }, "onvif discovery: socket error"));
  socket.on("message", (msg, rinfo) => {
    if (found.size >= MAX_FOUND) return;
    for (const match of parseProbeMatches(msg.toString("utf8"), messageId)) {
      const key = match.endpoint || match.xaddrs[0] || rinfo.address;
      if (!found.has(key)) found.set(key, { match, from: rinfo.address });
    }
  });
  const send = (address: string, port: number) =>
    new Promise<void>((resolve) => {
      socket.send(message, port, address, (err) => {
        // A send can fail for one address (no route, multicast filtered) without ending the discovery.
        if (err) {
          sendErrors++;
          deps.log.debug({ err, address }, "onvif discovery: probe not sent");
        }
        resolve();
      });
    });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(0, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    if (params.multicast === "on") await send(MULTICAST_ADDRESS, 3702);
    // Paced in slices of 10 ms so a /22 is not one burst onto a campus network.
    const perSlice = Math.max(1, Math.ceil(params.rate_per_s / 100));
    for (let i = 0; i < targets.addresses.length; i++) {
      await send(targets.addresses[i] as string, params.port);
      if (i % perSlice === perSlice - 1 && i < targets.addresses.length - 1) await delay(10, undefined, { signal: ctx.signal });
    }
    await delay(params.wait_ms, undefined, { signal: ctx.signal });
  } catch (e) {
    if (ctx.signal.aborted) throw new DriverError("timeout", "discovery ended by its deadline", { cause: e });
    throw new DriverError("internal", `discovery failed: ${(e as Error).message}`, { cause: e });
  } finally {
    // Resolved once the handle is released, so no socket outlives the call.
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
  if (sendErrors > 0) deps.log.info({ sendErrors }, "onvif discovery: some probes could not be sent");

  const results = [...found.values()].map((f) => toDiscovered(f));
  if (template && results.length > 0) await identifyAll(results, creds, template, ctx, deps.clock);
  return results;
}

function toDiscovered({ match, from }: Found): Discovered {
  const xaddr = pickXAddr(match.xaddrs, from);
  const details: Record<string, MetricValue> = {
    responded_from: from,
    endpoint: match.endpoint || null,
    xaddr: xaddr ?? null,
    xaddrs: match.xaddrs.join(" ") || null,
    types: match.types.join(" ") || null,
    ...scopeFields(match.scopes),
  };
  let address = from;
  if (xaddr && URL.canParse(xaddr)) address = new URL(xaddr).hostname.replace(/^\[|\]$/g, "");
  return { kind: "onvif", address, details };
}

/**
 * GetSystemDateAndTime + GetDeviceInformation, then GetNetworkInterfaces, on
 * each found device, four at a time. Credentials only go to the address that
 * answered the Probe: an XAddr naming another host (a spoofed or confused
 * answer) is not contacted.
 *
 * The MAC address (what finds a rogue camera on the switches) is optional,
 * as in identify(): GetNetworkInterfaces under the same per-call deadline
 * (identify.timeout_ms), and whatever goes wrong with it (not implemented,
 * refused, garbage, silent, even the signal aborting) leaves the identity
 * already read in place, without mac, and says why in details.mac_error.
 */
async function identifyAll(
  results: Discovered[],
  creds: Credentials | undefined,
  template: OnvifOptions,
  ctx: PollContext,
  clock: Clock,
): Promise<void> {
  const queue = [...results];
  const worker = async () => {
    for (let d = queue.shift(); d !== undefined && !ctx.signal.aborted; d = queue.shift()) {
      const details: Record<string, MetricValue> = d.details ?? {};
      d.details = details;
      const xaddr = details.xaddr;
      if (typeof xaddr !== "string" || !URL.canParse(xaddr)) continue;
      const url = new URL(xaddr);
      if (url.hostname !== details.responded_from) {
        details.identify_error = `not contacted: its XAddr names ${url.hostname}, not the address that answered`;
        continue;
      }
      const o: OnvifOptions = { ...template, host: undefined, xaddr };
      const session = new CameraSession(
        "discovery",
        { endpoint: endpoint(o), creds, timeoutMs: o.timeout_ms, maxResponseBytes: o.max_response_bytes },
        clock,
      );
      try {
        await session.exclusive(ctx.signal, async () => {
          const time = await readClock(session, ctx.signal);
          session.noteDrift(time.value.driftMs);
          const identity = (await authenticate(session, ctx.signal, time.value.driftMs, o)).value;
          // Kept before the MAC is asked for: nothing that happens to that call may lose it.
          d.identity = identity;
          try {
            const { mac } = (await networkInterfaces(session, ctx.signal, o.timeout_ms)).value;
            // A value without a MAC is a failed step (steps.ts): undefined here only satisfies the type.
            if (mac !== undefined) d.identity = { ...identity, mac };
          } catch (e) {
            details.mac_error = message(e);
          }
        });
      } catch (e) {
        details.identify_error = message(e);
      } finally {
        session.close();
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
