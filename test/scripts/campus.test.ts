import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { systemClock } from "../../agent/clock.js";
import { ID_PATTERN } from "../../config/schema.js";
import { type ReachabilityOptionsInput, reachabilityDriver, reachabilityOptionsSchema } from "../../drivers/reachability/index.js";
import { type Campus, startCampus } from "../../scripts/sim/campus.js";
import { DEMO_CAMPUS, DEMO_DEVICES, simulatorFor } from "../../scripts/sim/demo-campus.js";
import { startNetDevice } from "../../scripts/sim/netdevice.js";
import { compileSimulators, startUntilReady } from "./helpers.js";

const log = pino({ level: "silent" });

describe("demo campus data", () => {
  it("has unique topic-safe ids and one loopback address per device in 127.77.0.0/24", () => {
    const ids = DEMO_CAMPUS.map((d) => d.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(ID_PATTERN);
    const addresses = DEMO_CAMPUS.map((d) => d.address);
    expect(new Set(addresses).size).toBe(addresses.length);
    for (const a of addresses) expect(a).toMatch(/^127\.77\.0\.(\d{1,3})$/);
    for (const d of DEMO_CAMPUS) expect(d.port).toBeGreaterThanOrEqual(1024);
  });

  it("checks every device with valid reachability options pointing at its simulator", () => {
    for (const d of DEMO_CAMPUS) {
      const o = reachabilityOptionsSchema.parse(d.driver.options);
      expect(o.host, d.id).toBe(d.address);
      if (o.port !== undefined) expect(o.port, d.id).toBe(d.port);
      if (o.http) expect(new URL(o.http.url).port, d.id).toBe(String(d.port));
      expect(simulatorFor(d.id)).toBe(d);
    }
  });

  it("includes a flapping device, a slow one and one whose health endpoint answers 503 at times", () => {
    const cycles = DEMO_CAMPUS.map((d) => (typeof d.behaviour === "string" ? [d.behaviour] : d.behaviour.cycle.map((p) => p.behaviour)));
    expect(cycles.some((c) => c.includes("normal") && c.includes("refuse"))).toBe(true);
    expect(cycles.some((c) => c.length === 1 && c[0] === "slow")).toBe(true);
    expect(cycles.some((c) => c.includes("normal") && c.includes("unhealthy"))).toBe(true);
  });
});

describe("demo campus simulator, in process", () => {
  let campus: Campus;
  beforeAll(async () => {
    campus = await startCampus(DEMO_CAMPUS, { ephemeralPorts: true });
  });
  afterAll(() => campus.close());

  it("starts every device on its own address, each answering the reachability driver as its behaviour says", async () => {
    expect(campus.devices.map((d) => d.id)).toEqual(DEMO_CAMPUS.map((d) => d.id));
    const driver = reachabilityDriver.create({ log, clock: systemClock });
    const readings = await Promise.all(
      campus.devices.map(async (running) => {
        const spec = DEMO_CAMPUS.find((s) => s.id === running.id);
        expect(running.host).toBe(spec?.address);
        // The spec's options, moved to the ephemeral port the test campus got.
        const input = JSON.parse(
          JSON.stringify(spec?.driver.options).replaceAll(`:${spec?.port}/`, `:${running.port}/`),
        ) as ReachabilityOptionsInput;
        if (input.port !== undefined) input.port = running.port;
        const options = reachabilityOptionsSchema.parse(input);
        const r = await driver.poll({ id: running.id, timeoutMs: 5000, options }, { signal: AbortSignal.timeout(5000), log });
        return [running.id, r.reason] as const;
      }),
    );
    // Every cycle starts in its "normal" phase; only the slow signage player is degraded at start.
    expect(Object.fromEntries(readings)).toEqual(
      Object.fromEntries(DEMO_CAMPUS.map((d) => [d.id, d.id === "signage-lobby" ? "slow" : "ok"])),
    );
  });

  it("starts nothing when one device cannot listen, and says which", async () => {
    const squatter = await startNetDevice({ host: "127.77.0.99" });
    const before = process.getActiveResourcesInfo().filter((r) => r === "TCPServerWrap").length;
    try {
      const specs = [
        { ...(DEMO_CAMPUS[0] as (typeof DEMO_CAMPUS)[number]), id: "first", address: "127.77.0.98", port: 0 },
        { ...(DEMO_CAMPUS[0] as (typeof DEMO_CAMPUS)[number]), id: "clash", address: "127.77.0.99", port: squatter.port },
      ];
      await expect(startCampus(specs)).rejects.toThrow(/clash on 127\.77\.0\.99:\d+: .*EADDRINUSE/);
      const servers = () => process.getActiveResourcesInfo().filter((r) => r === "TCPServerWrap").length;
      await vi.waitFor(() => expect(servers()).toBe(before));
    } finally {
      await squatter.close();
    }
  });
});

describe("demo campus simulator, as the demo's child process", () => {
  let build: { dir: string; remove(): void };
  beforeAll(() => {
    build = compileSimulators();
  });
  afterAll(() => build.remove());
  const campusJs = () => join(build.dir, "scripts/sim/campus.js");

  it("prints exactly one READY line with the device count and exits 0 when its stdin closes", async () => {
    const p = await startUntilReady(campusJs(), ["--ephemeral-ports"]);
    expect(p.ready).toBe(`READY {"devices":${DEMO_DEVICES.length}}`);
    p.child.stdin.end();
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(p.stdout()).toBe(`READY {"devices":${DEMO_DEVICES.length}}\n`);
    expect(p.stderr()).toMatch(/stopping \(stdin closed\)/);
  });

  it("exits 0 on SIGTERM", async () => {
    const p = await startUntilReady(campusJs(), ["--ephemeral-ports"]);
    p.child.kill("SIGTERM");
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(p.stderr()).toMatch(/stopping \(SIGTERM\)/);
  });
});
