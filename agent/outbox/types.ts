/**
 * The outbox owns durability: every message is written here before it is
 * published, and deleted only after the broker acknowledged it (PUBACK).
 *
 * Classes are drained in priority order: alarm, then event, then telemetry.
 * Within a class, messages are handed out oldest first (by insertion id), so
 * per stream (a device, or the gateway itself) order is preserved.
 */
export const MESSAGE_CLASSES = ["alarm", "event", "telemetry"] as const;
export type MessageClass = (typeof MESSAGE_CLASSES)[number];

export interface NewMessage {
  /** Ordering and sequence-number domain: a device id, or "$gateway". */
  stream: string;
  klass: MessageClass;
  topic: string;
  retain: boolean;
  /**
   * Render the payload once the stream's sequence number is known. Called
   * synchronously inside enqueue(). Sequence numbers start at 1, increase by
   * one per message of the stream (whatever its class), and survive restarts.
   */
  render(seq: number): string;
}

export interface StoredMessage {
  id: number;
  stream: string;
  klass: MessageClass;
  seq: number;
  topic: string;
  payload: string;
  retain: boolean;
  /** Wall time of enqueue, ms since the epoch. */
  createdAt: number;
}

export interface OutboxStats {
  /** Messages waiting (including in flight), per class. */
  depth: Record<MessageClass, number>;
  /** Bytes held (topic + payload), committed and buffered. */
  bytes: number;
  /** createdAt of the oldest waiting message, or null when empty. */
  oldestCreatedAt: number | null;
  /** Messages dropped by the size cap since the outbox was created (persisted), per class. Only telemetry is ever dropped. */
  dropped: Record<MessageClass, number>;
  /** Messages handed out by take() and not yet acked or released. */
  inFlight: number;
}

export interface Outbox {
  /**
   * Append a message and return its sequence number. Alarms and events are
   * committed (and synced) before this returns; telemetry is buffered and
   * committed by the next flush (flush interval or batch size, whichever first).
   * When the size cap is exceeded, the oldest telemetry that is not in flight
   * is dropped and counted; alarms and events are never dropped.
   */
  enqueue(message: NewMessage): { seq: number };
  /**
   * Append several messages and set one memory entry in one durable step:
   * all of them are stored, or none. For state that decides whether an event
   * is due (a door controller's last door state): remembering the state
   * without its events, or the events without the state, would lose or repeat
   * an event after a crash. `value: null` deletes the entry. Every message,
   * telemetry included, is committed before this returns.
   */
  enqueueWithMemory(messages: readonly NewMessage[], memory: { key: string; value: string | null }): { seqs: number[] };
  /**
   * Run `fn` and store everything it enqueues (enqueue, enqueueWithMemory,
   * telemetry included) in one durable step when it returns: one synced
   * transaction for the lot, instead of one per alarm, event or memory entry
   * (when it enqueued telemetry alone, that is buffered as usual).
   * For work that produces many of them at once (the results of the polls
   * that completed in one event-loop turn): per-message syncs would hold
   * the event loop, and with it a DC-09 panel waiting for its ACK, for as
   * many syncs. Inside `fn`, enqueue calls return their sequence numbers at
   * once but store nothing yet, and listeners hear of the messages after the
   * commit. If the commit fails, nothing `fn` enqueued is stored (no number
   * is used up) and batch() throws; if `fn` throws, what it enqueued before
   * is stored and the error is rethrown. A batch inside a batch joins it.
   */
  batch<T>(fn: () => T): T;
  /** The memory entry last set by enqueueWithMemory, if any; survives restarts. */
  readMemory(key: string): string | undefined;
  /** Commit buffered telemetry now. */
  flush(): void;
  /**
   * Hand out up to `limit` messages that are not in flight, marking them in
   * flight: alarms first, then events, then telemetry, oldest first within a
   * class. Streams listed in `skipStreams` are passed over (their messages
   * stay, in order, for later). `classes` limits what is handed out (the
   * publisher takes alarms alone into its reserved in-flight slots).
   */
  take(limit: number, skipStreams?: ReadonlySet<string>, classes?: readonly MessageClass[]): StoredMessage[];
  /** The broker acknowledged these: delete them. */
  ack(ids: readonly number[]): void;
  /** Publishing these failed: put them back, to be handed out again in their original order. */
  release(ids: readonly number[]): void;
  /** Put every in-flight message back (connection lost). */
  releaseAll(): void;
  /** Called after enqueue with the class of the new message (the publisher wakes up on it). */
  onEnqueue(listener: (klass: MessageClass) => void): () => void;
  stats(): OutboxStats;
  /** Waiting messages, oldest first by class then id, without marking them in flight (for export / diagnostics). */
  peek(limit: number): StoredMessage[];
  /** Flush and close. Idempotent. */
  close(): void;
}
