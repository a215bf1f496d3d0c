/**
 * End-to-end outbox throughput against a real local broker: how fast the
 * agent's SQLite outbox takes messages in, and how fast the publisher drains a
 * backlog to Debian's mosquitto at QoS 1 (every message deleted only after its
 * PUBACK), for a few max_in_flight settings. Starts its own mosquitto on a
 * free loopback port unless --url is given. Bounded: 50,000 messages a run.
 *
 *   npm run build && node dist/scripts/bench/drain.js [--url mqtt://127.0.0.1:1883] [--messages 50000]
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { systemClock } from "../../agent/clock.js";
import { Publisher } from "../../agent/mqtt/publisher.js";
import { SqliteOutbox } from "../../agent/outbox/sqlite.js";
import { conditions, startMosquitto } from "./lib.js";

const log = pino({ level: "warn" });

function fill(outbox: SqliteOutbox, n: number): number {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const device = `dev-${i % 200}`;
    outbox.enqueue({
      stream: device,
      klass: "telemetry",
      topic: `campus/bench/device/${device}/telemetry`,
      retain: false,
      render: (seq) =>
        JSON.stringify({
          schema: "campus-edge/device-telemetry/v1",
          campus: "bench",
          gateway: "gw",
          ts: new Date().toISOString(),
          device,
          seq,
          state: "online",
          reason: "ok",
          response_time_ms: 3.2,
          metrics: { tcp_connect_ms: 0.4 },
        }),
    });
  }
  outbox.flush();
  return n / ((performance.now() - t0) / 1000);
}

async function drain(url: string, outbox: SqliteOutbox, maxInFlight: number): Promise<number> {
  const total = outbox.stats().depth.telemetry;
  const status = () => JSON.stringify({ state: "online" });
  const publisher = new Publisher({
    outbox,
    log,
    clock: systemClock,
    options: {
      url,
      clientId: `bench-${process.pid}`,
      protocol: "mqtt5",
      keepaliveS: 30,
      connectTimeoutMs: 5000,
      publishTimeoutMs: 10_000,
      maxInFlight,
      reconnectMinMs: 100,
      reconnectMaxMs: 1000,
      statusTopic: "campus/bench/gateway/gw/status",
      birthPayload: status,
      willPayload: status,
      shutdownPayload: status,
      echoCheckMs: 0,
    },
  });
  const t0 = performance.now();
  publisher.start();
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (outbox.stats().depth.telemetry === 0) {
        clearInterval(check);
        resolve();
      }
    }, 5);
  });
  const rate = total / ((performance.now() - t0) / 1000);
  await publisher.stop(2000);
  return rate;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { url: { type: "string" }, messages: { type: "string", default: "50000" } } });
  const n = Number(values.messages);
  const dir = mkdtempSync(join(os.tmpdir(), "bench-drain-"));
  const broker = values.url ? { url: values.url, child: null } : await startMosquitto(dir);
  try {
    console.log(`${conditions()}; broker ${broker.url}; ${n} telemetry messages of ~260 bytes, 200 devices`);
    for (const maxInFlight of [1, 16, 64, 256]) {
      const outbox = SqliteOutbox.open({
        path: join(dir, `outbox-${maxInFlight}.db`),
        maxSizeBytes: 1e9,
        flushIntervalMs: 200,
        batchSize: 500,
        clock: systemClock,
        log,
      });
      const ingest = fill(outbox, n);
      const rate = await drain(broker.url, outbox, maxInFlight);
      outbox.close();
      console.log(
        `max_in_flight ${String(maxInFlight).padStart(3)}: ingest ${Math.round(ingest).toLocaleString("en")} msg/s (batched commits), drain to broker ${Math.round(rate).toLocaleString("en")} msg/s (QoS 1, delete after PUBACK)`,
      );
    }
  } finally {
    broker.child?.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
