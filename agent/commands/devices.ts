/**
 * `campus-agent devices [--status S] [--kind K] [--building B]`: one row per
 * device, from the running agent over its control socket (it changes
 * nothing): kind, location, state and reason, when it last answered and how
 * fast, firmware. The reason's text goes on a line of its own under a device
 * that is not online and well.
 *
 * Exit codes: 0 no listed device is offline or degraded (an empty list
 * included); 1 one is, or the agent cannot be asked; 2 the request was wrong
 * (an unknown state or kind).
 */
import type { DeviceFilter, DeviceRow, DevicesView } from "../control/views.js";
import { ago, ask, type CommandFailure, plural, reportFailure, table } from "./format.js";

export interface DevicesArgs {
  socket: string;
  json: boolean;
  filter: DeviceFilter;
  timeoutMs?: number;
}

/** What `--json` prints: the agent's answer, and whether every listed device is online (or unknown). */
export type DevicesOutcome = (DevicesView & { ok: boolean }) | CommandFailure;

export async function devices(args: DevicesArgs, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const r = await ask<DevicesView>(args.socket, "devices", { ...args.filter }, args.timeoutMs ?? 5000);
  if (!r.ok) return reportFailure("devices", r.error, r.exit, { json: args.json, out, err });
  const code = devicesExitCode(r.result);
  const outcome: DevicesOutcome = { ok: code === 0, ...r.result };
  out.write(args.json ? `${JSON.stringify(outcome)}\n` : renderDevices(r.result));
  return code;
}

const troubled = (d: DeviceRow) => d.status === "offline" || d.status === "degraded";

export function devicesExitCode(v: DevicesView): 0 | 1 {
  return v.devices.some(troubled) ? 1 : 0;
}

export function renderDevices(v: DevicesView): string {
  const f = v.filter;
  const filters = [f.status && `status ${f.status}`, f.kind && `kind ${f.kind}`, f.building && `building ${f.building}`].filter(Boolean).join(", ");
  const lines: string[] = [];
  const scope = filters === "" ? plural(v.total, "device") : `${v.devices.length} of ${v.total} (${filters})`;
  lines.push(`Devices of campus ${v.campus}, gateway ${v.gateway}: ${scope}`);
  if (v.devices.length === 0) {
    const hint = f.building !== undefined ? `; buildings: ${v.buildings.join(", ") || "none given"}` : "";
    lines.push(v.total === 0 ? "No device is configured." : `No device matches${hint}.`);
    return `${lines.join("\n")}\n`;
  }
  const rows = v.devices.map((d) => [
    d.id,
    d.kind,
    location(d),
    d.status,
    d.reason ?? "-",
    ago(v.now, d.last_seen),
    d.response_time_ms === null ? "-" : `${d.response_time_ms < 10 ? d.response_time_ms.toFixed(1) : Math.round(d.response_time_ms)} ms`,
    d.firmware ?? "-",
  ]);
  const [head = "", ...body] = table(rows, {
    head: ["ID", "KIND", "LOCATION", "STATUS", "REASON", "LAST SEEN", "RESPONSE", "FIRMWARE"],
    align: ["left", "left", "left", "left", "left", "left", "right", "left"],
  });
  lines.push(head);
  // One line per row (table() keeps cells on one line): the reason's text goes under its device.
  v.devices.forEach((d, i) => {
    lines.push(body[i] ?? "");
    if (d.reason_text !== null && !(d.status === "online" && d.reason === "ok")) lines.push(`    ${d.reason_text}`);
  });
  const count = (s: DeviceRow["status"]) => v.devices.filter((d) => d.status === s).length;
  const bad = v.devices.filter(troubled);
  lines.push(
    "",
    `${plural(v.devices.length, "device")}: ${count("online")} online, ${count("degraded")} degraded, ${count("offline")} offline, ${count("unknown")} unknown.`,
  );
  if (bad.length > 0) lines.push(`PROBLEM: ${bad.map((d) => `${d.id} ${d.status}`).join(", ")}.`);
  return `${lines.join("\n")}\n`;
}

function location(d: DeviceRow): string {
  const l = d.location;
  return [l.building, l.floor, l.room].filter((x) => x !== undefined).join(" / ") || "-";
}
