/**
 * What `probe` and `discover` share: ask the running agent, and when it does
 * not run (or --standalone), do the work with driver instances of the CLI's
 * own, built from the config file's kinds.
 */
import pino, { type Logger } from "pino";
import type { Driver, DriverFactory } from "../../drivers/contract.js";
import { systemClock } from "../clock.js";
import { ask, reportFailure } from "./format.js";

export interface AgentTarget {
  /** The running agent's control socket; absent: do it alone. */
  socket?: string | undefined;
  /** Do not ask the agent, even when it runs. */
  standalone: boolean;
  json: boolean;
}

/**
 * Ask the running agent `method`: its answer; or, when it is not running (or
 * is not to be asked), that the command must do it alone, with why when the
 * agent was tried; or the exit code of a failure already reported.
 */
export async function askRunningAgent<T>(
  command: string,
  target: AgentTarget,
  request: { method: string; params: Record<string, unknown>; waitMs: number },
  io: { out: NodeJS.WritableStream; err: NodeJS.WritableStream },
): Promise<{ answer: T } | { alone: true; fallback?: string } | { exit: number }> {
  if (target.standalone || target.socket === undefined) return { alone: true };
  const r = await ask<T>(target.socket, request.method, request.params, request.waitMs);
  if (r.ok) return { answer: r.result };
  if (r.error.code === "not_running") return { alone: true, fallback: r.error.message };
  return { exit: reportFailure(command, r.error, r.exit, { json: target.json, ...io }) };
}

/** Driver instances of the CLI's own, one per kind, made when first needed; close() releases them all. */
export class OwnDrivers {
  readonly log: Logger = pino({ level: "silent" });
  private readonly made = new Map<string, Driver<unknown>>();

  constructor(private readonly factories: readonly DriverFactory[]) {}

  factory(kind: string): DriverFactory {
    const factory = this.factories.find((f) => f.kind === kind);
    if (factory === undefined) throw new Error(`no driver registered for kind "${kind}"`);
    return factory;
  }

  driverFor(kind: string): Driver<unknown> {
    let d = this.made.get(kind);
    if (d === undefined) {
      d = this.factory(kind).create({ log: this.log, clock: systemClock }) as Driver<unknown>;
      this.made.set(kind, d);
    }
    return d;
  }

  async close(): Promise<void> {
    await Promise.all([...this.made.values()].map((d) => d.close?.().catch(() => {})));
  }
}
