/**
 * What the asset register costs the event loop, which also answers DC-09
 * panels and reads panic contacts: on a temp outbox and state file, with a
 * campus of N devices (cameras under a firmware baseline and end-of-support
 * rules, a clock and not-seen limit) as the device manager describes them.
 *
 * - update after a poll (what every recorded poll now costs: one device
 *   re-evaluated, nothing published when nothing changed), per call;
 * - the inventory cron (cycle: every inventory and compliance published),
 *   the policy's first evaluation, the minute tick (every device
 *   re-evaluated, nothing changed): REFRESH_CHUNK devices per event-loop
 *   turn, so the figures are the longest turn and the time until all are
 *   stored;
 * - the readiness and the report rows: one blocking call each.
 *
 *   npm run build && node dist/scripts/bench/assets.js [--devices 500]
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { AssetRegister, type DeviceAsset, REFRESH_CHUNK } from "../../agent/assets/register.js";
import type { Clock } from "../../agent/clock.js";
import { parsePolicy } from "../../agent/lifecycle/policy.js";
import { Messages } from "../../agent/messages.js";
import { Topics } from "../../agent/mqtt/contract.js";
import { SqliteOutbox } from "../../agent/outbox/sqlite.js";
import { StateStore } from "../../agent/state.js";
import type { DeviceConfig } from "../../config/schema.js";

const { values } = parseArgs({ options: { devices: { type: "string", default: "500" } } });
const N = Number(values.devices);
const UPDATES = 20_000;

const POLICY = `version: 1
firmware:
  - { manufacturer: Lumen Optics, model: "LX-*", minimum: "V7.4.1 build 240101", blocked: ["7.5.0", ">=6.0 <6.2"] }
  - { manufacturer: Brightfield Security, model: "BF-D2*", minimum: "3.8.0" }
end_of_support:
  - { manufacturer: Brightfield Security, model: BF-D220, date: 2025-06-30 }
clock: { max_drift_s: 30 }
not_seen: { max_age_s: 600, categories: { safety-critical: 90 } }
`;

const now = { ms: Date.parse("2026-12-07T10:00:00Z") };
const clock: Clock = { now: () => now.ms, monotonic: () => now.ms };
const log = pino({ level: "silent" });
const dir = mkdtempSync(join(os.tmpdir(), "assets-bench-"));
const path = join(dir, "outbox.db");
const outbox = SqliteOutbox.open({ path, maxSizeBytes: 1 << 30, flushIntervalMs: 60_000, batchSize: 100_000, clock, log });
const state = StateStore.open(path);

const devices: DeviceAsset[] = Array.from({ length: N }, (_, i) => {
  const id = `cam-${String(i).padStart(4, "0")}`;
  const lumen = i % 3 !== 0;
  const config = {
    id,
    kind: "onvif",
    category: i % 5 === 0 ? "operational" : "safety-critical",
    owner: "District security",
    location: { building: String.fromCharCode(65 + (i % 4)), room: `R-${i}` },
    lifecycle: { install_date: "2022-08-01", warranty_end: i % 7 === 0 ? "2024-01-31" : "2029-07-31", asset_tag: `LHS-${i}` },
    poll: {},
    options: {},
  } as unknown as DeviceConfig;
  return {
    config,
    info: { id, kind: "onvif", category: config.category, location: config.location },
    status: { state: "online", reason: "ok", reasonText: "ok", since: now.ms, consecutiveFailures: 0, lastSeen: now.ms, lastPollAt: now.ms, responseTimeMs: 12 },
    identity: lumen
      ? { manufacturer: "Lumen Optics", model: "LX-4410", serial: `LX${i}`, firmware: i % 11 === 0 ? "V5.2.0 build 200101" : "V7.4.1 build 240301" }
      : { manufacturer: "Brightfield Security", model: "BF-D220", serial: `BF${i}`, firmware: "3.8.12" },
    identityReadAt: now.ms,
    clockDriftMs: i % 13 === 0 ? 95_000 : 150,
    watchedSince: now.ms - 3600_000,
    polled: true,
  };
});
const byId = new Map(devices.map((d) => [d.config.id, d]));
const register = new AssetRegister({
  source: { assets: () => devices, asset: (id) => byId.get(id) },
  messages: new Messages({ outbox, topics: new Topics("lincoln-hs", "gw-1"), clock }),
  state,
  clock,
  log,
  batch: (fn) => state.batch(() => outbox.batch(fn)),
});

const ms = (fn: () => void): number => {
  const t = performance.now();
  fn();
  return performance.now() - t;
};

/** A refresh of every device: its longest event-loop turn, and the time until its last chunk ran (one turn per REFRESH_CHUNK devices). */
async function chunked(fn: () => void): Promise<string> {
  const started = performance.now();
  let longest = ms(fn);
  // Each wait spans the register's next chunk, which runs on the same turn.
  for (let turn = 1; turn < Math.ceil(N / REFRESH_CHUNK); turn++) {
    const t0 = performance.now();
    await new Promise((r) => setImmediate(r));
    longest = Math.max(longest, performance.now() - t0);
  }
  return `longest turn ${longest.toFixed(1)} ms, all done after ${(performance.now() - started).toFixed(1)} ms`;
}

const rows: [string, string][] = [];
const policy = { file: "policy.yaml", sha256: "x", policy: parsePolicy(POLICY, "policy.yaml") };
rows.push([`first evaluation: ${N} inventories and compliances, and the events`, await chunked(() => register.setPolicy(policy))]);
const stored = outbox.stats().depth.event;

// What every recorded poll costs: the device's drift moves a little, nothing to publish.
const t = performance.now();
for (let i = 0; i < UPDATES; i++) {
  const d = devices[i % N] as DeviceAsset;
  d.clockDriftMs = (d.clockDriftMs ?? 0) + (i % 2 === 0 ? 1 : -1);
  register.update(d.config.id);
}
const perUpdate = ((performance.now() - t) * 1000) / UPDATES;
rows.push(["update after a poll, nothing changed (per poll)", `${perUpdate.toFixed(1)} µs`]);
rows.push([`tick: ${N} devices re-evaluated, nothing changed`, await chunked(() => register.tick())]);
rows.push([`cycle (inventory cron): ${N} inventories and compliances published`, await chunked(() => register.cycle())]);
rows.push(["readiness", `${ms(() => register.readiness({ connected: true, outbox_depth: 0 })).toFixed(2)} ms`]);
rows.push(["report rows (every device)", `${ms(() => register.rows()).toFixed(2)} ms`]);
rows.push(["messages stored by the first evaluation", String(stored)]);

outbox.close();
state.close();
rmSync(dir, { recursive: true, force: true });

const cpu = os.cpus()[0]?.model ?? "unknown CPU";
process.stdout.write(`asset register, ${N} devices; ${os.cpus().length} × ${cpu}, Node ${process.version}, load ${os.loadavg()[0]?.toFixed(2)}\n`);
const width = Math.max(...rows.map(([l]) => l.length));
for (const [label, value] of rows) process.stdout.write(`  ${label.padEnd(width)}  ${value}\n`);
