/**
 * The promise a DC-09 ACK makes: the built agent, as its own process,
 * receives a panic from a simulated panel while the uplink is down (so the
 * alarm exists only in the agent's outbox), and is SIGKILLed the moment the
 * panel has its ACK. The alarm must still reach Debian's mosquitto after a
 * restart — it was committed before the ACK was sent — and only once.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Dc09Sender } from "../../scripts/sim/dc09-sender.js";
import { record } from "../helpers/mqtt.js";
import { type AgentProcess, startAgent, scratchDir, writeCampusConfig } from "./helpers/agent-process.js";
import { freePort } from "../helpers/net.js";
import { startMosquitto } from "./helpers/mosquitto.js";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("a DC-09 alarm acknowledged to the panel", () => {
  it("reaches the broker after the agent is SIGKILLed right after the ACK, exactly once", async () => {
    const m = await startMosquitto();
    cleanups.push(() => m.dispose());
    const dir = scratchDir("dc09-it-", cleanups);
    const port = await freePort();
    const file = writeCampusConfig(dir, {
      broker: { url: m.url },
      log: { level: "info" },
      devices: [
        {
          id: "panic-rx-office",
          kind: "panic-dc09",
          category: "safety-critical",
          poll: { interval_ms: 300, timeout_ms: 200 },
          options: { listen: { port, protocols: ["tcp"] }, account: "1234" },
        },
      ],
    });
    const sub = await record(m.url, "campus/lincoln/device/panic-rx-office/alarm", { clean: false, clientId: "it-dc09-sub" });
    cleanups.push(() => sub.close());
    const agents: AgentProcess[] = [];
    const start = async () => {
      const a = startAgent(file);
      agents.push(a);
      cleanups.push(() => a.kill("SIGKILL"));
      await a.waitForLog((l) => l.msg === "agent started");
      return a;
    };
    const first = await start();
    // The listener opens at the device's first poll.
    await first.waitForLog((l) => l.msg === "DC-09 receiver listening");
    await m.stop();
    const panel = new Dc09Sender({ host: "127.0.0.1", port, transport: "tcp", account: "1234", ackTimeoutMs: 2000, attempts: 3 });
    cleanups.push(() => panel.close());
    const report = await panel.send({ event: "panic", zone: 15 });
    expect(report.result).toBe("ACK");
    await first.kill("SIGKILL");

    await m.start();
    await start();
    await sub.waitFor((msgs) => msgs.length >= 1, 20_000);
    // Polls go on; the alarm must not come again under another id.
    await agents[1]?.waitForLog((l) => l.msg === "connected to the broker");
    const alarmIds = new Set(sub.json("/alarm").map((a) => a.alarm_id));
    expect(sub.json("/alarm")[0]).toMatchObject({ phase: "alarm", type: "panic", zone: { id: "15" }, source: { protocol: "dc09", account: "1234" } });
    expect(alarmIds.size).toBe(1);
    expect(await agents[1]?.kill("SIGTERM")).toBe(0);
    expect(new Set(sub.json("/alarm").map((a) => a.alarm_id)).size).toBe(1);
  });
});
