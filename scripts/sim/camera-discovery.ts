/**
 * WS-Discovery for the simulated camera: answers Probe messages (SOAP over
 * UDP) with a ProbeMatch naming the camera's types, scopes and XAddrs.
 *
 * - ONVIF Core 7 "Device discovery": a device is a Target Service of
 *   WS-Discovery (2005/04, the version ONVIF names), type
 *   dn:NetworkVideoTransmitter, scopes onvif://www.onvif.org/... (Core 7.3.2.2).
 * - WS-Discovery 2005/04 §5.2 (Probe, ProbeMatch), §5.1 (Types and Scopes
 *   matching, rfc2396/rfc3986 and strcmp0 rules); a Probe in the OASIS 1.1
 *   namespace (2009/01) is answered in kind.
 * - Replies go unicast to the sender (§5.3); to a multicast Probe after a
 *   random delay of up to APP_MAX_DELAY = 500 ms (SOAP-over-UDP / §2.4).
 *
 * Unicast on an ephemeral port is what tests use. Joining 239.255.255.250:3702
 * is optional and its failure harmless (many hosts and sandboxes do not route
 * multicast): the responder reports it and goes on answering unicast.
 */
import { randomUUID } from "node:crypto";
import dgram from "node:dgram";
import { NS } from "./camera-soap.js";
import { attr, child, descend, escapeXml, parseXml, type XmlElement } from "./camera-xml.js";

export const WSD_PORT = 3702;
export const WSD_MULTICAST = "239.255.255.250";
const APP_MAX_DELAY_MS = 500;

const VERSIONS = {
  "http://schemas.xmlsoap.org/ws/2005/04/discovery": {
    wsa: "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    anonymous: "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous",
    rfc3986: ["http://schemas.xmlsoap.org/ws/2005/04/discovery/rfc2396", "http://schemas.xmlsoap.org/ws/2005/04/discovery/rfc3986"],
    strcmp0: "http://schemas.xmlsoap.org/ws/2005/04/discovery/strcmp0",
  },
  "http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01": {
    wsa: "http://www.w3.org/2005/08/addressing",
    anonymous: "http://www.w3.org/2005/08/addressing/anonymous",
    rfc3986: ["http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01/rfc3986"],
    strcmp0: "http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01/strcmp0",
  },
} as const;
type WsdNs = keyof typeof VERSIONS;

export const NVT_TYPE = { ns: "http://www.onvif.org/ver10/network/wsdl", local: "NetworkVideoTransmitter" };
export const DEVICE_TYPE = { ns: NS.tds, local: "Device" };

/** What a ProbeMatch says about the camera. */
export interface ProbeTarget {
  /** wsa:EndpointReference/wsa:Address, stable for the device's life (urn:uuid:...). */
  endpointReference: string;
  scopes: readonly string[];
  xaddrs: readonly string[];
  metadataVersion: number;
}

export interface DiscoveryOptions {
  /** Unicast listen address (default 127.0.0.1). */
  host?: string;
  /** 0 (default) picks a free port; real devices use 3702. */
  port?: number;
  /** Also join 239.255.255.250 on port 3702 (default false). */
  multicast?: boolean;
  /** The camera now; undefined while it cannot answer (rebooting). */
  target: () => ProbeTarget | undefined;
}

export interface DiscoveryResponder {
  readonly host: string;
  readonly port: number;
  /** "off", "joined", or "failed: <why>". */
  readonly multicast: string;
  stats(): { probes: number; matches: number };
  close(): Promise<void>;
}

export async function startDiscoveryResponder(opts: DiscoveryOptions): Promise<DiscoveryResponder> {
  const host = opts.host ?? "127.0.0.1";
  const counts = { probes: 0, matches: 0 };
  const instanceId = Math.floor(Date.now() / 1000);
  let messageNumber = 0;
  const timers = new Set<NodeJS.Timeout>();

  const onMessage = (socket: dgram.Socket, viaMulticast: boolean) => (msg: Buffer, rinfo: dgram.RemoteInfo) => {
    const probe = readProbe(msg);
    if (!probe) return;
    counts.probes++;
    const target = opts.target();
    if (!target || !matches(probe, target)) return;
    counts.matches++;
    const reply = Buffer.from(probeMatches(probe, target, instanceId, ++messageNumber), "utf8");
    const send = () => socket.send(reply, rinfo.port, rinfo.address, () => {});
    if (!viaMulticast) return send();
    const t = setTimeout(() => {
      timers.delete(t);
      send();
    }, Math.random() * APP_MAX_DELAY_MS);
    timers.add(t);
  };

  const unicast = dgram.createSocket("udp4");
  // A malformed datagram or an ICMP error for a vanished prober is nothing to report.
  unicast.on("error", () => {});
  unicast.on("message", onMessage(unicast, false));
  await new Promise<void>((resolve, reject) => {
    unicast.once("error", reject);
    unicast.bind({ address: host, port: opts.port ?? 0 }, () => {
      unicast.off("error", reject);
      resolve();
    });
  });

  let group: dgram.Socket | undefined;
  let multicast = "off";
  if (opts.multicast) {
    group = dgram.createSocket({ type: "udp4", reuseAddr: true });
    group.on("message", onMessage(group, true));
    try {
      await new Promise<void>((resolve, reject) => {
        group?.once("error", reject);
        group?.bind(WSD_PORT, () => resolve());
      });
      group.addMembership(WSD_MULTICAST);
      group.on("error", () => {});
      multicast = "joined";
    } catch (e) {
      multicast = `failed: ${(e as Error).message}`;
      group.close();
      group = undefined;
    }
  }

  const closeSocket = (s: dgram.Socket | undefined) => new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()));
  let closing: Promise<void> | undefined;
  return {
    host,
    port: unicast.address().port,
    multicast,
    stats: () => ({ ...counts }),
    // Idempotent: closing a closed dgram socket throws.
    close: () => {
      closing ??= (async () => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        await Promise.all([closeSocket(unicast), closeSocket(group)]);
      })();
      return closing;
    },
  };
}

interface Probe {
  wsd: WsdNs;
  messageId: string;
  types: { ns: string; local: string }[];
  scopes: string[];
  matchBy: string | undefined;
}

/** A Probe, or undefined for anything else (other messages are not ours to answer). */
function readProbe(msg: Buffer): Probe | undefined {
  let root: XmlElement;
  try {
    root = parseXml(msg.toString("utf8"));
  } catch {
    return undefined;
  }
  if (root.local !== "Envelope" || root.ns !== NS.env) return undefined;
  const probe = descend(root, "Body", "Probe");
  if (!probe || !Object.hasOwn(VERSIONS, probe.ns)) return undefined;
  const wsd = probe.ns as WsdNs;
  const messageId = child(child(root, "Header"), "MessageID", VERSIONS[wsd].wsa)?.text.trim();
  // §5.2: a Probe without a MessageID cannot be answered (the reply must relate to it).
  if (!messageId) return undefined;
  const typesEl = child(probe, "Types", wsd);
  const types = (typesEl?.text.trim().split(/\s+/) ?? []).filter(Boolean).map((q) => {
    const [prefix, local] = q.includes(":") ? (q.split(":", 2) as [string, string]) : ["", q];
    return { ns: typesEl?.scope.get(prefix) ?? "", local };
  });
  const scopesEl = child(probe, "Scopes", wsd);
  const scopes = scopesEl?.text.trim().split(/\s+/).filter(Boolean) ?? [];
  return { wsd, messageId, types, scopes, matchBy: attr(scopesEl, "MatchBy") };
}

/** §5.1: every probed type is one of ours, and every probed scope matches one of ours. */
function matches(p: Probe, t: ProbeTarget): boolean {
  const ours = [NVT_TYPE, DEVICE_TYPE];
  if (!p.types.every((pt) => ours.some((o) => o.ns === pt.ns && o.local === pt.local))) return false;
  const v = VERSIONS[p.wsd];
  const rule = p.matchBy ?? v.rfc3986[0];
  const match =
    rule === v.strcmp0
      ? (probed: string, mine: string) => probed === mine
      : (v.rfc3986 as readonly string[]).includes(rule)
          ? uriPrefixMatch
          : undefined;
  // An unknown matching rule matches nothing (§5.1 would have us fault; a silent device is what clients see from most cameras).
  if (!match) return false;
  return p.scopes.every((ps) => t.scopes.some((ts) => match(ps, ts)));
}

/** rfc2396/rfc3986 rule: same scheme and authority (case-insensitively), probed path a segment-wise prefix. */
function uriPrefixMatch(probed: string, mine: string): boolean {
  const split = (u: string) => /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)/i.exec(u);
  const a = split(probed);
  const b = split(mine);
  if (!a || !b || a[1]?.toLowerCase() !== b[1]?.toLowerCase() || a[2]?.toLowerCase() !== b[2]?.toLowerCase()) return false;
  const segs = (path: string) => path.split("/").filter((s) => s !== "" && s !== ".");
  const pa = segs(a[3] ?? "");
  const pb = segs(b[3] ?? "");
  return pa.length <= pb.length && pa.every((s, i) => s === pb[i]);
}

function probeMatches(p: Probe, t: ProbeTarget, instanceId: number, messageNumber: number): string {
  const v = VERSIONS[p.wsd];
  return (
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" +
    `<env:Envelope xmlns:env="${NS.env}" xmlns:wsa="${v.wsa}" xmlns:d="${p.wsd}" xmlns:dn="${NVT_TYPE.ns}" xmlns:tds="${NS.tds}">` +
    `<env:Header><wsa:MessageID>urn:uuid:${randomUUID()}</wsa:MessageID><wsa:RelatesTo>${escapeXml(p.messageId)}</wsa:RelatesTo>` +
    `<wsa:To>${v.anonymous}</wsa:To><wsa:Action>${p.wsd}/ProbeMatches</wsa:Action>` +
    `<d:AppSequence InstanceId="${instanceId}" MessageNumber="${messageNumber}"/></env:Header>` +
    "<env:Body><d:ProbeMatches><d:ProbeMatch>" +
    `<wsa:EndpointReference><wsa:Address>${escapeXml(t.endpointReference)}</wsa:Address></wsa:EndpointReference>` +
    `<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types><d:Scopes>${escapeXml(t.scopes.join(" "))}</d:Scopes>` +
    `<d:XAddrs>${escapeXml(t.xaddrs.join(" "))}</d:XAddrs><d:MetadataVersion>${t.metadataVersion}</d:MetadataVersion>` +
    "</d:ProbeMatch></d:ProbeMatches></env:Body></env:Envelope>"
  );
}

/** ONVIF Core 7.3.2.2 scopes for a camera; each value percent-encoded, as scope URIs need. */
export function onvifScopes(s: { model: string; name: string; location: string }): string[] {
  const u = (kind: string, value: string) => `onvif://www.onvif.org/${kind}/${encodeURIComponent(value)}`;
  return [
    "onvif://www.onvif.org/type/video_encoder",
    "onvif://www.onvif.org/type/Network_Video_Transmitter",
    "onvif://www.onvif.org/Profile/Streaming",
    u("hardware", s.model),
    u("name", s.name),
    u("location", s.location),
  ];
}
