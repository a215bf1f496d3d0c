/**
 * The SQLite outbox's schema, its migrations and its prepared statements.
 *
 * Upgrades must not lose buffered data: the schema version lives in `meta`,
 * and each migration runs in its own transaction together with the version
 * bump, so an upgrade interrupted by a power cut either happened or did not.
 */
import type { Database } from "better-sqlite3";
import { zeroCounts } from "./shared.js";
import type { MessageClass, StoredMessage } from "./types.js";

/** Stored as an integer so that `ORDER BY klass, id` is priority order. */
export const CLASS_CODE: Record<MessageClass, number> = { alarm: 0, event: 1, telemetry: 2 };
const CLASS_BY_CODE: readonly MessageClass[] = ["alarm", "event", "telemetry"];

/** MIGRATIONS[v] takes the schema from version v to v + 1; version 0 is an empty file. Append only. */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  -- id is assigned by the outbox (monotonic within a run) so that buffered
  -- telemetry has its id before it is committed.
  CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    klass INTEGER NOT NULL,
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL,
    topic TEXT NOT NULL,
    payload TEXT NOT NULL,
    retain INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    bytes INTEGER NOT NULL
  );
  -- The rowid (= id) is implicitly the index's last column, so this is the
  -- (klass, id) order that take() and peek() walk, without storing id twice.
  CREATE INDEX messages_by_class ON messages (klass);
  -- The last sequence number committed per stream (acked messages are gone,
  -- their numbers must not come back).
  CREATE TABLE streams (stream TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
  `,
  `
  -- State written in the same transaction as the messages it decided (enqueueWithMemory).
  CREATE TABLE memory (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

function schemaVersion(db: Database): number {
  const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
  if (hasMeta === undefined) return 0;
  const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
  return row === undefined ? 0 : Number(row.value);
}

export function migrate(db: Database, path: string): void {
  const from = schemaVersion(db);
  if (!Number.isInteger(from) || from > SCHEMA_VERSION) {
    // A downgrade: leave the file alone rather than guess at a newer layout.
    throw new Error(`outbox ${path} has schema version ${from}; this agent understands up to ${SCHEMA_VERSION}. Refusing to touch it.`);
  }
  for (let v = from; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v] as string);
      db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(
        String(v + 1),
      );
    })();
  }
}

export interface MessageRow {
  id: number;
  klass: number;
  stream: string;
  seq: number;
  topic: string;
  payload: string;
  retain: number;
  created_at: number;
  bytes: number;
}

export function toStored(row: MessageRow): StoredMessage {
  return {
    id: row.id,
    stream: row.stream,
    klass: CLASS_BY_CODE[row.klass] as MessageClass,
    seq: row.seq,
    topic: row.topic,
    payload: row.payload,
    retain: row.retain !== 0,
    createdAt: row.created_at,
  };
}

export function classOfCode(code: number): MessageClass {
  return CLASS_BY_CODE[code] as MessageClass;
}

const COLUMNS = "id, klass, stream, seq, topic, payload, retain, created_at, bytes";

export type Statements = ReturnType<typeof prepareStatements>;

export function prepareStatements(db: Database) {
  return {
    insert: db.prepare<[number, number, string, number, string, string, number, number, number]>(
      `INSERT INTO messages (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    setSeq: db.prepare<[string, number]>(
      "INSERT INTO streams (stream, seq) VALUES (?, ?) ON CONFLICT (stream) DO UPDATE SET seq = excluded.seq",
    ),
    deleteReturning: db.prepare<[number], { klass: number; bytes: number }>("DELETE FROM messages WHERE id = ? RETURNING klass, bytes"),
    deleteId: db.prepare<[number]>("DELETE FROM messages WHERE id = ?"),
    page: db.prepare<[number, number, number], MessageRow>(
      `SELECT ${COLUMNS} FROM messages WHERE klass = ? AND id >= ? ORDER BY id LIMIT ?`,
    ),
    // json_each keeps this one prepared statement whatever the number of skipped streams.
    pageSkipping: db.prepare<[number, number, string, number], MessageRow>(
      `SELECT ${COLUMNS} FROM messages WHERE klass = ? AND id >= ? AND stream NOT IN (SELECT value FROM json_each(?)) ORDER BY id LIMIT ?`,
    ),
    peek: db.prepare<[number], MessageRow>(`SELECT ${COLUMNS} FROM messages ORDER BY klass, id LIMIT ?`),
    oldest: db.prepare<[number], { created_at: number }>("SELECT created_at FROM messages WHERE klass = ? ORDER BY id LIMIT 1"),
    victims: db.prepare<[number, number, number], { id: number; bytes: number }>(
      "SELECT id, bytes FROM messages WHERE klass = ? AND id >= ? ORDER BY id LIMIT ?",
    ),
    // ack()'s deletes need no sync of their own (sqlite.ts); PRAGMA synchronous cannot change inside a transaction.
    syncNormal: db.prepare("PRAGMA synchronous = NORMAL"),
    syncFull: db.prepare("PRAGMA synchronous = FULL"),
    getMemory: db.prepare<[string], { value: string }>("SELECT value FROM memory WHERE key = ?"),
    setMemory: db.prepare<[string, string]>("INSERT INTO memory (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
    deleteMemory: db.prepare<[string]>("DELETE FROM memory WHERE key = ?"),
    addCounter: db.prepare<[string, number]>(
      "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
    ),
  };
}

export interface LoadedState {
  seqs: Map<string, number>;
  depth: Record<MessageClass, number>;
  bytes: number;
  dropped: Record<MessageClass, number>;
  maxId: number;
}

/** Messages waiting by class, and their bytes, as the file holds them (the outbox on open; `campus-agent outbox`). */
export function readTotals(db: Database): { depth: Record<MessageClass, number>; bytes: number } {
  const depth = zeroCounts();
  let bytes = 0;
  const totals = db.prepare("SELECT klass, count(*) AS n, coalesce(sum(bytes), 0) AS b FROM messages GROUP BY klass").all() as {
    klass: number;
    n: number;
    b: number;
  }[];
  for (const row of totals) {
    depth[classOfCode(row.klass)] = row.n;
    bytes += row.b;
  }
  return { depth, bytes };
}

/** The drop counters by class, as the file holds them. */
export function readDropped(db: Database): Record<MessageClass, number> {
  const dropped = zeroCounts();
  for (const row of db.prepare("SELECT name, value FROM counters").all() as { name: string; value: number }[]) {
    const klass = row.name.startsWith("dropped.") ? row.name.slice("dropped.".length) : "";
    if (klass in dropped) dropped[klass as MessageClass] = row.value;
  }
  return dropped;
}

/** Everything the outbox keeps in memory, recomputed from the file on open. */
export function loadState(db: Database): LoadedState {
  const seqs = new Map<string, number>();
  for (const row of db.prepare("SELECT stream, seq FROM streams").all() as { stream: string; seq: number }[]) seqs.set(row.stream, row.seq);
  const { depth, bytes } = readTotals(db);
  const dropped = readDropped(db);
  const max = db.prepare("SELECT coalesce(max(id), 0) AS m FROM messages").get() as { m: number };
  return { seqs, depth, bytes, dropped, maxId: max.m };
}
