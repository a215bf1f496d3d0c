/**
 * `campus-agent probe`: one device polled now with tracing on, nothing kept.
 * First the runner (agent/probe.ts) with test-double drivers; then the
 * running agent's `probe` control method and the command (agent/commands/
 * probe.ts) in-process, against an agent on aedes with a device over real
 * TCP; the built CLI is run as its own process in test/integration/cli.test.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { probe } from "../../agent/commands/probe.js";
import { controlRequest } from "../../agent/control/client.js";
import { createLogger } from "../../agent/log.js";
import { startEmbeddedBroker } from "../../agent/mqtt/broker.js";
import { MAX_RAW_CHARS, MAX_STEPS, probeDevice, type ProbeResult } from "../../agent/probe.js";
import { systemClock } from "../../agent/clock.js";
import { type Driver, DriverError, type DriverFactory, defineDriver, type PollContext } from "../../drivers/contract.js";
import { DRIVERS } from "../../drivers/registry.js";
import { type NetDevice, startNetDevice } from "../../scripts/sim/netdevice.js";
import { record } from "../helpers/mqtt.js";
import { campusConfig, startTestAgent } from "../helpers/agent.js";
import { sink } from "../helpers/streams.js";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const silent = createLogger({ level: "silent" });
const ref = (timeoutMs = 1000) => ({ id: "door-1", timeoutMs, options: {} });

describe("the probe runner", () => {
  it("returns each traced step of the poll and of the identity read, in order, with the reading as the driver made it", async () => {
    const seen: PollContext[] = [];
    const driver: Driver<unknown> = {
      poll: (_d, ctx) => {
        seen.push(ctx);
        ctx.trace?.({ step: "tcp connect 10.0.0.5:502", ms: 0.8347, ok: true });
        ctx.trace?.({ step: "read holding 0-1 (unit 1)", ms: 2.25, ok: true, detail: "door 1 closed", raw: "0x0001 0x00ff" });
        return Promise.resolve({
          health: "degraded",
          reason: "slow",
          reasonText: "answered in 900 ms",
          responseTimeMs: 900,
          metrics: { door_1_open: false },
          events: [{ type: "door_opened", at: 1, text: "door 1 opened", details: {} }],
        });
      },
      identify: (_d, ctx) => {
        ctx.trace?.({ step: "read input 100-109 (unit 1)", ms: 1, ok: true, raw: "0x4142" });
        return Promise.resolve({ manufacturer: "Acme", firmware: "2.1" });
      },
    };
    const r = await probeDevice({ kind: "modbus-door", driver, ref: ref(), via: "agent", memory: { value: { doors: [1] } }, log: silent, clock: systemClock });
    expect(seen[0]?.memory).toEqual({ doors: [1] });
    expect(r).toMatchObject({
      device: "door-1",
      kind: "modbus-door",
      via: "agent",
      with_memory: true,
      timeout_ms: 1000,
      poll: {
        ok: true,
        steps_cut: 0,
        steps: [
          { step: "tcp connect 10.0.0.5:502", ms: 0.8, ok: true },
          { step: "read holding 0-1 (unit 1)", ms: 2.3, ok: true, detail: "door 1 closed", raw: "0x0001 0x00ff" },
        ],
        reading: { health: "degraded", reason: "slow", reason_text: "answered in 900 ms", metrics: { door_1_open: false }, events: [{ type: "door_opened" }], alarms: [] },
      },
      identify: { ok: true, steps: [{ step: "read input 100-109 (unit 1)", raw: "0x4142" }], identity: { manufacturer: "Acme", firmware: "2.1" } },
    });
  });

  it("reports a failed poll with the driver's reason and the steps up to the failure, and still reads the identity", async () => {
    const driver: Driver<unknown> = {
      poll: (_d, ctx) => {
        ctx.trace?.({ step: "tcp connect 10.0.0.5:502", ms: 3, ok: false, detail: "connection refused" });
        return Promise.reject(new DriverError("refused", "connect ECONNREFUSED 10.0.0.5:502"));
      },
      identify: () => Promise.reject(new Error("plain error")),
    };
    const r = await probeDevice({ kind: "k", driver, ref: ref(), via: "standalone", log: silent, clock: systemClock });
    expect(r.with_memory).toBe(false);
    expect(r.poll).toMatchObject({ ok: false, steps: [{ ok: false, detail: "connection refused" }], error: { code: "refused", message: "connect ECONNREFUSED 10.0.0.5:502" } });
    expect(r.poll.reading).toBeUndefined();
    expect(r.identify).toMatchObject({ ok: false, error: { code: "internal", message: "plain error" } });
  });

  it("keeps its deadline when a driver ignores the abort signal, and keeps the steps traced until then", async () => {
    const driver: Driver<unknown> = {
      poll: (_d, ctx) => {
        ctx.trace?.({ step: "send request", ms: 0.1, ok: true });
        return new Promise(() => {});
      },
    };
    const r = await probeDevice({ kind: "k", driver, ref: ref(80), via: "standalone", log: silent, clock: systemClock });
    expect(r.poll).toMatchObject({ ok: false, steps: [{ step: "send request" }], error: { code: "timeout" } });
    expect(r.poll.ms).toBeGreaterThanOrEqual(70);
    expect(r.identify).toBeUndefined();
  });

  it("cuts raw answers and step lists that grow past their limits, and says how much it cut", async () => {
    const driver: Driver<unknown> = {
      poll: (_d, ctx) => {
        for (let i = 0; i < MAX_STEPS + 5; i++) ctx.trace?.({ step: `read ${i}`, ms: 0, ok: true, raw: "x".repeat(MAX_RAW_CHARS + 10) });
        return Promise.resolve({ health: "ok", responseTimeMs: 1, metrics: {} });
      },
    };
    const r = await probeDevice({ kind: "k", driver, ref: ref(), via: "standalone", log: silent, clock: systemClock });
    expect(r.poll.steps).toHaveLength(MAX_STEPS);
    expect(r.poll.steps_cut).toBe(5);
    expect(r.poll.steps[0]?.raw).toBe(`${"x".repeat(MAX_RAW_CHARS)}… (10 more characters)`);
  });
});

/** A door-controller double whose probe finds an alarm and an event: neither may be published. */
const alarmingDoor: DriverFactory = defineDriver({
  kind: "alarming-door",
  description: "test double",
  optionsSchema: z.strictObject({}),
  create: () => ({
    poll: (_d, ctx) => {
      ctx.trace?.({ step: "read coils 0-7 (unit 1)", ms: 1.5, ok: true, detail: "input 1 closed", raw: "1 0 0 0 0 0 0 0" });
      const probing = ctx.trace !== undefined;
      return Promise.resolve({
        health: "ok",
        responseTimeMs: 1.5,
        metrics: { input_1: probing },
        ...(probing
          ? {
              events: [{ type: "door_forced", at: Date.now(), text: "door 1 forced open", details: {} }],
              alarms: [{ id: "3b7c0d5e-1111-4c2a-9a57-6d1f4a0f0001", phase: "alarm" as const, type: "panic", test: false, at: Date.now(), text: "panic input 1", source: {} }],
            }
          : {}),
      });
    },
  }),
});
const drivers = [...DRIVERS, alarmingDoor];

async function campus() {
  const dir = mkdtempSync(join(tmpdir(), "probe-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const dev: NetDevice = await startNetDevice({});
  cleanups.push(() => dev.close());
  const broker = await startEmbeddedBroker({ host: "127.0.0.1", port: 0, log: silent });
  cleanups.push(() => broker.close());
  const loaded = campusConfig(
    dir,
    {
      broker: { url: broker.url },
      polling: { interval_ms: 600, timeout_ms: 500 },
      devices: [
        { id: "intercom", kind: "reachability", category: "safety-critical", location: { building: "A" }, options: { host: dev.host, port: dev.port } },
        { id: "door-1", kind: "alarming-door", category: "safety-critical", location: { building: "A" }, options: {} },
      ],
    },
    { drivers },
  );
  const { socket } = await startTestAgent(loaded, drivers, cleanups);
  const run = async (device: string, over: Partial<Parameters<typeof probe>[0]> = {}) => {
    const out = sink();
    const err = sink();
    const code = await probe({ device, json: false, socket, standalone: false, loaded, drivers, ...over }, out.stream, err.stream);
    return { code, out: out.text(), err: err.text() };
  };
  return { dev, broker, loaded, socket, run };
}

describe("probing through the running agent", () => {
  it("answers with the traced poll of the agent's own driver, and stores and publishes none of what it found", async () => {
    const { broker, socket } = await campus();
    const rec = await record(broker.url, "campus/lincoln/#");
    cleanups.push(() => rec.close());
    const r = (await controlRequest(socket, "probe", { device: "door-1" }, 5000)) as ProbeResult & { agent: { pid: number } };
    expect(r).toMatchObject({
      device: "door-1",
      kind: "alarming-door",
      via: "agent",
      agent: { pid: process.pid },
      poll: {
        ok: true,
        steps: [{ step: "read coils 0-7 (unit 1)", raw: "1 0 0 0 0 0 0 0", detail: "input 1 closed" }],
        reading: { metrics: { input_1: true }, events: [{ type: "door_forced" }], alarms: [{ type: "panic" }] },
      },
    });
    // Telemetry of a poll after the probe: an alarm stored by the probe would have gone first.
    const after = rec.messages.length;
    await rec.waitFor((ms) => ms.slice(after).some((m) => m.topic === "campus/lincoln/device/door-1/telemetry"));
    expect(rec.messages.filter((m) => m.topic === "campus/lincoln/device/door-1/alarm")).toEqual([]);
    expect(rec.json("door-1/event").map((e) => e.type)).not.toContain("door_forced");
    expect(rec.json("door-1/telemetry").every((t) => (t.metrics as Record<string, unknown>).input_1 === false)).toBe(true);
  });

  it("refuses an unknown device and a bad deadline as wrong requests", async () => {
    const { socket } = await campus();
    await expect(controlRequest(socket, "probe", { device: "nope" }, 5000)).rejects.toMatchObject({ code: "unknown_device", message: 'no device "nope" is configured' });
    await expect(controlRequest(socket, "probe", { device: "door-1", timeout_ms: 0 }, 5000)).rejects.toMatchObject({ code: "bad_request" });
    await expect(controlRequest(socket, "probe", {}, 5000)).rejects.toMatchObject({ code: "bad_request", message: "probe needs a device id" });
  });

  it("campus-agent probe exits 0 for a device that answers well, 1 for one that refuses (with the failed step), 2 for an unknown device", async () => {
    const { dev, run } = await campus();
    const ok = await run("intercom");
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^probe intercom \(reachability\) through the running agent \(pid \d+.*\); deadline 500 ms; nothing is published\n/);
    expect(ok.out).toMatch(/\npoll: ok in [\d.]+ ms\n/);
    expect(ok.out).toMatch(/\n {2}=> online, answered in [\d.]+ ms\n/);
    expect(ok.out.endsWith("\nOK\n")).toBe(true);

    await dev.setBehaviour("refuse");
    const refused = await run("intercom", { json: true });
    expect(refused.code).toBe(1);
    const outcome = JSON.parse(refused.out) as ProbeResult & { ok: boolean };
    expect(outcome).toMatchObject({ ok: false, via: "agent", poll: { ok: false, error: { code: "refused" } } });
    const text = await run("intercom");
    expect(text.out).toMatch(/\npoll: FAILED in [\d.]+ ms\n/);
    expect(text.out).toMatch(/\nPROBLEM: the poll failed: refused: .+\n$/);

    const unknown = await run("nope");
    expect(unknown).toMatchObject({ code: 2, out: "" });
    expect(unknown.err).toBe('campus-agent probe: no device "nope" is configured\n');
  });

  it("shows the raw answer under its step and marks found events and alarms as not published", async () => {
    const { run } = await campus();
    const r = await run("door-1");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\n {2}step +ms +result\n {2}read coils 0-7 \(unit 1\) +1\.5 +ok +input 1 closed\n {6}raw: 1 0 0 0 0 0 0 0\n/);
    expect(r.out).toContain("\n  event found, not published: door_forced: door 1 forced open\n");
    expect(r.out).toContain("\n  alarm found, not published: alarm panic: panic input 1\n");
  });

  it("probes with a driver of its own when the agent does not answer, and says so", async () => {
    const { socket, run } = await campus();
    const r = await run("intercom", { socket: `${socket}.missing`, timeoutMs: 2000 });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^probe intercom \(reachability\) with a driver of its own \(the agent was not asked: no control socket at .*\); deadline 2000 ms;/);
    const forced = await run("door-1", { standalone: true, json: true });
    expect(JSON.parse(forced.out)).toMatchObject({ ok: true, via: "standalone", with_memory: false });
    const unknown = await run("nope", { standalone: true });
    expect(unknown).toMatchObject({ code: 2 });
    expect(unknown.err).toMatch(/^campus-agent probe: no device "nope" in .*config\.yaml\n$/);
  });
});
