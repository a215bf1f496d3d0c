/**
 * Poll one unit: plan the reads of its profile, send them through the shared
 * transport of its endpoint, decode what came back. Knows nothing of doors:
 * issue 5 reads I/O modules with it too.
 *
 * A read that fails with an exception 01-04 (this register, this function)
 * costs only its own points: the poll returns the others, with the error
 * listed. A failure that concerns the whole unit (timeout, gateway 0A/0B,
 * connection lost, refused) stops the poll's other reads at once and is
 * thrown: waiting for each read to time out in turn would only delay the
 * verdict (on RTU, N reads x timeout).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { DriverError } from "../contract.js";
import type { Trace } from "../trace.js";
import { type Banks, type DecodedPoint, decode, decodePoint, emptyBanks } from "./decode.js";
import { ModbusError, toModbusError } from "./errors.js";
import { type PlanLimits, planReads, type ReadGroup } from "./plan.js";
import type { Profile } from "./profile.js";
import { endpointOf, type ModbusUnitOptions } from "./options.js";
import type { EndpointPool, ModbusTransport } from "./transport.js";
import { type DescribePoints, describePoints, failedReadStep, readStep } from "./trace.js";

export interface ReadOptions {
  signal?: AbortSignal;
  /** Retries of a read answered "busy" (exception 05/06), with doubling waits. Default 2. */
  busyRetries?: number;
  /** First wait after a busy answer. Default 100 ms. */
  busyBackoffMs?: number;
  limits?: PlanLimits;
  /** A traced poll (`campus-agent probe`): each read reported as it ends, with its raw values and decoded points. */
  trace?: Trace | undefined;
  /** How a traced read's points are said; default describePoints ("door_position: closed, …"). */
  describe?: DescribePoints | undefined;
}

export interface GroupTiming {
  group: ReadGroup;
  /** Time of the last attempt, from sending to answer (or failure). */
  ms: number;
  attempts: number;
  error?: ModbusError;
}

export interface UnitReading {
  unit: number;
  points: Record<string, DecodedPoint>;
  /** Raw registers and bits as read, by table and address. */
  raw: Banks;
  timings: GroupTiming[];
  /** Reads that failed on their own (exceptions); their points are in `missing`. */
  errors: ModbusError[];
  missing: string[];
  /** Wall time of the whole poll. */
  responseTimeMs: number;
}

/** Failures that say nothing about one register, everything about the unit or the link. */
const UNIT_LEVEL = new Set(["timeout", "gateway_path", "gateway_target", "refused", "unreachable", "dns", "protocol", "internal"]);

/**
 * One poll of a configured device, for any Modbus-based kind: the shared
 * transport of its endpoint from the pool (opened with the device's
 * settings if it is the first there), then readUnit() under the poll's
 * signal. Whole-unit failures come out as DriverErrors with their reason.
 */
export async function readDevice(
  pool: EndpointPool,
  deviceId: string,
  o: ModbusUnitOptions,
  profile: Profile,
  signal: AbortSignal,
  traced: Pick<ReadOptions, "trace" | "describe"> = {},
): Promise<UnitReading> {
  if (signal.aborted) throw new DriverError("timeout", "deadline reached before the poll started", { cause: signal.reason });
  const settings = { timeoutMs: o.request_timeout_ms, maxInFlight: o.max_in_flight, closeAfterPoll: o.close_after_poll };
  const transport = pool.acquire(deviceId, endpointOf(o), settings);
  try {
    return await readUnit(transport, o.unit_id, profile, { signal, busyRetries: o.busy_retries, ...traced });
  } catch (e) {
    // The reader throws ModbusErrors (DriverErrors) for whole-unit failures: rethrown as they are.
    throw e instanceof DriverError ? e : toModbusError(e, transport.key);
  }
}

export async function readUnit(transport: ModbusTransport, unit: number, profile: Profile, opts: ReadOptions = {}): Promise<UnitReading> {
  const started = performance.now();
  const groups = planReads(profile, opts.limits);
  const stop = new AbortController();
  const signal = opts.signal === undefined ? stop.signal : AbortSignal.any([opts.signal, stop.signal]);
  const raw = emptyBanks();
  let fatal: ModbusError | undefined;
  const { trace } = opts;
  // The transport reported a failed wait for the bus or connect: every read's failure follows from it.
  let linkFailed = false;
  const linkTrace: Trace | undefined =
    trace &&
    ((step) => {
      linkFailed ||= !step.ok;
      trace(step);
    });

  const timings = await transport.withPoll(() =>
    Promise.all(
      groups.map(async (group, index): Promise<GroupTiming> => {
        const req = { unit, table: group.table, address: group.address, count: group.count };
        const retries = opts.busyRetries ?? 2;
        for (let attempt = 1; ; attempt++) {
          const t0 = performance.now();
          try {
            // The wait for the bus and the connect are the first read's to report: the others wait for it (see RequestOptions.trace).
            const answer = await transport.read(req, { signal, trace: index === 0 && attempt === 1 ? linkTrace : undefined });
            store(raw, group, answer.values);
            trace?.(readStep(req, answer.ms, answer.values, (opts.describe ?? describePoints)(pointsOf(profile, group, raw), profile)));
            return { group, ms: answer.ms, attempts: attempt };
          } catch (e) {
            const err = toModbusError(e, transport.key, req);
            const ms = performance.now() - t0;
            const retry = err.code === "busy" && attempt <= retries && !signal.aborted;
            const backoffMs = (opts.busyBackoffMs ?? 100) * 2 ** (attempt - 1);
            // Not a step of its own: a read cut short by another's failure (the poll is over), or after the link's.
            if (!stop.signal.aborted && !linkFailed) trace?.(failedReadStep(req, ms, err, transport.key, retry ? backoffMs : undefined));
            if (retry) {
              // §7 exception 06: "the client should retransmit the message later".
              const waited = await sleep(backoffMs, true, { signal }).catch(() => false);
              if (waited) continue;
            }
            if (stop.signal.aborted) return { group, ms, attempts: attempt, error: fatal ?? err };
            if (UNIT_LEVEL.has(err.code)) {
              fatal ??= err;
              stop.abort(err);
              return { group, ms, attempts: attempt, error: err };
            }
            return { group, ms, attempts: attempt, error: namePoints(err, group) };
          }
        }
      }),
    ),
  );

  if (fatal !== undefined) throw fatal;
  const errors = timings.flatMap((t) => (t.error === undefined ? [] : [t.error]));
  if (errors.length === groups.length && errors.length > 0) throw errors[0];
  const { points, missing } = decode(profile, raw);
  return { unit, points, raw, timings, errors, missing, responseTimeMs: performance.now() - started };
}

/** The points a read holds, decoded from what it stored (a traced read's detail). */
function pointsOf(profile: Profile, group: ReadGroup, raw: Banks): [string, DecodedPoint][] {
  return group.points.flatMap((name): [string, DecodedPoint][] => {
    const p = profile.points[name];
    const d = p === undefined ? undefined : decodePoint(p, raw, profile.word_order);
    return d === undefined ? [] : [[name, d]];
  });
}

function store(raw: Banks, group: ReadGroup, values: number[] | boolean[]): void {
  values.forEach((v, i) => {
    const a = group.address + i;
    if (group.table === "coil" || group.table === "discrete_input") raw[group.table].set(a, v === true);
    else raw[group.table].set(a, Number(v));
  });
}

/** An exception on one read, said in the profile's words: which points it costs. */
function namePoints(err: ModbusError, group: ReadGroup): ModbusError {
  return new ModbusError(err.code, `${err.message} (points ${group.points.join(", ")})`, {
    retryable: err.retryable,
    cause: err.cause,
    request: err.request,
    exception: err.exception,
  });
}

export interface ScanResult {
  unit: number;
  /** Something answered for this unit id: data or an exception 01-06. */
  present: boolean;
  /** Why not present, or the exception a present unit answered ("exception 02"). */
  reason?: string;
}

/**
 * Which unit ids answer behind an endpoint, for discovery: one FC 3 read of
 * `probe` (default holding register 0) per id, with a short timeout. An
 * exception answer still proves a device is there. Ids go through the
 * endpoint's queue (one at a time on RTU); at most 247 ids (Modbus over Serial
 * Line V1.02 §2.2: addresses 1-247).
 */
export async function scanUnits(
  transport: ModbusTransport,
  ids: readonly number[],
  signal: AbortSignal,
  opts: { timeoutMs?: number; probe?: { table: "coil" | "discrete_input" | "holding" | "input"; address: number } } = {},
): Promise<ScanResult[]> {
  if (ids.length > 247) throw new ModbusError("config", `${transport.key}: scan at most 247 unit ids (got ${ids.length})`, { retryable: false });
  const bad = ids.find((u) => !Number.isInteger(u) || u < 0 || u > 255);
  if (bad !== undefined) throw new ModbusError("config", `${transport.key}: unit id ${bad} is outside 0-255`, { retryable: false });
  const probe = opts.probe ?? { table: "holding", address: 0 };
  return transport.withPoll(() =>
    Promise.all(
      ids.map(async (unit): Promise<ScanResult> => {
        try {
          await transport.read({ unit, ...probe, count: 1 }, { signal, timeoutMs: opts.timeoutMs ?? 300 });
          return { unit, present: true };
        } catch (e) {
          const err = toModbusError(e, transport.key);
          if (signal.aborted) throw err;
          if (err.exception !== undefined && err.exception <= 0x06) {
            return { unit, present: true, reason: `exception ${err.exception.toString(16).toUpperCase().padStart(2, "0")}` };
          }
          if (err.code === "timeout" || err.code === "gateway_path" || err.code === "gateway_target") return { unit, present: false, reason: err.code };
          throw err;
        }
      }),
    ),
  );
}
