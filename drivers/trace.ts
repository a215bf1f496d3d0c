/**
 * What every driver needs to report the steps of a traced poll
 * (PollContext.trace, `campus-agent probe`): a step timed around a promise,
 * and raw answers written as text. Without a trace nothing here runs but a
 * check: traced() is then the step itself, and the formatting helpers are
 * called only to build a step that will be reported.
 */
import type { TraceStep } from "./contract.js";

export type Trace = (step: TraceStep) => void;

/** Milliseconds with 0.1 ms resolution: finer is noise on a Raspberry Pi. */
export const roundMs = (v: number): number => Math.round(v * 10) / 10;

/** "10.0.0.5:502", "[fe80::1]:502": an address as step names write it. */
export function hostPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** What a successful step adds to its report: its own timing, when the step measured it better, a detail, the raw answer. */
export interface StepOutcome {
  /** Replaces the step's name (it may depend on the answer: "GET /health → 200"). */
  step?: string;
  ms?: number;
  detail?: string;
  raw?: string;
}

/** How to report one step: its name, and what its answer or its failure says. */
export interface StepSpec<T> {
  step: string;
  /** The "where" its errors start with ("tcp 10.0.0.5:80"; the first that fits), left out of a failed step's detail: the name says it. */
  where?: string | readonly string[];
  done?: (value: T) => StepOutcome;
}

/**
 * Run one step and report it when it ends: with `done`'s outcome when it
 * succeeds, with the error in a line when it fails. The step's own promise
 * is returned, observed rather than wrapped, so tracing adds no tick to it
 * (steps run in parallel keep their order). Without a trace, run() and
 * nothing else: the spec is not even built. `done` and the trace must not
 * throw.
 */
export function traced<T>(trace: Trace | undefined, spec: () => StepSpec<T>, run: () => Promise<T>): Promise<T> {
  if (trace === undefined) return run();
  const { step, where, done } = spec();
  const started = performance.now();
  const promise = run();
  promise.then(
    (value) => {
      const ms = roundMs(performance.now() - started);
      const o = done?.(value) ?? {};
      trace({ step: o.step ?? step, ms: o.ms === undefined ? ms : roundMs(o.ms), ok: true, ...optional(o) });
    },
    (e: unknown) => trace({ step, ms: roundMs(performance.now() - started), ok: false, detail: errorLine(e, ...[where ?? []].flat()) }),
  );
  return promise;
}

function optional(o: StepOutcome): Pick<TraceStep, "detail" | "raw"> {
  return { ...(o.detail !== undefined ? { detail: o.detail } : {}), ...(o.raw !== undefined ? { raw: o.raw } : {}) };
}

/**
 * An error in a line, for a failed step: its message, first line only,
 * without the leading "where: " that drivers put in their messages (the
 * step's name says where).
 */
export function errorLine(err: unknown, ...where: (string | undefined)[]): string {
  const m = err instanceof Error ? err.message : String(err);
  const line = m.split("\n", 1)[0] ?? m;
  for (const w of where) if (w !== undefined && line.startsWith(`${w}: `)) return line.slice(w.length + 2);
  return line;
}

/** 16-bit register words as hex: "0x0001 0x00ff". */
export function hexWords(words: readonly number[]): string {
  return words.map((w) => `0x${w.toString(16).padStart(4, "0")}`).join(" ");
}

/** Coils or discrete inputs as "1 0 0 1". */
export function bitString(bits: readonly boolean[]): string {
  return bits.map((b) => (b ? "1" : "0")).join(" ");
}

/** What httpHead() reads of a response (node's IncomingMessage has it all). */
export interface HttpHead {
  httpVersion: string;
  statusCode?: number | undefined;
  statusMessage?: string | undefined;
  rawHeaders: readonly string[];
}

/** An HTTP answer's head as received: its status line, then one "name: value" line per header. */
export function httpHead(res: HttpHead): string {
  const lines = [`HTTP/${res.httpVersion} ${res.statusCode ?? 0} ${res.statusMessage ?? ""}`.trimEnd()];
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
  return lines.join("\n");
}
