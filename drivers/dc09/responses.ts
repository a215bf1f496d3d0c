/**
 * The receiver's answers (DC-09-2013 5.5.3):
 *
 *   ACK  "ACK"<seq>[Rrcvr][Lpref]#acct[]                     5.5.3.1
 *        "*ACK"<seq>[Rrcvr][Lpref]#acct[<pad>|]_<timestamp>   when the request was encrypted
 *   NAK  "NAK"0000R0L0A0[]_<timestamp>                         5.5.3.2, never encrypted
 *   DUH  "DUH"<seq>[Rrcvr][Lpref]#acct[]                      5.5.3.3
 *
 * ACK and DUH echo the request's sequence number, receiver, line and
 * account exactly as sent (absent fields stay absent: pysiaalarm issue #88
 * shows a receiver that wrote "None" there). The timestamp in an encrypted
 * ACK and in a NAK is the receiver's current time, from which the panel
 * corrects its clock.
 *
 * Choices, where sources differ:
 * - The NAK's account field is "A0", as in the 2013 text and as ioBroker.sia,
 *   the Swissdotnet library and fioletoven/dc09 send it; some read the 2021
 *   edition as "#0". Our parser reads both.
 * - An unencrypted ACK carries no timestamp (the 2013 text marks the
 *   timestamp as required only in the encrypted ACK); `timestamp: true` adds
 *   one, which the Swissdotnet library also accepts.
 * - A DUH is sent in clear even for an encrypted request (as pysiaalarm does):
 *   it carries no data, and it is also the answer when the request could not
 *   be decrypted.
 *
 * Pure.
 */
import type { FrameHeader } from "./errors.js";
import { encodeFrame } from "./frame.js";

/** Which fields of the request an answer echoes. */
export type RequestHeader = Pick<FrameHeader, "encrypted" | "sequence" | "receiver" | "line" | "account">;

export interface AckOptions {
  /** The receiver's clock. */
  now: Date;
  /** The account's key: required when the request was encrypted. */
  key?: Buffer | undefined;
  /** Add the receiver's timestamp to an unencrypted ACK too. Default false. */
  timestamp?: boolean;
  /** Fixed pad characters (test vectors only). */
  pad?: Uint8Array;
}

/** ACK for a message taken (5.5.3.1); encrypted when the request was. */
export function buildAck(req: RequestHeader, opts: AckOptions): Buffer {
  if (req.encrypted && opts.key === undefined) throw new Error("the ACK to an encrypted message is encrypted: a key is needed");
  return encodeFrame(
    {
      token: "ACK",
      encrypted: req.encrypted,
      sequence: req.sequence,
      receiver: req.receiver,
      line: req.line,
      account: req.account,
      timestamp: req.encrypted || opts.timestamp ? opts.now : undefined,
    },
    { ...(opts.key === undefined ? {} : { key: opts.key }), ...(opts.pad === undefined ? {} : { pad: opts.pad }) },
  );
}

/** NAK (5.5.3.2): fixed fields, the receiver's time; sent for a message that failed the timestamp test or could not be read. */
export function buildNak(now: Date): Buffer {
  return encodeFrame({ token: "NAK", sequence: 0, receiver: "0", line: "0", accountMarker: "A", account: "0", timestamp: now });
}

/** DUH (5.5.3.3): a well-formed message the receiver is unable to process. */
export function buildDuh(req: RequestHeader): Buffer {
  return encodeFrame({ token: "DUH", sequence: req.sequence, receiver: req.receiver, line: req.line, account: req.account });
}
