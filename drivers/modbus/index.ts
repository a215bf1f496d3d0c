/**
 * modbus-door: door controllers polled over Modbus (TCP, RTU on a serial
 * line, RTU over TCP), their register map given by a profile.
 *
 * One poll = readUnit() of the device's profile through the transport of its
 * endpoint. Devices on the same endpoint (a serial line, a gateway, a
 * controller hosting several unit ids) share one connection: the driver
 * keeps one transport per endpoint key, and closes it when the last device
 * using it is forgotten. The endpoint's transport settings
 * (request_timeout_ms, max_in_flight, close_after_poll) are those of the
 * first device that opened it.
 *
 * Outcomes (see README.md, "Device kind modbus-door"):
 * - the unit does not answer, or every read fails → the reader's DriverError
 *   (timeout, refused, gateway_path, gateway_target, protocol, config…), as is;
 * - it answers → a Reading whose metrics are every decoded point, by its
 *   profile name, plus `reads`, `read_ms` and `read_errors`. Health is
 *   degraded when the door controller reports a problem or some reads failed;
 *   the most serious problem gives the reason, the text lists all of them.
 *
 * Door events: door-events.ts compares each answered poll with the memory of
 * the previous ones (PollContext.memory, kept by the agent across restarts)
 * and the Reading carries the events found and the new memory.
 */
import { discoverUnits } from "./discover.js";
import { defineDriver, type Identity, type MetricValue, type Reading, type ReasonCode } from "../contract.js";
import { doorSnapshot, evaluateDoor, parseDoorMemory } from "./door-events.js";
import { identityOf as identityOfPoints, identityProfile } from "./identity.js";
import { modbusOptionsSchema, profileOf } from "./options.js";
import type { Profile } from "./profile.js";
import { readDevice, type UnitReading } from "./reader.js";
import { EndpointPool } from "./transport.js";
import { roundMs } from "../trace.js";

export { type ModbusOptions, modbusOptionsSchema } from "./options.js";

/** Milliseconds with 0.1 ms resolution. */

export const modbusDoorDriver = defineDriver({
  kind: "modbus-door",
  description: "Door controllers over Modbus TCP, RTU (RS-485) or RTU over TCP: door, lock, alarms, power and battery from a register-map profile.",
  optionsSchema: modbusOptionsSchema,
  modbusProfileOption: "profile",
  create({ log, clock }) {
    const endpoints = new EndpointPool(log);
    return {
      poll: async (device, ctx) => {
        const o = device.options;
        const profile = profileOf(o);
        const r = await readDevice(endpoints, device.id, o, profile, ctx.signal, { trace: ctx.trace });
        const reading = toReading(r, profile);
        const { events, memory } = evaluateDoor(
          parseDoorMemory(ctx.memory),
          doorSnapshot((name) => r.points[name]?.value),
          clock.now(),
          o.door_events,
        );
        return { ...reading, events, memory };
      },
      // The inventory cron: only the identity registers (serial, firmware, model).
      identify: async (device, ctx) => {
        const o = device.options;
        const profile = profileOf(o);
        const cut = identityProfile(profile);
        if (cut === undefined) return identityOfPoints({}, profile);
        const r = await readDevice(endpoints, device.id, o, cut, ctx.signal, { trace: ctx.trace });
        return identityOfPoints(r.points, profile);
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

interface Problem {
  reason: ReasonCode;
  text: string;
}

/** Most serious first: the first problem found gives the reason. */
const SERIOUSNESS: readonly ReasonCode[] = ["tamper", "mains_lost", "battery_low", "config"];

export function toReading(r: UnitReading, profile: Profile): Reading {
  const metrics: Record<string, MetricValue> = {};
  for (const [name, p] of Object.entries(r.points)) metrics[name] = p.value;
  metrics.reads = r.timings.length;
  metrics.read_ms = roundMs(Math.max(0, ...r.timings.map((t) => t.ms)));
  metrics.read_errors = r.errors.length;

  const problems: Problem[] = [];
  const value = (name: string) => r.points[name]?.value;
  if (value("tamper") === true) problems.push({ reason: "tamper", text: "tamper switch active (enclosure open or reader removed)" });
  if (value("mains_power") === false) problems.push({ reason: "mains_lost", text: "mains power lost: running on battery" });
  if (value("battery_low") === true) {
    const v = value("battery_voltage");
    problems.push({ reason: "battery_low", text: `battery low${typeof v === "number" ? ` (${v} V)` : ""}` });
  }
  if (r.errors.length > 0) {
    // Exceptions 01-03 (config) or busy after its retries: the reason is the first error's code.
    const first = r.errors[0];
    problems.push({
      reason: first?.code ?? "config",
      text: `points not read: ${r.missing.join(", ")} (${r.errors.map((e) => e.message).join("; ")})`,
    });
  }
  problems.sort((a, b) => rank(a.reason) - rank(b.reason));

  const responseTimeMs = roundMs(r.responseTimeMs);
  const identity = identityOf(r, profile);
  const top = problems[0];
  if (top !== undefined) {
    return { health: "degraded", reason: top.reason, reasonText: problems.map((p) => p.text).join("; "), responseTimeMs, metrics, identity };
  }
  return { health: "ok", reason: "ok", reasonText: `answered ${r.timings.length} reads in ${responseTimeMs} ms`, responseTimeMs, metrics, identity };
}

function rank(reason: ReasonCode): number {
  const i = SERIOUSNESS.indexOf(reason);
  return i === -1 ? SERIOUSNESS.length : i;
}

/** Serial, firmware (as the profile's `format` says), model and manufacturer: identity.ts. */
function identityOf(r: UnitReading, profile: Profile): Identity {
  return identityOfPoints(r.points, profile);
}
