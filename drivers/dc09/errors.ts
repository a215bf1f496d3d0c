/**
 * The one error type of the DC-09 protocol layer: every failure to read a
 * frame, open it, or understand its data is a Dc09Error with a reason, and
 * nothing else is thrown on bad input (the fuzz test in
 * test/drivers/dc09-frame.test.ts holds the codec to that).
 *
 * Reasons, and the answer receive.ts gives for each (README.md, "Answers"):
 *
 *   length         frame too long, too short, or its 0LLL field disagrees      NAK
 *   crc            CRC field disagrees with the body                           NAK
 *   format         not a DC-09 frame: LF/CR, header fields, brackets           NAK
 *   timestamp      malformed, missing when required, or outside the window     NAK
 *   unknown_token  well-formed frame whose ID token we do not process          DUH
 *   account        account not on the allow-list                               DUH
 *   encryption     encrypted without a key, plain when a key is required,
 *                  or cannot be decrypted (wrong key)                          DUH
 *   data           Contact ID / SIA DCS data we cannot interpret               DUH
 */

export const DC09_ERROR_REASONS = ["length", "crc", "format", "timestamp", "unknown_token", "account", "encryption", "data"] as const;
export type Dc09ErrorReason = (typeof DC09_ERROR_REASONS)[number];

/**
 * What was readable of a frame's header before the failure. Present only
 * when the CRC and length were right, so the fields can be trusted: a DUH
 * echoes them (sequence, receiver, line, account).
 */
export interface FrameHeader {
  /** ID token without quotes and without the leading "*" ("SIA-DCS", or whatever unknown token was sent). */
  token: string;
  encrypted: boolean;
  sequence: number;
  /** Hex digits after "R", as sent; undefined when the field is absent. */
  receiver: string | undefined;
  /** Hex digits after "L", as sent; undefined when the field is absent. */
  line: string | undefined;
  /** Account digits after "#" (or after "A" in a NAK), as sent. */
  account: string;
}

export class Dc09Error extends Error {
  override readonly name = "Dc09Error";
  readonly reason: Dc09ErrorReason;
  readonly header: FrameHeader | undefined;
  constructor(reason: Dc09ErrorReason, message: string, options?: { header?: FrameHeader; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.header = options?.header;
  }
}
