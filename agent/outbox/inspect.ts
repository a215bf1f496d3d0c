/**
 * Reading an outbox file from outside the agent (`campus-agent outbox`),
 * whether the agent runs or not, without disturbing it: a READ-ONLY
 * connection, no migration, no checkpoint, no pragma that writes.
 *
 * What was verified about read-only access to the WAL file (SQLite 3.53 as
 * better-sqlite3 12 bundles it; see the README's `campus-agent outbox`):
 * - Under the systemd unit (UMask=0007) SQLite creates the file, -wal and
 *   -shm 0640: a technician in the service's group can read them but not
 *   write the -shm. SQLite (since 3.22) still reads: it opens the -shm
 *   read-only and builds a private copy of the WAL index for each read
 *   transaction, holding WAL_READ_LOCK(0), which keeps the agent from
 *   checkpointing meanwhile (it keeps writing to the WAL; the checkpoint runs
 *   later). Each read transaction is a consistent snapshot.
 * - When the agent is stopped, its last close removed -wal and -shm; a
 *   reader that cannot create them (the folder is 0750, the service's) gets
 *   SQLITE_READONLY_DIRECTORY. `?immutable=1` would read, but is unsafe if
 *   the agent starts meanwhile (and better-sqlite3 is built without URI
 *   filenames), so we say so and suggest sudo: as root, SQLite gives the
 *   -wal and -shm it creates to the outbox's owner, with the outbox's mode.
 * - A read-only connection never checkpoints (sqlite3WalCheckpoint refuses
 *   on a read-only WAL), so closing it leaves the agent's files alone.
 *
 * Telemetry the agent buffers in memory (up to outbox.flush_interval_ms) and
 * which messages it has in flight are not in the file: not shown here.
 */
import { existsSync, statSync } from "node:fs";
import type { Database } from "better-sqlite3";
import BetterSqlite3 from "better-sqlite3";
import { CLASS_CODE, classOfCode, type MessageRow, readDropped, readTotals, SCHEMA_VERSION } from "./sqlite-schema.js";
import type { MessageClass } from "./types.js";

/** Why an outbox file could not be read, as a code a script can test. */
export type InspectErrorCode = "missing" | "permission" | "not_an_outbox" | "newer_schema" | "unreadable";

export class InspectError extends Error {
  constructor(
    readonly code: InspectErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "InspectError";
  }
}

export interface OldestMessage {
  id: number;
  klass: MessageClass;
  stream: string;
  seq: number;
  topic: string;
  /** ms since the epoch. */
  createdAt: number;
}

export interface OutboxSummary {
  path: string;
  /** Sizes on disk: the file, its -wal and -shm (0 when absent). */
  files: { db: number; wal: number; shm: number };
  schemaVersion: number;
  depth: Record<MessageClass, number>;
  total: number;
  /** Topic + payload bytes, as the size cap counts them. */
  bytes: number;
  /** The first message enqueued of those waiting (lowest id), or null. */
  oldest: OldestMessage | null;
  /** Per class, the createdAt of its oldest waiting message, or null. */
  oldestByClass: Record<MessageClass, number | null>;
  /** Dropped by the size cap since the outbox was created, per class. */
  dropped: Record<MessageClass, number>;
}

/** One waiting message as exported: the columns, decoded. */
export interface ExportedMessage {
  id: number;
  stream: string;
  klass: MessageClass;
  seq: number;
  topic: string;
  retain: boolean;
  createdAt: number;
  payload: string;
}

/** A message row as the export reads it (its size is not needed). */
type Row = Omit<MessageRow, "bytes">;

const ROW = "id, klass, stream, seq, topic, retain, created_at";

export class OutboxInspector {
  /** Open `path` read-only and check it is an outbox this version understands. */
  static open(path: string): OutboxInspector {
    if (!existsSync(path)) {
      throw new InspectError("missing", `no outbox at ${path}: the agent has not run with this config yet, or the path is wrong`);
    }
    let db: Database | undefined;
    try {
      db = new BetterSqlite3(path, { readonly: true, fileMustExist: true });
      const inspector = new OutboxInspector(db, path, checkSchema(db, path));
      return inspector;
    } catch (err) {
      db?.close();
      throw explain(err, path);
    }
  }

  private constructor(
    private readonly db: Database,
    readonly path: string,
    private readonly schemaVersion: number,
  ) {}

  /** Depth, bytes, oldest and drops, from one read transaction (a consistent snapshot). */
  summary(): OutboxSummary {
    const read = this.db.transaction((): OutboxSummary => {
      const { depth, bytes } = readTotals(this.db);
      // Ids increase with every enqueue, whatever the class: the lowest id is the first one enqueued.
      const first = this.db.prepare(`SELECT ${ROW} FROM messages ORDER BY id LIMIT 1`).get() as Omit<Row, "payload"> | undefined;
      const oldestOf = this.db.prepare<[number], { created_at: number }>("SELECT created_at FROM messages WHERE klass = ? ORDER BY id LIMIT 1");
      const oldestByClass: Record<MessageClass, number | null> = { alarm: null, event: null, telemetry: null };
      for (const klass of Object.keys(oldestByClass) as MessageClass[]) {
        oldestByClass[klass] = oldestOf.get(CLASS_CODE[klass])?.created_at ?? null;
      }
      const dropped = readDropped(this.db);
      return {
        path: this.path,
        files: { db: sizeOf(this.path), wal: sizeOf(`${this.path}-wal`), shm: sizeOf(`${this.path}-shm`) },
        schemaVersion: this.schemaVersion,
        depth,
        total: depth.alarm + depth.event + depth.telemetry,
        bytes,
        oldest:
          first === undefined
            ? null
            : { id: first.id, klass: classOfCode(first.klass), stream: first.stream, seq: first.seq, topic: first.topic, createdAt: first.created_at },
        oldestByClass,
        dropped,
      };
    });
    try {
      return read();
    } catch (err) {
      throw explain(err, this.path);
    }
  }

  /**
   * Every waiting message (of one class, or all), in the order the agent
   * sends them: alarms, events, telemetry, oldest first within a class. One
   * row at a time through a cursor (the statement is one snapshot): the
   * outbox is never loaded whole. Finish or return the iterator before close().
   */
  * messages(klass?: MessageClass): Generator<ExportedMessage> {
    const rows =
      klass === undefined
        ? this.db.prepare<[], Row>(`SELECT ${ROW}, payload FROM messages ORDER BY klass, id`).iterate()
        : this.db.prepare<[number], Row>(`SELECT ${ROW}, payload FROM messages WHERE klass = ? ORDER BY id`).iterate(CLASS_CODE[klass]);
    try {
      for (const r of rows) {
        yield {
          id: r.id,
          stream: r.stream,
          klass: classOfCode(r.klass),
          seq: r.seq,
          topic: r.topic,
          retain: r.retain !== 0,
          createdAt: r.created_at,
          payload: r.payload,
        };
      }
    } catch (err) {
      throw explain(err, this.path);
    }
  }

  close(): void {
    this.db.close();
  }
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function checkSchema(db: Database, path: string): number {
  // The first read: this is where SQLite opens (or fails to open) the -wal and -shm.
  const tables = new Set(
    (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name),
  );
  if (!["meta", "messages", "counters"].every((t) => tables.has(t))) {
    throw new InspectError("not_an_outbox", `${path} is not an outbox (no meta, messages and counters tables)`);
  }
  const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
  const version = Number(row?.value);
  if (!Number.isInteger(version)) throw new InspectError("not_an_outbox", `${path} is not an outbox (no schema version)`);
  if (version > SCHEMA_VERSION) {
    throw new InspectError("newer_schema", `${path} has schema version ${version}; this campus-agent understands up to ${SCHEMA_VERSION} (a newer agent wrote it)`);
  }
  return version;
}

/** A reason a technician can act on, keeping SQLite's error as the cause. */
function explain(err: unknown, path: string): InspectError {
  if (err instanceof InspectError) return err;
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === "SQLITE_READONLY_DIRECTORY" || (code === "SQLITE_CANTOPEN" && !existsSync(`${path}-shm`))) {
    return new InspectError(
      "permission",
      `cannot read ${path} while the agent is stopped: SQLite needs ${path}-shm (the agent removed it when it stopped) and this user may not create it in that folder. ` +
      "Run it as root (sudo campus-agent outbox: SQLite gives the files it creates to the outbox's owner) or as the service's user, or start the agent.",
      { cause: err },
    );
  }
  if (code === "SQLITE_CANTOPEN" || code === "EACCES" || code === "SQLITE_PERM") {
    return new InspectError(
      "permission",
      `cannot open ${path}: ${message} (run as root, the service's user, or a member of its group)`,
      { cause: err },
    );
  }
  if (code === "SQLITE_NOTADB") return new InspectError("not_an_outbox", `${path} is not an SQLite file: ${message}`, { cause: err });
  return new InspectError("unreadable", `cannot read ${path}: ${message}`, { cause: err });
}
