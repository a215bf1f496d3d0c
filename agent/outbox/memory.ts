/**
 * The outbox without durability: same ordering, sequence, size-cap and
 * in-flight semantics as SqliteOutbox, held in memory. For tests, and as the
 * second implementation the contract suite keeps SqliteOutbox honest against.
 */
import type { Logger } from "pino";
import type { Clock } from "../clock.js";
import { CapEpisodes, checkMessage, closedError, EnqueueListeners, storedMessage, zeroCounts } from "./shared.js";
import { MESSAGE_CLASSES, type MessageClass, type NewMessage, type Outbox, type OutboxStats, type StoredMessage } from "./types.js";

export interface MemoryOutboxOptions {
  maxSizeBytes: number;
  clock: Clock;
  log: Logger;
}

interface Entry {
  message: StoredMessage;
  bytes: number;
}

export class MemoryOutbox implements Outbox {
  // A Map iterates in insertion order, and ids are assigned in insertion
  // order: each class's map is its queue, oldest first.
  private readonly queues: Record<MessageClass, Map<number, Entry>> = { alarm: new Map(), event: new Map(), telemetry: new Map() };
  private readonly seqs = new Map<string, number>();
  private readonly memory = new Map<string, string>();
  private readonly inFlight = new Map<number, MessageClass>();
  private readonly dropped = zeroCounts();
  private readonly listeners: EnqueueListeners;
  private readonly cap: CapEpisodes;
  private nextId = 1;
  private bytes = 0;
  private closed = false;
  /** Inside batch(): the classes of the messages stored, for the listeners once it ends. */
  private batched: MessageClass[] | null = null;

  constructor(private readonly opts: MemoryOutboxOptions) {
    this.listeners = new EnqueueListeners(opts.log);
    this.cap = new CapEpisodes(opts.log, opts.maxSizeBytes);
  }

  enqueue(message: NewMessage): { seq: number } {
    this.assertOpen();
    checkMessage(message);
    const seq = (this.seqs.get(message.stream) ?? 0) + 1;
    const { message: stored, bytes } = storedMessage(message, this.nextId++, seq, this.opts.clock.now());
    this.seqs.set(message.stream, seq);
    this.queues[message.klass].set(stored.id, { message: stored, bytes });
    this.bytes += bytes;
    this.enforceCap();
    if (this.batched !== null) this.batched.push(message.klass);
    else this.listeners.emit(message.klass);
    return { seq };
  }

  enqueueWithMemory(messages: readonly NewMessage[], memory: { key: string; value: string | null }): { seqs: number[] } {
    this.assertOpen();
    for (const m of messages) checkMessage(m);
    const seqs = messages.map((m) => this.enqueue(m).seq);
    if (memory.value === null) this.memory.delete(memory.key);
    else this.memory.set(memory.key, memory.value);
    return { seqs };
  }

  /** Nothing to make durable: what fn enqueues is stored as it goes; listeners hear of it at the end, as from SqliteOutbox. */
  batch<T>(fn: () => T): T {
    this.assertOpen();
    if (this.batched !== null) return fn();
    const batched: MessageClass[] = [];
    this.batched = batched;
    try {
      return fn();
    } finally {
      this.batched = null;
      for (const klass of batched) this.listeners.emit(klass);
    }
  }

  readMemory(key: string): string | undefined {
    this.assertOpen();
    return this.memory.get(key);
  }

  flush(): void {
    this.assertOpen();
  }

  take(limit: number, skipStreams?: ReadonlySet<string>, classes: readonly MessageClass[] = MESSAGE_CLASSES): StoredMessage[] {
    this.assertOpen();
    const out: StoredMessage[] = [];
    for (const klass of MESSAGE_CLASSES) {
      if (!classes.includes(klass)) continue;
      for (const { message } of this.queues[klass].values()) {
        if (out.length >= limit) return out;
        if (this.inFlight.has(message.id) || skipStreams?.has(message.stream)) continue;
        this.inFlight.set(message.id, klass);
        out.push({ ...message });
      }
    }
    return out;
  }

  ack(ids: readonly number[]): void {
    this.assertOpen();
    for (const id of ids) {
      this.inFlight.delete(id);
      for (const queue of Object.values(this.queues)) {
        const entry = queue.get(id);
        if (entry === undefined) continue;
        queue.delete(id);
        this.bytes -= entry.bytes;
      }
    }
  }

  release(ids: readonly number[]): void {
    this.assertOpen();
    // Released messages never left their queue, so they keep their place.
    for (const id of ids) this.inFlight.delete(id);
  }

  releaseAll(): void {
    this.assertOpen();
    this.inFlight.clear();
  }

  onEnqueue(listener: (klass: MessageClass) => void): () => void {
    this.assertOpen();
    return this.listeners.add(listener);
  }

  stats(): OutboxStats {
    this.assertOpen();
    const depth = zeroCounts();
    let oldestCreatedAt: number | null = null;
    for (const klass of MESSAGE_CLASSES) {
      const queue = this.queues[klass];
      depth[klass] = queue.size;
      const first = queue.values().next();
      if (!first.done && (oldestCreatedAt === null || first.value.message.createdAt < oldestCreatedAt)) {
        oldestCreatedAt = first.value.message.createdAt;
      }
    }
    return { depth, bytes: this.bytes, oldestCreatedAt, dropped: { ...this.dropped }, inFlight: this.inFlight.size };
  }

  peek(limit: number): StoredMessage[] {
    this.assertOpen();
    const out: StoredMessage[] = [];
    for (const klass of MESSAGE_CLASSES) {
      for (const { message } of this.queues[klass].values()) {
        if (out.length >= limit) return out;
        out.push({ ...message });
      }
    }
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
  }

  private enforceCap(): void {
    let droppedNow = 0;
    const telemetry = this.queues.telemetry;
    for (const [id, entry] of telemetry) {
      if (this.bytes <= this.opts.maxSizeBytes) break;
      if (this.inFlight.has(id)) continue;
      telemetry.delete(id);
      this.bytes -= entry.bytes;
      droppedNow++;
    }
    this.dropped.telemetry += droppedNow;
    this.cap.update(this.bytes, droppedNow);
  }

  private assertOpen(): void {
    if (this.closed) throw closedError();
  }
}
