/**
 * Logging: pino JSON to stdout (journald keeps it as-is), human-readable when
 * stdout is a terminal. Secrets are redacted by key wherever they appear; the
 * config loader also keeps secret values out of the config object itself.
 *
 * A RecentLog keeps the last warnings and errors in memory for
 * `campus-agent status`: it is fed the same redacted lines as stdout.
 */
import { type DestinationStream, type Logger, pino } from "pino";
import pretty from "pino-pretty";

export const REDACT_PATHS = [
  "password",
  "*.password",
  "*.*.password",
  "secrets",
  "*.secrets",
  "brokerPassword",
  "*.brokerPassword",
  "key",
  "*.key",
  "authorization",
  "*.authorization",
  "*.headers.authorization",
];

export interface LogOptions {
  level: string;
  /** Pretty output; defaults to whether stdout is a terminal. */
  pretty?: boolean;
  destination?: DestinationStream;
  /** Also keep the last records at warn level or above here. */
  recent?: RecentLog;
}

export function createLogger(opts: LogOptions): Logger {
  const base = {
    level: opts.level,
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    base: { pid: process.pid },
  };
  const usePretty = opts.destination === undefined && (opts.pretty ?? process.stdout.isTTY === true);
  const main: DestinationStream = opts.destination ??
    (usePretty ? pretty({ colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname", sync: true }) : pino.destination());
  if (opts.recent === undefined) return pino(base, main);
  // A multistream hands every stream the line as serialised, so after redaction: the ring never sees a secret.
  const streams = pino.multistream([
    { level: opts.level as pino.Level, stream: main },
    { level: "warn", stream: opts.recent },
  ]);
  return pino(base, streams);
}

/** One warning or error, as `campus-agent status` shows it. */
export interface RecentLogEntry {
  /** ISO time of the record. */
  time: string;
  level: "warn" | "error" | "fatal";
  /** Bindings that say where it came from (child loggers): the agent module, the device, the driver kind. */
  module?: string;
  device?: string;
  driver?: string;
  msg: string;
  /** The logged error's message, when one was logged. */
  error?: string;
}

const LEVEL_NAMES: Record<number, RecentLogEntry["level"]> = { 40: "warn", 50: "error", 60: "fatal" };

/** Log text ends up on an 80-column terminal: keep each field to a line or two. */
const MAX_TEXT_CHARS = 300;

/**
 * The last `capacity` records at warn level or above, oldest first, from the
 * serialised (redacted) log lines. Bounded: a ring of at most `capacity`
 * entries, each field clipped. A pino destination (write a line).
 */
export class RecentLog implements DestinationStream {
  private readonly ring: RecentLogEntry[] = [];
  private next = 0;
  private count = 0;

  constructor(readonly capacity = 20) {
    if (!(Number.isInteger(capacity) && capacity >= 1)) throw new RangeError(`RecentLog capacity must be a positive integer, got ${capacity}`);
  }

  write(line: string): void {
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return; // not one of our JSON lines: nothing to show
    }
    const level = typeof rec.level === "number" ? LEVEL_NAMES[rec.level] : undefined;
    // Alarms are logged at warn so they stand out in the journal; they are not the gateway's errors.
    if (level === undefined || rec.alarm !== undefined) return;
    const entry: RecentLogEntry = {
      time: new Date(typeof rec.time === "number" ? rec.time : Date.now()).toISOString(),
      level,
      msg: clip(typeof rec.msg === "string" ? rec.msg : ""),
    };
    for (const key of ["module", "device", "driver"] as const) {
      if (typeof rec[key] === "string") entry[key] = clip(rec[key]);
    }
    const err = rec.err as { message?: unknown } | undefined;
    if (typeof err?.message === "string" && err.message !== "") entry.error = clip(err.message);
    this.count++;
    if (this.ring.length < this.capacity) this.ring.push(entry);
    else this.ring[this.next] = entry;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Records seen since the start, including those the ring no longer holds. */
  get total(): number {
    return this.count;
  }

  /** A copy of what the ring holds, oldest first. */
  entries(): RecentLogEntry[] {
    if (this.ring.length < this.capacity) return this.ring.map((e) => ({ ...e }));
    return [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)].map((e) => ({ ...e }));
  }
}

function clip(text: string): string {
  const oneLine = text.replace(/\s+/g, " ").trim();
  return oneLine.length <= MAX_TEXT_CHARS ? oneLine : `${oneLine.slice(0, MAX_TEXT_CHARS - 1)}…`;
}
