/**
 * `campus-agent watch` as a technician runs it: the built CLI as its own
 * process, following the built agent (another process) through Debian's
 * mosquitto; then, with the agent stopped, the broker named in the config.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { afterEach, describe, expect, it, vi } from "vitest";
import { startNetDevice } from "../../scripts/sim/netdevice.js";
import { CLI, startAgent, scratchDir, writeCampusConfig } from "./helpers/agent-process.js";
import { startMosquitto } from "./helpers/mosquitto.js";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function run(args: string[]): { child: ChildProcess; stdout: () => string; stderr: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => void (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => void (err += d.toString()));
  cleanups.push(() => (child.exitCode === null ? child.kill("SIGKILL") : undefined));
  return { child, stdout: () => out, stderr: () => err, exited: new Promise((r) => child.once("exit", (code) => r(code))) };
}

describe("campus-agent watch", () => {
  it("follows the running agent's gateway events live, and, once the agent is stopped, the broker its config names", async () => {
    const m = await startMosquitto();
    cleanups.push(() => m.dispose());
    const dir = scratchDir("watch-", cleanups);
    const dev = await startNetDevice({});
    cleanups.push(() => dev.close());
    const file = writeCampusConfig(dir, {
      broker: { url: m.url },
      devices: [{ id: "intercom-a", kind: "reachability", category: "operational", options: { host: dev.host, port: dev.port } }],
    });
    const agent = startAgent(file);
    cleanups.push(() => agent.kill("SIGKILL"));
    await agent.waitForLog((l) => l.msg === "control socket open");
    await agent.waitForLog((l) => l.msg === "connected to the broker");

    const w = run(["watch", "--config", file, "--count", "2"]);
    await vi.waitFor(() => expect(w.stderr()).toContain("watching campus lincoln at mqtt://127.0.0.1:"), { timeout: 10_000 });
    await vi.waitFor(() => expect(w.stdout()).toMatch(/gateway +gw-1 +online \(connected\) \[current\]\n/), { timeout: 10_000 });
    agent.child.kill("SIGHUP");
    expect(await w.exited).toBe(0);
    expect(w.stdout().split("\n")[1]).toMatch(/^\d\d:\d\d:\d\d {2}gateway +gw-1 +config_reloaded: config reloaded: 0 added, 0 removed, 0 changed$/);

    expect(await agent.kill("SIGTERM")).toBe(0);
    const after = run(["watch", "--config", file, "--count", "1"]);
    expect(await after.exited).toBe(0);
    expect(after.stderr()).toMatch(/the agent does not answer \(no control socket at .*\); watching the broker mqtt:\/\/127\.0\.0\.1:\d+ from the config/);
    expect(after.stdout()).toMatch(/gateway +gw-1 +offline \(shutdown\) \[current\]\n$/);
  });
});
