/**
 * `campus-agent status`: the gateway at a glance, from the running agent
 * over its control socket (it changes nothing): who it is and since when,
 * the broker connection and the last successful publish, the outbox, the
 * devices by kind and state, and the last warnings and errors it logged.
 *
 * Exit codes: 0 nothing wrong; 1 a problem found (the agent cannot be asked,
 * the broker is not connected, the publisher reports an error, messages were
 * dropped, a device is offline); 2 the request was wrong.
 */
import type { StatusView } from "../control/views.js";
import { ago, ask, bytes, clockTime, type CommandFailure, duration, plural, reportFailure, table } from "./format.js";

export interface StatusArgs {
  socket: string;
  json: boolean;
  timeoutMs?: number;
}

/** What `--json` prints: the agent's answer, whether all is well, and why not. */
export type StatusOutcome = (StatusView & { ok: boolean; problems: string[] }) | CommandFailure;

export async function status(args: StatusArgs, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const r = await ask<StatusView>(args.socket, "status", {}, args.timeoutMs ?? 5000);
  if (!r.ok) return reportFailure("status", r.error, r.exit, { json: args.json, out, err });
  const problems = statusProblems(r.result);
  const outcome: StatusOutcome = { ok: problems.length === 0, problems, ...r.result };
  out.write(args.json ? `${JSON.stringify(outcome)}\n` : renderStatus(r.result, problems));
  return problems.length === 0 ? 0 : 1;
}

/** What is wrong, one line each; empty when nothing is. */
export function statusProblems(v: StatusView): string[] {
  const problems: string[] = [];
  const b = v.broker;
  if (!b.connected) {
    const since = b.last_disconnect_at === null ? "" : ` for ${duration(Date.parse(v.now) - Date.parse(b.last_disconnect_at))}`;
    problems.push(`not connected to the broker ${b.url}${since}${b.last_error ? `: ${b.last_error.message}` : ""}`);
  } else if (b.last_error) {
    problems.push(`broker: ${b.last_error.code}: ${b.last_error.message}`);
  }
  const dropped = Object.entries(v.outbox.dropped).filter(([, n]) => n > 0);
  if (dropped.length > 0) {
    const total = dropped.reduce((sum, [, n]) => sum + n, 0);
    problems.push(`${plural(total, "message")} dropped since the outbox was created (${dropped.map(([k, n]) => `${k} ${n}`).join(", ")}): it was full; see outbox.max_size_mb`);
  }
  const offline = v.devices.attention.filter((d) => d.status === "offline");
  if (offline.length > 0) problems.push(`${plural(offline.length, "device")} offline: ${offline.map((d) => d.id).join(", ")}`);
  return problems;
}

export function renderStatus(v: StatusView, problems: readonly string[]): string {
  const lines: string[] = [];
  const at = (iso: string) => `${ago(v.now, iso)} (${clockTime(v.now, iso)})`;

  lines.push(`campus-agent ${v.agent.version}: campus ${v.campus}, gateway ${v.gateway}`);
  lines.push(
    ...table(
      [
        ["pid", `${v.agent.pid}, up ${duration(v.agent.uptime_s * 1000)} (since ${clockTime(v.now, v.agent.started_at)})`],
        ["config", v.agent.config_file],
      ],
      { indent: "  " },
    ),
  );

  const b = v.broker;
  lines.push("", `Broker  ${b.url}${b.embedded ? " (embedded)" : ""}`);
  const link = b.connected
    ? `connected for ${duration(Date.parse(v.now) - Date.parse(b.connected_since ?? v.now))}${b.connected_since ? ` (since ${clockTime(v.now, b.connected_since)})` : ""}`
    : `NOT CONNECTED${b.last_disconnect_at ? ` since ${at(b.last_disconnect_at)}` : " (never connected)"}`;
  const brokerRows = [
    ["state", link],
    ["last publish", b.last_ack_at === null ? "none yet" : `${at(b.last_ack_at)}; ${b.acked} acked since the start, ${b.in_flight} in flight`],
    ["last error", b.last_error === null ? "none" : `${b.last_error.code}: ${b.last_error.message} (${ago(v.now, b.last_error.at)})`],
  ];
  if (b.blocked_streams.length > 0) brokerRows.push(["held back", `${b.blocked_streams.join(", ")} (the broker refused a message of theirs)`]);
  lines.push(...table(brokerRows, { indent: "  " }));

  const o = v.outbox;
  lines.push("", `Outbox  ${plural(o.total, "message")} waiting, ${bytes(o.bytes)}`);
  const droppedTotal = o.dropped.alarm + o.dropped.event + o.dropped.telemetry;
  lines.push(
    ...table(
      [
        ["by class", `alarm ${o.depth.alarm}, event ${o.depth.event}, telemetry ${o.depth.telemetry}; ${o.in_flight} in flight`],
        ["oldest", o.oldest_created_at === null ? "-" : `${duration((o.oldest_age_s ?? 0) * 1000)} old`],
        ["dropped", droppedTotal === 0 ? "none" : `alarm ${o.dropped.alarm}, event ${o.dropped.event}, telemetry ${o.dropped.telemetry} (outbox full)`],
      ],
      { indent: "  " },
    ),
  );

  const d = v.devices;
  lines.push("", `Devices  ${d.total}: ${d.online} online, ${d.degraded} degraded, ${d.offline} offline, ${d.unknown} unknown`);
  const kinds = Object.entries(d.by_kind).sort(([a], [b2]) => a.localeCompare(b2));
  if (kinds.length > 0) {
    lines.push(
      ...table(
        kinds.map(([kind, c]) => [kind, String(c.total), String(c.online), String(c.degraded), String(c.offline), String(c.unknown)]),
        { head: ["KIND", "TOTAL", "ONLINE", "DEGRADED", "OFFLINE", "UNKNOWN"], align: ["left", "right", "right", "right", "right", "right"], indent: "  " },
      ),
    );
  }
  if (d.attention.length > 0) {
    lines.push("", "  Offline or degraded (campus-agent devices for the details):");
    lines.push(...table(d.attention.map((a) => [a.status, a.id, a.kind, a.reason_text]), { indent: "    " }));
  }

  const r = v.recent_errors;
  lines.push("", r.total === 0 ? "Recent warnings and errors: none since the start" : `Recent warnings and errors: ${r.total} since the start${r.total > r.entries.length ? `, the last ${r.entries.length}` : ""}`);
  if (r.entries.length > 0) {
    lines.push(
      ...table(
        r.entries.map((e) => [clockTime(v.now, e.time), e.level, e.device ?? e.module ?? e.driver ?? "agent", e.error ? `${e.msg}: ${e.error}` : e.msg]),
        { head: ["TIME", "LEVEL", "FROM", "MESSAGE"], indent: "  " },
      ),
    );
  }

  lines.push("");
  if (problems.length === 0) lines.push("OK: connected to the broker, nothing dropped, no device offline.");
  else lines.push(`PROBLEMS (${problems.length}):`, ...problems.map((p) => `  - ${p}`));
  return `${lines.join("\n")}\n`;
}
