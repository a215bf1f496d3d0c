/**
 * Door events end to end: the built agent as its own process polls a Modbus
 * door-controller simulator and publishes to Debian's mosquitto, and is
 * SIGKILLed again and again while the door keeps changing. However the kills
 * fall (before a change was polled, between commit and PUBACK, while idle),
 * each change must reach the broker as exactly one event once de-duplicated
 * on seq, as docs/mqtt.md tells consumers to — never none, never two.
 */
import { afterEach, describe, expect, it } from "vitest";
import { DoorControllerSim } from "../../scripts/sim/modbus-door.js";
import { startModbusSim } from "../../scripts/sim/modbus-server.js";
import { type Recorder, record } from "../helpers/mqtt.js";
import { type AgentProcess, startAgent, scratchDir, writeCampusConfig } from "./helpers/agent-process.js";
import { startMosquitto } from "./helpers/mosquitto.js";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface DoorEvent {
  seq: number;
  type: string;
}

/** Door events received, one per seq; a repeated seq must repeat the same payload. */
function distinctDoorEvents(sub: Recorder): DoorEvent[] {
  const bySeq = new Map<number, string>();
  for (const m of sub.messages.filter((x) => x.topic.endsWith("/door-1/event"))) {
    const e = JSON.parse(m.payload) as DoorEvent;
    const before = bySeq.get(e.seq);
    if (before !== undefined) expect(m.payload, `seq ${e.seq} published twice with different payloads`).toBe(before);
    bySeq.set(e.seq, m.payload);
  }
  return [...bySeq.values()]
    .map((p) => JSON.parse(p) as DoorEvent)
    .filter((e) => e.type === "door_opened" || e.type === "door_closed")
    .sort((a, b) => a.seq - b.seq);
}

describe("door events through SIGKILLs", () => {
  it("each door change reaches the broker as exactly one event, whenever the agent is killed and restarted", async () => {
    const m = await startMosquitto();
    cleanups.push(() => m.dispose());
    const sim = await startModbusSim({ units: [1] });
    cleanups.push(() => sim.close());
    const door = new DoorControllerSim(sim.bank(1), { serial: 7001 });
    const dir = scratchDir("door-it-", cleanups);
    const file = writeCampusConfig(dir, {
      broker: { url: m.url },
      outbox: { flush_interval_ms: 50 },
      polling: { interval_ms: 100, timeout_ms: 80, jitter_ratio: 0 },
      log: { level: "info" },
      devices: [
        {
          id: "door-1",
          kind: "modbus-door",
          category: "safety-critical",
          options: { transport: "tcp", host: "127.0.0.1", port: sim.tcpPort, profile: "generic-door", door_events: { debounce_ms: 0 } },
        },
      ],
    });
    const sub = await record(m.url, "campus/lincoln/device/door-1/#", { clean: false, clientId: "it-door-sub" });
    cleanups.push(() => sub.close());
    let agent: AgentProcess | undefined;
    const start = async () => {
      agent = startAgent(file);
      const a = agent;
      cleanups.push(() => a.kill("SIGKILL"));
      await a.waitForLog((l) => l.msg === "agent started");
    };
    await start();
    await sub.waitFor((msgs) => msgs.some((x) => x.topic.endsWith("/telemetry")));

    const expected: string[] = [];
    const toggle = () => {
      if (expected.length % 2 === 0) {
        door.open();
        expected.push("door_opened");
      } else {
        door.close();
        expected.push("door_closed");
      }
    };
    const arrived = () => sub.waitFor(() => distinctDoorEvents(sub).length === expected.length, 20_000);

    // 1: a change seen and published, then a kill right at its arrival (PUBACK may not be processed yet).
    toggle();
    await arrived();
    await agent?.kill("SIGKILL");
    await start();
    // 2: a change made while the agent is down.
    await agent?.kill("SIGKILL");
    toggle();
    await start();
    await arrived();
    // 3: a change, and a kill at once, before or after its poll: a race on purpose.
    toggle();
    await agent?.kill("SIGKILL");
    await start();
    await arrived();
    // 4: two more changes with a clean run in between.
    toggle();
    await arrived();
    toggle();
    await arrived();
    // Polls go on after the last change; nothing more may come of it.
    const telemetry = sub.messages.filter((x) => x.topic.endsWith("/telemetry")).length;
    await sub.waitFor((msgs) => msgs.filter((x) => x.topic.endsWith("/telemetry")).length >= telemetry + 10);
    expect(await agent?.kill("SIGTERM")).toBe(0);
    expect(distinctDoorEvents(sub).map((e) => e.type)).toEqual(expected);
  });
});
