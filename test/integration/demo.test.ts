/** The README's first command: the demo campus, on its embedded broker, publishes within seconds. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { DEMO_CAMPUS, DEMO_DOORS, DEMO_PANIC_RECEIVERS } from "../../scripts/sim/demo-campus.js";
import type { Recorder } from "../helpers/mqtt.js";
import { expectValidPayloads } from "../helpers/schemas.js";
import { type DemoProcess, startDemo as startDemoProcess } from "./helpers/agent-process.js";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The demo, stopped (SIGKILL if a test left it running) and its folder removed after the test. */
async function startDemo(env: NodeJS.ProcessEnv = {}): Promise<DemoProcess> {
  const demo = await startDemoProcess({ env });
  cleanups.push(() => demo.stop("SIGKILL"));
  return demo;
}

const statusOf = (sub: Recorder, id: string) => sub.json(`/device/${id}/status`);
const alarmsOf = (sub: Recorder, id: string) => sub.json(`/device/${id}/alarm`);
/** Door controllers on an RS-485 line (socat PTY pair) or behind the serial gateway (RTU over TCP). */
const serialDoors = DEMO_DOORS.filter((d) => d.link.transport === "rtu").map((d) => d.id);
const gatewayDoors = DEMO_DOORS.filter((d) => d.link.transport === "rtu_over_tcp").map((d) => d.id);

it("the demo publishes the gateway's status, heartbeats and every network device's and door controller's status within 10 seconds", async () => {
  const { sub, started, stderr, child, exited, dir } = await startDemo();
  const ids = [...DEMO_CAMPUS, ...DEMO_DOORS].map((d) => d.id);
  await sub.waitFor(
    (msgs) =>
      msgs.some((m) => m.topic === "campus/demo-hs/gateway/gw-demo/status" && m.payload.includes('"online"')) &&
      msgs.some((m) => m.topic === "campus/demo-hs/gateway/gw-demo/heartbeat") &&
      ids.every((id) => msgs.some((m) => m.topic === `campus/demo-hs/device/${id}/status`)),
    10_000,
  );
  expect(Date.now() - started).toBeLessThan(15_000);
  // The doors on the RS-485 line (its PTY link in the data folder) and behind the gateway answer: not offline.
  expect(existsSync(join(dir, "rs485-a"))).toBe(true);
  for (const id of [...serialDoors, ...gatewayDoors]) {
    expect(statusOf(sub, id).map((s) => s.state), id).not.toContain("offline");
  }
  expect(stderr()).toContain("mosquitto_sub -h 127.0.0.1 -p");
  child.kill("SIGTERM");
  expect(await exited).toBe(0);
  expect(sub.messages.some((m) => m.payload.includes('"shutdown"'))).toBe(true);
  // The campus stopped socat, which removed the line's links.
  expect(existsSync(join(dir, "rs485-a"))).toBe(false);
});

it("without socat, the demo still runs: it says what to install, and the doors on the RS-485 line show offline, serial port missing", async () => {
  // No PATH: the campus cannot find socat (node is started by its absolute path).
  const { sub, stderr, child, exited } = await startDemo({ PATH: "" });
  await sub.waitFor(
    (msgs) =>
      serialDoors.every((id) => statusOf(sub, id).some((s) => s.state === "offline")) &&
      DEMO_DOORS.filter((d) => !serialDoors.includes(d.id)).every((d) => msgs.some((m) => m.topic === `campus/demo-hs/device/${d.id}/status`)),
    15_000,
  );
  for (const id of serialDoors) {
    expect(statusOf(sub, id).find((s) => s.state === "offline"), id).toMatchObject({ reason: "unreachable" });
  }
  expect(stderr().split("\n").filter((l) => l.includes("apt-get install socat"))).toHaveLength(1);
  child.kill("SIGTERM");
  expect(await exited).toBe(0);
});

it("the panic receivers come online; the panels' scheduled test alarms arrive on the alarm topic from 15 s after the start, and the gym's panic button is an alarm, then its restore", async () => {
  const { sub, started, child, exited } = await startDemo();
  const receivers = DEMO_PANIC_RECEIVERS.map((d) => d.id);
  const panels = DEMO_PANIC_RECEIVERS.filter((d) => d.simulator === "dc09-panel").map((d) => d.id);
  await sub.waitFor(() => receivers.every((id) => statusOf(sub, id).some((s) => s.state === "online")), 15_000);
  // The first scheduled test alarm: the encrypted panel's manual test report, 15 s after the campus started.
  await sub.waitFor(() => alarmsOf(sub, "panic-rx-a-office").some((a) => a.test === true), 30_000);
  expect(Date.now() - started).toBeGreaterThanOrEqual(15_000);
  expect(Date.now() - started).toBeLessThan(30_000);
  // The plain panel's over UDP (25 s), and the gym's panic button, held 4 s from 20 s.
  await sub.waitFor(
    () => panels.every((id) => alarmsOf(sub, id).some((a) => a.test === true)) && alarmsOf(sub, "panic-rx-c-gym").some((a) => a.phase === "restore"),
    30_000,
  );
  const testAlarm = { kind: "panic-dc09", phase: "alarm", type: "test", test: true, ends: null };
  expect(alarmsOf(sub, "panic-rx-a-office")).toEqual([
    expect.objectContaining({ ...testAlarm, source: expect.objectContaining({ protocol: "dc09", format: "ADM-CID", account: "1001", code: "601", encrypted: true }) as unknown }),
  ]);
  expect(alarmsOf(sub, "panic-rx-b-office")).toEqual([
    expect.objectContaining({ ...testAlarm, source: expect.objectContaining({ protocol: "dc09", format: "SIA-DCS", account: "1002", code: "RX", encrypted: false }) as unknown }),
  ]);
  const [press, restore, ...more] = alarmsOf(sub, "panic-rx-c-gym");
  expect(press).toMatchObject({
    kind: "panic-contacts",
    phase: "alarm",
    type: "panic",
    test: false,
    zone: { id: "1", name: "Gym office panic button", location: { building: "C", room: "Gym office" } },
  });
  expect(restore).toMatchObject({ phase: "restore", ends: press?.alarm_id });
  expect(more).toEqual([]);
  // The panels' link tests kept the DC-09 receivers online all along. The I/O module is read every
  // 200 ms with a 150 ms deadline: on a loaded machine a poll may miss it (degraded, timeout); it is
  // online again at the next.
  for (const id of panels) expect(statusOf(sub, id).map((s) => s.state), id).toEqual(["online"]);
  await sub.waitFor(() => statusOf(sub, "panic-rx-c-gym").at(-1)?.state === "online", 5000);
  expectValidPayloads(sub.messages);
  child.kill("SIGTERM");
  expect(await exited).toBe(0);
});
