/**
 * Logging: pino JSON to stdout (journald keeps it as-is), human-readable when
 * stdout is a terminal. Secrets are redacted by key wherever they appear; the
 * config loader also keeps secret values out of the config object itself.
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
}

export function createLogger(opts: LogOptions): Logger {
  const base = {
    level: opts.level,
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    base: { pid: process.pid },
  };
  if (opts.destination) return pino(base, opts.destination);
  const usePretty = opts.pretty ?? process.stdout.isTTY === true;
  if (usePretty) {
    return pino(base, pretty({ colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname", sync: true }));
  }
  return pino(base);
}
