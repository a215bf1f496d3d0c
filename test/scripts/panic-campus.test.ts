/**
 * The demo campus's panic receivers: as data (what config/demo.yaml gets, and
 * the schedule), and started in process against the real drivers: the DC-09
 * panels report to the agent's receiver, the contact receiver's I/O module
 * answers the panic-contacts driver.
 */
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { systemClock } from "../../agent/clock.js";
import type { DriverReport } from "../../drivers/contract.js";
import { panicContactsDriver, panicContactsOptionsSchema } from "../../drivers/panic-contacts/index.js";
import { createDc09Receiver } from "../../drivers/panic-dc09/index.js";
import { panicDc09OptionsSchema } from "../../drivers/panic-dc09/options.js";
import { startCampus } from "../../scripts/sim/campus.js";
import { parseDc09Scenario } from "../../scripts/sim/dc09-scenario.js";
import {
  type ContactReceiverSpec,
  type Dc09PanelSpec,
  DEMO_DATA_DIR,
  DEMO_DC09_KEY,
  DEMO_DC09_RECEIVER,
  DEMO_DEVICES,
  DEMO_PANIC_RECEIVERS,
  simulatorFor,
} from "../../scripts/sim/demo-campus.js";

const log = pino({ level: "silent" });
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const panels = DEMO_PANIC_RECEIVERS.filter((d): d is Dc09PanelSpec => d.simulator === "dc09-panel");
const modules = DEMO_PANIC_RECEIVERS.filter((d): d is ContactReceiverSpec => d.simulator === "contact-module");
const atOf = (steps: readonly { at_ms: number }[]) => steps.map((s) => s.at_ms);

describe("demo campus panic receivers, as data", () => {
  it("has DC-09 panels of both transports, one encrypted and one plain, and a contact receiver", () => {
    expect(panels.map((p) => [p.receiver.transport, p.key !== undefined]).sort()).toEqual([
      ["tcp", true],
      ["udp", false],
    ]);
    expect(modules).toHaveLength(1);
    for (const d of DEMO_PANIC_RECEIVERS) expect(simulatorFor(d.id), d.id).toBe(d);
  });

  it("points every panel at the agent's receiver on 127.77.3.1, an address no simulator listens on", () => {
    expect(DEMO_DC09_RECEIVER.address).toMatch(/^127\.77\.3\.\d{1,3}$/);
    expect(DEMO_DEVICES.flatMap((d) => ("address" in d ? [d.address] : []))).not.toContain(DEMO_DC09_RECEIVER.address);
    for (const p of panels) {
      const o = panicDc09OptionsSchema.parse(p.driver.options);
      expect(p.driver.kind).toBe("panic-dc09");
      expect([o.listen.host, o.listen.port, o.listen.protocols], p.id).toEqual([p.receiver.address, p.receiver.port, [p.receiver.transport]]);
      expect([p.receiver.address, p.receiver.port], p.id).toEqual([DEMO_DC09_RECEIVER.address, DEMO_DC09_RECEIVER.port]);
      expect(o.account, p.id).toBe(p.account);
      // The key is never in the config: a file in the demo's data folder, which the demo writes.
      expect(o.key_file, p.id).toBe(p.key === undefined ? undefined : `${DEMO_DATA_DIR}/${p.id}.key`);
      if (p.key !== undefined) expect(p.key).toBe(DEMO_DC09_KEY);
      // Two link tests may be lost before the receiver shows offline.
      expect(o.supervision_s, p.id).toBeGreaterThanOrEqual(3 * p.linkTestS);
    }
  });

  it("sends each panel's manual test report (the scheduled test alarm) within 30 s of the start and then every 2 min", () => {
    for (const p of panels) {
      // The timeline is one the sender's scenario parser accepts.
      parseDc09Scenario({ loop_ms: p.timeline.loop_ms, steps: p.timeline.steps.map(({ event, ...s }) => ({ ...s, send: event })) });
      const tests = atOf(p.timeline.steps.filter((s) => s.event === "manual-test"));
      expect(tests[0], p.id).toBeLessThanOrEqual(30_000);
      // Every 2 min, across the loop too.
      const times = [...tests, (tests[0] ?? 0) + p.timeline.loop_ms];
      expect(times.slice(1).map((t, i) => t - (times[i] ?? 0)), p.id).toEqual(tests.map(() => 120_000));
    }
    // The first comes 15 s after the start: the demo's test waits for it.
    expect(Math.min(...panels.flatMap((p) => atOf(p.timeline.steps.filter((s) => s.event === "manual-test"))))).toBe(15_000);
  });

  it("presses a named, located panic zone on each panel every few minutes, and restores it seconds later", () => {
    for (const p of panels) {
      const zones = panicDc09OptionsSchema.parse(p.driver.options).zones ?? {};
      const presses = p.timeline.steps.filter((s) => s.event === "panic");
      expect(presses.length, p.id).toBeGreaterThan(0);
      expect(p.timeline.loop_ms, p.id).toBeLessThanOrEqual(300_000);
      for (const press of presses) {
        expect(zones[String(press.zone)], `${p.id} zone ${press.zone}`).toMatchObject({ name: expect.any(String) as unknown, location: { building: expect.any(String) as unknown } });
        const restore = p.timeline.steps.find((s) => s.event === "panic-restore" && s.zone === press.zone && s.at_ms > press.at_ms);
        expect(restore && restore.at_ms - press.at_ms, p.id).toBeLessThanOrEqual(15_000);
      }
    }
  });

  it("reads the contact receiver's module on its own 127.77.3.x address, a panic held for seconds and a trouble output that comes and goes", () => {
    for (const m of modules) {
      const o = panicContactsOptionsSchema.parse(m.driver.options);
      expect(m.address).toMatch(/^127\.77\.3\.\d{1,3}$/);
      expect([o.transport, o.host, o.port, o.unit_id, o.profile]).toEqual(["tcp", m.address, m.port, m.unit, "io-8di"]);
      const meaningOf = (input: number) => o.inputs[`input_${input}`]?.meaning;
      for (const meaning of ["panic", "trouble", "tamper", "supervision"]) expect(Object.values(o.inputs).map((i) => i.meaning)).toContain(meaning);
      for (const i of Object.values(o.inputs).filter((x) => x.meaning === "panic")) {
        expect([i.zone, i.name, i.location?.building, i.location?.room]).not.toContain(undefined);
      }
      // Every contact closed is opened again within the loop; a panic within a few seconds.
      const closes = m.timeline.steps.filter((s) => s.action === "close");
      for (const c of closes) {
        const open = m.timeline.steps.find((s) => s.action === "open" && s.input === c.input && s.at_ms > c.at_ms);
        expect(open, `input ${c.input}`).toBeDefined();
        if (meaningOf(c.input) === "panic") expect((open?.at_ms ?? 0) - c.at_ms).toBeLessThanOrEqual(10_000);
      }
      expect(closes.map((c) => meaningOf(c.input)).sort()).toEqual(["panic", "trouble"]);
      expect(m.timeline.loop_ms).toBeLessThanOrEqual(300_000);
    }
  });
});

describe("demo campus panic receivers, started in process", () => {
  it("the contact receiver's module answers the panic-contacts driver: every input read, all open, healthy", async () => {
    const campus = await startCampus(modules, { ephemeralPorts: true });
    cleanups.push(() => campus.close());
    const driver = panicContactsDriver.create({ log, clock: systemClock });
    cleanups.push(() => driver.close?.());
    for (const running of campus.devices) {
      const spec = modules.find((m) => m.id === running.id) as ContactReceiverSpec;
      expect(running.host).toBe(spec.address);
      const options = panicContactsOptionsSchema.parse({ ...spec.driver.options, port: running.port });
      const r = await driver.poll({ id: running.id, timeoutMs: 2000, options }, { signal: AbortSignal.timeout(2000), log });
      expect([r.health, r.alarms ?? []], running.id).toEqual(["ok", []]);
      expect(r.metrics).toMatchObject(Object.fromEntries(Object.keys(options.inputs).map((k) => [k, false])));
    }
  });

  it("the panels' reports and link tests reach the DC-09 receiver with their demo options, encrypted over TCP and plain over UDP, all ACKed", async () => {
    // The demo panels, on a timeline of this test's: a manual test report at once, a link test every second.
    const quick = panels.map((p) => ({ ...p, linkTestS: 1, timeline: { loop_ms: 60_000, steps: [{ at_ms: 0, event: "manual-test" as const }] } }));
    const reports: { deviceId: string; report: DriverReport }[] = [];
    // The receiver as config/demo.yaml configures it, but on free ports and with the key from the environment.
    const driver = createDc09Receiver({ log, clock: systemClock, env: { DEMO_DC09_KEY }, report: (deviceId, report) => reports.push({ deviceId, report }) });
    cleanups.push(() => driver.close?.());
    const devices = panels.map((p) => {
      const { key_file, ...rest } = p.driver.options;
      const options = panicDc09OptionsSchema.parse({ ...rest, listen: { ...rest.listen, port: 0 }, ...(key_file !== undefined ? { key_env: "DEMO_DC09_KEY" } : {}) });
      return { id: p.id, timeoutMs: 1000, options };
    });
    for (const d of devices) await driver.poll(d, { signal: AbortSignal.timeout(1000), log });
    const lines: string[] = [];
    const campus = await startCampus(quick, {
      panelTarget: (spec) => ({ host: spec.receiver.address, port: driver.portsOf(spec.id)?.[spec.receiver.transport] ?? 0 }),
      log: (line) => lines.push(line),
    });
    cleanups.push(() => campus.close());
    const metricsOf = async (id: string) => {
      const device = devices.find((d) => d.id === id) as (typeof devices)[number];
      return (await driver.poll(device, { signal: AbortSignal.timeout(1000), log })).metrics;
    };
    await vi.waitFor(
      async () => {
        for (const p of panels) {
          const m = await metricsOf(p.id);
          expect(m, p.id).toMatchObject({ messages: 1, rejected: 0 });
          expect(m?.link_tests, p.id).toBeGreaterThan(0);
        }
      },
      { timeout: 5000, interval: 100 },
    );
    expect(reports.map((r) => r.deviceId).sort()).toEqual(panels.map((p) => p.id).sort());
    expect(lines).toEqual([]);
  });
});
