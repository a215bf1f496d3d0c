/**
 * The durable outbox: SQLite through better-sqlite3, WAL, synchronous=FULL.
 *
 * Writes are shaped by two facts: a synced transaction costs about the same
 * for one row as for a hundred (about 4-5k transactions/s against 115-130k
 * rows/s batched, on these disks), and SD cards wear out.
 * - Alarms and events: one synced transaction each, before enqueue() returns.
 *   It carries the buffered telemetry along, since the sync is paid anyway.
 * - Telemetry: buffered in memory and committed in one transaction per flush,
 *   flushIntervalMs after the first buffered message or at batchSize buffered.
 * - take() commits the buffer before it hands out telemetry: nothing reaches
 *   the publisher before it is durable, so a message in flight survives
 *   kill -9 and is sent again, and a published sequence number is never used
 *   twice. While older, committed telemetry (a backlog) can fill the request,
 *   the buffer waits for its own flush: no sync per take during a drain.
 * - ack() deletes without a sync of its own (synchronous=NORMAL for that
 *   transaction): losing a delete to a power cut only re-sends the message. A crash loses only telemetry that was never handed out; its numbers
 *   are used again, so a consumer sees no gap for it.
 * - Size-cap drops of committed telemetry are deleted by the next commit.
 * - batch(): everything enqueued inside it, alarms, events, memory entries and
 *   telemetry alike, in one synced transaction when it returns (telemetry
 *   alone is buffered as usual). A sync holds the event loop (better-sqlite3
 *   is synchronous): a burst of per-message syncs (500 door controllers' first
 *   polls, a status change, an identity and a memory entry each) held a DC-09
 *   panel's ACK for as many syncs.
 *
 * One process per file: ids are assigned in memory (see sqlite-schema.ts).
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Database } from "better-sqlite3";
import BetterSqlite3 from "better-sqlite3";
import type { Logger } from "pino";
import type { Clock } from "../clock.js";
import { CapEpisodes, checkMessage, closedError, EnqueueListeners, storedMessage, zeroCounts } from "./shared.js";
import {
  CLASS_CODE,
  classOfCode,
  type LoadedState,
  loadState,
  migrate,
  prepareStatements,
  type Statements,
  toStored,
} from "./sqlite-schema.js";
import { MESSAGE_CLASSES, type MessageClass, type NewMessage, type Outbox, type OutboxStats, type StoredMessage } from "./types.js";

export interface SqliteOutboxOptions {
  path: string;
  maxSizeBytes: number;
  flushIntervalMs: number;
  batchSize: number;
  clock: Clock;
  log: Logger;
}

const VICTIM_PAGE = 256;

interface Buffered {
  message: StoredMessage;
  bytes: number;
}

interface MemoryWrite {
  key: string;
  value: string | null;
}

/** What a batch() enqueued so far: numbered, not stored, not counted. */
interface Batch {
  entries: Buffered[];
  /** Each stream's last number within the batch. */
  seqs: Map<string, number>;
  memory: MemoryWrite[];
}

export class SqliteOutbox implements Outbox {
  static open(opts: SqliteOutboxOptions): SqliteOutbox {
    for (const key of ["maxSizeBytes", "flushIntervalMs", "batchSize"] as const) {
      if (!(opts[key] > 0)) throw new Error(`outbox: ${key} must be positive, got ${opts[key]}`);
    }
    let db: Database | undefined;
    try {
      mkdirSync(dirname(opts.path), { recursive: true });
      db = new BetterSqlite3(opts.path);
      const mode = db.pragma("journal_mode = WAL", { simple: true });
      if (mode !== "wal") throw new Error(`journal_mode is ${String(mode)}, not wal`);
      db.pragma("synchronous = FULL");
      migrate(db, opts.path);
      const outbox = new SqliteOutbox(db, prepareStatements(db), loadState(db), opts);
      // The cap may have been lowered since the last run.
      outbox.enforceCap();
      outbox.flushNow();
      return outbox;
    } catch (err) {
      db?.close();
      const reason = err instanceof Error ? err.message : String(err);
      throw new Error(`outbox: cannot open ${opts.path}: ${reason}`, { cause: err });
    }
  }

  /** Last number used, per stream. */
  private readonly seqs: Map<string, number>;
  /** Streams whose numbers moved since the last commit. */
  private readonly dirty = new Set<string>();
  /** Telemetry not committed yet; a Map iterates in insertion (= id) order. */
  private readonly buffer = new Map<number, Buffered>();
  private readonly inFlight = new Map<number, MessageClass>();
  private readonly inFlightCount = zeroCounts();
  /** Per class: every committed id below it is in flight, pending drop, or gone. */
  private readonly cursor = zeroCounts();
  /** Same, for the size cap's scan of committed telemetry. */
  private dropCursor = 0;
  /** Committed telemetry the cap dropped, deleted by the next commit. */
  private readonly pendingDrops = new Set<number>();
  private pendingDropped = 0;
  private readonly depth: Record<MessageClass, number>;
  private bytes: number;
  private readonly dropped: Record<MessageClass, number>;
  private nextId: number;
  private readonly listeners: EnqueueListeners;
  private readonly cap: CapEpisodes;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private flushFailing = false;
  private closed = false;
  private batching: Batch | null = null;

  private constructor(
    private readonly db: Database,
    private readonly st: Statements,
    state: LoadedState,
    private readonly opts: SqliteOutboxOptions,
  ) {
    this.seqs = state.seqs;
    this.depth = state.depth;
    this.bytes = state.bytes;
    this.dropped = state.dropped;
    this.nextId = state.maxId + 1;
    this.listeners = new EnqueueListeners(opts.log);
    this.cap = new CapEpisodes(opts.log, opts.maxSizeBytes);
  }

  enqueue(message: NewMessage): { seq: number } {
    this.assertOpen();
    checkMessage(message);
    if (this.batching !== null) return { seq: (this.addToBatch(this.batching, [message])[0] as Buffered).message.seq };
    const [entry] = this.prepare([message]) as [Buffered];
    const { klass, stream } = entry.message;
    if (klass === "telemetry") {
      this.buffer.set(entry.message.id, entry);
    } else {
      try {
        this.commit([entry]);
      } catch (err) {
        throw new Error(`outbox: could not store ${klass} for ${stream}`, { cause: err });
      }
    }
    this.accept([entry], klass === "telemetry");
    return { seq: entry.message.seq };
  }

  enqueueWithMemory(messages: readonly NewMessage[], memory: MemoryWrite): { seqs: number[] } {
    this.assertOpen();
    for (const m of messages) checkMessage(m);
    if (this.batching !== null) {
      const added = this.addToBatch(this.batching, messages);
      this.batching.memory.push(memory);
      return { seqs: added.map((e) => e.message.seq) };
    }
    const entries = this.prepare(messages);
    try {
      this.commit(entries, [memory]);
    } catch (err) {
      throw new Error(`outbox: could not store ${entries.length} messages with memory ${memory.key}`, { cause: err });
    }
    this.accept(entries, false);
    return { seqs: entries.map((e) => e.message.seq) };
  }

  batch<T>(fn: () => T): T {
    this.assertOpen();
    if (this.batching !== null) return fn();
    const batch: Batch = { entries: [], seqs: new Map(), memory: [] };
    this.batching = batch;
    let result: T;
    try {
      result = fn();
    } catch (err) {
      this.batching = null;
      // What fn enqueued before it threw was handed sequence numbers: store it.
      try {
        this.commitBatch(batch);
      } catch (commitErr) {
        this.opts.log.error({ err: commitErr }, "outbox: a batch whose work threw could not be stored either");
      }
      throw err;
    }
    this.batching = null;
    this.commitBatch(batch);
    return result;
  }

  readMemory(key: string): string | undefined {
    this.assertOpen();
    const batched = this.batching?.memory.findLast((m) => m.key === key);
    if (batched !== undefined) return batched.value ?? undefined;
    return this.st.getMemory.get(key)?.value;
  }

  /**
   * Number and render messages, without storing them or moving any counter: a failed commit leaves no trace.
   * Inside a batch, numbers and ids follow what the batch already holds.
   */
  private prepare(messages: readonly NewMessage[], batch?: Batch): Buffered[] {
    const next = new Map<string, number>();
    const firstId = this.nextId + (batch?.entries.length ?? 0);
    return messages.map((message, i) => {
      const seq = (next.get(message.stream) ?? batch?.seqs.get(message.stream) ?? this.seqs.get(message.stream) ?? 0) + 1;
      next.set(message.stream, seq);
      return storedMessage(message, firstId + i, seq, this.opts.clock.now());
    });
  }

  private addToBatch(batch: Batch, messages: readonly NewMessage[]): Buffered[] {
    const entries = this.prepare(messages, batch);
    for (const e of entries) {
      batch.seqs.set(e.message.stream, e.message.seq);
      batch.entries.push(e);
    }
    return entries;
  }

  private commitBatch(batch: Batch): void {
    this.assertOpen();
    if (batch.memory.length === 0 && batch.entries.every((e) => e.message.klass === "telemetry")) {
      // Nothing that must be durable now: buffered as if enqueued one by one.
      for (const e of batch.entries) this.buffer.set(e.message.id, e);
      if (batch.entries.length > 0) this.accept(batch.entries, true);
      return;
    }
    try {
      this.commit(batch.entries, batch.memory);
    } catch (err) {
      throw new Error(`outbox: could not store a batch of ${batch.entries.length} messages and ${batch.memory.length} memory entries`, { cause: err });
    }
    this.accept(batch.entries, false);
  }

  /** The messages are stored (committed, or buffered when `buffered`): count them and tell the listeners. */
  private accept(entries: readonly Buffered[], buffered: boolean): void {
    for (const { message: m, bytes } of entries) {
      this.nextId = m.id + 1;
      this.seqs.set(m.stream, m.seq);
      if (buffered) this.dirty.add(m.stream);
      this.depth[m.klass]++;
      this.bytes += bytes;
    }
    this.enforceCap();
    if (this.buffer.size >= this.opts.batchSize) this.flushLogged();
    else this.armTimer();
    for (const { message } of entries) this.listeners.emit(message.klass);
  }

  flush(): void {
    this.assertOpen();
    this.flushNow();
  }

  take(limit: number, skipStreams?: ReadonlySet<string>, classes: readonly MessageClass[] = MESSAGE_CLASSES): StoredMessage[] {
    this.assertOpen();
    const skip = skipStreams !== undefined && skipStreams.size > 0 ? skipStreams : undefined;
    const out: StoredMessage[] = [];
    for (const klass of MESSAGE_CLASSES) {
      if (!classes.includes(klass)) continue;
      if (out.length >= limit) break;
      // Only durable messages go out; a failed flush leaves the buffer for later. The buffer holds the newest
      // telemetry: while committed telemetry (a backlog) can fill the request, it waits for its own flush.
      if (klass === "telemetry" && this.buffer.size > 0 && !this.committedTelemetryFor(limit - out.length, skip)) this.flushLogged();
      this.takeClass(klass, limit, skip, out);
    }
    return out;
  }

  ack(ids: readonly number[]): void {
    this.assertOpen();
    // The cap has already counted a pending drop out; a buffered message cannot have been taken.
    const committed = ids.filter((id) => !this.pendingDrops.has(id) && !this.buffer.has(id));
    if (committed.length === 0) return;
    const deleted: { klass: number; bytes: number }[] = [];
    try {
      // No sync of its own: a delete lost in a power cut (never in a kill -9) only sends its messages again,
      // with their numbers, and the next synced commit (WAL frames are synced in order) makes it durable.
      this.st.syncNormal.run();
      try {
        this.db.transaction(() => {
          for (const id of committed) {
            const row = this.st.deleteReturning.get(id);
            if (row !== undefined) deleted.push(row);
          }
        })();
      } finally {
        this.st.syncFull.run();
      }
    } catch (err) {
      throw new Error(`outbox: could not delete ${committed.length} acked messages`, { cause: err });
    }
    for (const id of committed) this.forget(id);
    for (const row of deleted) {
      this.depth[classOfCode(row.klass)]--;
      this.bytes -= row.bytes;
    }
  }

  release(ids: readonly number[]): void {
    this.assertOpen();
    for (const id of ids) this.putBack(id);
  }

  releaseAll(): void {
    this.assertOpen();
    for (const id of [...this.inFlight.keys()]) this.putBack(id);
  }

  onEnqueue(listener: (klass: MessageClass) => void): () => void {
    this.assertOpen();
    return this.listeners.add(listener);
  }

  stats(): OutboxStats {
    this.assertOpen();
    // The oldest telemetry row may be one the cap already dropped: commit the drops first.
    if (this.pendingDrops.size > 0) this.flushLogged();
    let oldestCreatedAt: number | null = null;
    for (const klass of MESSAGE_CLASSES) {
      if (this.committedDepth(klass) === 0) continue;
      const row = this.st.oldest.get(CLASS_CODE[klass]);
      if (row !== undefined && (oldestCreatedAt === null || row.created_at < oldestCreatedAt)) oldestCreatedAt = row.created_at;
    }
    const first = this.buffer.values().next();
    if (!first.done && (oldestCreatedAt === null || first.value.message.createdAt < oldestCreatedAt)) {
      oldestCreatedAt = first.value.message.createdAt;
    }
    return {
      depth: { ...this.depth },
      bytes: this.bytes,
      oldestCreatedAt,
      dropped: { ...this.dropped, telemetry: this.dropped.telemetry + this.pendingDropped },
      inFlight: this.inFlight.size,
    };
  }

  peek(limit: number): StoredMessage[] {
    this.assertOpen();
    if (limit <= 0) return [];
    const out = this.st.peek
      .all(limit + this.pendingDrops.size)
      .filter((row) => !this.pendingDrops.has(row.id))
      .slice(0, limit)
      .map(toStored);
    for (const { message } of this.buffer.values()) {
      if (out.length >= limit) break;
      out.push({ ...message });
    }
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.flushNow();
    } catch (err) {
      this.opts.log.error({ err, lost: this.buffer.size }, "outbox: the final flush failed; buffered telemetry is lost");
    }
    this.clearTimer();
    this.listeners.clear();
    this.db.close();
  }

  private takeClass(klass: MessageClass, limit: number, skip: ReadonlySet<string> | undefined, out: StoredMessage[]): void {
    const want = limit - out.length;
    if (want <= 0 || this.committedDepth(klass) === 0) return;
    const code = CLASS_CODE[klass];
    const from = this.cursor[klass];
    // Fetching past every unavailable row at or after the cursor guarantees `want` available ones if they
    // exist: one query. Counting only those (not every row in flight, most of them behind the cursor)
    // keeps a drain from reading its whole in-flight window again for each message it hands out.
    let unavailable = 0;
    for (const [id, k] of this.inFlight) if (k === klass && id >= from) unavailable++;
    if (klass === "telemetry") for (const id of this.pendingDrops) if (id >= from) unavailable++;
    const n = want + unavailable;
    const rows = skip === undefined ? this.st.page.all(code, from, n) : this.st.pageSkipping.all(code, from, JSON.stringify([...skip]), n);
    // Skipped streams' rows are invisible here, so the cursor cannot move past them.
    const advancing = skip === undefined;
    for (const row of rows) {
      if (!this.inFlight.has(row.id) && !this.pendingDrops.has(row.id)) {
        if (out.length >= limit) break;
        this.inFlight.set(row.id, klass);
        this.inFlightCount[klass]++;
        out.push(toStored(row));
      }
      if (advancing) this.cursor[klass] = row.id + 1;
    }
  }

  private putBack(id: number): void {
    const klass = this.inFlight.get(id);
    if (klass === undefined) return;
    this.forget(id);
    // Found again, in its place, by the next take().
    this.cursor[klass] = Math.min(this.cursor[klass], id);
    if (klass === "telemetry") this.dropCursor = Math.min(this.dropCursor, id);
  }

  private forget(id: number): void {
    const klass = this.inFlight.get(id);
    if (klass === undefined) return;
    this.inFlight.delete(id);
    this.inFlightCount[klass]--;
  }

  private enforceCap(): void {
    let droppedNow = 0;
    if (this.bytes > this.opts.maxSizeBytes) droppedNow += this.dropCommitted();
    if (this.bytes > this.opts.maxSizeBytes) droppedNow += this.dropBuffered();
    this.pendingDropped += droppedNow;
    this.cap.update(this.bytes, droppedNow);
  }

  private dropCommitted(): number {
    let n = 0;
    while (this.bytes > this.opts.maxSizeBytes && this.committedDepth("telemetry") > 0) {
      const rows = this.st.victims.all(CLASS_CODE.telemetry, this.dropCursor, VICTIM_PAGE);
      if (rows.length === 0) break;
      for (const row of rows) {
        if (this.bytes <= this.opts.maxSizeBytes) break;
        this.dropCursor = row.id + 1;
        if (this.inFlight.has(row.id) || this.pendingDrops.has(row.id)) continue;
        this.pendingDrops.add(row.id);
        this.depth.telemetry--;
        this.bytes -= row.bytes;
        n++;
      }
    }
    return n;
  }

  private dropBuffered(): number {
    let n = 0;
    for (const [id, buffered] of this.buffer) {
      if (this.bytes <= this.opts.maxSizeBytes) break;
      this.buffer.delete(id);
      this.depth.telemetry--;
      this.bytes -= buffered.bytes;
      n++;
    }
    return n;
  }

  /**
   * One synced transaction: the buffer, `extras` (an alarm or event, or a
   * batch), each moved stream's last number, the memory writes (in order),
   * and the cap's pending deletions and counts. Memory follows only once it
   * committed.
   */
  private commit(extras: readonly Buffered[] = [], memory: readonly MemoryWrite[] = []): void {
    const rows = [...this.buffer.values(), ...extras];
    const seqs: [string, number][] = [...this.dirty].map((stream) => [stream, this.seqs.get(stream) ?? 0]);
    // `extras` are not in this.seqs yet: their numbers count only if this commits (in order, so the last wins).
    for (const { message } of extras) seqs.push([message.stream, message.seq]);
    const drops = [...this.pendingDrops];
    const dropped = this.pendingDropped;
    if (rows.length === 0 && seqs.length === 0 && drops.length === 0 && dropped === 0 && memory.length === 0) return;
    this.db.transaction(() => {
      for (const { message: m, bytes } of rows) {
        this.st.insert.run(m.id, CLASS_CODE[m.klass], m.stream, m.seq, m.topic, m.payload, m.retain ? 1 : 0, m.createdAt, bytes);
      }
      for (const [stream, seq] of seqs) this.st.setSeq.run(stream, seq);
      for (const id of drops) this.st.deleteId.run(id);
      if (dropped > 0) this.st.addCounter.run("dropped.telemetry", dropped);
      for (const { key, value } of memory) {
        if (value === null) this.st.deleteMemory.run(key);
        else this.st.setMemory.run(key, value);
      }
    })();
    this.buffer.clear();
    this.dirty.clear();
    for (const id of drops) this.pendingDrops.delete(id);
    this.pendingDropped -= dropped;
    this.dropped.telemetry += dropped;
  }

  private flushNow(): void {
    this.clearTimer();
    this.commit();
  }

  /** For timers and batch-size flushes: a failure keeps the buffer and retries later. */
  private flushLogged(): void {
    try {
      this.flushNow();
      if (this.flushFailing) this.opts.log.info("outbox flush works again");
      this.flushFailing = false;
    } catch (err) {
      if (!this.flushFailing) {
        this.opts.log.error({ err, buffered: this.buffer.size }, "outbox flush failed; telemetry stays buffered, retrying");
      }
      this.flushFailing = true;
      this.armTimer();
    }
  }

  private armTimer(): void {
    if (this.timer !== null || this.closed) return;
    if (this.buffer.size === 0 && this.dirty.size === 0 && this.pendingDrops.size === 0 && this.pendingDropped === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flushLogged();
    }, this.opts.flushIntervalMs);
    // Pending work must not keep a finished process alive; close() flushes it.
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer === null) return;
    clearTimeout(this.timer);
    this.timer = null;
  }

  /** Whether committed telemetry not in flight can fill `want` (with no stream skipped: skipping may leave less). */
  private committedTelemetryFor(want: number, skip: ReadonlySet<string> | undefined): boolean {
    return skip === undefined && this.committedDepth("telemetry") - this.inFlightCount.telemetry >= want;
  }

  private committedDepth(klass: MessageClass): number {
    return this.depth[klass] - (klass === "telemetry" ? this.buffer.size : 0);
  }

  private assertOpen(): void {
    if (this.closed) throw closedError();
  }
}
