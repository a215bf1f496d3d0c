/**
 * `campus-agent outbox` as a technician runs it: the built CLI, a separate
 * process, reading the outbox file of a running built agent (another
 * process) whose broker is down, so messages pile up; then of the same agent
 * once it has stopped.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ExportLine, OutboxView } from "../../agent/commands/outbox.js";
import { startNetDevice } from "../../scripts/sim/netdevice.js";
import { freePort } from "../helpers/net.js";
import { runCli, startAgent, scratchDir, writeCampusConfig } from "./helpers/agent-process.js";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const jsonLines = (s: string) => s.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as ExportLine);

describe("campus-agent outbox", () => {
  it("shows the messages piling up while the broker is down, exports them as JSON Lines, and reads them again once the agent stopped", async () => {
    const dir = scratchDir("outbox-cli-", cleanups);
    const device = await startNetDevice({});
    cleanups.push(() => device.close());
    // Nothing listens on the broker's port: every message stays in the outbox.
    const file = writeCampusConfig(dir, {
      broker: { url: `mqtt://127.0.0.1:${await freePort()}` },
      polling: { interval_ms: 300, timeout_ms: 200 },
      devices: [{ id: "dev-a", kind: "reachability", category: "operational", options: { host: device.host, port: device.port } }],
    });
    const agent = startAgent(file);
    cleanups.push(() => agent.kill("SIGKILL"));
    await agent.waitForLog((l) => l.msg === "agent started");

    // Polls of dev-a add telemetry every 300 ms; nothing leaves.
    let running: OutboxView | undefined;
    await vi.waitFor(
      async () => {
        const r = await runCli(["outbox", "--config", file, "--json"]);
        running = JSON.parse(r.stdout) as OutboxView;
        if (running.depth.telemetry < 3) throw new Error(`only ${running.total} waiting: ${r.stdout}${r.stderr}`);
      },
      { timeout: 20_000, interval: 100 },
    );
    const seen = running as OutboxView;
    expect(seen.path).toBe(join(dir, "outbox.db"));
    expect(seen.files.wal_bytes).toBeGreaterThan(0);
    expect(seen.oldest?.topic).toMatch(/^campus\/lincoln\//);

    const table = await runCli(["outbox", "--config", file, "--max-age-s", "0"]);
    expect(table.code).toBe(1);
    expect(table.stdout).toContain(`Outbox  ${join(dir, "outbox.db")}`);
    expect(table.stdout).toMatch(/CLASS\s+WAITING\s+OLDEST\s+DROPPED/);
    expect(table.stdout).toContain("PROBLEMS (1):");
    expect(table.stdout).toContain("a backlog: ");

    const exported = await runCli(["outbox", "--config", file, "--export", "-"]);
    expect(exported.code).toBe(0);
    const lines = jsonLines(exported.stdout);
    // Nothing was acked meanwhile: at least what the summary saw, in sending order.
    expect(lines.length).toBeGreaterThanOrEqual(seen.total);
    const order = { alarm: 0, event: 1, telemetry: 2 };
    expect(lines.map((l) => order[l.class] * 1e9 + l.id)).toEqual(lines.map((l) => order[l.class] * 1e9 + l.id).sort((a, b) => a - b));
    const telemetry = lines.filter((l) => l.topic === "campus/lincoln/device/dev-a/telemetry");
    expect(telemetry.length).toBeGreaterThanOrEqual(3);
    expect(telemetry[0]).toMatchObject({ stream: "dev-a", class: "telemetry", format: "json" });
    expect(Date.parse(telemetry[0]?.created_at ?? "")).toBeGreaterThan(0);
    const onlyTelemetry = jsonLines((await runCli(["outbox", "--config", file, "--export", "-", "--class", "telemetry"])).stdout);
    expect(onlyTelemetry.every((l) => l.class === "telemetry")).toBe(true);

    // The agent was not disturbed: it still polls and stores.
    const later = JSON.parse((await runCli(["outbox", "--config", file, "--json"])).stdout) as OutboxView;
    expect(later.depth.telemetry).toBeGreaterThanOrEqual(seen.depth.telemetry);

    expect(await agent.kill("SIGTERM")).toBe(0);
    // Its last close checkpointed the WAL and removed it.
    expect(existsSync(join(dir, "outbox.db-wal"))).toBe(false);
    const stopped = await runCli(["outbox", "--db", join(dir, "outbox.db"), "--json"]);
    const after = JSON.parse(stopped.stdout) as OutboxView;
    expect(after.total).toBeGreaterThanOrEqual(later.total);
    const all = jsonLines((await runCli(["outbox", "--db", join(dir, "outbox.db"), "--export", "-"])).stdout);
    expect(all.length).toBe(after.total);
    expect(stopped.code).toBe(0);

    const missing = await runCli(["outbox", "--db", join(dir, "nothing.db")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no outbox at");
    const bad = await runCli(["outbox", "--config", file, "--class", "alarm"]);
    expect(bad.code).toBe(2);
  });
});
