/**
 * The steps of a traced poll of a DC-09 receiver (`campus-agent probe`).
 * The poll does not talk to the panel: it checks its own side, so that is
 * what it reports: the key read and the listeners bound (when this poll
 * starts the device), the listeners already open (when it was running),
 * supervision, the open troubles and alarms, and, when the driver runs
 * alone, that nothing can be stored and so no event is acknowledged.
 */
import type { TraceStep } from "../contract.js";
import type { StepSpec, Trace } from "../trace.js";
import type { Transport } from "./listener.js";
import type { Dc09Memory } from "./mapping.js";
import type { PanicDc09Options } from "./options.js";

/** "read key (key_file /etc/campus-agent/secrets/dc09.key)": its size, never the key. */
export function keyStep(o: PanicDc09Options): StepSpec<string | undefined> {
  const source = o.key_env !== undefined ? `key_env ${o.key_env}` : `key_file ${o.key_file ?? "?"}`;
  return { step: `read key (${source})`, done: (key) => ({ detail: key === undefined ? "no key" : `AES-${key.length * 4} key` }) };
}

/** "listen tcp 127.0.0.1:9000": bound by this poll. */
export function listenStep(transport: Transport, o: PanicDc09Options): StepSpec<{ listener: { port: number } }> {
  const where = `${transport} ${o.listen.host}:${o.listen.port}`;
  return { step: `listen ${where}`, where: `cannot listen on ${where}`, done: (ep) => ({ detail: `bound, port ${ep.listener.port}` }) };
}

/** What traceReceiver() reads of a running account. */
export interface ReceiverState {
  options: PanicDc09Options;
  ports: Partial<Record<Transport, number>>;
  heardAny: boolean;
  counters: { messages: number; link_tests: number; duplicates: number; rejected: number; report_failures: number };
  memory: Dc09Memory;
}

/**
 * The checks of one poll, after the device's listeners are up. `silent` is
 * the supervision failure the poll is about to throw, if any; `started`,
 * whether this poll opened the listeners (then listenStep reported them).
 */
export function traceReceiver(
  trace: Trace,
  acct: ReceiverState,
  check: { silentMs: number; silent: string | undefined; started: boolean; alone: boolean },
): void {
  const o = acct.options;
  const step = (s: Omit<TraceStep, "ms">) => trace({ ms: 0, ...s });
  if (!check.started) {
    for (const transport of new Set(o.listen.protocols)) {
      step({ step: `listener ${transport} ${o.listen.host}:${o.listen.port}`, ok: true, detail: `listening, port ${acct.ports[transport] ?? "?"}` });
    }
  }
  const s = Math.round(check.silentMs / 100) / 10;
  const c = acct.counters;
  const counts = `${c.messages} messages, ${c.link_tests} link tests, ${c.duplicates} duplicates, ${c.rejected} rejected, ${c.report_failures} not stored`;
  step({
    step: `supervision (supervision_s ${o.supervision_s})`,
    ok: check.silent === undefined,
    detail: check.silent ?? (acct.heardAny ? `last message or link test ${s} s ago; ${counts}` : `no message or link test yet, listening for ${s} s`),
  });
  const troubles = acct.memory.troubles;
  step({ step: "open troubles", ok: true, detail: troubles.length === 0 ? "none" : troubles.map((t) => t.text).join("; ") });
  const alarms = acct.memory.open;
  step({
    step: "open alarms",
    ok: true,
    detail: alarms.length === 0 ? "none" : alarms.map((a) => `${a.kind}${a.zone === null ? "" : ` zone ${a.zone}`} since ${new Date(a.at).toISOString()}`).join("; "),
  });
  if (check.alone) {
    step({
      step: "store and acknowledge",
      ok: true,
      detail:
        "not here: running without the agent, nothing can be stored, so events get no ACK (their panels send them again) and link tests" +
        " are answered; supervision since the last message is the running agent's to tell",
    });
  }
}
