import net from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { flap, type NetDevice, parseNetDeviceArgs, startNetDevice } from "../../scripts/sim/netdevice.js";
import { netDevices } from "../helpers/netdevice.js";
import { type SelfSigned, selfSignedCert } from "../helpers/tls.js";
import { compileSimulators, curl, startUntilReady } from "./helpers.js";

const device = netDevices();

/** What a raw TCP client sees: whether it connected, the bytes it got, and how it ended. */
function rawExchange(
  d: NetDevice,
  send = "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
): Promise<{ connected: boolean; data: Buffer; error?: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let connected = false;
    const s = net.connect({ host: d.host, port: d.port }, () => {
      connected = true;
      s.write(send);
    });
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("error", (e: NodeJS.ErrnoException) => resolve({ connected, data: Buffer.concat(chunks), error: e.code ?? e.message }));
    s.on("close", () => resolve({ connected, data: Buffer.concat(chunks) }));
  });
}

/** Whether a TCP connect to the device succeeds (the socket is closed at once). */
function connects(d: NetDevice): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: d.host, port: d.port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

describe("simulated network device, seen by curl and node:net", () => {
  it("answers GET with 200, a Content-Length and its body", async () => {
    const d = await device({ http: { body: "hello campus\n" } });
    const r = await curl(`${d.url}health`);
    expect(r).toMatchObject({ exitCode: 0, status: 200, body: "hello campus\n" });
    expect(r.headers).toMatch(/^Content-Length: 13$/im);
    expect(d.stats()).toEqual({ connections: 1, requests: 1 });
  });

  it("answers HEAD with the headers only", async () => {
    const d = await device();
    const r = await curl(d.url, ["-I"]);
    expect(r).toMatchObject({ exitCode: 0, status: 200, sizeDownload: 0 });
    expect(r.headers).toMatch(/^Content-Length: 3$/im);
  });

  it("answers 503 while unhealthy, and 200 again once normal", async () => {
    const d = await device({ behaviour: "unhealthy" });
    expect((await curl(d.url)).status).toBe(503);
    await d.setBehaviour("normal");
    expect((await curl(d.url)).status).toBe(200);
  });

  it("answers slowDelayMs late while slow", async () => {
    const d = await device({ behaviour: "slow", slowDelayMs: 250 });
    const r = await curl(d.url);
    expect(r.status).toBe(200);
    expect(r.timeTotalMs).toBeGreaterThanOrEqual(240);
  });

  it("sends exactly bodyBytes of filler for a huge body", async () => {
    const d = await device({ http: { bodyBytes: 5_000_000 } });
    const r = await curl(d.url);
    expect(r).toMatchObject({ exitCode: 0, status: 200, sizeDownload: 5_000_000 });
  });

  it("answers non-HTTP bytes while garbage, which curl rejects", async () => {
    const d = await device({ behaviour: "garbage", garbage: "\u0000SSH-2.0-nope\r\n" });
    expect((await rawExchange(d)).data.toString("latin1")).toBe("\u0000SSH-2.0-nope\r\n");
    const r = await curl(d.url);
    expect(r.exitCode).not.toBe(0);
    expect(r.status).toBe(0);
  });

  it("accepts but never answers while blackholed: curl times out", async () => {
    const d = await device({ behaviour: "blackhole" });
    const r = await curl(d.url, ["--max-time", "0.3"]);
    expect(r.exitCode).toBe(28);
    await vi.waitFor(() => expect(d.stats()).toEqual({ connections: 1, requests: 1 }));
  });

  it("resets connections while in reset: no byte is ever answered", async () => {
    const d = await device({ behaviour: "reset" });
    const r = await rawExchange(d);
    expect(r.data.length).toBe(0);
    expect(r.error === undefined || r.error === "ECONNRESET").toBe(true);
    expect([7, 52, 56]).toContain((await curl(d.url)).exitCode);
  });

  it("refuses connections while refusing, on the same port it answers on after", async () => {
    const d = await device({ behaviour: "refuse" });
    expect((await rawExchange(d)).error).toBe("ECONNREFUSED");
    expect((await curl(d.url)).exitCode).toBe(7);
    await d.setBehaviour("normal");
    expect((await curl(d.url)).status).toBe(200);
  });

  it("drops open connections when it starts refusing", async () => {
    const d = await device({ behaviour: "blackhole" });
    const pending = rawExchange(d);
    await vi.waitFor(() => expect(d.stats().requests).toBe(1));
    await d.setBehaviour("refuse");
    const r = await pending;
    expect(r.data.length).toBe(0);
  });

  it("flaps between answering and refusing on its cycle", async () => {
    const d = await device({ behaviour: flap(100, 100) });
    expect(d.behaviour()).toBe("normal");
    await vi.waitFor(async () => expect(await connects(d)).toBe(false), { timeout: 2000, interval: 10 });
    await vi.waitFor(async () => expect(await connects(d)).toBe(true), { timeout: 2000, interval: 10 });
    expect((await curl(d.url)).status).toBe(200);
  });

  it("frees its port on close", async () => {
    const d = await startNetDevice();
    expect(await connects(d)).toBe(true);
    await d.close();
    expect(await connects(d)).toBe(false);
  });

  it("rejects a cycle without phases", async () => {
    const d = await device();
    await expect(d.setBehaviour({ cycle: [] })).rejects.toThrow(/at least one phase/);
  });
});

describe("simulated network device over HTTPS", () => {
  let tls: SelfSigned;
  beforeAll(() => {
    tls = selfSignedCert();
  });
  afterAll(() => tls.remove());

  it("serves HTTPS that curl accepts with the device certificate as CA, and rejects without", async () => {
    const d = await device({ tls: { key: tls.key, cert: tls.cert } });
    expect(d.url).toMatch(/^https:\/\//);
    expect(await curl(d.url, ["--cacert", tls.certFile])).toMatchObject({ exitCode: 0, status: 200 });
    expect((await curl(d.url)).exitCode).toBe(60); // curl: peer certificate cannot be authenticated
  });
});

describe("netdevice command line", () => {
  it("parses a flap with its up and down times", () => {
    expect(parseNetDeviceArgs(["--port", "8080", "--behaviour", "flap", "--up-ms", "400", "--down-ms", "100"])).toEqual({
      host: "127.0.0.1",
      tcpPort: 8080,
      behaviour: flap(400, 100),
      http: {},
    });
  });

  it("parses a cycle and HTTP answer options", () => {
    const o = parseNetDeviceArgs(["--cycle", "normal:1000,unhealthy:500", "--status", "204", "--delay-ms", "5", "--slow-ms", "9"]);
    expect(o.behaviour).toEqual({
      cycle: [
        { behaviour: "normal", forMs: 1000 },
        { behaviour: "unhealthy", forMs: 500 },
      ],
    });
    expect(o.http).toEqual({ status: 204, delayMs: 5 });
    expect(o.slowDelayMs).toBe(9);
  });

  it("rejects an unknown behaviour and a bad number with the option's name", () => {
    expect(() => parseNetDeviceArgs(["--behaviour", "sleepy"])).toThrow(/--behaviour: expected one of normal, .*flap/);
    expect(() => parseNetDeviceArgs(["--port", "-1"])).toThrow(/--port/);
    expect(() => parseNetDeviceArgs(["--prot", "1"])).toThrow(/prot/);
  });

  describe("as a process", () => {
    let build: { dir: string; remove(): void };
    beforeAll(() => {
      build = compileSimulators();
    });
    afterAll(() => build.remove());

    it("prints READY with its URL, serves it, and exits 0 on SIGTERM", async () => {
      const p = await startUntilReady(join(build.dir, "scripts/sim/netdevice.js"), ["--behaviour", "unhealthy"]);
      const { url } = JSON.parse(p.ready.slice("READY ".length)) as { url: string };
      expect((await curl(url)).status).toBe(503);
      p.child.kill("SIGTERM");
      expect(await p.exited).toEqual({ code: 0, signal: null });
    });
  });
});
