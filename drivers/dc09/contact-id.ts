/**
 * Contact ID data (SIA DC-05, "Ademco Contact ID"), as DC-09 carries it in an
 * ADM-CID message (DC-09-2013 5.5.1.7, DC-07 framing of the payload):
 *
 *   [#1234|1120 01 015]      account "1234", then Q EEE GG ZZZ
 *
 * - Q, qualifier: 1 new event or opening, 3 new restore or closing,
 *   6 previously reported condition still present (status report).
 * - EEE, event code (table below).
 * - GG, partition / group; 00 = none.
 * - ZZZ, zone, or user number for events a user causes (openings, closings,
 *   cancel, duress codes); 000 = none.
 *
 * Accepted spellings: with or without "#acct|" and with or without the two
 * spaces (pysiaalarm's test data has both); anything else is a Dc09Error
 * with reason "data" (answered with DUH). The account inside the block is
 * not checked against the header's: the header's is the one that counts.
 *
 * Pure.
 */
import { Dc09Error } from "./errors.js";
import { type AlarmKind, type AlarmQualifier, type EventMeaning, numberOrNull } from "./event.js";

export interface ContactIdCode {
  kind: AlarmKind;
  description: string;
  /** What ZZZ holds for this code. */
  address: "zone" | "user";
}

const z = (kind: AlarmKind, description: string): ContactIdCode => ({ kind, description, address: "zone" });
const u = (kind: AlarmKind, description: string): ContactIdCode => ({ kind, description, address: "user" });

/**
 * The codes the agent gives a meaning to (DC-05 event code list). Everything
 * else is kind "other" with its code. Open/close codes (400-series) get their
 * kind from the qualifier (see parseContactId).
 */
export const CONTACT_ID_CODES: Readonly<Record<string, ContactIdCode>> = {
  100: z("medical", "Medical alarm"),
  101: z("emergency", "Personal emergency"),
  110: z("fire", "Fire alarm"),
  111: z("fire", "Smoke"),
  112: z("fire", "Combustion"),
  113: z("fire", "Water flow"),
  114: z("fire", "Heat"),
  115: z("fire", "Pull station"),
  116: z("fire", "Duct"),
  117: z("fire", "Flame"),
  120: z("panic", "Panic alarm"),
  121: u("duress", "Duress"),
  122: z("panic", "Silent panic"),
  123: z("panic", "Audible panic"),
  124: u("duress", "Duress - access granted"),
  125: u("duress", "Duress - egress granted"),
  130: z("burglary", "Burglary"),
  131: z("burglary", "Perimeter burglary"),
  132: z("burglary", "Interior burglary"),
  133: z("burglary", "24-hour burglary"),
  134: z("burglary", "Entry/exit burglary"),
  135: z("burglary", "Day/night burglary"),
  136: z("burglary", "Outdoor burglary"),
  137: z("tamper", "Tamper"),
  138: z("burglary", "Near alarm"),
  139: z("burglary", "Intrusion verifier"),
  144: z("tamper", "Sensor tamper"),
  145: z("tamper", "Expansion module tamper"),
  300: z("trouble", "System trouble"),
  301: z("ac_loss", "AC loss"),
  302: z("low_battery", "Low system battery"),
  311: z("low_battery", "Battery missing/dead"),
  350: z("comm_trouble", "Communication trouble"),
  351: z("comm_trouble", "Telco 1 fault"),
  352: z("comm_trouble", "Telco 2 fault"),
  353: z("comm_trouble", "Long range radio transmitter fault"),
  354: z("comm_trouble", "Failure to communicate event"),
  355: z("comm_trouble", "Loss of radio supervision"),
  356: z("comm_trouble", "Loss of central polling"),
  380: z("trouble", "Sensor trouble"),
  381: z("supervision_loss", "Loss of supervision - RF"),
  382: z("supervision_loss", "Loss of supervision - RPM"),
  383: z("tamper", "Sensor tamper"),
  384: z("low_battery", "RF low battery"),
  400: u("opening", "Open/close"),
  401: u("opening", "Open/close by user"),
  402: u("opening", "Group open/close"),
  403: u("opening", "Automatic open/close"),
  406: u("cancel", "Cancel"),
  407: u("opening", "Remote arm/disarm"),
  408: u("opening", "Quick arm"),
  409: u("opening", "Keyswitch open/close"),
  601: z("test", "Manual trigger test"),
  602: z("test", "Periodic test report"),
  603: z("test", "Periodic RF transmission"),
  607: z("test", "Walk test mode"),
};

/** Open/close codes: qualifier 1 is an opening (disarm), 3 a closing (arm). */
const OPEN_CLOSE = new Set(["400", "401", "402", "403", "407", "408", "409"]);

const QUALIFIERS: Readonly<Record<string, AlarmQualifier>> = { 1: "new", 3: "restore", 6: "still_present" };

// [#acct|] Q EEE [ ]GG[ ]ZZZ
const CID = /^(?:#([0-9A-Fa-f]{1,16}))?\|?([136])(\d{3}) ?(\d{2}) ?(\d{3})$/;

/** Read one Contact ID event from an ADM-CID data block. Throws Dc09Error("data"). */
export function parseContactId(data: string): EventMeaning {
  const m = CID.exec(data);
  if (!m) throw new Dc09Error("data", `Contact ID data not understood: ${JSON.stringify(data.slice(0, 40))} (expected "#acct|QEEE GG ZZZ")`);
  const [, , q, code, group, zoneOrUser] = m as unknown as [string, string | undefined, string, string, string, string];
  const known = CONTACT_ID_CODES[code];
  let kind: AlarmKind = known?.kind ?? "other";
  let qualifier = QUALIFIERS[q] as AlarmQualifier;
  let description = known?.description ?? `Unknown Contact ID event ${code}`;
  if (OPEN_CLOSE.has(code) && q !== "6") {
    // Here the qualifier is the direction, not new/restore: report it as the kind.
    kind = q === "1" ? "opening" : "closing";
    qualifier = "new";
    description = `${description} (${kind})`;
  }
  const address = known?.address ?? "zone";
  return {
    kind,
    qualifier,
    code,
    description,
    partition: numberOrNull(group),
    zone: address === "zone" ? numberOrNull(zoneOrUser) : null,
    user: address === "user" ? numberOrNull(zoneOrUser) : null,
    text: null,
  };
}
