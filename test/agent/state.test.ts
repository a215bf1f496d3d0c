/**
 * The state store's batches: writes wait for the end of the batch and go in
 * one transaction, after the outbox batch they are wrapped around, and not at
 * all when that batch could not be stored.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { systemClock } from "../../agent/clock.js";
import { SqliteOutbox } from "../../agent/outbox/sqlite.js";
import { StateStore } from "../../agent/state.js";
import type { DeviceStatus } from "../../agent/status.js";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function files() {
  const dir = mkdtempSync(join(tmpdir(), "state-"));
  const path = join(dir, "outbox.db");
  const outbox = SqliteOutbox.open({ path, maxSizeBytes: 1 << 20, flushIntervalMs: 60_000, batchSize: 1000, clock: systemClock, log: pino({ level: "silent" }) });
  const state = StateStore.open(path);
  // A second look at the file, as the next run would see it.
  const reader = StateStore.open(path);
  cleanups.push(() => {
    reader.close();
    state.close();
    outbox.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { outbox, state, reader };
}

const status = (state: DeviceStatus["state"]): DeviceStatus => ({
  state,
  reason: "ok",
  reasonText: "ok",
  since: 1,
  consecutiveFailures: 0,
  lastSeen: 1,
  lastPollAt: 1,
  responseTimeMs: 1,
});

const event = (stream: string) => ({ stream, klass: "event" as const, topic: `t/${stream}`, retain: false, render: () => "changed" });

describe("StateStore", () => {
  it("writes at once outside a batch", () => {
    const { state, reader } = files();
    state.setStatus("d1", status("online"));
    expect(reader.get("d1").status?.state).toBe("online");
  });

  it("writes a batch's state when it ends, after the outbox batch inside it stored the events", () => {
    const { outbox, state, reader } = files();
    const seenInside: unknown[] = [];
    state.batch(() =>
      outbox.batch(() => {
        outbox.enqueue(event("d1"));
        state.setStatus("d1", status("online"));
        state.setIdentity("d2", { serial: "S2" });
        state.batch(() => state.setStatus("d2", status("offline")));
        seenInside.push(reader.get("d1"), reader.get("d2"));
      }),
    );
    expect(seenInside).toEqual([{}, {}]);
    expect(reader.get("d1").status?.state).toBe("online");
    expect(reader.get("d2")).toMatchObject({ status: { state: "offline" }, identity: { serial: "S2" } });
  });

  it("writes none of a batch's state when the outbox batch inside it could not be stored", () => {
    const { outbox, state, reader } = files();
    state.setStatus("d1", status("online"));
    expect(() =>
      state.batch(() =>
        outbox.batch(() => {
          outbox.enqueue(event("d1"));
          state.setStatus("d1", status("offline"));
          // A value SQLite refuses (NOT NULL) makes the outbox transaction fail.
          outbox.enqueueWithMemory([], { key: "k", value: undefined as unknown as string });
        }),
      ),
    ).toThrow(/could not store a batch/);
    expect(reader.get("d1").status?.state).toBe("online");
    expect(outbox.stats().depth.event).toBe(0);
    // Later writes are not held back by the failed batch.
    state.setStatus("d1", status("degraded"));
    expect(reader.get("d1").status?.state).toBe("degraded");
  });
});
