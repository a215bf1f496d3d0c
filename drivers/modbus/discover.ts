/**
 * Discovery for Modbus: which unit ids answer behind one endpoint (a serial
 * line, an RTU gateway, a Modbus TCP device). Modbus has no discovery of its
 * own, so each id gets one short read (reader.ts scanUnits); an exception
 * answer proves a device is there as well as data does.
 *
 * The scan goes through the driver's endpoint pool: on an endpoint the agent
 * already polls it shares the connection (and a serial line's one-at-a-time
 * queue), in small windows so that polls of the configured doors get their
 * turn between them instead of waiting behind 247 reads.
 *
 * Many Modbus TCP devices answer whatever unit id they are asked: when every
 * id scanned answers, the endpoint is reported once, as ignoring unit ids,
 * not as 247 devices.
 */
import { z } from "zod";
import { type Discovered, DriverError, type PollContext } from "../contract.js";
import { checkEndpoint, endpointOf, modbusEndpointShape } from "./options.js";
import { scanUnits } from "./reader.js";
import { type EndpointPool, endpointKey } from "./transport.js";

/** Ids scanned between two turns of the endpoint's queue: one read at a time on a serial line. */
const WINDOW = { serial: 1, tcp: 16 } as const;
/** At least this many ids scanned, all answering: the device ignores the unit id. */
const IGNORES_UNIT_ID_AFTER = 3;

export const modbusDiscoverParamsSchema = z.strictObject({
  endpoint: z.strictObject(modbusEndpointShape).superRefine(checkEndpoint),
  units: z.array(z.int().min(0).max(255)).min(1).max(247),
  timeout_ms: z.int().min(20).max(5000).default(300),
});
export type ModbusDiscoverParams = z.input<typeof modbusDiscoverParamsSchema>;

/** Scan one endpoint's unit ids; throws scanUnits' ModbusError (a DriverError) when the endpoint itself cannot be reached. */
export async function discoverUnits(pool: EndpointPool, ctx: PollContext, raw: Record<string, unknown>): Promise<Discovered[]> {
  const parsed = modbusDiscoverParamsSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "params"}: ${i.message}`).join("; ");
    throw new DriverError("config", `modbus discovery parameters: ${problems}`, { retryable: false });
  }
  const p = parsed.data;
  const endpoint = endpointOf(p.endpoint);
  const key = endpointKey(endpoint);
  const holder = `discovery:${key}`;
  const transport = pool.acquire(holder, endpoint, { timeoutMs: p.timeout_ms });
  const window = endpoint.transport === "tcp" ? WINDOW.tcp : WINDOW.serial;
  const answered: { unit: number; reason?: string }[] = [];
  try {
    for (let i = 0; i < p.units.length; i += window) {
      const t0 = performance.now();
      const results = await scanUnits(transport, p.units.slice(i, i + window), ctx.signal, { timeoutMs: p.timeout_ms });
      for (const r of results) if (r.present) answered.push(r.reason === undefined ? { unit: r.unit } : { unit: r.unit, reason: r.reason });
      ctx.trace?.({
        step: `scan ${key} units ${p.units[i]}-${p.units[Math.min(i + window, p.units.length) - 1]}`,
        ms: performance.now() - t0,
        ok: true,
        detail: `${results.filter((r) => r.present).length} answered`,
      });
    }
  } finally {
    await pool.release(holder);
  }
  if (answered.length >= IGNORES_UNIT_ID_AFTER && answered.length === p.units.length) {
    return [{ kind: "modbus", address: key, details: { endpoint: key, unit: null, ignores_unit_id: true, units_answered: answered.length } }];
  }
  return answered.map((a) => ({
    kind: "modbus",
    address: `${key} unit ${a.unit}`,
    details: { endpoint: key, unit: a.unit, ignores_unit_id: false, answer: a.reason ?? "data" },
  }));
}

/** "1-247", "1,2,10-20": unit ids, each once, in order; or what is wrong. */
export function parseUnitList(spec: string): { ok: true; units: number[] } | { ok: false; problem: string } {
  const units = new Set<number>();
  for (const part of spec.split(",").map((x) => x.trim())) {
    const m = /^(\d{1,3})(?:-(\d{1,3}))?$/.exec(part);
    if (!m) return { ok: false, problem: `"${part}" is not a unit id or a range of them (e.g. 1-247)` };
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo > 255 || hi > 255) return { ok: false, problem: `"${part}": unit ids go from 0 to 255` };
    if (hi < lo) return { ok: false, problem: `"${part}": the range ends before it starts` };
    for (let u = lo; u <= hi; u++) units.add(u);
  }
  if (units.size > 247) return { ok: false, problem: `${units.size} unit ids: scan at most 247 at once` };
  return { ok: true, units: [...units].sort((a, b) => a - b) };
}
