/**
 * `campus-agent watch` in-process: an agent on its embedded broker (free
 * port), a simulated device that goes away, and the command following the
 * campus through the agent's control socket and the broker.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { stringify } from "yaml";
import { Agent } from "../../agent/agent.js";
import { describe as describeMessage, watch, watchTopics } from "../../agent/commands/watch.js";
import { type LoadedConfig, parseConfig } from "../../config/load.js";
import { DRIVERS } from "../../drivers/registry.js";
import { startNetDevice } from "../../scripts/sim/netdevice.js";
import { startTestAgent } from "../helpers/agent.js";
import { sink } from "../helpers/streams.js";

const log = pino({ level: "silent" });
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function campus(): Promise<{ loaded: LoadedConfig; agent: Agent; closeDevice: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "watch-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const dev = await startNetDevice({});
  let closed = false;
  cleanups.push(() => (closed ? undefined : dev.close()));
  const loaded = parseConfig(
    stringify({
      campus: { id: "lincoln" },
      gateway: { id: "gw-1" },
      broker: { embedded: { host: "127.0.0.1", port: 0 } },
      outbox: { path: "outbox.db", flush_interval_ms: 20 },
      polling: { interval_ms: 200, timeout_ms: 150, offline_after_failures: 1 },
      devices: [{ id: "intercom-a", kind: "reachability", category: "safety-critical", options: { host: dev.host, port: dev.port } }],
    }),
    { file: join(dir, "config.yaml"), drivers: DRIVERS },
  );
  const { agent } = await startTestAgent(loaded, DRIVERS, cleanups, { log });
  return {
    loaded,
    agent,
    closeDevice: async () => {
      closed = true;
      await dev.close();
    },
  };
}

describe("campus-agent watch", () => {
  it("follows the campus live: the gateway's current status, then a device going offline, its status and its event, one line each", async () => {
    const { loaded, agent, closeDevice } = await campus();
    await vi.waitFor(() => expect(agent.snapshot()?.devices.online).toBe(1), { timeout: 5000 });
    const out = sink();
    const err = sink();
    const stop = new AbortController();
    const running = watch(loaded, { socket: loaded.config.control.socket, json: false, telemetry: false, signal: stop.signal }, out.stream, err.stream);
    await vi.waitFor(() => expect(err.text()).toMatch(/^watching campus lincoln at mqtt:\/\/127\.0\.0\.1:\d+ \(Ctrl-C to stop\)\n$/), { timeout: 5000 });
    await vi.waitFor(() => expect(out.text()).toMatch(/^\d\d:\d\d:\d\d {2}gateway +gw-1 +online \(connected\) \[current\]\n/), { timeout: 5000 });
    await closeDevice();
    await vi.waitFor(() => expect(out.text()).toMatch(/ {2}event +intercom-a +status_changed: online -> offline \(refused\)\n/), { timeout: 5000 });
    await vi.waitFor(() => expect(out.text()).toMatch(/ {2}status +intercom-a +offline \(refused\): /), { timeout: 5000 });
    // The device's retained status at the start was the current state, not news: not shown.
    expect(out.lines().filter((l) => / {2}status +intercom-a +online /.test(l))).toEqual([]);
    expect(out.lines().some((l) => l.includes("telemetry"))).toBe(false);
    stop.abort();
    expect(await running).toBe(0);
  });

  it("with --json prints one object per message, and stops after --count lines", async () => {
    const { loaded } = await campus();
    const out = sink();
    const args = { socket: loaded.config.control.socket, json: true, telemetry: true, count: 3, signal: new AbortController().signal };
    const code = await watch(loaded, args, out.stream, sink().stream);
    expect(code).toBe(0);
    const objects = out.lines().map((l) => JSON.parse(l) as { topic: string; retained: boolean; payload: { schema?: string } });
    expect(objects).toHaveLength(3);
    expect(objects[0]).toMatchObject({ topic: "campus/lincoln/gateway/gw-1/status", retained: true, payload: { schema: "campus-edge/gateway-status/v1" } });
    expect(objects.every((o) => typeof o.payload.schema === "string")).toBe(true);
  });

  it("says the agent does not answer and that there is no broker to watch instead, with exit code 1", async () => {
    const { loaded } = await campus();
    const err = sink();
    const code = await watch(loaded, { socket: join(tmpdir(), "no-such-agent.sock"), json: false, telemetry: false, signal: new AbortController().signal }, sink().stream, err.stream);
    expect(code).toBe(1);
    expect(err.text()).toMatch(/^campus-agent: no control socket at .*: is the agent running\?.*; and the config names no central broker to watch instead \(embedded broker\)\n$/);
  });

  it("watches the gateway, every device's status, events and alarms, and telemetry only when asked", () => {
    expect(watchTopics("lincoln", "gw-1", false)).toEqual([
      "campus/lincoln/gateway/gw-1/status",
      "campus/lincoln/gateway/gw-1/event",
      "campus/lincoln/device/+/status",
      "campus/lincoln/device/+/event",
      "campus/lincoln/device/+/alarm",
    ]);
    expect(watchTopics("lincoln", "gw-1", true)).toContain("campus/lincoln/device/+/telemetry");
  });

  it("marks a test alarm TEST and a real one ALARM, so a technician never mistakes one for the other", () => {
    const msg = (test: boolean) => ({
      topic: "campus/lincoln/device/panic-rx/alarm",
      retain: false,
      at: 0,
      payload: Buffer.from(JSON.stringify({ ts: "2026-11-23T09:15:02.112Z", phase: "alarm", type: test ? "test" : "panic", test, message: "zone 15" })),
    });
    expect(describeMessage(msg(true))).toBe("09:15:02  TEST       panic-rx                alarm test: zone 15");
    expect(describeMessage(msg(false))).toBe("09:15:02  ALARM      panic-rx                alarm panic: zone 15");
  });

  it("says what an identity change changed, and what kind of asset change it is, since the event carries no message", () => {
    const msg = (payload: Record<string, unknown>) => ({ topic: "campus/lincoln/device/cam-gym/event", retain: false, at: 0, payload: Buffer.from(JSON.stringify({ ts: "2026-11-23T09:15:02.112Z", ...payload })) });
    const updated = { type: "identity_changed", change: "firmware_updated", changed: ["firmware"], from: { model: "LX-4410", firmware: "5.2.0" }, to: { model: "LX-4410", firmware: "7.4.1" } };
    expect(describeMessage(msg(updated))).toBe("09:15:02  event      cam-gym                 identity_changed (firmware_updated): firmware 5.2.0 -> 7.4.1");
    const learned = { type: "identity_changed", change: "learned", changed: ["model", "serial"], from: null, to: { model: "LX-4410", serial: "A1" } };
    expect(describeMessage(msg(learned))).toBe("09:15:02  event      cam-gym                 identity_changed (learned): model LX-4410, serial A1");
  });
});
