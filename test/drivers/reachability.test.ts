import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { systemClock } from "../../agent/clock.js";
import type { DriverError, Reading, TraceStep } from "../../drivers/contract.js";
import { type ReachabilityOptionsInput, reachabilityDriver, reachabilityOptionsSchema } from "../../drivers/reachability/index.js";
import type { NetDevice } from "../../scripts/sim/netdevice.js";
import { netDevices } from "../helpers/netdevice.js";
import { type SelfSigned, selfSignedCert } from "../helpers/tls.js";

const log = pino({ level: "silent" });
const driver = reachabilityDriver.create({ log, clock: systemClock });

function poll(input: ReachabilityOptionsInput, timeoutMs = 2000): Promise<Reading> {
  const options = reachabilityOptionsSchema.parse(input);
  return driver.poll({ id: "dev-1", timeoutMs, options }, { signal: AbortSignal.timeout(timeoutMs), log });
}

async function pollError(input: ReachabilityOptionsInput, timeoutMs = 2000): Promise<DriverError> {
  const err = await poll(input, timeoutMs).then(
    (r) => {
      throw new Error(`expected a DriverError, got a reading: ${JSON.stringify(r)}`);
    },
    (e: unknown) => e,
  );
  expect(err).toMatchObject({ name: "DriverError" });
  return err as DriverError;
}

/** A poll as `campus-agent probe` makes it: the steps traced, and what the poll gave (a reading or an error). */
async function tracedPoll(input: ReachabilityOptionsInput, timeoutMs = 2000): Promise<{ steps: TraceStep[]; outcome: Reading | DriverError }> {
  const steps: TraceStep[] = [];
  const options = reachabilityOptionsSchema.parse(input);
  const outcome = await driver
    .poll({ id: "dev-1", timeoutMs, options }, { signal: AbortSignal.timeout(timeoutMs), log, trace: (s) => steps.push(s) })
    .catch((e: unknown) => e as DriverError);
  return { steps, outcome };
}

/** Timings are milliseconds with one decimal at most. */
const tenths = (ms: number) => Math.abs(ms * 10 - Math.round(ms * 10)) < 1e-6;

const device = netDevices();

/** TCP/TLS handles and pending connects or lookups: what a leaking driver leaves behind. */
function netResources(): number {
  return process.getActiveResourcesInfo().filter((r) => /TCP|TLS|GetAddrInfo/.test(r)).length;
}

const tcp = (d: NetDevice): ReachabilityOptionsInput => ({ host: d.host, port: d.port });
const httpCheck = (d: NetDevice, extra: object = {}): ReachabilityOptionsInput => ({
  host: d.host,
  port: d.port,
  http: { url: `${d.url}health`, ...extra },
});

describe("reachability driver against a simulated device", () => {
  it("reports a device accepting TCP connections as ok, with the connect time", async () => {
    const d = await device();
    const r = await poll(tcp(d));
    expect(r).toMatchObject({ health: "ok", reason: "ok" });
    expect(r.metrics.tcp_connect_ms).toBeTypeOf("number");
    expect(r.responseTimeMs).toBeGreaterThanOrEqual(0);
  });

  it("checks TCP and HTTP on the same port over a single connection", async () => {
    const d = await device();
    const r = await poll(httpCheck(d));
    expect(r).toMatchObject({ health: "ok", metrics: { http_status: 200, http_body_bytes: 3, http_body_capped: false } });
    expect(r.metrics.http_server).toBe("campus-sim-netdevice");
    expect(d.stats()).toEqual({ connections: 1, requests: 1 });
  });

  it("uses a separate connection when the HTTP check is on another port", async () => {
    const sip = await device();
    const web = await device();
    const r = await poll({ host: "127.0.0.1", port: sip.port, http: { url: `${web.url}status` } });
    expect(r.health).toBe("ok");
    expect(sip.stats()).toEqual({ connections: 1, requests: 0 });
    expect(web.stats()).toEqual({ connections: 1, requests: 1 });
  });

  it("sends HEAD when asked and reads no body", async () => {
    const d = await device();
    const r = await poll(httpCheck(d, { method: "HEAD" }));
    expect(r.metrics).toMatchObject({ http_status: 200, http_body_bytes: 0 });
  });

  it("fails with refused, retryable, when nothing listens on the port", async () => {
    const d = await device({ behaviour: "refuse" });
    const e = await pollError(tcp(d));
    expect({ code: e.code, retryable: e.retryable }).toEqual({ code: "refused", retryable: true });
    expect(e.message).toContain(`${d.host}:${d.port}`);
  });

  it("fails with dns, not retryable, when the name does not resolve", async () => {
    const e = await pollError({ host: "no-such-device.invalid", port: 80 }, 5000);
    expect(e.code).toBe("dns");
  });

  it("fails with timeout within the deadline when the device accepts but never answers", async () => {
    const d = await device({ behaviour: "blackhole" });
    const started = performance.now();
    const e = await pollError(httpCheck(d), 300);
    const elapsed = performance.now() - started;
    expect(e.code).toBe("timeout");
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(300 + 150);
  });

  it("fails with timeout at once when the deadline has already passed", async () => {
    const d = await device();
    const options = reachabilityOptionsSchema.parse(tcp(d));
    const signal = AbortSignal.abort(new Error("late"));
    await expect(driver.poll({ id: "x", timeoutMs: 1, options }, { signal, log })).rejects.toMatchObject({ code: "timeout" });
    expect(d.stats().connections).toBe(0);
  });

  it("fails with protocol, not retryable, when an HTTP check gets non-HTTP bytes", async () => {
    const d = await device({ behaviour: "garbage" });
    const e = await pollError(httpCheck(d));
    expect({ code: e.code, retryable: e.retryable }).toEqual({ code: "protocol", retryable: false });
  });

  it("fails with protocol when the device resets the connection instead of answering", async () => {
    const d = await device({ behaviour: "reset" });
    const e = await pollError({ host: d.host, http: { url: d.url } });
    expect(["protocol", "refused"]).toContain(e.code);
  });

  it("reads an unexpected HTTP status as degraded http_status: answering but unwell", async () => {
    const d = await device({ behaviour: "unhealthy" });
    const r = await poll(httpCheck(d));
    expect(r).toMatchObject({ health: "degraded", reason: "http_status", metrics: { http_status: 503 } });
    expect(r.reasonText).toContain("HTTP 503");
    expect(r.reasonText).toContain("200-399");
  });

  it("accepts a status listed in expect_status", async () => {
    const d = await device({ behaviour: "unhealthy" });
    const r = await poll(httpCheck(d, { expect_status: ["2xx", 503] }));
    expect(r.health).toBe("ok");
  });

  it("reads an answer slower than degraded_above_ms as degraded slow", async () => {
    const d = await device({ behaviour: "slow", slowDelayMs: 150 });
    const r = await poll({ ...httpCheck(d), degraded_above_ms: 100 });
    expect(r).toMatchObject({ health: "degraded", reason: "slow" });
    expect(r.responseTimeMs).toBeGreaterThan(100);
    expect(r.metrics.http_response_ms).toBeGreaterThanOrEqual(140);
  });

  it("reports http_status over slow when a device is both", async () => {
    const d = await device({ behaviour: "unhealthy", http: { delayMs: 150 } });
    const r = await poll({ ...httpCheck(d), degraded_above_ms: 100 });
    expect(r.reason).toBe("http_status");
    expect(r.reasonText).toMatch(/above 100 ms/);
  });

  it("reads no more of a huge body than max_body_bytes", async () => {
    const d = await device({ http: { bodyBytes: 64 * 1024 * 1024 } });
    const r = await poll(httpCheck(d, { max_body_bytes: 4096 }));
    expect(r.metrics).toMatchObject({ http_status: 200, http_body_bytes: 4096, http_body_capped: true });
    // 64 MiB would take far longer than this to arrive over loopback.
    expect(r.responseTimeMs).toBeLessThan(1000);
  });
});

describe("reachability driver over HTTPS", () => {
  let tls: SelfSigned;
  let dir: string;
  let key: string;
  let cert: string;
  beforeAll(() => {
    tls = selfSignedCert();
    ({ dir, key, cert } = tls);
  });
  afterAll(() => tls.remove());

  it("fails with tls, not retryable, on a self-signed certificate by default", async () => {
    const d = await device({ tls: { key, cert } });
    const e = await pollError(httpCheck(d));
    expect({ code: e.code, retryable: e.retryable }).toEqual({ code: "tls", retryable: false });
    expect(e.message).toMatch(/certificate not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\)/);
    expect(d.stats().requests).toBe(0);
  });

  it("trusts the certificate given as ca_file, and reports its days left", async () => {
    const d = await device({ tls: { key, cert } });
    const r = await poll(httpCheck(d, { ca_file: join(dir, "cert.pem") }));
    expect(r).toMatchObject({ health: "ok", metrics: { http_status: 200, tls_cert_days_left: 0 } });
    expect(r.metrics.tls_handshake_ms).toBeTypeOf("number");
  });

  it("accepts any certificate with insecure-skip-verify", async () => {
    const d = await device({ tls: { key, cert } });
    const r = await poll({ host: d.host, http: { url: d.url, tls_verify: "insecure-skip-verify" } });
    expect(r.health).toBe("ok");
  });

  it("fails with config, not retryable, when ca_file cannot be read", async () => {
    const d = await device({ tls: { key, cert } });
    const e = await pollError(httpCheck(d, { ca_file: join(dir, "missing.pem") }));
    expect({ code: e.code, retryable: e.retryable }).toEqual({ code: "config", retryable: false });
  });

  it("traces the TLS handshake between the connect and the request, with the certificate it was shown", async () => {
    const d = await device({ tls: { key, cert } });
    const { steps } = await tracedPoll(httpCheck(d, { ca_file: join(dir, "cert.pem") }));
    expect(steps.map((s) => [s.step, s.ok])).toEqual([
      [`tcp connect 127.0.0.1:${d.port}`, true],
      ["tls handshake (verify on)", true],
      ["GET /health → 200", true],
    ]);
    expect(steps[1]?.detail).toMatch(/^TLSv1\.[23]; certificate CN=localhost issued by CN=localhost, 0 days left, trusted$/);
  });

  it("traces an untrusted certificate as a failed handshake step, naming why", async () => {
    const d = await device({ tls: { key, cert } });
    const { steps } = await tracedPoll(httpCheck(d));
    expect(steps[1]).toMatchObject({ step: "tls handshake (verify on)", ok: false, detail: "certificate not trusted (DEPTH_ZERO_SELF_SIGNED_CERT)" });
    expect(steps).toHaveLength(2);
  });

  it("fails with tls when the port speaks plain HTTP to an https:// URL", async () => {
    const d = await device({ behaviour: "garbage" });
    const e = await pollError({ host: d.host, http: { url: d.url.replace("http:", "https:") } });
    expect(e.code).toBe("tls");
  });
});

describe("reachability driver, traced (campus-agent probe)", () => {
  it("reports the connect and the request in order, timed as the metrics are, with the response head as raw and the verdict as detail", async () => {
    const d = await device();
    const { steps, outcome } = await tracedPoll(httpCheck(d));
    const r = outcome as Reading;
    expect(steps.map((s) => [s.step, s.ok])).toEqual([
      [`tcp connect 127.0.0.1:${d.port}`, true],
      ["GET /health → 200", true],
    ]);
    const [connect, get] = steps as [TraceStep, TraceStep];
    expect(connect.ms).toBe(r.metrics.tcp_connect_ms);
    expect(connect.detail).toMatch(/^connected \(local port \d+\)$/);
    expect(get.ms).toBe(r.metrics.http_response_ms);
    expect(get.detail).toBe("HTTP 200 as expected; 3 body bytes read");
    expect(get.raw?.split("\n")).toEqual([
      "HTTP/1.1 200 OK",
      "Content-Type: text/plain",
      "Content-Length: 3",
      "Server: campus-sim-netdevice",
      "Connection: close",
    ]);
    expect(steps.every((s) => s.ms >= 0 && tenths(s.ms))).toBe(true);
  });

  it("gives the same reading traced as untraced", async () => {
    const d = await device({ behaviour: "unhealthy" });
    const plain = await poll(httpCheck(d));
    const { outcome } = await tracedPoll(httpCheck(d));
    const timeless = (r: Reading) => ({
      ...r,
      responseTimeMs: 0,
      reasonText: r.reasonText?.replace(/[\d.]+ ms/g, "N ms"),
      metrics: { ...r.metrics, tcp_connect_ms: 0, http_response_ms: 0 },
    });
    expect(timeless(outcome as Reading)).toEqual(timeless(plain));
    expect(d.stats()).toEqual({ connections: 2, requests: 2 });
  });

  it("names an unexpected status in the step and says in the detail that it is outside expect_status", async () => {
    const d = await device({ behaviour: "unhealthy" });
    const { steps } = await tracedPoll(httpCheck(d));
    expect(steps[1]).toMatchObject({ step: "GET /health → 503", ok: true, detail: "HTTP 503 not in expect_status (200-399); 20 body bytes read" });
    expect(steps[1]?.raw).toMatch(/^HTTP\/1\.1 503 Service Unavailable\n/);
  });

  it("reports a refused connect as a failed step saying so, and the poll still fails with refused", async () => {
    const d = await device({ behaviour: "refuse" });
    const { steps, outcome } = await tracedPoll(tcp(d));
    expect(steps).toEqual([{ step: `tcp connect 127.0.0.1:${d.port}`, ms: expect.any(Number) as unknown, ok: false, detail: "connection refused (nothing listening on that port)" }]);
    expect(outcome).toMatchObject({ name: "DriverError", code: "refused" });
  });

  it("reports a device that accepts but never answers as a failed request step at the deadline", async () => {
    const d = await device({ behaviour: "blackhole" });
    const { steps, outcome } = await tracedPoll(httpCheck(d), 300);
    expect(steps.map((s) => [s.step, s.ok, s.detail ?? ""])).toEqual([
      [`tcp connect 127.0.0.1:${d.port}`, true, expect.stringMatching(/^connected/)],
      ["GET /health", false, "deadline reached before the device answered"],
    ]);
    expect(steps[1]?.ms).toBeGreaterThanOrEqual(250);
    expect(outcome).toMatchObject({ code: "timeout" });
  });
});

describe("reachability driver resources", () => {
  it("leaves no socket behind after 300 polls of flapping, silent, garbage and resetting devices", async () => {
    const flapping = await device({
      behaviour: {
        cycle: [
          { behaviour: "normal", forMs: 15 },
          { behaviour: "refuse", forMs: 15 },
        ],
      },
    });
    const targets = [
      flapping,
      await device({ behaviour: "blackhole" }),
      await device({ behaviour: "garbage" }),
      await device({ behaviour: "reset" }),
      await device({ behaviour: "slow", slowDelayMs: 60 }),
    ];
    // Earlier tests' connections may still be closing; start from none.
    await vi.waitFor(() => expect(process.getActiveResourcesInfo()).not.toContain("TCPSocketWrap"), { timeout: 5000 });
    await flapping.setBehaviour("normal");
    const baseline = netResources();
    expect(baseline).toBe(targets.length); // the listening sockets, nothing else
    await flapping.setBehaviour({
      cycle: [
        { behaviour: "normal", forMs: 15 },
        { behaviour: "refuse", forMs: 15 },
      ],
    });

    const outcomes = new Map<string, number>();
    for (let batch = 0; batch < 12; batch++) {
      const polls = Array.from({ length: 25 }, (_, i) => {
        const d = targets[(batch * 25 + i) % targets.length] as NetDevice;
        return poll(httpCheck(d), 40).then(
          (r) => r.reason ?? "ok",
          (e: DriverError) => e.code,
        );
      });
      for (const code of await Promise.all(polls)) outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
    }
    expect([...outcomes.values()].reduce((a, b) => a + b, 0)).toBe(300);
    expect(outcomes.get("timeout")).toBeGreaterThan(0);
    expect(outcomes.get("protocol")).toBeGreaterThan(0);

    await flapping.setBehaviour("normal");
    await vi.waitFor(() => expect(netResources()).toBe(baseline), { timeout: 5000, interval: 50 });
  });
});
