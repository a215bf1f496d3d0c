/**
 * The typed result of a DC-09 event message, the same for Contact ID and SIA
 * DCS: AlarmEvent. It is the basis of the MQTT payload of the panic-receiver
 * events, so its fields are a public API: add fields, never rename or
 * repurpose one.
 *
 * Shape, and why:
 * - `kind` says what happened in the agent's vocabulary (panic, duress,
 *   low_battery…); `qualifier` says whether it started (new), ended
 *   (restore) or is still going on (still_present, Contact ID qualifier 6).
 *   A restore keeps its kind: "panic" + "restore" says what was restored,
 *   which a kind "restore" alone would not.
 * - `code` keeps the protocol's own code ("120", "PA") and `protocol` says
 *   which code space it is in, so nothing is lost when a code maps to
 *   "other" or when a consumer wants finer detail than `kind`.
 * - zone / user / partition are numbers or null: "000" / "00" and absent
 *   fields are null, since Contact ID uses zeros for "none".
 * - `timestamp` is the panel's own clock (ISO 8601 UTC) or null; the
 *   receiver's time is the agent's business (the event's `at`).
 * - `raw` is the data block as received (decrypted), for audit.
 */

/** What happened, whatever the protocol. */
export const ALARM_KINDS = [
  "panic", // panic button (Contact ID 120/122/123, SIA PA)
  "duress", // duress / hold-up, a silent threat alarm (CID 121/124/125, SIA HA)
  "emergency", // personal emergency (CID 101, SIA QA)
  "medical", // medical (CID 100, SIA MA)
  "fire", // fire, smoke, heat… (CID 110-117, SIA FA)
  "burglary", // intrusion (CID 130-136, 138-139, SIA BA)
  "tamper", // enclosure or sensor tamper (CID 137, 144, 145, 383, SIA TA)
  "ac_loss", // mains lost (CID 301, SIA AT)
  "low_battery", // system battery (CID 302, 311, SIA YT, YM) or a pendant's (CID 384, SIA XT)
  "supervision_loss", // a wireless device (pendant) stopped checking in (CID 381, 382)
  "comm_trouble", // the panel's own reporting path failed (CID 350-356, SIA YS, YC)
  "trouble", // other system or sensor trouble (CID 300, 380)
  "test", // periodic or manual test report (CID 601-603, 607, SIA RP, RX)
  "cancel", // a user cancelled an alarm (CID 406, SIA OC)
  "opening", // disarmed by a user (CID 400-series qualifier 1, SIA OP)
  "closing", // armed by a user (CID 400-series qualifier 3, SIA CL)
  "other", // anything else: see `code`
] as const;
export type AlarmKind = (typeof ALARM_KINDS)[number];

/** new = the condition started; restore = it ended; still_present = status report of a condition reported before (CID 6). */
export const ALARM_QUALIFIERS = ["new", "restore", "still_present"] as const;
export type AlarmQualifier = (typeof ALARM_QUALIFIERS)[number];

export type AlarmProtocol = "ADM-CID" | "SIA-DCS";

/** The meaning of one event, as the data parsers (contact-id.ts, sia-dcs.ts) read it. */
export interface EventMeaning {
  kind: AlarmKind;
  qualifier: AlarmQualifier;
  /** The protocol's code: Contact ID event code ("120"), SIA two-letter code ("PA"). */
  code: string;
  /** Plain-language description of the code ("Panic alarm", "Unknown Contact ID event 999"). */
  description: string;
  zone: number | null;
  user: number | null;
  partition: number | null;
  /** Free text the panel sent with the event (SIA "^text^" or an "A" block), if any. */
  text: string | null;
}

/** One event of one DC-09 message: the frame's fields and the event's meaning. */
export interface AlarmEvent extends EventMeaning {
  protocol: AlarmProtocol;
  /** Account, upper case. */
  account: string;
  /** Receiver number ("R" field, hex as sent) or null. */
  receiver: string | null;
  /** Account prefix / line ("L" field, hex as sent) or null. */
  line: string | null;
  sequence: number;
  /** The panel's timestamp, ISO 8601 UTC, or null when the message had none. */
  timestamp: string | null;
  encrypted: boolean;
  /** The data block as received (decrypted), e.g. "#1234|1120 01 015". */
  raw: string;
}

/** "000" and "00" mean "none" in Contact ID practice; SIA omits the field. */
export function numberOrNull(digits: string | undefined): number | null {
  if (digits === undefined || digits === "") return null;
  const n = Number.parseInt(digits, 10);
  return Number.isFinite(n) && n > 0 ? n : null;
}
