/**
 * Checks a DC-09 receiver makes on a frame that decoded: is its timestamp
 * fresh, is it a retransmission of a message already taken, is its account
 * one we serve and with which key. Pure: time is passed in.
 */
import { parseKey } from "./crypto.js";

/**
 * The timestamp window (DC-09-2013 5.5.1.8): a message may be stamped up to
 * 20 s after the receiver's clock and up to 40 s before it (it took time to
 * arrive). Outside, the receiver answers NAK with its own time (5.5.3.2), so
 * the panel can correct its clock and send again.
 */
export interface TimestampWindow {
  /** How far the message's time may be ahead of the receiver's. Default 20 000. */
  aheadMs: number;
  /** How far it may be behind. Default 40 000. */
  behindMs: number;
}

export const DEFAULT_TIMESTAMP_WINDOW: Readonly<TimestampWindow> = { aheadMs: 20_000, behindMs: 40_000 };

export type TimestampCheck = { ok: true; skewMs: number } | { ok: false; skewMs: number; why: "ahead" | "behind" };

/** Compare a message's timestamp with the receiver's clock. skewMs > 0: the message is ahead. */
export function checkTimestamp(messageTime: Date, now: Date, window: TimestampWindow = DEFAULT_TIMESTAMP_WINDOW): TimestampCheck {
  const skewMs = messageTime.getTime() - now.getTime();
  if (skewMs > window.aheadMs) return { ok: false, skewMs, why: "ahead" };
  if (-skewMs > window.behindMs) return { ok: false, skewMs, why: "behind" };
  return { ok: true, skewMs };
}

export interface SequenceTrackerOptions {
  /** Accounts remembered; the least recently heard is forgotten first. Default 1024. */
  maxAccounts?: number;
  /** Messages remembered per account. Default 32. */
  perAccount?: number;
  /** How long a message is remembered, ms. Default 10 minutes. */
  rememberMs?: number;
}

type Seen = SequenceEntry;

/**
 * Replay / retransmission detection per account, with bounded memory.
 *
 * A panel that gets no ACK sends the same message again with the same
 * sequence number; so does an attacker replaying a captured frame. Both get
 * an ACK (the panel must stop retrying; an encrypted replay outside the
 * timestamp window is NAKed before it gets here), but the event must be
 * reported once: check() says "duplicate" for a sequence number already
 * taken from that account within `rememberMs` with the same content.
 *
 * The same number with different content is "new": panels restart their
 * counter at power-up and wrap it after 9999, and the North Latitude DC-09
 * Q&A says a receiver should accept out-of-sequence numbers. The fingerprint
 * leaves out the timestamp, which a panel may refresh when it retries.
 */
export class SequenceTracker {
  private readonly accounts = new Map<string, Seen[]>();
  private readonly maxAccounts: number;
  private readonly perAccount: number;
  private readonly rememberMs: number;

  constructor(opts: SequenceTrackerOptions = {}) {
    this.maxAccounts = opts.maxAccounts ?? 1024;
    this.perAccount = opts.perAccount ?? 32;
    this.rememberMs = opts.rememberMs ?? 10 * 60_000;
  }

  /** Accounts currently remembered. */
  get size(): number {
    return this.accounts.size;
  }

  /** Whether this message was already taken; records it when it was not. */
  check(account: string, sequence: number, fingerprint: string, nowMs: number): "new" | "duplicate" {
    const key = account.toUpperCase();
    const list = (this.accounts.get(key) ?? []).filter((s) => nowMs - s.atMs <= this.rememberMs);
    // Re-insert: Map order is the least-recently-heard order.
    this.accounts.delete(key);
    const dup = list.some((s) => s.sequence === sequence && s.fingerprint === fingerprint);
    if (!dup) {
      list.push({ sequence, fingerprint, atMs: nowMs });
      if (list.length > this.perAccount) list.splice(0, list.length - this.perAccount);
    }
    this.accounts.set(key, list);
    if (this.accounts.size > this.maxAccounts) {
      const oldest = this.accounts.keys().next().value;
      if (oldest !== undefined) this.accounts.delete(oldest);
    }
    return dup ? "duplicate" : "new";
  }

  /**
   * The messages remembered for one account (oldest first), to be stored
   * with what they reported: a receiver that restarts between storing an
   * event and acknowledging it then still knows the panel's retransmission.
   */
  entries(account: string): SequenceEntry[] {
    return (this.accounts.get(account.toUpperCase()) ?? []).map((s) => ({ ...s }));
  }

  /** Replace what is remembered for one account (entries() stored earlier, or taken before a failed step). */
  load(account: string, entries: readonly SequenceEntry[]): void {
    const key = account.toUpperCase();
    this.accounts.delete(key);
    const list = entries
      .filter((e) => Number.isInteger(e.sequence) && typeof e.fingerprint === "string" && Number.isFinite(e.atMs))
      .slice(-this.perAccount)
      .map((e) => ({ sequence: e.sequence, fingerprint: e.fingerprint, atMs: e.atMs }));
    if (list.length > 0) this.accounts.set(key, list);
  }
}

/** One message a SequenceTracker remembers. */
export interface SequenceEntry {
  sequence: number;
  fingerprint: string;
  atMs: number;
}

/** One account this receiver serves. */
export interface AccountConfig {
  account: string;
  /** AES key as hex (32/48/64 digits). When set, the account must send encrypted messages. */
  key?: string;
}

/**
 * The allow-list: accounts (upper case) and their keys. A key makes
 * encryption mandatory for that account: a plain message from it is refused,
 * or encryption could be bypassed by simply not using it.
 */
export class AccountPolicy {
  private readonly accounts = new Map<string, { key: Buffer | undefined }>();

  /** Throws a plain Error on a bad account or key (config time). */
  constructor(accounts: readonly AccountConfig[]) {
    for (const a of accounts) {
      if (!/^[0-9A-Fa-f]{3,16}$/.test(a.account)) throw new Error(`DC-09 account "${a.account}" must be 3-16 hex digits`);
      const key = a.account.toUpperCase();
      if (this.accounts.has(key)) throw new Error(`DC-09 account "${a.account}" is listed twice`);
      this.accounts.set(key, { key: a.key === undefined ? undefined : parseKey(a.key) });
    }
  }

  allows(account: string): boolean {
    return this.accounts.has(account.toUpperCase());
  }

  keyFor(account: string): Buffer | undefined {
    return this.accounts.get(account.toUpperCase())?.key;
  }
}
