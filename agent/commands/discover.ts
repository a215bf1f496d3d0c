/**
 * `campus-agent discover`: what answers on the campus (ONVIF WS-Discovery,
 * a unit-id scan of every Modbus endpoint the config names) against the
 * config: devices found and configured, found and unknown, configured and
 * not found. Through the running agent when it answers on its control
 * socket (its drivers share a serial line's queue with the polls); else, or
 * with --standalone, with drivers of the CLI's own. Publishes nothing.
 *
 * Exit codes: 0 every scan worked, nothing unknown, nothing missing; 1 an
 * unknown device, a configured one not found, or a failed scan; 2 usage.
 */
import type { LoadedConfig } from "../../config/load.js";
import type { DriverFactory, Identity } from "../../drivers/contract.js";
import { systemClock } from "../clock.js";
import { DISCOVERY_DEADLINE_MS, type DiscoveryReport, type FoundDevice, runDiscovery } from "../discovery.js";
import { plural, table } from "./format.js";
import { type AgentTarget, askRunningAgent, OwnDrivers } from "./standalone.js";

export interface DiscoverArgs extends AgentTarget {
  loaded: LoadedConfig;
  drivers: readonly DriverFactory[];
}

type Answer = DiscoveryReport & { campus?: string; agent?: { pid?: number } };

export async function discover(args: DiscoverArgs, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const asked = await askRunningAgent<Answer>("discover", args, { method: "discover", params: {}, waitMs: DISCOVERY_DEADLINE_MS + 10_000 }, { out, err });
  if ("exit" in asked) return asked.exit;
  if ("answer" in asked) return report(asked.answer, "agent", undefined, args, out);
  const own = new OwnDrivers(args.drivers);
  try {
    const result = await runDiscovery({ config: args.loaded.config, driverFor: (kind) => own.driverFor(kind), log: own.log, clock: systemClock });
    return report({ ...result, campus: args.loaded.config.campus.id }, "standalone", asked.fallback, args, out);
  } finally {
    await own.close();
  }
}

function report(r: Answer, via: "agent" | "standalone", fallback: string | undefined, args: DiscoverArgs, out: NodeJS.WritableStream): number {
  const ok = discoverOk(r);
  if (args.json) out.write(`${JSON.stringify({ ok, via, ...r, ...(fallback !== undefined ? { fallback } : {}) })}\n`);
  else out.write(renderDiscover(r, via, fallback));
  return ok ? 0 : 1;
}

export function discoverOk(r: DiscoveryReport): boolean {
  return r.unknown.length === 0 && r.not_found.length === 0 && r.scans.every((s) => s.ok);
}

export function renderDiscover(r: Answer, via: "agent" | "standalone", fallback?: string): string {
  const lines: string[] = [];
  const how = via === "agent" ? `through the running agent (pid ${String(r.agent?.pid)})` : `on its own (the agent was not asked${fallback !== undefined ? `: ${fallback}` : ""})`;
  lines.push(`discover${r.campus !== undefined ? ` on campus ${r.campus}` : ""} ${how}: ${(r.ms / 1000).toFixed(1)} s; nothing is published`);
  lines.push("");
  lines.push(`Scans (${r.scans.length})`);
  lines.push(
    ...table(
      r.scans.map((s) => [s.kind, s.target, s.ok ? plural(s.found, "answer") : `FAILED: ${s.error?.code ?? ""}: ${s.error?.message ?? ""}`, `${(s.ms / 1000).toFixed(1)} s`]),
      { indent: "  " },
    ),
  );
  if (r.scans.length === 0) lines.push("  none: discovery is turned off for every kind, or nothing in the config can be scanned");
  const known = r.found.filter((f) => f.configured.length > 0);
  lines.push("");
  lines.push(`Found and configured (${known.length})`);
  if (known.length > 0) {
    lines.push(...table(known.map((f) => [f.configured.join(", "), f.kind, f.address, describe(f)]), { head: ["DEVICE", "KIND", "ADDRESS", "WHAT IT SAYS"], indent: "  " }));
  }
  lines.push("");
  lines.push(`Unknown: found, not in the config (${r.unknown.length})`);
  if (r.unknown.length > 0) {
    lines.push(...table(r.unknown.map((f) => [f.kind, f.address, describe(f)]), { head: ["KIND", "ADDRESS", "WHAT IT SAYS"], indent: "  " }));
  }
  lines.push("");
  lines.push(`Configured, not found (${r.not_found.length})`);
  if (r.not_found.length > 0) {
    lines.push(
      ...table(
        r.not_found.map((n) => [n.id, n.kind, n.address, n.status === undefined ? "-" : `${n.status.state} (${n.status.reason})`, n.why]),
        { head: ["DEVICE", "KIND", "ADDRESS", "POLLED STATE", "WHY"], indent: "  " },
      ),
    );
  }
  lines.push("");
  const problems = [
    ...(r.unknown.length > 0 ? [`${plural(r.unknown.length, "unknown device")} on the campus: not in the config`] : []),
    ...(r.not_found.length > 0 ? [`${plural(r.not_found.length, "configured device")} not found by discovery`] : []),
    ...r.scans.filter((s) => !s.ok).map((s) => `scan failed: ${s.target}`),
  ];
  lines.push(problems.length === 0 ? "OK: every device found is configured, and every configured device was found." : `PROBLEMS (${problems.length}):`);
  for (const p of problems) lines.push(`  - ${p}`);
  return `${lines.join("\n")}\n`;
}

/** A found device in a line: its identity if read, else what its answer said (ONVIF scopes, Modbus answer). */
function describe(f: FoundDevice): string {
  const id = identityText(f.identity);
  const d = f.details;
  if (f.kind === "onvif") {
    const scope = [d.hardware, d.name, d.location].filter((x) => typeof x === "string" && x !== "").join(", ");
    const problem = typeof d.identify_error === "string" ? ` (identity not read: ${d.identify_error})` : "";
    return `${id ?? (scope || "an ONVIF device")}${problem}`;
  }
  if (d.ignores_unit_id === true) return `answers every unit id (${String(d.units_answered)} tried): one device that ignores the unit id`;
  return id ?? (d.answer === "data" ? "answered a read of holding register 0" : `answered a read of holding register 0 with ${String(d.answer)}: a device is there`);
}

function identityText(i: Identity | undefined): string | undefined {
  if (i === undefined) return undefined;
  const parts = [i.manufacturer, i.model, i.serial !== undefined ? `serial ${i.serial}` : undefined, i.firmware !== undefined ? `firmware ${i.firmware}` : undefined].filter(
    (x) => x !== undefined,
  );
  return parts.length > 0 ? parts.join(" ") : undefined;
}
