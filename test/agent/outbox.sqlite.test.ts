/**
 * What only the SQLite outbox promises: durability across reopen and crash,
 * the flush schedule, and schema versioning. Ordering and accounting are in
 * outbox.contract.test.ts.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import BetterSqlite3 from "better-sqlite3";
import { pino } from "pino";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { systemClock } from "../../agent/clock.js";
import { SCHEMA_VERSION } from "../../agent/outbox/sqlite-schema.js";
import { SqliteOutbox, type SqliteOutboxOptions } from "../../agent/outbox/sqlite.js";
import type { MessageClass, NewMessage } from "../../agent/outbox/types.js";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const dirs: string[] = [];
const opened: SqliteOutbox[] = [];

afterEach(() => {
  for (const outbox of opened.splice(0)) outbox.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempPath(): string {
  const dir = mkdtempSync(join(tmpdir(), "outbox-sqlite-"));
  dirs.push(dir);
  return join(dir, "outbox.db");
}

function open(path: string, overrides: Partial<SqliteOutboxOptions> = {}): SqliteOutbox {
  const outbox = SqliteOutbox.open({
    path,
    maxSizeBytes: 1024 * 1024,
    flushIntervalMs: 60_000,
    batchSize: 1_000,
    clock: systemClock,
    log: pino({ level: "silent" }),
    ...overrides,
  });
  opened.push(outbox);
  return outbox;
}

function msg(stream: string, klass: MessageClass, tag: string): NewMessage {
  return { stream, klass, topic: `t/${stream}`, retain: false, render: () => tag };
}

const tags = (messages: readonly { payload: string }[]) => messages.map((m) => m.payload);

describe("SqliteOutbox durability", () => {
  it("keeps its messages across a reopen and continues every stream's sequence where it stopped", () => {
    const path = tempPath();
    const first = open(path);
    first.enqueue(msg("a", "alarm", "a1"));
    first.enqueue(msg("a", "telemetry", "t1"));
    first.enqueue(msg("b", "event", "e1"));
    first.enqueue(msg("a", "telemetry", "t2"));
    const before = first.peek(10);
    first.close();

    const second = open(path);
    expect(second.peek(10)).toEqual(before);
    expect(second.stats()).toMatchObject({ depth: { alarm: 1, event: 1, telemetry: 2 }, bytes: 20 });
    expect(second.enqueue(msg("a", "event", "x")).seq).toBe(4);
    expect(second.enqueue(msg("b", "telemetry", "x")).seq).toBe(2);
    expect(second.enqueue(msg("c", "telemetry", "x")).seq).toBe(1);
  });

  it("keeps its drop counters across a reopen", () => {
    const path = tempPath();
    const first = open(path, { maxSizeBytes: 20 });
    for (const tag of ["tel0001", "tel0002", "tel0003", "tel0004"]) first.enqueue(msg("s", "telemetry", tag));
    expect(first.stats().dropped.telemetry).toBe(2);
    first.close();
    const second = open(path, { maxSizeBytes: 20 });
    expect(second.stats().dropped).toEqual({ alarm: 0, event: 0, telemetry: 2 });
    expect(tags(second.peek(10))).toEqual(["tel0003", "tel0004"]);
  });

  it("enforces a lowered size cap on open, dropping the oldest telemetry", () => {
    const path = tempPath();
    const first = open(path);
    for (const tag of ["tel0001", "tel0002", "tel0003"]) first.enqueue(msg("s", "telemetry", tag));
    first.enqueue(msg("s", "event", "evt0001"));
    first.close();
    const second = open(path, { maxSizeBytes: 25 });
    expect(tags(second.peek(10))).toEqual(["evt0001", "tel0003"]);
    expect(second.stats()).toMatchObject({ bytes: 20, dropped: { telemetry: 2 } });
  });

  it("has alarms and events in the file as soon as enqueue returns, without flush or close", () => {
    const path = tempPath();
    const writer = open(path);
    writer.enqueue(msg("s", "alarm", "a1"));
    writer.enqueue(msg("s", "event", "e1"));
    writer.enqueue(msg("s", "telemetry", "t1"));
    const reader = open(path);
    expect(tags(reader.peek(10))).toEqual(["a1", "e1"]);
  });

  it("commits buffered telemetry within flushIntervalMs, without a flush call", async () => {
    const path = tempPath();
    const writer = open(path, { flushIntervalMs: 50 });
    writer.enqueue(msg("s", "telemetry", "t1"));
    writer.enqueue(msg("s", "telemetry", "t2"));
    const reader = open(path);
    expect(reader.peek(10)).toEqual([]);
    await vi.waitFor(() => expect(tags(reader.peek(10))).toEqual(["t1", "t2"]), { timeout: 5_000, interval: 10 });
  });

  it("commits buffered telemetry as soon as batchSize messages are buffered", () => {
    const path = tempPath();
    const writer = open(path, { batchSize: 3 });
    const reader = open(path);
    writer.enqueue(msg("s", "telemetry", "t1"));
    writer.enqueue(msg("s", "telemetry", "t2"));
    expect(reader.peek(10)).toEqual([]);
    writer.enqueue(msg("s", "telemetry", "t3"));
    expect(tags(reader.peek(10))).toEqual(["t1", "t2", "t3"]);
  });

  it("commits buffered telemetry before take hands it out, so nothing in flight exists only in memory", () => {
    const path = tempPath();
    const writer = open(path);
    const reader = open(path);
    writer.enqueue(msg("s", "telemetry", "t1"));
    writer.enqueue(msg("s", "telemetry", "t2"));
    expect(reader.peek(10)).toEqual([]);
    expect(tags(writer.take(1))).toEqual(["t1"]);
    expect(tags(reader.peek(10))).toEqual(["t1", "t2"]);
  });

  it("hands out older, committed telemetry without committing the buffer while that is enough, as in a backlog's drain", () => {
    const path = tempPath();
    const writer = open(path);
    const reader = open(path);
    writer.enqueue(msg("s", "telemetry", "t1"));
    writer.enqueue(msg("s", "telemetry", "t2"));
    writer.flush();
    writer.enqueue(msg("s", "telemetry", "t3"));
    expect(tags(writer.take(2))).toEqual(["t1", "t2"]);
    expect(tags(reader.peek(10))).toEqual(["t1", "t2"]);
    // No committed telemetry left to hand out: the buffer is committed first.
    expect(tags(writer.take(2))).toEqual(["t3"]);
    expect(tags(reader.peek(10))).toEqual(["t1", "t2", "t3"]);
  });

  it("commits buffered telemetry along with the next alarm or event", () => {
    const path = tempPath();
    const writer = open(path);
    const reader = open(path);
    writer.enqueue(msg("s", "telemetry", "t1"));
    writer.enqueue(msg("s", "event", "e1"));
    expect(tags(reader.peek(10))).toEqual(["e1", "t1"]);
  });

  it("keeps memory entries across a reopen, committed with their messages and without a flush", () => {
    const path = tempPath();
    const first = open(path);
    first.enqueue(msg("d", "telemetry", "t"));
    first.enqueueWithMemory([msg("d", "event", "opened")], { key: "door:d", value: "open" });
    // No close: what enqueueWithMemory returned must already be in the file.
    const second = open(path);
    expect(second.readMemory("door:d")).toBe("open");
    expect(second.peek(10).map((m) => m.payload)).toEqual(["opened", "t"]);
    expect(second.enqueue(msg("d", "event", "next")).seq).toBe(3);
    second.close();
    first.close();
  });

  it("stores nothing, neither messages nor memory nor sequence numbers, when the memory write fails", () => {
    const path = tempPath();
    const outbox = open(path);
    outbox.enqueueWithMemory([], { key: "k", value: "before" });
    // A value SQLite refuses (NOT NULL) makes the transaction fail after the messages were inserted.
    expect(() => outbox.enqueueWithMemory([msg("d", "event", "a")], { key: "k", value: undefined as unknown as string })).toThrow(/could not store/);
    expect(outbox.readMemory("k")).toBe("before");
    expect(outbox.stats().depth.event).toBe(0);
    expect(outbox.enqueue(msg("d", "event", "b")).seq).toBe(1);
    outbox.close();
    expect(open(path).peek(10).map((m) => m.payload)).toEqual(["b"]);
  });

  it("stores everything a batch enqueued, telemetry included, in one commit when it returns", () => {
    const path = tempPath();
    const writer = open(path);
    const reader = open(path);
    writer.enqueue(msg("s", "telemetry", "t0"));
    writer.batch(() => {
      writer.enqueue(msg("s", "event", "e1"));
      writer.enqueue(msg("s", "telemetry", "t1"));
      writer.enqueueWithMemory([msg("p", "alarm", "a1")], { key: "k", value: "v" });
      expect(reader.peek(10)).toEqual([]);
      expect(reader.readMemory("k")).toBeUndefined();
    });
    expect(tags(reader.peek(10))).toEqual(["a1", "e1", "t0", "t1"]);
    expect(reader.readMemory("k")).toBe("v");
    expect(open(path).enqueue(msg("s", "event", "next")).seq).toBe(4);
  });

  it("leaves the telemetry of a batch that enqueued nothing else buffered, like any telemetry", () => {
    const path = tempPath();
    const writer = open(path);
    const reader = open(path);
    writer.batch(() => writer.enqueue(msg("s", "telemetry", "t1")));
    expect(reader.peek(10)).toEqual([]);
    writer.flush();
    expect(tags(reader.peek(10))).toEqual(["t1"]);
  });

  it("stores nothing of a batch, neither messages nor memory nor sequence numbers, when its commit fails", () => {
    const path = tempPath();
    const outbox = open(path);
    outbox.enqueueWithMemory([], { key: "k", value: "before" });
    const seen: MessageClass[] = [];
    outbox.onEnqueue((k) => seen.push(k));
    expect(() =>
      outbox.batch(() => {
        outbox.enqueue(msg("d", "event", "a"));
        // A value SQLite refuses (NOT NULL) makes the transaction fail after the messages were inserted.
        outbox.enqueueWithMemory([msg("d", "alarm", "b")], { key: "k", value: undefined as unknown as string });
      }),
    ).toThrow(/could not store a batch/);
    expect(seen).toEqual([]);
    expect(outbox.readMemory("k")).toBe("before");
    expect(outbox.stats().depth).toEqual({ alarm: 0, event: 0, telemetry: 0 });
    expect(outbox.enqueue(msg("d", "event", "c")).seq).toBe(1);
    expect(tags(open(path).peek(10))).toEqual(["c"]);
  });

  it("commits buffered telemetry on close", () => {
    const path = tempPath();
    const writer = SqliteOutbox.open({
      path,
      maxSizeBytes: 1e6,
      flushIntervalMs: 60_000,
      batchSize: 1_000,
      clock: systemClock,
      log: pino({ level: "silent" }),
    });
    writer.enqueue(msg("s", "telemetry", "t1"));
    writer.close();
    expect(tags(open(path).peek(10))).toEqual(["t1"]);
  });

  it("upgrades a file written by the previous schema version without losing its messages", () => {
    const path = tempPath();
    const before = open(path);
    before.enqueue(msg("s", "event", "e1"));
    before.enqueue(msg("s", "telemetry", "t1"));
    for (const outbox of opened.splice(0)) outbox.close();
    // Back to version 1, as the first release left it: no memory table.
    const raw = new BetterSqlite3(path);
    raw.exec("DROP TABLE memory; UPDATE meta SET value = '1' WHERE key = 'schema_version'");
    raw.close();

    const upgraded = open(path);
    expect(upgraded.peek(10).map((m) => m.payload)).toEqual(["e1", "t1"]);
    upgraded.enqueueWithMemory([msg("s", "event", "e2")], { key: "k", value: "v" });
    expect(upgraded.readMemory("k")).toBe("v");
    expect(upgraded.peek(10).map((m) => m.seq)).toEqual([1, 3, 2]);
  });

  it("records its schema version, and refuses a file from a newer version without touching its data", () => {
    const path = tempPath();
    open(path).enqueue(msg("s", "event", "e1"));
    for (const outbox of opened.splice(0)) outbox.close();

    const raw = new BetterSqlite3(path);
    expect(raw.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get()).toBe(String(SCHEMA_VERSION));
    raw.prepare("UPDATE meta SET value = '99' WHERE key = 'schema_version'").run();
    raw.close();

    expect(() => open(path)).toThrow(/schema version 99/);
    const after = new BetterSqlite3(path, { readonly: true });
    expect(after.prepare("SELECT payload FROM messages").pluck().all()).toEqual(["e1"]);
    after.close();
  });
});

describe("SqliteOutbox under kill -9", () => {
  const compiled = join(repo, "dist/agent/outbox/sqlite.js");
  const child = join(repo, "test/fixtures/outbox-crash-child.mjs");

  beforeAll(() => {
    // Compile only the outbox and what it imports, with the project's options,
    // into dist/: a child process cannot import TypeScript on Node 20, and
    // other modules being mid-edit must not break this test.
    const started = Date.now();
    const dir = mkdtempSync(join(tmpdir(), "outbox-build-"));
    dirs.push(dir);
    const config = join(dir, "tsconfig.json");
    writeFileSync(config, JSON.stringify({ extends: join(repo, "tsconfig.json"), files: [join(repo, "agent/outbox/sqlite.ts")] }));
    const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
    const result = spawnSync(process.execPath, [tsc, "-p", config], { encoding: "utf8" });
    if (!existsSync(compiled) || statSync(compiled).mtimeMs < started - 1_000) {
      throw new Error(`could not compile the outbox:\n${result.stdout}${result.stderr}`);
    }
  }, 120_000);

  it("loses no event and neither reuses nor skips a sequence number handed out, when killed mid-stream", async () => {
    const path = tempPath();
    const proc = spawn(process.execPath, [child, compiled, path], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    proc.stderr.on("data", (chunk: Buffer) => {
      err += chunk.toString();
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.on("exit", (_code, signal) => resolve(signal)));
    await new Promise<void>((resolve, reject) => {
      proc.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        const events = out.split("E ").length - 1;
        const published = out.split("P ").length - 1;
        if (events >= 500 && published >= 1_000) {
          proc.kill("SIGKILL");
          resolve();
        }
      });
      proc.on("exit", () => reject(new Error(`child exited before it was killed:\n${err}`)));
    });
    expect(await exited).toBe("SIGKILL");

    // Only whole lines: a cut-off last line is a call the child had not finished reporting.
    const lines = out.slice(0, out.lastIndexOf("\n")).split("\n");
    const printed = (kind: string) => lines.filter((l) => l.startsWith(`${kind} `)).map((l) => Number(l.slice(2)));
    const events = printed("E");
    const published = printed("P");

    const reopened = open(path);
    const left = reopened.peek(1_000_000);
    const seqsOf = (stream: string) => left.filter((m) => m.stream === stream).map((m) => m.seq);
    const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

    // Every event whose number was printed is there, and nothing else is missing: 1..n, no gap.
    const doors = seqsOf("door-1");
    expect(events).toEqual(upTo(events.length));
    expect(doors).toEqual(upTo(doors.length));
    expect(doors.length).toBeGreaterThanOrEqual(events.length);
    expect(reopened.enqueue(msg("door-1", "event", "after")).seq).toBe(doors.length + 1);

    // Telemetry handed out (and maybe acked) plus what is left covers 1..n without a gap, and n
    // is not used again: only numbers of telemetry that never left the memory buffer are.
    const meters = new Set([...published, ...seqsOf("meter-1")]);
    const next = reopened.enqueue(msg("meter-1", "telemetry", "after")).seq;
    expect(published.length).toBeGreaterThan(0);
    expect([...meters].sort((a, b) => a - b)).toEqual(upTo(next - 1));
  });
});
