/**
 * `campus-agent probe DEVICE`: poll one device now, step by step with
 * timings, raw answers and the decoded reading; nothing is published or
 * stored (agent/probe.ts). Through the running agent when it answers on its
 * control socket (its driver, so a serial bus stays its own, and the
 * device's memory); else, or with --standalone, with a driver of the CLI's
 * own built from the config.
 *
 * Exit codes: 0 the device answered and is well; 1 it failed, is degraded,
 * or could not be probed; 2 unknown device or a usage error.
 */
import { effectivePoll } from "../../config/schema.js";
import type { LoadedConfig } from "../../config/load.js";
import type { DriverFactory, Identity, TraceStep } from "../../drivers/contract.js";
import { systemClock } from "../clock.js";
import { deviceRef } from "../devices.js";
import { type ProbeCall, probeDevice, type ProbeResult } from "../probe.js";
import { reportFailure, table } from "./format.js";
import { type AgentTarget, askRunningAgent, OwnDrivers } from "./standalone.js";

export interface ProbeArgs extends AgentTarget {
  device: string;
  /** Deadline of the poll (and of the identify): default the device's poll timeout. */
  timeoutMs?: number | undefined;
  /** Show every raw answer in the text output, long ones too. */
  raw?: boolean;
  /** The config, for a standalone probe. */
  loaded: LoadedConfig;
  drivers: readonly DriverFactory[];
}

/**
 * Raw answers up to this long are shown under their step (register words,
 * status lines); longer ones (SOAP envelopes) only with --raw, so that a
 * probe reads well over a slow SSH session. --json has them all.
 */
const SHORT_RAW_CHARS = 160;

export async function probe(args: ProbeArgs, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const params = { device: args.device, ...(args.timeoutMs !== undefined ? { timeout_ms: args.timeoutMs } : {}) };
  // Poll and identify, each under the deadline, and the answer's way back.
  const waitMs = 2 * (args.timeoutMs ?? 60_000) + 5000;
  const asked = await askRunningAgent<ProbeResult & { agent: Record<string, unknown> }>("probe", args, { method: "probe", params, waitMs }, { out, err });
  if ("exit" in asked) return asked.exit;
  if ("answer" in asked) return report(asked.answer, undefined, args, out);
  const device = args.loaded.config.devices.find((d) => d.id === args.device);
  if (device === undefined) {
    return reportFailure("probe", { code: "unknown_device", message: `no device ${JSON.stringify(args.device)} in ${args.loaded.file}` }, 2, {
      json: args.json,
      out,
      err,
    });
  }
  const own = new OwnDrivers(args.drivers);
  const timeoutMs = args.timeoutMs ?? effectivePoll(device, args.loaded.config.polling, own.factory(device.kind).pollDefaults).timeout_ms;
  try {
    const result = await probeDevice({
      kind: device.kind,
      driver: own.driverFor(device.kind),
      ref: deviceRef(device, timeoutMs),
      via: "standalone",
      log: own.log,
      clock: systemClock,
    });
    return report(result, asked.fallback, args, out);
  } finally {
    await own.close();
  }
}

function report(r: ProbeResult & { agent?: Record<string, unknown> }, fallback: string | undefined, args: ProbeArgs, out: NodeJS.WritableStream): number {
  const ok = probeOk(r);
  out.write(args.json ? `${JSON.stringify({ ok, ...r, ...(fallback !== undefined ? { fallback } : {}) })}\n` : renderProbe(r, fallback, args.raw === true));
  return ok ? 0 : 1;
}

/** Well: the poll answered healthy, and the identity read (where the kind has one) worked. */
export function probeOk(r: ProbeResult): boolean {
  return r.poll.ok && r.poll.reading?.health === "ok" && (r.identify === undefined || r.identify.ok);
}

export function renderProbe(r: ProbeResult & { agent?: Record<string, unknown> }, fallback?: string, raw = false): string {
  const lines: string[] = [];
  const pid = r.agent?.pid;
  const how =
    r.via === "agent"
      ? `through the running agent (pid ${String(pid)}${r.with_memory ? ", with what it remembers of the device" : ""})`
      : `with a driver of its own (the agent was not asked${fallback !== undefined ? `: ${fallback}` : ""})`;
  lines.push(`probe ${r.device} (${r.kind}) ${how}; deadline ${r.timeout_ms} ms; nothing is published`);
  lines.push("");
  lines.push(...renderCall("poll", r.poll, raw));
  const reading = r.poll.reading;
  if (reading !== undefined) {
    const rt = `answered in ${reading.response_time_ms} ms`;
    lines.push(
      reading.health === "ok"
        ? `  => online, ${rt}`
        : `  => degraded (${reading.reason}${reading.reason_text !== undefined ? `: ${reading.reason_text}` : ""}), ${rt}`,
    );
    const metrics = Object.entries(reading.metrics);
    if (metrics.length > 0) {
      lines.push("  metrics:");
      lines.push(...table(metrics.map(([k, v]) => [k, JSON.stringify(v)]), { indent: "    " }));
    }
    if (reading.identity !== undefined) lines.push(`  identity: ${identityLine(reading.identity)}`);
    for (const e of reading.events) lines.push(`  event found, not published: ${e.type}: ${e.text}`);
    for (const a of reading.alarms) lines.push(`  alarm found, not published: ${a.phase} ${a.type}${a.test ? " (test)" : ""}: ${a.text}`);
  }
  if (r.identify !== undefined) {
    lines.push("");
    lines.push(...renderCall("identify", r.identify, raw));
    if (r.identify.identity !== undefined) lines.push(`  => ${identityLine(r.identify.identity)}`);
  }
  lines.push("");
  lines.push(probeOk(r) ? "OK" : `PROBLEM: ${problem(r)}`);
  return `${lines.join("\n")}\n`;
}

function renderCall(name: string, c: ProbeCall, all: boolean): string[] {
  const lines = [`${name}: ${c.ok ? "ok" : "FAILED"} in ${c.ms} ms`];
  if (c.steps.length > 0) {
    const rows: string[][] = [];
    for (const s of c.steps) rows.push([s.step, s.ms.toFixed(1), s.ok ? "ok" : "FAILED", s.detail ?? ""]);
    const t = table(rows, { head: ["step", "ms", "", "result"], align: ["left", "right", "left", "left"], indent: "  " });
    // Each step's raw answer goes under its row (the table keeps rows on one line).
    lines.push(t[0] ?? "");
    c.steps.forEach((s, i) => {
      lines.push(t[i + 1] ?? "");
      if (s.raw !== undefined) lines.push(...rawLines(s, all));
    });
  }
  if (c.steps_cut > 0) lines.push(`  (${c.steps_cut} more steps not kept)`);
  if (c.error !== undefined) lines.push(`  => ${c.error.code}: ${c.error.message}`);
  return lines;
}

function rawLines(s: TraceStep, all: boolean): string[] {
  const raw = s.raw ?? "";
  if (!all && raw.length > SHORT_RAW_CHARS) return [`      raw: ${raw.length} characters (--raw shows them)`];
  return raw
    .replace(/\r/g, "")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l, i) => `${i === 0 ? "      raw: " : "           "}${l.trim()}`);
}

const IDENTITY_FIELDS = ["manufacturer", "model", "serial", "firmware", "hardware_id", "mac"] as const;

function identityLine(i: Identity): string {
  const parts = IDENTITY_FIELDS.filter((k) => i[k] !== undefined).map((k) => `${k} ${String(i[k])}`);
  return parts.length > 0 ? parts.join(", ") : "nothing reported";
}

function problem(r: ProbeResult): string {
  if (!r.poll.ok) return `the poll failed: ${r.poll.error?.code ?? "?"}: ${r.poll.error?.message ?? ""}`;
  const reading = r.poll.reading;
  if (reading !== undefined && reading.health !== "ok") return `the device is degraded: ${reading.reason}${reading.reason_text !== undefined ? ` (${reading.reason_text})` : ""}`;
  return `the identity read failed: ${r.identify?.error?.code ?? "?"}: ${r.identify?.error?.message ?? ""}`;
}
