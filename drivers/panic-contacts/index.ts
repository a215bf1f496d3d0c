/**
 * panic-contacts: a panic-button receiver whose relay outputs are wired to a
 * Modbus I/O module (dry contacts), read every 200 ms by default.
 *
 * One poll = readUnit() of the module's profile through the shared transport
 * of its endpoint (drivers/modbus), then contacts.ts compares the inputs
 * with the memory of the previous polls: a panic contact closing is an alarm
 * at once (DeviceAlarm, published on the alarm topic before anything else),
 * its opening the alarm's restore; trouble, tamper and supervision outputs
 * are device events and show the receiver degraded. A module that stops
 * answering goes offline through the status model (supervision of the
 * receiver's link), like any device.
 */
import { discoverUnits } from "../modbus/discover.js";
import { randomUUID } from "node:crypto";
import { DriverError, defineDriver, type MetricValue, type ReasonCode } from "../contract.js";
import { profileOf } from "../modbus/options.js";
import { readDevice } from "../modbus/reader.js";
import type { DescribePoints } from "../modbus/trace.js";
import { EndpointPool } from "../modbus/transport.js";
import { evaluateContacts, parseContactMemory, testAlarmOf } from "./contacts.js";
import { type PanicContactsOptions, panicContactsOptionsSchema } from "./options.js";
import { roundMs } from "../trace.js";

export { panicContactsOptionsSchema, type PanicContactsOptions } from "./options.js";

const REASON: Record<"trouble" | "tamper" | "supervision", ReasonCode> = {
  tamper: "tamper",
  supervision: "supervision",
  trouble: "receiver_trouble",
};

export const panicContactsDriver = defineDriver({
  kind: "panic-contacts",
  description: "Panic-button receivers read through a Modbus I/O module: panic zones, trouble, tamper and supervision contacts.",
  optionsSchema: panicContactsOptionsSchema,
  modbusProfileOption: "profile",
  pollDefaults: { interval_ms: 200, timeout_ms: 150 },
  create({ log, clock, report }) {
    const endpoints = new EndpointPool(log);
    return {
      poll: async (device, ctx) => {
        const o = device.options;
        const profile = profileOf(o);
        const unknown = Object.keys(o.inputs).filter((name) => profile.points[name] === undefined);
        if (unknown.length > 0) {
          throw new DriverError("config", `profile ${profile.name} has no point ${unknown.join(", ")}`, { retryable: false });
        }
        const r = await readDevice(endpoints, device.id, o, profile, ctx.signal, ctx.trace && { trace: ctx.trace, describe: describeInputs(o) });
        const values: Record<string, boolean | undefined> = {};
        const metrics: Record<string, MetricValue> = {};
        for (const name of Object.keys(o.inputs)) {
          const v = r.points[name]?.value;
          values[name] = typeof v === "boolean" ? v : undefined;
          metrics[name] = v ?? null;
        }
        const { alarms, events, memory, active } = evaluateContacts(parseContactMemory(ctx.memory), values, clock.now(), o, randomUUID);
        metrics.open_alarms = Object.values(memory.inputs).filter((m) => m.alarmId !== undefined).length;
        metrics.read_errors = r.errors.length;
        const responseTimeMs = roundMs(r.responseTimeMs);
        const problems = [
          ...active.map((a) => ({ reason: REASON[a.meaning], text: `${a.meaning} contact ${a.input} active` })),
          ...(r.errors.length > 0 ? [{ reason: r.errors[0]?.code ?? "config", text: `inputs not read: ${r.missing.join(", ")}` }] : []),
        ];
        const top = problems[0];
        const base = { responseTimeMs, metrics, alarms, events, memory };
        return top === undefined
          ? { ...base, health: "ok" as const, reason: "ok", reasonText: `inputs read in ${responseTimeMs} ms` }
          : { ...base, health: "degraded" as const, reason: top.reason, reasonText: problems.map((p) => p.text).join("; ") };
      },
      testAlarm: async (device, req) => {
        const o = device.options;
        let alarm;
        try {
          alarm = testAlarmOf(o, req.input, clock.now(), randomUUID);
        } catch (e) {
          throw new DriverError("config", (e as Error).message, { retryable: false });
        }
        // The module must answer: a panic button behind a dead module cannot reach anyone.
        const started = clock.monotonic();
        const r = await readDevice(endpoints, device.id, o, profileOf(o), req.signal);
        const input = String(alarm.source.input);
        if (r.points[input]?.value === undefined) {
          throw new DriverError(r.errors[0]?.code ?? "protocol", `input ${input} not read: ${r.errors[0]?.message ?? "no value"}`);
        }
        const readMs = roundMs(clock.monotonic() - started);
        if (report === undefined) throw new DriverError("internal", "no report(): this driver runs alone and cannot store a test alarm");
        const stored = clock.monotonic();
        report(device.id, { alarms: [alarm] });
        return {
          alarmId: alarm.id,
          via: `simulated activation of input ${input} (zone ${alarm.zone?.id ?? input}${alarm.zone?.name !== undefined ? `, ${alarm.zone.name}` : ""}), after reading the I/O module`,
          steps: [
            { step: "read inputs", ms: readMs, detail: `${input} is ${r.points[input]?.value === true ? "closed" : "open"}` },
            { step: "store", ms: roundMs(clock.monotonic() - stored), detail: "committed to the outbox (fsync)" },
          ],
        };
      },
      // campus-agent discover: the unit ids that answer behind one endpoint, on this driver's connections.
      discover: (ctx, params) => discoverUnits(endpoints, ctx, params),
      forget: (deviceId) => {
        void endpoints.release(deviceId);
      },
      close: () => endpoints.close(),
    };
  },
});

/** A traced read's inputs, as wired: "input_1 Room 114 pendant (panic, zone 15): open; input_3: closed (not configured)". */
function describeInputs(o: PanicContactsOptions): DescribePoints {
  return (points) =>
    points
      .map(([name, p]) => {
        const state = p.value === true ? "closed" : p.value === false ? "open" : `? (${p.problem ?? String(p.raw)})`;
        const cfg = o.inputs[name];
        if (cfg === undefined) return `${name}: ${state} (not configured)`;
        const what = [cfg.meaning === "panic" ? (cfg.alarm ?? "panic") : cfg.meaning, ...(cfg.zone !== undefined ? [`zone ${cfg.zone}`] : [])];
        return `${name}${cfg.name !== undefined ? ` ${cfg.name}` : ""} (${what.join(", ")}): ${state}`;
      })
      .join("; ");
}
