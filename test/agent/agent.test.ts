/**
 * The wired agent, in-process: embedded broker on a free port, simulated
 * devices over real sockets, an independent subscriber. Every payload it
 * publishes must validate against the committed docs/schemas files (ajv, not
 * zod), and a reload must change devices without losing buffered data.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { stringify } from "yaml";
import { z } from "zod";
import { Agent } from "../../agent/agent.js";
import { testAlarm, type TestAlarmArgs, type TestAlarmOutcome } from "../../agent/commands/test-alarm.js";
import { startEmbeddedBroker } from "../../agent/mqtt/broker.js";
import { PAYLOAD_SCHEMAS } from "../../agent/mqtt/contract.js";
import { payloadJsonSchemas } from "../../agent/mqtt/json-schema.js";
import { type LoadedConfig, parseConfig } from "../../config/load.js";
import { type DeviceAlarm, type DriverDeps, type DriverFactory, defineDriver, type Identity } from "../../drivers/contract.js";
import { DRIVERS } from "../../drivers/registry.js";
import { DoorControllerSim } from "../../scripts/sim/modbus-door.js";
import { Dc09Sender } from "../../scripts/sim/dc09-sender.js";
import { ContactModuleSim } from "../../scripts/sim/modbus-io.js";
import { startModbusSim } from "../../scripts/sim/modbus-server.js";
import { type NetDevice, startNetDevice } from "../../scripts/sim/netdevice.js";
import { type Recorder, record } from "../helpers/mqtt.js";
import { freePort } from "../helpers/net.js";
import { expectValidPayloads } from "../helpers/schemas.js";
import { sink } from "../helpers/streams.js";

const ROOT = join(import.meta.dirname, "..", "..");
const log = pino({ level: "silent" });
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function config(
  dir: string,
  devices: { id: string; dev: NetDevice; category?: string }[],
  extra: Record<string, unknown> = {},
): LoadedConfig {
  const text = stringify({
    campus: { id: "lincoln" },
    gateway: { id: "gw-1" },
    broker: { embedded: { host: "127.0.0.1", port: 0 } },
    outbox: { path: "outbox.db", flush_interval_ms: 20 },
    polling: { interval_ms: 300, timeout_ms: 200, offline_after_failures: 2 },
    heartbeat: { interval_s: 1 },
    devices: devices.map((d) => ({
      id: d.id,
      kind: "reachability",
      name: `Device ${d.id}`,
      category: d.category ?? "safety-critical",
      location: { building: "A", room: "101" },
      options: { host: d.dev.host, port: d.dev.port, degraded_above_ms: 1000 },
    })),
    ...extra,
  });
  return parseConfig(text, { file: join(dir, "config.yaml"), drivers: DRIVERS });
}

async function setup(n: number) {
  const dir = mkdtempSync(join(tmpdir(), "agent-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const devs = await Promise.all(Array.from({ length: n }, () => startNetDevice({})));
  cleanups.push(() => Promise.all(devs.map((d) => d.close())));
  return { dir, devs };
}

/**
 * A broker of the test's own (aedes, free port) and a subscriber on it, both up
 * before the agent starts, so nothing the agent publishes first is missed.
 */
function pointAt(loaded: LoadedConfig, url: string): LoadedConfig {
  return { ...loaded, config: { ...loaded.config, broker: { ...loaded.config.broker, url, protocol: "mqtt3.1.1" } } };
}

async function startAgent(
  loaded: LoadedConfig,
  drivers: readonly DriverFactory[] = DRIVERS,
): Promise<{ agent: Agent; sub: Recorder; url: string }> {
  const broker = await startEmbeddedBroker({ host: "127.0.0.1", port: 0, log });
  cleanups.push(() => broker.close());
  const sub = await record(broker.url, "campus/#");
  cleanups.push(() => sub.close());
  const agent = new Agent({ loaded: pointAt(loaded, broker.url), drivers, log, version: "0.0.0-test" });
  await agent.start();
  cleanups.push(() => agent.stop());
  return { agent, sub, url: broker.url };
}

describe("the MQTT contract", () => {
  it("every payload the agent publishes validates against its committed JSON Schema in docs/schemas", async () => {
    const { dir, devs } = await setup(3);
    await devs[1]?.setBehaviour("refuse");
    const { sub } = await startAgent(
      config(dir, [
        { id: "ok-1", dev: devs[0] as NetDevice },
        { id: "down-1", dev: devs[1] as NetDevice },
        { id: "ok-2", dev: devs[2] as NetDevice, category: "operational" },
      ]),
    );
    // Alarms come only from receivers: "Agent alarms" below checks theirs; unknown assets only from discovery (test/agent/assets.test.ts).
    const names = Object.keys(PAYLOAD_SCHEMAS).filter((n) => n !== "device-alarm" && n !== "unknown-asset");
    const schemaOf = (payload: string) => (payload === "" ? "" : String((JSON.parse(payload) as { schema: string }).schema));
    await sub.waitFor((msgs) => names.every((n) => msgs.some((m) => schemaOf(m.payload) === `campus-edge/${n}/v1`)), 15_000);

    expect(sub.messages.length).toBeGreaterThanOrEqual(names.length);
    expectValidPayloads(sub.messages);
    // The refusing device really is reported offline, with its reason.
    await sub.waitFor((msgs) => msgs.some((m) => m.topic.endsWith("/device/down-1/status") && m.payload.includes('"offline"')));
    const down = sub.json("/device/down-1/status").at(-1);
    expect(down).toMatchObject({ state: "offline", reason: "refused", category: "safety-critical" });
  });

  it("the committed schema files are exactly what the contract generates (run npm run gen:schemas after a change)", () => {
    for (const f of payloadJsonSchemas()) {
      expect(JSON.parse(readFileSync(join(ROOT, f.path), "utf8")), f.path).toEqual(JSON.parse(JSON.stringify(f.content)));
    }
  });
});

describe("Agent", () => {
  it("reload adds and removes devices without a restart, and clears the removed device's retained status", async () => {
    const { dir, devs } = await setup(2);
    const [a, b] = devs as [NetDevice, NetDevice];
    const { agent, sub, url } = await startAgent(config(dir, [{ id: "dev-a", dev: a }]));
    await sub.waitFor((msgs) => msgs.some((m) => m.topic.endsWith("/device/dev-a/status")));
    await agent.reload(pointAt(config(dir, [{ id: "dev-b", dev: b }]), url));
    await sub.waitFor((msgs) => msgs.some((m) => m.topic.endsWith("/device/dev-b/status")));
    await sub.waitFor((msgs) => msgs.some((m) => m.topic.endsWith("/device/dev-a/status") && m.payload === ""));
    const events = sub.json("/gateway/gw-1/event").map((e) => e.type);
    expect(events).toEqual(expect.arrayContaining(["started", "device_added", "device_removed", "config_reloaded"]));
    const polledAfter = sub.messages.length;
    await sub.waitFor((msgs) => msgs.slice(polledAfter).filter((m) => m.topic.endsWith("/device/dev-b/telemetry")).length >= 2);
    expect(sub.messages.slice(polledAfter).some((m) => m.topic.endsWith("/device/dev-a/telemetry"))).toBe(false);
  });

  it("keeps the running config when a reload is rejected, and says why on the gateway's event topic", async () => {
    const { dir, devs } = await setup(1);
    const { agent, sub } = await startAgent(config(dir, [{ id: "dev-a", dev: devs[0] as NetDevice }]));
    agent.reloadRejected(['devices[0].poll.interval_ms: expected a positive integer, got "fast"']);
    await sub.waitFor((msgs) => msgs.some((m) => m.payload.includes("config_rejected")));
    expect(sub.json("/gateway/gw-1/event").find((e) => e.type === "config_rejected")?.details).toEqual({
      problems: ['devices[0].poll.interval_ms: expected a positive integer, got "fast"'],
    });
    const before = sub.messages.filter((m) => m.topic.endsWith("/dev-a/telemetry")).length;
    await sub.waitFor((msgs) => msgs.filter((m) => m.topic.endsWith("/dev-a/telemetry")).length > before);
  });

  it("refuses a reload that changes the campus id, which needs a restart", async () => {
    const { dir, devs } = await setup(1);
    const { agent, sub, url } = await startAgent(config(dir, [{ id: "dev-a", dev: devs[0] as NetDevice }]));
    const next = pointAt(config(dir, [{ id: "dev-a", dev: devs[0] as NetDevice }], { campus: { id: "washington" } }), url);
    await agent.reload(next);
    await sub.waitFor((msgs) => msgs.some((m) => m.payload.includes("config_rejected")));
    expect(agent.config.campus.id).toBe("lincoln");
  });

  it("marks a device degraded at its first failure and offline after offline_after_failures, with the reason", async () => {
    const { dir, devs } = await setup(1);
    const dev = devs[0] as NetDevice;
    const { sub } = await startAgent(config(dir, [{ id: "dev-a", dev }]));
    await sub.waitFor((msgs) => msgs.some((m) => m.topic.endsWith("/dev-a/status") && m.payload.includes('"online"')));
    await dev.setBehaviour("refuse");
    await sub.waitFor((msgs) => msgs.some((m) => m.topic.endsWith("/dev-a/status") && m.payload.includes('"offline"')));
    const states = sub.json("/dev-a/event").map((e) => `${(e.to as { state: string }).state}:${(e.to as { reason: string }).reason}`);
    expect(states).toEqual(["online:ok", "degraded:refused", "offline:refused"]);
    await vi.waitFor(() => expect(sub.json("/gateway/gw-1/heartbeat").at(-1)?.devices).toMatchObject({ offline: 1 }), { timeout: 5000 });
  });
});

describe("Agent memory across restarts", () => {
  /** A device kind whose identity the test controls; it always answers. */
  function fakeCameraKind(identity: { current: Identity }): DriverFactory {
    return defineDriver({
      kind: "fake-camera",
      description: "test double",
      optionsSchema: z.strictObject({}),
      create: () => ({
        poll: async () => ({ health: "ok", responseTimeMs: 1, metrics: {} }),
        identify: async () => ({ ...identity.current }),
      }),
    });
  }

  function fakeConfig(dir: string, drivers: readonly DriverFactory[]): LoadedConfig {
    const text = stringify({
      campus: { id: "lincoln" },
      gateway: { id: "gw-1" },
      broker: { embedded: { host: "127.0.0.1", port: 0 } },
      outbox: { path: "outbox.db", flush_interval_ms: 20 },
      polling: { interval_ms: 200, timeout_ms: 150 },
      devices: [{ id: "cam-1", kind: "fake-camera", category: "safety-critical", options: {} }],
    });
    return parseConfig(text, { file: join(dir, "config.yaml"), drivers });
  }

  it("publishes an identity change as an event, and after a restart reports only what really changed", async () => {
    const { dir } = await setup(0);
    const identity = { current: { manufacturer: "Axis", model: "P3265", serial: "ACCC8E000001", firmware: "10.12.1" } as Identity };
    const drivers = [...DRIVERS, fakeCameraKind(identity)];

    const first = await startAgent(fakeConfig(dir, drivers), drivers);
    await first.sub.waitFor((msgs) => msgs.some((m) => m.payload.includes("identity_changed")));
    await first.sub.waitFor((msgs) => msgs.some((m) => m.topic.endsWith("/cam-1/status")));
    expect(first.sub.json("/cam-1/event").find((e) => e.type === "identity_changed")).toMatchObject({ from: null, to: identity.current });
    await first.agent.stop();

    // Updated while the agent was down: still an asset change, seen at the next start.
    identity.current = { ...identity.current, firmware: "11.2.0" };
    const second = await startAgent(fakeConfig(dir, drivers), drivers);
    await second.sub.waitFor((msgs) => msgs.some((m) => m.payload.includes("identity_changed")));
    const change = second.sub.json("/cam-1/event").find((e) => e.type === "identity_changed");
    expect(change).toMatchObject({
      changed: ["firmware"],
      from: { firmware: "10.12.1" },
      to: { firmware: "11.2.0", serial: "ACCC8E000001" },
    });
    // The device was online before the restart and still is: no status change is reported.
    await second.sub.waitFor((msgs) => msgs.filter((m) => m.topic.endsWith("/cam-1/telemetry")).length >= 2);
    expect(second.sub.json("/cam-1/event").filter((e) => e.type === "status_changed")).toEqual([]);
  });
});

describe("Agent with a Modbus door controller", () => {
  it("publishes the controller's points as telemetry, its serial and firmware as identity, and a power loss as degraded mains_lost", async () => {
    const { dir } = await setup(0);
    const sim = await startModbusSim({ units: [1] });
    cleanups.push(() => sim.close());
    const door = new DoorControllerSim(sim.bank(1), { serial: 1001, firmware: [2, 3] });
    const text = stringify({
      campus: { id: "lincoln" },
      gateway: { id: "gw-1" },
      outbox: { path: "outbox.db", flush_interval_ms: 20 },
      polling: { interval_ms: 300, timeout_ms: 200 },
      devices: [
        {
          id: "door-a-main",
          kind: "modbus-door",
          category: "safety-critical",
          location: { building: "A", room: "Main entrance" },
          options: { transport: "tcp", host: "127.0.0.1", port: sim.tcpPort, unit_id: 1, profile: "generic-door" },
        },
      ],
    });
    const { sub } = await startAgent(parseConfig(text, { file: join(dir, "config.yaml"), drivers: DRIVERS }));
    await sub.waitFor((msgs) => msgs.some((m) => m.topic.endsWith("/door-a-main/telemetry")));
    expect(sub.json("/door-a-main/telemetry")[0]?.metrics).toMatchObject({ door_position: "closed", lock_state: "locked", mains_power: true });
    await sub.waitFor((msgs) => msgs.some((m) => m.payload.includes("identity_changed")));
    expect(sub.json("/door-a-main/event").find((e) => e.type === "identity_changed")?.to).toEqual({ serial: "1001", firmware: "2.3" });
    door.powerLoss();
    await sub.waitFor((msgs) => msgs.some((m) => m.topic.endsWith("/door-a-main/status") && m.payload.includes('"mains_lost"')));
    expect(sub.json("/door-a-main/status").at(-1)).toMatchObject({ state: "degraded", reason: "mains_lost" });
  });
});

describe("Agent door events", () => {
  function doorConfig(dir: string, port: number): LoadedConfig {
    const text = stringify({
      campus: { id: "lincoln" },
      gateway: { id: "gw-1" },
      outbox: { path: "outbox.db", flush_interval_ms: 20 },
      polling: { interval_ms: 200, timeout_ms: 150 },
      devices: [
        {
          id: "door-b-side",
          kind: "modbus-door",
          category: "safety-critical",
          location: { building: "B", room: "Side exit" },
          options: { transport: "tcp", host: "127.0.0.1", port, unit_id: 1, profile: "generic-door", door_events: { debounce_ms: 500 } },
        },
      ],
    });
    return parseConfig(text, { file: join(dir, "config.yaml"), drivers: DRIVERS });
  }

  /** Door events received, de-duplicated on seq as the contract tells consumers to. */
  const doorEvents = (...subs: Recorder[]) => {
    const bySeq = new Map<number, Record<string, unknown>>();
    for (const sub of subs) for (const e of sub.json("/door-b-side/event")) if (e.type !== "status_changed" && e.type !== "identity_changed") bySeq.set(e.seq as number, e);
    return [...bySeq.entries()].sort(([a], [b]) => a - b).map(([, e]) => e);
  };

  it("publishes each door change once as a contract-valid event, also when the door closed while the agent was stopped", async () => {
    const { dir } = await setup(0);
    const sim = await startModbusSim({ units: [1] });
    cleanups.push(() => sim.close());
    const door = new DoorControllerSim(sim.bank(1), { serial: 1001, firmware: [2, 3] });

    const first = await startAgent(doorConfig(dir, sim.tcpPort as number));
    await first.sub.waitFor((msgs) => msgs.some((m) => m.topic.endsWith("/door-b-side/telemetry")));
    expect(doorEvents(first.sub)).toEqual([]);
    door.force();
    await first.sub.waitFor(() => doorEvents(first.sub).length >= 2);
    expect(doorEvents(first.sub)).toMatchObject([
      { type: "door_opened", initial: false, door: { position: "open", lock: "locked", request_to_exit: false }, category: "safety-critical", location: { building: "B" } },
      { type: "door_forced_open", source: "controller" },
    ]);
    await first.agent.stop();

    door.close();
    const second = await startAgent(doorConfig(dir, sim.tcpPort as number));
    await second.sub.waitFor(() => doorEvents(first.sub, second.sub).length >= 4);
    // Polls go on; nothing more may come of the same changes.
    const polls = second.sub.json("/door-b-side/telemetry").length;
    await second.sub.waitFor((msgs) => msgs.filter((m) => m.topic.endsWith("/door-b-side/telemetry")).length >= polls + 5);
    expect(doorEvents(first.sub, second.sub).map((e) => e.type)).toEqual(["door_opened", "door_forced_open", "door_closed", "door_forced_cleared"]);
    expectValidPayloads([...first.sub.messages, ...second.sub.messages]);
  });
});

describe("Agent alarms", () => {
  /** A listening device kind (as a DC-09 receiver is): the test reports through the deps the agent gives it. */
  function fakeReceiverKind(holder: { deps?: DriverDeps }): DriverFactory {
    return defineDriver({
      kind: "fake-receiver",
      description: "test double",
      optionsSchema: z.strictObject({}),
      create: (deps) => {
        holder.deps = deps;
        return { poll: async () => ({ health: "ok", responseTimeMs: 1, metrics: {} }) };
      },
    });
  }

  function receiverConfig(dir: string, drivers: readonly DriverFactory[]): LoadedConfig {
    const text = stringify({
      campus: { id: "lincoln" },
      gateway: { id: "gw-1" },
      outbox: { path: "outbox.db", flush_interval_ms: 20 },
      polling: { interval_ms: 200, timeout_ms: 150 },
      devices: [{ id: "rx-office", kind: "fake-receiver", category: "safety-critical", location: { building: "A", room: "Office" }, options: {} }],
    });
    return parseConfig(text, { file: join(dir, "config.yaml"), drivers });
  }

  const panic = (over: Partial<DeviceAlarm> = {}): DeviceAlarm => ({
    id: "7d3c1f0e-2b1a-4c55-9a7e-0c1d2e3f4a5b",
    phase: "alarm",
    type: "panic",
    test: false,
    at: Date.now(),
    occurredAt: Date.parse("2026-11-23T09:15:02Z"),
    text: "panic button pressed, zone 15 (Room 114)",
    zone: { id: "15", name: "Room 114 pendant", location: { building: "A", room: "114" } },
    user: "3",
    source: { protocol: "test", account: "1234", code: "120", qualifier: "new" },
    ...over,
  });

  it("a listening driver's report is stored before report() returns and published on the alarm topic, restore linked to its alarm", async () => {
    const { dir } = await setup(0);
    const holder: { deps?: DriverDeps } = {};
    const drivers = [...DRIVERS, fakeReceiverKind(holder)];
    const { sub } = await startAgent(receiverConfig(dir, drivers), drivers);
    await sub.waitFor((msgs) => msgs.some((m) => m.topic.endsWith("/rx-office/status")));
    holder.deps?.report?.("rx-office", { alarms: [panic()], memory: { open: ["7d3c1f0e-2b1a-4c55-9a7e-0c1d2e3f4a5b"] } });
    holder.deps?.report?.("rx-office", {
      alarms: [panic({ id: "0b9e8d7c-6f5a-4e3d-8c2b-1a0f9e8d7c6b", phase: "restore", ends: "7d3c1f0e-2b1a-4c55-9a7e-0c1d2e3f4a5b", text: "panic restored" })],
      memory: { open: [] },
    });
    await sub.waitFor((msgs) => msgs.filter((m) => m.topic === "campus/lincoln/device/rx-office/alarm").length >= 2);
    const [alarm, restore] = sub.json("/rx-office/alarm");
    expect(alarm).toMatchObject({
      schema: "campus-edge/device-alarm/v1",
      alarm_id: "7d3c1f0e-2b1a-4c55-9a7e-0c1d2e3f4a5b",
      phase: "alarm",
      type: "panic",
      test: false,
      ends: null,
      zone: { id: "15", location: { building: "A", room: "114" } },
      location: { building: "A", room: "Office" },
      occurred_at: "2026-11-23T09:15:02.000Z",
      category: "safety-critical",
    });
    expect(restore).toMatchObject({ phase: "restore", ends: "7d3c1f0e-2b1a-4c55-9a7e-0c1d2e3f4a5b" });
    expect((restore?.seq as number) - (alarm?.seq as number)).toBe(1);
    expectValidPayloads(sub.messages);
    expect(holder.deps?.memoryOf?.("rx-office")).toEqual({ open: [] });
  });

  it("a panic button wired to an I/O module is an alarm on the alarm topic within a poll, and its release the restore", async () => {
    const { dir } = await setup(0);
    const sim = await startModbusSim({ units: [1] });
    cleanups.push(() => sim.close());
    const module = new ContactModuleSim(sim.bank(1));
    const text = stringify({
      campus: { id: "lincoln" },
      gateway: { id: "gw-1" },
      outbox: { path: "outbox.db", flush_interval_ms: 20 },
      devices: [
        {
          id: "panic-rx-office",
          kind: "panic-contacts",
          category: "safety-critical",
          location: { building: "A", room: "Office" },
          options: {
            transport: "tcp",
            host: "127.0.0.1",
            port: sim.tcpPort,
            inputs: { input_1: { meaning: "panic", zone: "15", name: "Room 114 pendant", location: { building: "A", room: "114" } } },
            restore_after_ms: 300,
          },
        },
      ],
    });
    const { sub } = await startAgent(parseConfig(text, { file: join(dir, "config.yaml"), drivers: DRIVERS }));
    await sub.waitFor((msgs) => msgs.some((m) => m.topic.endsWith("/panic-rx-office/status")));
    module.close(1);
    await sub.waitFor((msgs) => msgs.some((m) => m.topic.endsWith("/panic-rx-office/alarm")));
    module.open(1);
    await sub.waitFor((msgs) => msgs.filter((m) => m.topic.endsWith("/panic-rx-office/alarm")).length >= 2);
    const [alarm, restore] = sub.json("/panic-rx-office/alarm");
    expect(alarm).toMatchObject({ phase: "alarm", type: "panic", zone: { id: "15", name: "Room 114 pendant" }, kind: "panic-contacts" });
    expect(restore).toMatchObject({ phase: "restore", ends: alarm?.alarm_id });
    expectValidPayloads(sub.messages);
  });

  it("refuses a report for a device that is not configured, so the driver does not acknowledge it", async () => {
    const { dir } = await setup(0);
    const holder: { deps?: DriverDeps } = {};
    const drivers = [...DRIVERS, fakeReceiverKind(holder)];
    await startAgent(receiverConfig(dir, drivers), drivers);
    expect(() => holder.deps?.report?.("rx-gym", { alarms: [panic()] })).toThrow(/no fake-receiver device of that id/);
  });

  it("gives a listening driver its device's memory back after a restart", async () => {
    const { dir } = await setup(0);
    const holder: { deps?: DriverDeps } = {};
    const drivers = [...DRIVERS, fakeReceiverKind(holder)];
    const first = await startAgent(receiverConfig(dir, drivers), drivers);
    holder.deps?.report?.("rx-office", { memory: { lastSequence: 42 } });
    await first.agent.stop();
    await startAgent(receiverConfig(dir, drivers), drivers);
    expect(holder.deps?.memoryOf?.("rx-office")).toEqual({ lastSequence: 42 });
  });
});

describe("Agent with a DC-09 receiver", () => {
  /** A campus with one DC-09 receiver, panic-rx-dc09, whose device fields are given. */
  const receiverConfig = (dir: string, fields: Record<string, unknown>): LoadedConfig =>
    parseConfig(
      stringify({
        campus: { id: "lincoln" },
        gateway: { id: "gw-1" },
        outbox: { path: "outbox.db", flush_interval_ms: 20 },
        devices: [{ id: "panic-rx-dc09", kind: "panic-dc09", category: "safety-critical", ...fields }],
      }),
      { file: join(dir, "config.yaml"), drivers: DRIVERS },
    );

  it("a panic sent by a panel to the agent's listener is ACKed and published on the alarm topic; a low battery is a panel_event", async () => {
    const { dir } = await setup(0);
    const port = await freePort();
    const { sub } = await startAgent(
      receiverConfig(dir, {
        location: { building: "A", room: "Office" },
        poll: { interval_ms: 200, timeout_ms: 150 },
        options: { listen: { port, protocols: ["tcp"] }, account: "1234", zones: { 15: { name: "Room 114 pendant", location: { building: "A", room: "114" } } } },
      }),
    );
    // The first poll opens the listener; the status it publishes says it is up.
    await sub.waitFor((msgs) => msgs.some((m) => m.topic.endsWith("/panic-rx-dc09/status")));
    const panel = new Dc09Sender({ host: "127.0.0.1", port, transport: "tcp", account: "1234", ackTimeoutMs: 3000, attempts: 1 });
    cleanups.push(() => panel.close());
    expect((await panel.send({ event: "panic", zone: 15 })).result).toBe("ACK");
    expect((await panel.send({ event: "low-battery", zone: 15 })).result).toBe("ACK");
    await sub.waitFor((msgs) => msgs.some((m) => m.topic.endsWith("/panic-rx-dc09/alarm")) && msgs.some((m) => m.topic.endsWith("/panic-rx-dc09/event") && m.payload.includes("panel_event")));
    const [alarm] = sub.json("/panic-rx-dc09/alarm");
    expect(alarm).toMatchObject({
      kind: "panic-dc09",
      phase: "alarm",
      type: "panic",
      test: false,
      ends: null,
      zone: { id: "15", name: "Room 114 pendant", location: { building: "A", room: "114" } },
      source: { protocol: "dc09", format: "ADM-CID", account: "1234", code: "120", qualifier: "new", sequence: 1 },
    });
    const events = sub.json("/panic-rx-dc09/event").filter((e) => e.type === "panel_event");
    expect(events).toEqual([expect.objectContaining({ event: "low_battery", qualifier: "new", code: "384", zone: expect.objectContaining({ id: "15" }) as unknown })]);
    expectValidPayloads(sub.messages);
  });

  /** Run `campus-agent test-alarm` in this process; its exit code and its --json outcome. */
  async function runTestAlarm(loaded: LoadedConfig, device: string, over: Partial<TestAlarmArgs> = {}) {
    const out = sink();
    const socket = loaded.config.control.socket ?? "";
    const code = await testAlarm(loaded, { device, timeoutMs: 5000, socket, json: true, ...over }, out.stream);
    return { code, outcome: JSON.parse(out.text()) as TestAlarmOutcome };
  }

  it("campus-agent test-alarm: the running agent sends itself a DC-09 manual test, and the alarm comes back from the broker marked test", async () => {
    const { dir } = await setup(0);
    const loaded = receiverConfig(dir, { options: { listen: { port: 0, protocols: ["tcp"] }, account: "1234", zones: { 1: { name: "Office" } } } });
    const { sub, url } = await startAgent(loaded);
    const { code, outcome } = await runTestAlarm(pointAt(loaded, url), "panic-rx-dc09");
    expect(outcome.error).toBeUndefined();
    expect(code).toBe(0);
    expect(outcome).toMatchObject({ ok: true, device: "panic-rx-dc09", kind: "panic-dc09", topic: "campus/lincoln/device/panic-rx-dc09/alarm", broker_url: url });
    expect(outcome.latency_ms).toBeGreaterThan(0);
    expect(outcome.steps.map((st) => st.step.trim())).toEqual(["subscribe", "connect", "answer", "stored", "received"]);
    await sub.waitFor((msgs) => msgs.some((m) => m.topic.endsWith("/panic-rx-dc09/alarm")));
    const [alarm] = sub.json("/panic-rx-dc09/alarm");
    expect(alarm).toMatchObject({ alarm_id: outcome.alarm_id, phase: "alarm", type: "test", test: true, source: { code: "601", requested_by: "campus-agent test-alarm" } });
    expectValidPayloads(sub.messages);
  });

  it("campus-agent test-alarm: an unknown device or one that is not a panic receiver is a usage error (2); no agent is a problem found (1)", async () => {
    const { dir, devs } = await setup(1);
    const loaded = receiverConfig(dir, { options: { listen: { port: 0, protocols: ["udp"] }, account: "1234" } });
    const withDoor: LoadedConfig = {
      ...loaded,
      config: { ...loaded.config, devices: [...loaded.config.devices, ...config(dir, [{ id: "intercom", dev: devs[0] as NetDevice }]).config.devices] },
    };
    const { url } = await startAgent(withDoor);
    const cli = pointAt(withDoor, url);
    expect(await runTestAlarm(cli, "nope")).toMatchObject({ code: 2, outcome: { ok: false, error: { code: "unknown_device" } } });
    const notPanic = await runTestAlarm(cli, "intercom");
    expect(notPanic).toMatchObject({ code: 2, outcome: { error: { code: "unsupported" } } });
    expect(notPanic.outcome.error?.message).toBe("device intercom is a reachability: test alarms are for panic receivers (kinds panic-contacts, panic-dc09)");
    expect(await runTestAlarm(cli, "panic-rx-dc09", { socket: join(dir, "missing.sock") })).toMatchObject({ code: 1, outcome: { error: { code: "not_running" } } });
  });

  it("listens as soon as the device is configured, not at its first poll: a panic in the first moments is ACKed", async () => {
    const { dir } = await setup(0);
    const port = await freePort();
    const { sub } = await startAgent(
      receiverConfig(dir, {
        // The first poll may come up to ten minutes after the start: the listener must not wait for it.
        poll: { interval_ms: 600_000, timeout_ms: 1000, jitter_ratio: 0 },
        options: { listen: { port, protocols: ["tcp"] }, account: "1234" },
      }),
    );
    const panel = new Dc09Sender({ host: "127.0.0.1", port, transport: "tcp", account: "1234", ackTimeoutMs: 3000, attempts: 1 });
    cleanups.push(() => panel.close());
    await vi.waitFor(async () => expect((await panel.send({ event: "null" })).result).toBe("ACK"), { timeout: 5000, interval: 50 });
    expect((await panel.send({ event: "panic", zone: 15 })).result).toBe("ACK");
    await sub.waitFor((msgs) => msgs.some((m) => m.topic.endsWith("/panic-rx-dc09/alarm")));
    expect(sub.messages.filter((m) => m.topic.endsWith("/panic-rx-dc09/status"))).toEqual([]);
  });
});
