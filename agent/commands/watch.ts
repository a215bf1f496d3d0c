/**
 * `campus-agent watch`: follow the campus live, as the district sees it —
 * the gateway's status and events, every device's status changes, events
 * and alarms (telemetry with --telemetry), one line each, as they arrive at
 * the broker. The broker comes from the running agent (its control socket:
 * the demo's port may differ from the config's), else from the config's
 * broker.url when the agent does not answer. Retained messages delivered on
 * subscribing are the current state, not news: only the gateway's status is
 * shown from them.
 *
 * Runs until SIGINT/SIGTERM, or until --count lines were printed. Exit 0
 * then; 1 when the broker cannot be reached, refuses the subscription or
 * drops the connection; 2 usage or config errors.
 */
import type { LoadedConfig } from "../../config/load.js";
import { controlRequest } from "../control/client.js";
import { ControlError } from "../control/protocol.js";
import { brokerCredentials, redactUrl } from "../mqtt/connection.js";
import { BrokerConsumer, type ConsumerMessage } from "../mqtt/consumer.js";
import { Topics } from "../mqtt/contract.js";

export interface WatchArgs {
  socket: string | undefined;
  json: boolean;
  telemetry: boolean;
  /** Stop after this many lines. */
  count?: number | undefined;
  /** Stops the watch (SIGINT/SIGTERM in the CLI). */
  signal: AbortSignal;
}

interface About {
  broker_url: string;
  campus: string;
  gateway: string;
}

/** The topics watched, under the campus and gateway ids. */
export function watchTopics(campus: string, gateway: string, telemetry: boolean): string[] {
  const t = new Topics(campus, gateway);
  return [t.gatewayStatus(), t.gatewayEvent(), t.deviceStatus("+"), t.deviceEvent("+"), t.deviceAlarm("+"), ...(telemetry ? [t.deviceTelemetry("+")] : [])];
}

export async function watch(loaded: LoadedConfig, args: WatchArgs, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  let about: About;
  try {
    if (args.socket === undefined) throw new ControlError("not_running", "no control socket configured");
    about = (await controlRequest(args.socket, "ping", {}, 3000)) as About;
  } catch (e) {
    const url = loaded.config.broker.url;
    if (url === undefined) {
      err.write(`campus-agent: ${(e as Error).message}; and the config names no central broker to watch instead (embedded broker)\n`);
      return 1;
    }
    err.write(`campus-agent: the agent does not answer (${(e as Error).message}); watching the broker ${redactUrl(url)} from the config\n`);
    about = { broker_url: url, campus: loaded.config.campus.id, gateway: loaded.config.gateway.id };
  }
  let consumer: BrokerConsumer;
  const topics = watchTopics(about.campus, about.gateway, args.telemetry);
  try {
    consumer = await BrokerConsumer.connect(about.broker_url, brokerCredentials(loaded), "watch", 10_000);
  } catch (e) {
    err.write(`campus-agent: cannot connect to ${redactUrl(about.broker_url)}: ${(e as Error).message}\n`);
    return 1;
  }
  let printed = 0;
  let lost: string | undefined;
  const done = new Promise<void>((resolve) => {
    const stop = () => resolve();
    if (args.signal.aborted) stop();
    args.signal.addEventListener("abort", stop, { once: true });
    consumer.onClose(() => {
      lost = "the broker closed the connection";
      stop();
    });
    consumer.onMessage((m) => {
      if (args.count !== undefined && printed >= args.count) return;
      const line = args.json ? jsonLine(m) : describe(m);
      if (line === undefined) return;
      out.write(`${line}\n`);
      printed++;
      if (args.count !== undefined && printed >= args.count) stop();
    });
  });
  try {
    for (const t of topics) await consumer.subscribe(t);
  } catch (e) {
    await consumer.close();
    err.write(`campus-agent: ${(e as Error).message}\n`);
    return 1;
  }
  err.write(`watching campus ${about.campus} at ${redactUrl(about.broker_url)} (Ctrl-C to stop)\n`);
  await done;
  await consumer.close();
  if (lost !== undefined && (args.count === undefined || printed < args.count) && !args.signal.aborted) {
    err.write(`campus-agent: ${lost}\n`);
    return 1;
  }
  return 0;
}

function parse(m: ConsumerMessage): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(m.payload.toString()) as unknown;
    return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a message is news: retained deliveries are the current state, shown only for the gateway's status. */
function isNews(m: ConsumerMessage): boolean {
  return !m.retain || m.topic.includes("/gateway/");
}

function jsonLine(m: ConsumerMessage): string | undefined {
  if (!isNews(m)) return undefined;
  return JSON.stringify({ topic: m.topic, retained: m.retain, received_at: new Date().toISOString(), payload: parse(m) ?? m.payload.toString() });
}

const str = (v: unknown): string => (typeof v === "string" ? v : v === undefined || v === null ? "" : JSON.stringify(v));

/** identity_changed has no message: what changed, from what to what ("firmware 5.2.0 -> 7.4.1"). */
function identityLine(p: Record<string, unknown>): string {
  const from = (p.from ?? {}) as Record<string, unknown>;
  const to = (p.to ?? {}) as Record<string, unknown>;
  const fields = Array.isArray(p.changed) ? p.changed.map(str) : [];
  const what = fields.map((f) => (p.from === null ? `${f} ${str(to[f])}` : `${f} ${str(from[f]) || "(none)"} -> ${str(to[f])}`)).join(", ");
  return `identity_changed${typeof p.change === "string" ? ` (${p.change})` : ""}: ${what}`;
}

/** One line for a person: time, what, who, the message. Undefined: not shown. */
export function describe(m: ConsumerMessage): string | undefined {
  if (!isNews(m)) return undefined;
  const p = parse(m);
  const parts = m.topic.split("/");
  const kind = parts[4] ?? "?";
  const who = parts[3] ?? "?";
  const time = typeof p?.ts === "string" ? p.ts.slice(11, 19) : new Date().toISOString().slice(11, 19);
  const row = (what: string, text: string) => `${time}  ${what.padEnd(9)}  ${who.padEnd(22)}  ${text}`;
  if (p === undefined) return row(kind, m.payload.length === 0 ? "(cleared)" : "(not JSON)");
  if (parts[2] === "gateway") {
    if (kind === "status") return row("gateway", `${str(p.state)} (${str(p.reason)})${m.retain ? " [current]" : ""}`);
    return row("gateway", `${str(p.type)}: ${str(p.message)}`);
  }
  switch (kind) {
    case "status":
      return row("status", `${str(p.state)} (${str(p.reason)}): ${str(p.reason_text)}`);
    case "alarm":
      return row(p.test === true ? "TEST" : "ALARM", `${str(p.phase)} ${str(p.type)}: ${str(p.message)}`);
    case "event": {
      if (p.type === "status_changed") {
        const from = p.from as { state?: unknown } | null | undefined;
        const to = (p.to ?? {}) as { state?: unknown; reason?: unknown };
        return row("event", `status_changed: ${from ? str(from.state) : "(first seen)"} -> ${str(to.state)} (${str(to.reason)})`);
      }
      if (p.type === "identity_changed") return row("event", identityLine(p));
      return row("event", `${str(p.type)}: ${str(p.message)}`);
    }
    default:
      return row(kind, `${str(p.state)} ${str(p.reason)} ${p.response_time_ms === null ? "" : `${str(p.response_time_ms)} ms`}`.trim());
  }
}
