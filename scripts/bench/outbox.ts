/**
 * How fast the SQLite outbox is on this machine, on a temp file: telemetry
 * enqueue (batched commits), event enqueue (one synced transaction each), an
 * alarm taken from behind a backlog, the backlog drained with take + ack (as
 * after an outage), and live telemetry taken and acked one message at a time.
 * Bounded to a few seconds.
 *
 *   npm run build && node dist/scripts/bench/outbox.js
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { pino } from "pino";
import { systemClock } from "../../agent/clock.js";
import { SqliteOutbox } from "../../agent/outbox/sqlite.js";
import type { MessageClass, NewMessage } from "../../agent/outbox/types.js";

const TELEMETRY = 100_000;
const EVENTS = 2_000;
const LIVE = 2_000;
const DEVICES = 200;
const BATCH_SIZE = 500;
const TAKE = 256;

function message(klass: MessageClass, i: number): NewMessage {
  const device = `dev-${String(i % DEVICES).padStart(4, "0")}`;
  return {
    stream: device,
    klass,
    topic: `district/campus-01/devices/${device}/${klass}`,
    retain: false,
    render: (seq) =>
      JSON.stringify({ v: 1, seq, ts: Date.now(), device, metrics: { response_time_ms: 12.5, online: true, temperature_c: 21.3 } }),
  };
}

function timed(fn: () => number): { n: number; ms: number } {
  const started = performance.now();
  const n = fn();
  return { n, ms: performance.now() - started };
}

function drain(outbox: SqliteOutbox): number {
  let n = 0;
  for (let batch = outbox.take(TAKE); batch.length > 0; batch = outbox.take(TAKE)) {
    outbox.ack(batch.map((m) => m.id));
    n += batch.length;
  }
  return n;
}

const rows: [string, number, number][] = [];
const row = (label: string, r: { n: number; ms: number }) => rows.push([label, r.n, r.ms]);

const dir = mkdtempSync(join(os.tmpdir(), "outbox-bench-"));
const path = join(dir, "outbox.db");
const outbox = SqliteOutbox.open({
  path,
  maxSizeBytes: 1024 * 1024 * 1024,
  flushIntervalMs: 200,
  batchSize: BATCH_SIZE,
  clock: systemClock,
  log: pino({ level: "warn" }),
});
try {
  row(
    `telemetry enqueue, committed ${BATCH_SIZE} per transaction`,
    timed(() => {
      for (let i = 0; i < TELEMETRY; i++) outbox.enqueue(message("telemetry", i));
      outbox.flush();
      return TELEMETRY;
    }),
  );
  row(
    "event enqueue, one synced transaction each",
    timed(() => {
      for (let i = 0; i < EVENTS; i++) outbox.enqueue(message("event", i));
      return EVENTS;
    }),
  );
  const fileBytes = statSync(path).size + statSync(`${path}-wal`).size;
  const backlog = outbox.stats().depth;
  row(
    `alarm enqueue + take(1) behind ${TELEMETRY + EVENTS} waiting`,
    timed(() => {
      outbox.enqueue(message("alarm", 0));
      const [first] = outbox.take(1);
      if (first?.klass !== "alarm") throw new Error("the alarm did not come first");
      outbox.ack([first.id]);
      return 1;
    }),
  );
  row(
    `drain: take(${TAKE}) + ack, one delete transaction per batch`,
    timed(() => drain(outbox)),
  );
  row(
    "live telemetry: enqueue, take (commits it), ack, one at a time",
    timed(() => {
      for (let i = 0; i < LIVE; i++) {
        outbox.enqueue(message("telemetry", i));
        outbox.ack(outbox.take(TAKE).map((m) => m.id));
      }
      return LIVE;
    }),
  );

  const sqlite = new BetterSqlite3(":memory:");
  const sqliteVersion = sqlite.prepare("SELECT sqlite_version()").pluck().get();
  sqlite.close();
  const cpus = os.cpus();
  console.log(
    `outbox benchmark: node ${process.version}, ${os.platform()} ${os.arch()}, ${cpus[0]?.model ?? "unknown cpu"} x${cpus.length}, ` +
    `SQLite ${String(sqliteVersion)} (WAL, synchronous=FULL), file in ${os.tmpdir()}`,
  );
  console.log(`${DEVICES} streams, payloads about ${message("telemetry", 0).render(1).length} bytes`);
  console.log(`backlog before the drain: ${JSON.stringify(backlog)}, ${(fileBytes / 1024 / 1024).toFixed(1)} MiB on disk (db + wal)`);
  for (const [label, n, ms] of rows) {
    const rate = n > 1 ? `${Math.round((n / ms) * 1000).toLocaleString("en-US")} msgs/s` : "";
    console.log(`${label.padEnd(66)} ${String(n).padStart(7)} msgs ${ms.toFixed(1).padStart(9)} ms  ${rate}`);
  }
} finally {
  outbox.close();
  rmSync(dir, { recursive: true, force: true });
}
