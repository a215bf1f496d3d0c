/**
 * Pieces both outbox implementations share, so that they cannot drift apart
 * on the details the contract suite checks (byte accounting, listener
 * isolation, size-cap warnings).
 */
import type { Logger } from "pino";
import { MESSAGE_CLASSES, type MessageClass, type NewMessage, type StoredMessage } from "./types.js";

/** Bytes a message holds against the size cap: topic + payload, UTF-8. */
export function messageBytes(topic: string, payload: string): number {
  return Buffer.byteLength(topic, "utf8") + Buffer.byteLength(payload, "utf8");
}

export function zeroCounts(): Record<MessageClass, number> {
  return { alarm: 0, event: 0, telemetry: 0 };
}

/** Reject a bad class up front: a typo must not land in the store as an unknown class. */
export function checkMessage(message: NewMessage): void {
  if (!MESSAGE_CLASSES.includes(message.klass)) {
    throw new Error(`outbox: unknown message class ${JSON.stringify(message.klass)} for stream ${message.stream}`);
  }
}

export function closedError(): Error {
  return new Error("outbox is closed");
}

/**
 * onEnqueue listeners. A listener that throws is logged and skipped: the
 * message is already stored, and the caller of enqueue() must not see an
 * error for a message that was in fact accepted (it would retry and duplicate).
 */
export class EnqueueListeners {
  private readonly listeners = new Set<(klass: MessageClass) => void>();
  constructor(private readonly log: Logger) {}

  add(listener: (klass: MessageClass) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  emit(klass: MessageClass): void {
    for (const listener of this.listeners) {
      try {
        listener(klass);
      } catch (err) {
        this.log.error({ err, klass }, "outbox onEnqueue listener threw; message is stored, carrying on");
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}

/**
 * Logs the size cap's two situations once per episode, not once per message:
 * at the cap every enqueue drops another message (and gets back just under),
 * which would flood the journal. An episode ends when the outbox has drained
 * well below the cap (hysteresis), not merely back under it.
 */
export class CapEpisodes {
  private warnedDropping = false;
  private warnedStuck = false;
  constructor(
    private readonly log: Logger,
    private readonly maxSizeBytes: number,
  ) {}

  /** Call after each attempt to get under the cap, with what it dropped. */
  update(bytes: number, droppedNow: number): void {
    if (droppedNow === 0 && bytes <= this.maxSizeBytes * 0.9) {
      this.warnedDropping = false;
      this.warnedStuck = false;
      return;
    }
    if (droppedNow > 0 && !this.warnedDropping) {
      this.warnedDropping = true;
      this.log.warn(
        { maxSizeBytes: this.maxSizeBytes, bytes, dropped: droppedNow },
        "outbox reached its size cap: dropping the oldest telemetry (counted in stats.dropped)",
      );
    }
    if (bytes > this.maxSizeBytes && !this.warnedStuck) {
      this.warnedStuck = true;
      this.log.warn(
        { maxSizeBytes: this.maxSizeBytes, bytes },
        "outbox is over its size cap with only alarms, events and in-flight telemetry left: keeping them",
      );
    }
  }
}

/** A new message as both outboxes store it, rendered with its sequence number. */
export function storedMessage(message: NewMessage, id: number, seq: number, createdAt: number): { message: StoredMessage; bytes: number } {
  const payload = message.render(seq);
  const stored: StoredMessage = {
    id,
    stream: message.stream,
    klass: message.klass,
    seq,
    topic: message.topic,
    payload,
    retain: message.retain,
    createdAt,
  };
  return { message: stored, bytes: messageBytes(stored.topic, payload) };
}
