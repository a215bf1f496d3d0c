/**
 * `campus-agent outbox`: a real SQLite outbox in a temp folder, filled
 * through SqliteOutbox and read by OutboxInspector (read-only) while the
 * outbox is still open and writing, as the agent's would be.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import BetterSqlite3 from "better-sqlite3";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { type ExportLine, outbox, type OutboxView, STALE_AFTER_S } from "../../agent/commands/outbox.js";
import { OutboxInspector } from "../../agent/outbox/inspect.js";
import { SqliteOutbox } from "../../agent/outbox/sqlite.js";
import type { MessageClass, NewMessage } from "../../agent/outbox/types.js";

const dirs: string[] = [];
const opened: SqliteOutbox[] = [];
afterEach(() => {
  for (const o of opened.splice(0)) o.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempPath(): string {
  const dir = mkdtempSync(join(tmpdir(), "outbox-inspect-"));
  dirs.push(dir);
  return join(dir, "outbox.db");
}

function openOutbox(path: string, now: () => number, maxSizeBytes = 1024 * 1024): SqliteOutbox {
  const o = SqliteOutbox.open({
    path,
    maxSizeBytes,
    flushIntervalMs: 60_000,
    batchSize: 1_000,
    clock: { now, monotonic: now },
    log: pino({ level: "silent" }),
  });
  opened.push(o);
  return o;
}

function msg(stream: string, klass: MessageClass, payload: (seq: number) => string): NewMessage {
  return { stream, klass, topic: `campus/c/device/${stream}/${klass}`, retain: klass === "telemetry", render: payload };
}

const json = (tag: string) => (seq: number) => JSON.stringify({ tag, seq });

/** Run the command with its output captured. */
async function run(args: Parameters<typeof outbox>[0]): Promise<{ code: number; out: string; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = "";
  let e = "";
  out.on("data", (d: Buffer) => (o += d.toString()));
  err.on("data", (d: Buffer) => (e += d.toString()));
  const code = await outbox(args, out, err);
  return { code, out: o, err: e };
}

const lines = (s: string) => s.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as ExportLine);

describe("campus-agent outbox", () => {
  it("reads depth, bytes, the oldest message and drops read-only while the outbox is open and writing", async () => {
    const path = tempPath();
    let now = 1_700_000_000_000;
    const box = openOutbox(path, () => now);
    box.enqueue(msg("door-a", "event", json("e1")));
    now += 1000;
    box.enqueue(msg("panic-1", "alarm", json("a1")));
    box.enqueue(msg("cam-1", "telemetry", json("t1")));
    box.flush();

    const first = await run({ path, json: true, now: () => now + 90_000 });
    const v = JSON.parse(first.out) as OutboxView;
    expect(v.depth).toEqual({ alarm: 1, event: 1, telemetry: 1 });
    expect(v.total).toBe(3);
    expect(v.bytes).toBe(box.stats().bytes);
    expect(v.oldest).toMatchObject({ class: "event", stream: "door-a", seq: 1, topic: "campus/c/device/door-a/event", age_s: 91 });
    expect(v.oldest_age_s).toEqual({ alarm: 90, event: 91, telemetry: 90 });
    expect(v.dropped).toEqual({ alarm: 0, event: 0, telemetry: 0 });
    expect(v.files.db_bytes).toBeGreaterThan(0);
    expect(v.files.wal_bytes).toBeGreaterThan(0);
    expect(v.ok).toBe(false);
    expect(v.problems[0]).toContain(`more than ${STALE_AFTER_S}s`);
    expect(first.code).toBe(1);

    // The outbox keeps writing while an inspector is open; a new read sees the new messages.
    const inspector = OutboxInspector.open(path);
    box.enqueue(msg("panic-1", "alarm", json("a2")));
    box.ack([1, 2, 3]);
    expect(inspector.summary().depth).toEqual({ alarm: 1, event: 0, telemetry: 0 });
    inspector.close();
    box.enqueue(msg("panic-1", "alarm", json("a3")));
    expect((await run({ path, json: true, now: () => now })).code).toBe(0);
  });

  it("renders a table and exits 1 naming the drops when the size cap dropped telemetry", async () => {
    const path = tempPath();
    const now = Date.now();
    const box = openOutbox(path, () => now, 600);
    for (let i = 0; i < 20; i++) box.enqueue(msg("cam-1", "telemetry", () => "x".repeat(50)));
    box.flush();
    const dropped = box.stats().dropped.telemetry;
    expect(dropped).toBeGreaterThan(0);
    const r = await run({ path, json: false, now: () => now });
    expect(r.code).toBe(1);
    expect(r.out).toContain(`Outbox  ${path}`);
    expect(r.out).toMatch(/CLASS\s+WAITING\s+OLDEST\s+DROPPED/);
    expect(r.out).toMatch(new RegExp(`telemetry\\s+\\d+\\s+0\\.0s\\s+${dropped}`));
    expect(r.out).toContain(`${dropped} messages dropped since the outbox was created (telemetry ${dropped})`);
  });

  it("exports every waiting message as JSON Lines in sending order, and one class alone", async () => {
    const path = tempPath();
    const now = 1_700_000_000_000;
    const box = openOutbox(path, () => now);
    box.enqueue(msg("cam-1", "telemetry", json("t1")));
    box.enqueue(msg("door-a", "event", json("e1")));
    box.enqueue(msg("panic-1", "alarm", json("a1")));
    box.enqueue(msg("cam-1", "telemetry", json("t2")));
    box.flush();

    const all = await run({ path, json: false, export: "-" });
    expect(all.code).toBe(0);
    expect(all.err).toBe("");
    const exported = lines(all.out);
    expect(exported.map((l) => [l.class, (l.payload as { tag: string }).tag])).toEqual([
      ["alarm", "a1"],
      ["event", "e1"],
      ["telemetry", "t1"],
      ["telemetry", "t2"],
    ]);
    expect(exported[0]).toEqual({
      id: 3,
      stream: "panic-1",
      class: "alarm",
      seq: 1,
      topic: "campus/c/device/panic-1/alarm",
      retain: false,
      created_at: new Date(now).toISOString(),
      format: "json",
      payload: { tag: "a1", seq: 1 },
    });
    for (const klass of ["alarm", "event", "telemetry"] as const) {
      const one = lines((await run({ path, json: false, export: "-", klass })).out);
      expect(one.length).toBe(klass === "telemetry" ? 2 : 1);
      expect(one.every((l) => l.class === klass)).toBe(true);
    }
  });

  it("exports a payload that is not JSON as its text, to a file of mode 0600", async () => {
    const path = tempPath();
    const box = openOutbox(path, Date.now);
    box.enqueue(msg("panic-1", "alarm", () => "ADM-CID 1130 not json {"));
    const file = join(path, "..", "export.jsonl");
    const r = await run({ path, json: false, export: file });
    expect(r.code).toBe(0);
    expect(r.out).toBe("");
    expect(r.err).toBe(`1 message exported to ${file}\n`);
    expect(lines(readFileSync(file, "utf8"))).toMatchObject([{ class: "alarm", format: "text", payload: "ADM-CID 1130 not json {" }]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it("says OK with exit code 0 for an empty outbox, and exports nothing", async () => {
    const path = tempPath();
    openOutbox(path, Date.now);
    const r = await run({ path, json: false });
    expect(r.code).toBe(0);
    expect(r.out).toContain("Waiting  0 messages, 0 B");
    expect(r.out).toContain("OK: nothing waiting, nothing dropped.");
    expect(r.out).not.toContain("Oldest");
    const e = await run({ path, json: false, export: "-" });
    expect(e).toEqual({ code: 0, out: "", err: "" });
  });

  it("exits 1 with the reason when there is no outbox file, and creates none", async () => {
    const path = tempPath();
    const r = await run({ path, json: false });
    expect(r.code).toBe(1);
    expect(r.err).toBe(`campus-agent outbox: no outbox at ${path}: the agent has not run with this config yet, or the path is wrong\n`);
    const j = await run({ path, json: true });
    expect(JSON.parse(j.out)).toMatchObject({ ok: false, error: { code: "missing" } });
    expect(existsSync(path)).toBe(false);
  });

  it("refuses a file that is not an outbox, and changes nothing in it", () => {
    const path = join(tempPath(), "..", "other.db");
    const other = new BetterSqlite3(path);
    other.exec("CREATE TABLE things (x INTEGER)");
    other.close();
    const before = readFileSync(path);
    expect(() => OutboxInspector.open(path)).toThrow(expect.objectContaining({ code: "not_an_outbox" }) as Error);
    expect(readFileSync(path).equals(before)).toBe(true);
  });
});
