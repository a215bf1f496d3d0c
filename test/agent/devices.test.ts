/**
 * How the device manager stores poll results: the results of polls that
 * complete together go in one outbox batch (one sync, not one per status
 * change, identity and memory entry), the state after them, and a batch that
 * cannot be stored moves no driver memory on.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { stringify } from "yaml";
import { z } from "zod";
import { systemClock } from "../../agent/clock.js";
import { DeviceManager } from "../../agent/devices.js";
import { Messages } from "../../agent/messages.js";
import { Topics } from "../../agent/mqtt/contract.js";
import { SqliteOutbox } from "../../agent/outbox/sqlite.js";
import type { Outbox } from "../../agent/outbox/types.js";
import { Scheduler } from "../../agent/scheduler.js";
import { StateStore } from "../../agent/state.js";
import { StatusModel } from "../../agent/status.js";
import { parseConfig } from "../../config/load.js";
import { type DriverFactory, defineDriver, type PollContext } from "../../drivers/contract.js";
import { DRIVERS } from "../../drivers/registry.js";

const log = pino({ level: "silent" });
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function config(dir: string, drivers: readonly DriverFactory[], n: number, polling: { interval_ms: number; timeout_ms: number }) {
  const text = stringify({
    campus: { id: "lincoln" },
    gateway: { id: "gw-1" },
    outbox: { path: "outbox.db" },
    polling: { ...polling, max_concurrency: 128 },
    devices: Array.from({ length: n }, (_, i) => ({ id: `dev-${i}`, kind: "fake", category: "safety-critical", options: {} })),
  });
  return parseConfig(text, { file: join(dir, "config.yaml"), drivers }).config;
}

/** A device manager over a real SQLite outbox and state store, its scheduler polling every device at once from the start. */
function setup(kind: DriverFactory, n: number, polling: { interval_ms: number; timeout_ms: number }, wrap?: (o: SqliteOutbox) => Outbox) {
  const dir = mkdtempSync(join(tmpdir(), "devices-"));
  const path = join(dir, "outbox.db");
  const sqlite = SqliteOutbox.open({ path, maxSizeBytes: 1 << 24, flushIntervalMs: 60_000, batchSize: 10_000, clock: systemClock, log });
  const outbox = wrap?.(sqlite) ?? sqlite;
  const state = StateStore.open(path);
  const scheduler = new Scheduler({ clock: systemClock, log, maxConcurrency: 128, random: () => 0 });
  const drivers = [...DRIVERS, kind];
  const devices = new DeviceManager({
    drivers,
    scheduler,
    status: new StatusModel({ clock: systemClock }),
    messages: new Messages({ outbox, topics: new Topics("lincoln", "gw-1"), clock: systemClock }),
    state,
    outbox,
    log,
    clock: systemClock,
  });
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanups.push(() => {
    state.close();
    sqlite.close();
  });
  cleanups.push(async () => {
    await scheduler.stop();
    await devices.close();
  });
  devices.apply(config(dir, drivers, n, polling));
  scheduler.start();
  return { sqlite, state };
}

describe("DeviceManager", () => {
  it("stores the results of polls that complete together in batches of at most 64, the state after the events", async () => {
    const n = 70;
    let started = 0;
    let open = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const kind = defineDriver({
      kind: "fake",
      description: "test double: every poll waits until all of them are running",
      optionsSchema: z.strictObject({}),
      create: () => ({
        poll: async () => {
          if (++started === n) open();
          await gate;
          return { health: "ok" as const, responseTimeMs: 1, metrics: {}, identity: { serial: "S1" } };
        },
      }),
    });
    const batch = vi.spyOn(SqliteOutbox.prototype, "batch");
    cleanups.push(() => batch.mockRestore());
    const { sqlite, state } = setup(kind, n, { interval_ms: 60_000, timeout_ms: 30_000 });
    // Each device: unknown -> online (retained status and status_changed) and its identity (identity_changed).
    await vi.waitFor(() => expect(sqlite.stats().depth.event).toBe(3 * n), { timeout: 10_000, interval: 10 });
    expect(batch).toHaveBeenCalledTimes(2);
    for (let i = 0; i < n; i++) expect(state.get(`dev-${i}`)).toMatchObject({ status: { state: "online" }, identity: { serial: "S1" } });
  });

  it("moves no driver memory on when a batch cannot be stored: the next poll compares with what was stored", async () => {
    const seen: unknown[] = [];
    const kind = defineDriver({
      kind: "fake",
      description: "test double: counts its polls in its memory",
      optionsSchema: z.strictObject({}),
      create: () => ({
        poll: async (_ref: unknown, ctx: PollContext) => {
          seen.push(ctx.memory);
          return { health: "ok" as const, responseTimeMs: 1, metrics: {}, memory: { polls: seen.length } };
        },
      }),
    });
    let batches = 0;
    const failing = (o: SqliteOutbox): Outbox =>
      new Proxy(o, {
        get(target, prop, receiver) {
          if (prop !== "batch") return Reflect.get(target, prop, receiver) as unknown;
          return <T>(fn: () => T): T =>
            target.batch(() => {
              const result = fn();
              // The second poll's batch cannot be stored: a write SQLite refuses (NOT NULL) fails its commit.
              if (++batches === 2) target.enqueueWithMemory([], { key: "broken", value: undefined as unknown as string });
              return result;
            });
        },
      });
    const { sqlite } = setup(kind, 1, { interval_ms: 50, timeout_ms: 40 }, failing);
    await vi.waitFor(() => expect(seen.length).toBeGreaterThanOrEqual(3), { timeout: 10_000, interval: 10 });
    expect(seen.slice(0, 3)).toEqual([undefined, { polls: 1 }, { polls: 1 }]);
    expect(sqlite.readMemory("driver/dev-0")).toBeDefined();
  });
});
