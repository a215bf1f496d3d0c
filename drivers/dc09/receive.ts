/**
 * One received frame in, one decision out: the answer to send (ACK, NAK or
 * DUH, as bytes) and the events to report. This is where the standard's
 * "which answer for which failure" lives; the driver that wires sockets to
 * it (issue 5) only sends `response` and publishes `events` when `status`
 * is "event". Pure: the clock and the replay memory are passed in.
 *
 * | Failure                                               | Reason        | Answer |
 * | ----------------------------------------------------- | ------------- | ------ |
 * | too long/short, no LF/CR, bad 0LLL, header unreadable  | length/format | NAK    |
 * | CRC mismatch                                           | crc           | NAK    |
 * | encrypted message without timestamp, or outside window | timestamp     | NAK    |
 * | malformed timestamp, bad brackets after decryption     | timestamp/format | NAK |
 * | ID token not processed here (RSP, ACK sent to us…)     | unknown_token | DUH    |
 * | account not on the allow-list                          | account       | DUH    |
 * | no key for an encrypted message, plain message from an |               |        |
 * | account with a key, cannot decrypt (wrong key)          | encryption    | DUH    |
 * | Contact ID / SIA data not understood, no event code    | data          | DUH    |
 * | same account + sequence + content again (a retry)      | —             | ACK, status "duplicate" |
 * | NULL (link test)                                       | —             | ACK, status "link_test" |
 *
 * Why: DC-09-2013 5.5.3.2 sends NAK (never encrypted, with the receiver's
 * time) when a message fails the timestamp test; a message we could not
 * read at all is NAKed too, since a NAK echoes nothing of it (its fields
 * cannot be trusted) and makes the panel send again. 5.5.3.3 sends DUH when
 * the receiver "is unable to process an otherwise correctly received
 * message": the frame arrived intact, and sending it again would not help.
 * pysiaalarm differs in two places: it ignores a CRC mismatch (no answer)
 * and NAKs a message it cannot decrypt; an unanswered panel retries just the
 * same, and a wrong key is not fixed by retrying, hence our choices.
 *
 * The timestamp test applies to encrypted messages (where the timestamp is
 * required, 5.5.1.8, and is what stops replays); `timestampCheck:
 * "when_present"` extends it to plain messages that carry one.
 */
import { parseContactId } from "./contact-id.js";
import { Dc09Error } from "./errors.js";
import type { AlarmEvent, EventMeaning } from "./event.js";
import { type Dc09Frame, EVENT_TOKENS, openFrame, parseFrame, type RawFrame } from "./frame.js";
import { buildAck, buildDuh, buildNak } from "./responses.js";
import { parseSiaDcs } from "./sia-dcs.js";
import { type AccountPolicy, checkTimestamp, DEFAULT_TIMESTAMP_WINDOW, type SequenceTracker, type TimestampWindow } from "./validate.js";

export interface ReceiverOptions {
  accounts: AccountPolicy;
  window?: TimestampWindow;
  /** Which messages the timestamp window applies to. Default "encrypted" (the standard). */
  timestampCheck?: "encrypted" | "when_present";
  /** Put the receiver's timestamp in unencrypted ACKs too. Default false. */
  ackTimestamp?: boolean;
}

export interface ReceiveContext {
  options: ReceiverOptions;
  tracker: SequenceTracker;
  /** The receiver's clock, now. */
  now: Date;
}

export interface ReceiveResult {
  /**
   * event: new events to report; link_test: a NULL message, the link is up;
   * duplicate: a retransmission of events already taken (ACKed, not to be
   * reported again); rejected: see `error`.
   */
  status: "event" | "link_test" | "duplicate" | "rejected";
  answer: "ACK" | "NAK" | "DUH";
  /** The answer's bytes, to send back as they are. */
  response: Buffer;
  /** The frame, when it could be read. */
  frame?: Dc09Frame;
  events: AlarmEvent[];
  error?: Dc09Error;
}

const EVENT_TOKEN_SET: ReadonlySet<string> = new Set(EVENT_TOKENS);

/** Decide what to answer to one frame (bytes from <LF> to <CR>) and what it reports. */
export function receive(bytes: Uint8Array, ctx: ReceiveContext): ReceiveResult {
  const { options, now } = ctx;
  const nak = (error: Dc09Error): ReceiveResult => ({ status: "rejected", answer: "NAK", response: buildNak(now), events: [], error });
  const duh = (error: Dc09Error): ReceiveResult => {
    // Only errors raised after the header was read can be DUHed: it echoes the header.
    if (error.header === undefined) return nak(error);
    return { status: "rejected", answer: "DUH", response: buildDuh(error.header), events: [], error };
  };

  let raw: RawFrame;
  try {
    raw = parseFrame(bytes);
  } catch (e) {
    const err = asDc09(e);
    return err.reason === "unknown_token" ? duh(err) : nak(err);
  }
  const { header } = raw;
  if (!EVENT_TOKEN_SET.has(header.token)) return duh(new Dc09Error("unknown_token", `"${header.token}" is an answer, not a message for a receiver`, { header }));
  if (!options.accounts.allows(header.account)) return duh(new Dc09Error("account", `account ${header.account} is not on the allow-list`, { header }));
  const key = options.accounts.keyFor(header.account);
  if (!header.encrypted && key !== undefined) {
    return duh(new Dc09Error("encryption", `account ${header.account} has a key: plain messages are refused`, { header }));
  }

  let frame: Dc09Frame;
  try {
    frame = openFrame(raw, key);
  } catch (e) {
    const err = asDc09(e);
    return err.reason === "encryption" ? duh(err) : nak(err);
  }

  if (frame.encrypted || options.timestampCheck === "when_present") {
    if (frame.timestamp === undefined) {
      if (frame.encrypted) return nak(new Dc09Error("timestamp", "encrypted message without a timestamp (required, 5.5.1.8)", { header }));
    } else {
      const t = checkTimestamp(frame.timestamp, now, options.window ?? DEFAULT_TIMESTAMP_WINDOW);
      if (!t.ok) return nak(new Dc09Error("timestamp", `timestamp ${Math.round(Math.abs(t.skewMs) / 1000)} s ${t.why} of the receiver's clock`, { header }));
    }
  }

  const ack = () => buildAck(frame, { now, key, timestamp: options.ackTimestamp ?? false });
  if (frame.token === "NULL") return { status: "link_test", answer: "ACK", response: ack(), frame, events: [] };

  let meanings: EventMeaning[];
  try {
    meanings = frame.token === "ADM-CID" ? [parseContactId(frame.data)] : parseSiaDcs(frame.data);
  } catch (e) {
    const err = asDc09(e);
    return duh(new Dc09Error(err.reason, err.message, { header, cause: err }));
  }
  const events = meanings.map((m) => toAlarmEvent(frame, m));
  const fingerprint = `${frame.token}\u0000${frame.data}\u0000${frame.extended.join("\u0000")}`;
  const seen = ctx.tracker.check(frame.account, frame.sequence, fingerprint, now.getTime());
  return { status: seen === "duplicate" ? "duplicate" : "event", answer: "ACK", response: ack(), frame, events };
}

function toAlarmEvent(frame: Dc09Frame, m: EventMeaning): AlarmEvent {
  return {
    protocol: frame.token === "ADM-CID" ? "ADM-CID" : "SIA-DCS",
    account: frame.account.toUpperCase(),
    receiver: frame.receiver ?? null,
    line: frame.line ?? null,
    sequence: frame.sequence,
    timestamp: frame.timestamp?.toISOString() ?? null,
    encrypted: frame.encrypted,
    ...m,
    raw: frame.data,
  };
}

/** The codec throws only Dc09Errors; anything else is a bug, reported as a format error rather than thrown at the socket. */
function asDc09(e: unknown): Dc09Error {
  return e instanceof Dc09Error ? e : new Dc09Error("format", `internal error: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}
