/** The built CLI as a separate process: config errors, SIGHUP reload, SIGTERM. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { type NetDevice, startNetDevice } from "../../scripts/sim/netdevice.js";
import { type Recorder, record } from "../helpers/mqtt.js";
import { CLI, startAgent } from "./helpers/agent-process.js";
import { freePort } from "../helpers/net.js";
import { startMosquitto } from "./helpers/mosquitto.js";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "agent-cli-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function device(id: string, d: NetDevice) {
  return { id, kind: "reachability", category: "operational", options: { host: d.host, port: d.port } };
}

function configText(url: string, devices: unknown[]): string {
  return stringify({
    campus: { id: "lincoln" },
    gateway: { id: "gw-1" },
    broker: { url, reconnect_min_ms: 100, reconnect_max_ms: 500 },
    outbox: { path: "outbox.db" },
    polling: { interval_ms: 300, timeout_ms: 200 },
    devices,
  });
}

describe("campus-agent", () => {
  it("refuses a bad config with exit code 2, listing every problem by its path", () => {
    const dir = tempDir();
    const file = join(dir, "config.yaml");
    writeFileSync(
      file,
      stringify({
        campus: { id: "lincoln/high" },
        gateway: { id: "gw-1" },
        devices: [
          {
            id: "a",
            kind: "reachability",
            category: "operational",
            poll: { interval_ms: "fast" },
            options: { host: "10.0.0.1", port: 80 },
          },
          { id: "a", kind: "reachability", category: "operational", options: { host: "10.0.0.2", port: 80 } },
          { id: "b", kind: "teleporter", category: "operational", options: {} },
        ],
      }),
    );
    for (const args of [
      ["run", "--config", file],
      ["config", "check", file],
    ]) {
      const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
      expect(r.status).toBe(2);
      expect(r.stderr).toContain("campus.id: expected a topic-safe id");
      expect(r.stderr).toContain('devices[0].poll.interval_ms: expected a positive integer, got "fast"');
      expect(r.stderr).toContain('devices[1].id: duplicate id "a"');
      expect(r.stderr).toContain('devices[2].kind: unknown device kind "teleporter"');
    }
  });

  it("says config OK with exit code 0 for a valid file, without starting anything", () => {
    const dir = tempDir();
    const file = join(dir, "config.yaml");
    writeFileSync(file, configText("mqtt://127.0.0.1:1", []));
    const r = spawnSync(process.execPath, [CLI, "config", "check", file], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/OK \(campus lincoln, gateway gw-1, 0 devices\)/);
  });

  it("refuses an option that belongs to another command with exit code 2, naming it", () => {
    for (const [args, message] of [
      [["status", "--export", "-"], "status takes no --export"],
      [["devices", "--db", "/tmp/x.db", "--count", "3"], "devices takes no --db, --count"],
      [["outbox", "--socket", "/tmp/x.sock"], "outbox takes no --socket"],
    ] as const) {
      const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(message);
    }
  });

  it("reloads on SIGHUP: a device added to the file is polled without a restart; an invalid file keeps the running config", async () => {
    const m = await startMosquitto();
    cleanups.push(() => m.dispose());
    const dir = tempDir();
    const [a, b] = await Promise.all([startNetDevice({}), startNetDevice({})]);
    cleanups.push(() => Promise.all([a.close(), b.close()]));
    const sub: Recorder = await record(m.url, "campus/#");
    cleanups.push(() => sub.close());
    const file = join(dir, "config.yaml");
    writeFileSync(file, configText(m.url, [device("dev-a", a)]));
    const agent = startAgent(file);
    cleanups.push(() => agent.kill("SIGKILL"));
    await sub.waitFor((msgs) => msgs.some((x) => x.topic.endsWith("/dev-a/telemetry")));

    writeFileSync(file, configText(m.url, [device("dev-a", a), device("dev-b", b)]));
    agent.child.kill("SIGHUP");
    await sub.waitFor((msgs) => msgs.some((x) => x.topic.endsWith("/dev-b/telemetry")));

    writeFileSync(file, `${configText(m.url, [device("dev-a", a), device("dev-b", b)])}\npolling: { interval_ms: fast }\n`);
    agent.child.kill("SIGHUP");
    await sub.waitFor((msgs) => msgs.some((x) => x.payload.includes('"config_rejected"')));
    await agent.waitForLog((l) => l.msg === "config reload rejected");
    const seen = sub.messages.length;
    await sub.waitFor((msgs) => msgs.slice(seen).some((x) => x.topic.endsWith("/dev-b/telemetry")));
    expect(await agent.kill("SIGTERM")).toBe(0);
  });

  it("stops on SIGTERM within a few seconds even when the broker is unreachable", async () => {
    const dir = tempDir();
    const file = join(dir, "config.yaml");
    const d = await startNetDevice({});
    cleanups.push(() => d.close());
    writeFileSync(file, configText(`mqtt://127.0.0.1:${await freePort()}`, [device("dev-a", d)]));
    const agent = startAgent(file);
    cleanups.push(() => agent.kill("SIGKILL"));
    await agent.waitForLog((l) => l.msg === "agent started");
    await agent.waitForLog((l) => l.code === "connect");
    const t0 = Date.now();
    expect(await agent.kill("SIGTERM")).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
