/**
 * WS-Discovery for the simulated camera over real UDP, unicast on an
 * ephemeral port (multicast is never needed here). "No answer" is shown by
 * sending a probe that must be answered right after: replies to one socket
 * arrive in order, so once that one is in, an earlier one would have been too.
 */
import { randomUUID } from "node:crypto";
import dgram from "node:dgram";
import { afterEach, describe, expect, it, vi } from "vitest";
import { childrenNamed, descend, parseXml, type XmlElement } from "../../scripts/sim/camera-xml.js";
import { must, useCameras } from "./camera-helpers.js";

const camera = useCameras();
const WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery";
const WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing";

/** A Probe as the onvif npm library sends it (types dn:NetworkVideoTransmitter), or with other types, scopes or version. */
function probe(id: string, opts: { types?: string; scopes?: string; matchBy?: string; wsd?: string; wsa?: string } = {}): Buffer {
  const wsd = opts.wsd ?? WSD;
  const wsa = opts.wsa ?? WSA;
  const matchBy = opts.matchBy ? ` MatchBy="${opts.matchBy}"` : "";
  return Buffer.from(
    "<Envelope xmlns=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:dn=\"http://www.onvif.org/ver10/network/wsdl\">" +
    `<Header><wsa:MessageID xmlns:wsa="${wsa}">${id}</wsa:MessageID><wsa:To xmlns:wsa="${wsa}">urn:schemas-xmlsoap-org:ws:2005:04:discovery</wsa:To>` +
    `<wsa:Action xmlns:wsa="${wsa}">${wsd}/Probe</wsa:Action></Header>` +
    `<Body><Probe xmlns="${wsd}"><Types>${opts.types ?? "dn:NetworkVideoTransmitter"}</Types><Scopes${matchBy}>${opts.scopes ?? ""}</Scopes></Probe></Body></Envelope>`,
  );
}

const sockets: dgram.Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});

/** A client socket; next(id) resolves with the reply that relates to message id, and lists everything received before it. */
async function client() {
  const s = dgram.createSocket("udp4");
  sockets.push(s);
  const received: XmlElement[] = [];
  const waiters: (() => void)[] = [];
  s.on("message", (m) => {
    received.push(parseXml(m.toString("utf8")));
    for (const w of waiters.splice(0)) w();
  });
  await new Promise<void>((resolve) => s.bind({ address: "127.0.0.1", port: 0 }, resolve));
  const relatesTo = (doc: XmlElement) => descend(doc, "Header", "RelatesTo")?.text;
  return {
    send: (msg: Buffer, port: number) =>
      new Promise<void>((resolve, reject) => s.send(msg, port, "127.0.0.1", (e) => (e ? reject(e) : resolve()))),
    async next(id: string): Promise<{ reply: XmlElement; before: XmlElement[] }> {
      for (;;) {
        const at = received.findIndex((d) => relatesTo(d) === id);
        if (at >= 0) return { reply: received[at] as XmlElement, before: received.slice(0, at) };
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
  };
}

describe("simulated ONVIF camera, WS-Discovery over unicast UDP", () => {
  it("answers a Probe for dn:NetworkVideoTransmitter with a ProbeMatch naming its endpoint, types, scopes and XAddrs", async () => {
    const cam = await camera({ model: "LX-4410", name: "Main entrance", location: "demo hs", discovery: { port: 0 } });
    const c = await client();
    const id = `urn:uuid:${randomUUID()}`;
    await c.send(probe(id), must(cam.discoveryPort));
    const { reply } = await c.next(id);
    expect(descend(reply, "Header", "Action")?.text).toBe(`${WSD}/ProbeMatches`);
    expect(descend(reply, "Header", "To")?.text).toBe(`${WSA}/role/anonymous`);
    const match = must(descend(reply, "Body", "ProbeMatches", "ProbeMatch"));
    expect(match.ns).toBe(WSD);
    expect(descend(match, "EndpointReference", "Address")?.text).toBe(cam.endpointReference);
    expect(cam.endpointReference).toMatch(/^urn:uuid:[0-9a-f-]{36}$/);
    expect(descend(match, "Types")?.text).toBe("dn:NetworkVideoTransmitter tds:Device");
    expect(descend(match, "XAddrs")?.text).toBe(cam.deviceServiceUrl);
    const scopes = descend(match, "Scopes")?.text.split(" ");
    expect(scopes).toEqual(
      expect.arrayContaining([
        "onvif://www.onvif.org/type/video_encoder",
        "onvif://www.onvif.org/hardware/LX-4410",
        "onvif://www.onvif.org/name/Main%20entrance",
        "onvif://www.onvif.org/location/demo%20hs",
      ]),
    );
  });

  it("stays silent for a type it is not, and for a scope it does not have", async () => {
    const cam = await camera({ model: "LX-4410", discovery: {} });
    const c = await client();
    const port = must(cam.discoveryPort);
    await c.send(probe("urn:uuid:display", { types: "dn:NetworkVideoDisplay" }), port);
    await c.send(probe("urn:uuid:other-model", { scopes: "onvif://www.onvif.org/hardware/BF-D220" }), port);
    await c.send(probe("urn:uuid:this-model", { scopes: "onvif://www.onvif.org/hardware/LX-4410 onvif://www.onvif.org/type" }), port);
    const { before } = await c.next("urn:uuid:this-model");
    expect(before).toEqual([]);
  });

  it("matches scopes by strcmp0 when the Probe asks for it", async () => {
    const cam = await camera({ discovery: {} });
    const c = await client();
    const port = must(cam.discoveryPort);
    const strcmp0 = `${WSD}/strcmp0`;
    await c.send(probe("urn:uuid:prefix", { scopes: "onvif://www.onvif.org/type", matchBy: strcmp0 }), port);
    await c.send(probe("urn:uuid:exact", { scopes: "onvif://www.onvif.org/type/video_encoder", matchBy: strcmp0 }), port);
    expect((await c.next("urn:uuid:exact")).before).toEqual([]);
  });

  it("answers a WS-Discovery 1.1 Probe in the 1.1 namespaces", async () => {
    const cam = await camera({ discovery: {} });
    const c = await client();
    const wsd = "http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01";
    await c.send(probe("urn:uuid:v11", { wsd, wsa: "http://www.w3.org/2005/08/addressing" }), must(cam.discoveryPort));
    const { reply } = await c.next("urn:uuid:v11");
    expect(childrenNamed(must(descend(reply, "Body", "ProbeMatches")), "ProbeMatch", wsd)).toHaveLength(1);
  });

  it("does not answer while rebooting, and does again once back", async () => {
    const cam = await camera({ discovery: {} });
    const c = await client();
    const port = must(cam.discoveryPort);
    await cam.setFault({ kind: "reboot", downMs: 60_000 });
    await c.send(probe("urn:uuid:while-down"), port);
    await vi.waitFor(() => expect(cam.stats().discovery).toEqual({ probes: 1, matches: 0 }));
    await cam.setFault(null);
    await c.send(probe("urn:uuid:back"), port);
    expect((await c.next("urn:uuid:back")).before).toEqual([]);
  });

  it("frees its UDP port on close", async () => {
    const cam = await camera({ discovery: {} });
    const port = must(cam.discoveryPort);
    await cam.close();
    const s = dgram.createSocket("udp4");
    sockets.push(s);
    await expect(
      new Promise<void>((resolve, reject) => s.once("error", reject).bind({ address: "127.0.0.1", port }, resolve)),
    ).resolves.toBeUndefined();
  });
});
