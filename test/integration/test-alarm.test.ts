/**
 * `campus-agent test-alarm` as a technician runs it: the built CLI, a
 * separate process, against the built agent (another process) publishing to
 * Debian's mosquitto over TLS with a password and an ACL. A DC-09 receiver
 * (encrypted account) and a contact receiver (I/O module simulator, Modbus
 * TCP) are tested end to end; a stopped agent or broker is a problem found.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ContactModuleSim } from "../../scripts/sim/modbus-io.js";
import { startModbusSim } from "../../scripts/sim/modbus-server.js";
import { record } from "../helpers/mqtt.js";
import { freePort } from "../helpers/net.js";
import { runCli, startAgent, scratchDir, writeCampusConfig } from "./helpers/agent-process.js";
import { startMosquitto } from "./helpers/mosquitto.js";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const KEY = "00112233445566778899AABBCCDDEEFF";
const USERS = { "gw-lincoln": "s3cret-gw-Pa55", admin: "admin-Pa55" };
const ACL = "user gw-lincoln\ntopic readwrite campus/lincoln/#\n\nuser admin\ntopic readwrite #\n";

async function campus() {
  const dir = scratchDir("test-alarm-", cleanups);
  const m = await startMosquitto({ tls: true, users: USERS, acl: ACL });
  cleanups.push(() => m.dispose());
  const io = await startModbusSim({ units: [1] });
  cleanups.push(() => io.close());
  new ContactModuleSim(io.bank(1));
  writeFileSync(join(dir, "broker.pass"), `${USERS["gw-lincoln"]}\n`, { mode: 0o600 });
  writeFileSync(join(dir, "dc09.key"), `${KEY}\n`, { mode: 0o600 });
  const file = writeCampusConfig(dir, {
    broker: { url: m.url, username: "gw-lincoln", password_file: "broker.pass", tls: { ca_file: m.caFile } },
    devices: [
      {
        id: "panic-rx-office",
        kind: "panic-dc09",
        category: "safety-critical",
        location: { building: "A", room: "Office" },
        options: { listen: { port: await freePort() }, account: "1234", key_file: join(dir, "dc09.key") },
      },
      {
        id: "panic-rx-gym",
        kind: "panic-contacts",
        category: "safety-critical",
        options: { transport: "tcp", host: "127.0.0.1", port: io.tcpPort, inputs: { input_1: { meaning: "panic", zone: "7", name: "Gym pendant" }, input_8: { meaning: "trouble" } } },
      },
    ],
  });
  const sub = await record(m.url, "campus/lincoln/device/+/alarm", { username: "admin", password: USERS.admin, ca: [readFileSync(m.caFile ?? "")] });
  cleanups.push(() => sub.close());
  const agent = startAgent(file);
  cleanups.push(() => agent.kill("SIGKILL"));
  await agent.waitForLog((l) => l.msg === "control socket open");
  return { dir, file, m, sub, agent };
}

describe("campus-agent test-alarm", () => {
  it("tests a DC-09 receiver and a contact receiver end to end through the broker, printing each step and the latency", async () => {
    const { file, sub } = await campus();
    const dc09 = await runCli(["test-alarm", "panic-rx-office", "--config", file]);
    expect(dc09.stderr).toBe("");
    expect(dc09.code).toBe(0);
    expect(dc09.stdout).toMatch(/^Test alarm: panic-rx-office \(panic-dc09\)\n {2}via DC-09 manual test \(ADM-CID 601, encrypted, sequence \d+\) over tcp 127\.0\.0\.1:\d+\n/);
    expect(dc09.stdout).toMatch(/\n {2}received +\d+\.\d ms {2}from the broker, test: true, type test\nOK: the test alarm reached the broker \d+\.\d ms after it was requested \(alarm_id [0-9a-f-]{36}\)\.\n$/);

    const contacts = await runCli(["test-alarm", "panic-rx-gym", "--config", file, "--json"]);
    expect(contacts.code).toBe(0);
    const outcome = JSON.parse(contacts.stdout) as { ok: boolean; alarm_id: string; latency_ms: number; steps: { step: string }[] };
    expect(outcome).toMatchObject({ ok: true, kind: "panic-contacts", via: "simulated activation of input input_1 (zone 7, Gym pendant), after reading the I/O module" });
    expect(outcome.latency_ms).toBeGreaterThan(0);
    expect(outcome.steps.map((s) => s.step.trim())).toEqual(["subscribe", "read inputs", "store", "stored", "received"]);

    // What a dispatch console subscribed at the district sees: two test alarms, nothing to dispatch.
    await sub.waitFor((msgs) => msgs.length >= 2);
    expect(sub.messages.map((x) => JSON.parse(x.payload) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ device: "panic-rx-office", type: "test", test: true, phase: "alarm" }),
      expect.objectContaining({ device: "panic-rx-gym", type: "panic", test: true, phase: "alarm", alarm_id: outcome.alarm_id }),
    ]);
  });

  it("says what is wrong, with exit code 1, when the broker is down or the agent is not running", async () => {
    const { file, m, agent } = await campus();
    await m.stop();
    const noBroker = await runCli(["test-alarm", "panic-rx-office", "--config", file, "--timeout-s", "3"]);
    expect(noBroker.code).toBe(1);
    expect(noBroker.stdout).toMatch(/FAILED \(broker\): cannot subscribe to campus\/lincoln\/device\/panic-rx-office\/alarm at mqtts:\/\/localhost:\d+: /);
    expect(noBroker.stdout).not.toContain(USERS["gw-lincoln"]);

    expect(await agent.kill("SIGTERM")).toBe(0);
    const noAgent = await runCli(["test-alarm", "panic-rx-office", "--config", file]);
    expect(noAgent.code).toBe(1);
    expect(noAgent.stdout).toMatch(/FAILED \(not_running\): no control socket at .*campus-agent\.sock: is the agent running\?/);
  });

  it("refuses a device that is not a panic receiver with exit code 2", async () => {
    const { file } = await campus();
    const r = await runCli(["test-alarm", "panic-rx-gym", "--config", file, "--input", "input_8"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('FAILED (bad_request): input "input_8" is not a panic input: expected one of input_1');
    const usage = await runCli(["test-alarm", "--config", file]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("test-alarm needs the id of a panic receiver");
  });
});
