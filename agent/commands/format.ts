/**
 * Plain-text building blocks for the CLI's reports (`status`, `devices`):
 * borderless, colourless tables (cli-table3 lays out the columns, wide
 * characters included) and short times, sizes and ages. No colour at all:
 * the output goes to slow SSH sessions, log files and pipes alike.
 */
import Table from "cli-table3";
import { controlRequest } from "../control/client.js";
import { ControlError, REQUEST_ERRORS } from "../control/protocol.js";

const NO_BORDERS = {
  top: "",
  "top-mid": "",
  "top-left": "",
  "top-right": "",
  bottom: "",
  "bottom-mid": "",
  "bottom-left": "",
  "bottom-right": "",
  left: "",
  "left-mid": "",
  mid: "",
  "mid-mid": "",
  right: "",
  "right-mid": "",
  middle: "  ",
};

export type Align = "left" | "right";

/**
 * Rows under an optional header, columns two spaces apart, each line indented
 * by `indent` and without trailing spaces. One line per row: cells are made
 * single-line first.
 */
export function table(rows: readonly (readonly string[])[], opts: { head?: readonly string[]; align?: readonly Align[]; indent?: string } = {}): string[] {
  const t = new Table({
    ...(opts.head ? { head: opts.head.map(oneLine) } : {}),
    ...(opts.align ? { colAligns: [...opts.align] } : {}),
    chars: NO_BORDERS,
    // No colour codes, whatever the terminal: cli-table3 colours headers and borders unless told not to.
    style: { head: [], border: [], "padding-left": 0, "padding-right": 0, compact: true },
  });
  for (const r of rows) t.push(r.map(oneLine));
  if (rows.length === 0 && !opts.head) return [];
  const indent = opts.indent ?? "";
  return t
    .toString()
    .split("\n")
    .map((l) => `${indent}${l}`.trimEnd());
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, " ");
}

/** A duration, coarser as it grows: 0.4s, 12s, 4m 05s, 3h 12m, 2d 04h. */
export function duration(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 10) return `${(Math.floor(s * 10) / 10).toFixed(1)}s`;
  if (s < 60) return `${Math.floor(s)}s`;
  const pad = (n: number) => String(n).padStart(2, "0");
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(Math.floor(s % 60))}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d ${pad(Math.floor((s % 86_400) / 3600))}h`;
}

/** How long before `now` (both ISO): "12s ago", or "never". */
export function ago(now: string, then: string | null): string {
  return then === null ? "never" : `${duration(Date.parse(now) - Date.parse(then))} ago`;
}

/** The gateway's local time of day, with the date when not the same day as `now`. */
export function clockTime(now: string, then: string): string {
  const t = new Date(then);
  const n = new Date(now);
  const pad = (x: number) => String(x).padStart(2, "0");
  const time = `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}`;
  const sameDay = t.getFullYear() === n.getFullYear() && t.getMonth() === n.getMonth() && t.getDate() === n.getDate();
  return sameDay ? time : `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${time}`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** What a command prints when it could not get its answer from the agent. */
export interface CommandFailure {
  ok: false;
  error: { code: string; message: string };
}

/**
 * Say why a command could not get its answer: the failure as JSON on stdout
 * with --json (scripts read one place), else one line on stderr. Returns `exit`.
 */
export function reportFailure(
  command: string,
  error: CommandFailure["error"],
  exit: number,
  io: { json: boolean; out: NodeJS.WritableStream; err: NodeJS.WritableStream },
): number {
  const failure: CommandFailure = { ok: false, error };
  if (io.json) io.out.write(`${JSON.stringify(failure)}\n`);
  else io.err.write(`campus-agent ${command}: ${error.message}\n`);
  return exit;
}

/**
 * Ask the running agent `method` over its control socket. A failure is
 * returned, not thrown: with its exit code (2 when the request was wrong,
 * 1 when the agent could not be asked or could not answer).
 */
export async function ask<T>(
  socket: string,
  method: string,
  params: Record<string, unknown>,
  timeoutMs: number,
): Promise<{ ok: true; result: T } | (CommandFailure & { exit: 1 | 2 })> {
  try {
    return { ok: true, result: (await controlRequest(socket, method, params, timeoutMs)) as T };
  } catch (e) {
    const error = e instanceof ControlError ? { code: e.code, message: e.message } : { code: "failed", message: e instanceof Error ? e.message : String(e) };
    return { ok: false, error, exit: REQUEST_ERRORS.has(error.code) ? 2 : 1 };
  }
}
