/** The README's first command: the demo campus, on its embedded broker, publishes within seconds. */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it, vi } from "vitest";
import { DEMO_CAMPUS } from "../../scripts/sim/demo-campus.js";
import { type Recorder, record } from "../helpers/mqtt.js";
import { CLI } from "./helpers/agent-process.js";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

it("the demo publishes the gateway's status, heartbeats and every simulated device's status within 10 seconds", async () => {
  const dir = mkdtempSync(join(tmpdir(), "demo-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  // Port 0: a free port for the embedded broker, so the test cannot collide with anything on 1883.
  const child: ChildProcess = spawn(process.execPath, [CLI, "demo", "--broker-port", "0", "--data-dir", dir], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  cleanups.push(async () => {
    if (child.exitCode === null) child.kill("SIGKILL");
    await exited;
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const started = Date.now();
  let port = 0;
  await vi.waitFor(
    () => {
      const m = /"port":(\d+),"msg":"embedded MQTT broker listening"/.exec(out);
      if (!m) throw new Error(`no broker yet; stderr: ${err.slice(-300)}`);
      port = Number(m[1]);
    },
    { timeout: 15_000, interval: 25 },
  );
  const sub: Recorder = await record(`mqtt://127.0.0.1:${port}`, "campus/#");
  cleanups.push(() => sub.close());
  await sub.waitFor(
    (msgs) =>
      msgs.some((m) => m.topic === "campus/demo-hs/gateway/gw-demo/status" && m.payload.includes('"online"')) &&
      msgs.some((m) => m.topic === "campus/demo-hs/gateway/gw-demo/heartbeat") &&
      DEMO_CAMPUS.every((d) => msgs.some((m) => m.topic === `campus/demo-hs/device/${d.id}/status`)),
    10_000,
  );
  expect(Date.now() - started).toBeLessThan(15_000);
  expect(err).toContain("mosquitto_sub -h 127.0.0.1 -p");
  child.kill("SIGTERM");
  expect(await exited).toBe(0);
  expect(sub.messages.some((m) => m.payload.includes('"shutdown"'))).toBe(true);
});
