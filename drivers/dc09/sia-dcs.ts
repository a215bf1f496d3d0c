/**
 * SIA DCS data (SIA DC-03 "SIA format", as DC-09 carries it in a SIA-DCS
 * message, DC-09-2013 5.5.1.7), mapped onto the same meanings as Contact ID:
 *
 *   [#1234|Nri01/PA015]          area 1, panic alarm, zone 15
 *   [#1234|Nri1CL0^FRONT ^]      "/" between elements is optional
 *   [#1234|Nid12/OC12]           a user, then their cancel
 *   [#1234|NRR|Atest]            an "A" block: text for the events before it
 *   [|Nri1/CL501]  [Nri1/WA000]  no account (pysiaalarm test data)
 *
 * After the optional "#acct", blocks are separated by "|". An "N" block
 * holds events; its elements are separated by "/" and each is:
 *   modifiers   two lower-case letters and a value: "ri" area (partition),
 *               "id" user, "ti" time, "da" date, "pi" peripheral…; an area
 *               or user applies to the events that follow in the block;
 *   events      two upper-case letters and 0-6 digits (zone, or user for
 *               openings/closings/cancel), optionally "^text^".
 * One message can carry several events: each is an EventMeaning.
 * Other block letters are skipped. A block with no event code, or characters
 * outside this grammar, is a Dc09Error with reason "data" (answered DUH).
 *
 * Pure.
 */
import { Dc09Error } from "./errors.js";
import { type AlarmKind, type AlarmQualifier, type EventMeaning, numberOrNull } from "./event.js";

export interface SiaCode {
  kind: AlarmKind;
  qualifier: AlarmQualifier;
  description: string;
  /** What the number after the code is. */
  address: "zone" | "user" | "none";
}

const c = (kind: AlarmKind, qualifier: AlarmQualifier, description: string, address: SiaCode["address"] = "zone"): SiaCode => ({ kind, qualifier, description, address });

/** The SIA codes the agent gives a meaning to (DC-03 code list); others are kind "other". */
export const SIA_CODES: Readonly<Record<string, SiaCode>> = {
  PA: c("panic", "new", "Panic alarm"),
  PH: c("panic", "restore", "Panic alarm restore"),
  PR: c("panic", "restore", "Panic restoral"),
  HA: c("duress", "new", "Holdup alarm"),
  HH: c("duress", "restore", "Holdup alarm restore"),
  HR: c("duress", "restore", "Holdup restoral"),
  QA: c("emergency", "new", "Emergency alarm"),
  QH: c("emergency", "restore", "Emergency alarm restore"),
  QR: c("emergency", "restore", "Emergency restoral"),
  MA: c("medical", "new", "Medical alarm"),
  MH: c("medical", "restore", "Medical alarm restore"),
  MR: c("medical", "restore", "Medical restoral"),
  FA: c("fire", "new", "Fire alarm"),
  FH: c("fire", "restore", "Fire alarm restore"),
  FR: c("fire", "restore", "Fire restoral"),
  BA: c("burglary", "new", "Burglary alarm"),
  BH: c("burglary", "restore", "Burglary alarm restore"),
  BR: c("burglary", "restore", "Burglary restoral"),
  TA: c("tamper", "new", "Tamper alarm"),
  TR: c("tamper", "restore", "Tamper restoral"),
  AT: c("ac_loss", "new", "AC trouble", "none"),
  AR: c("ac_loss", "restore", "AC restoral", "none"),
  YT: c("low_battery", "new", "System battery trouble", "none"),
  YR: c("low_battery", "restore", "System battery restoral", "none"),
  YM: c("low_battery", "new", "System battery missing", "none"),
  XT: c("low_battery", "new", "Transmitter battery trouble"),
  XR: c("low_battery", "restore", "Transmitter battery restoral"),
  YS: c("comm_trouble", "new", "Communications trouble", "none"),
  YC: c("comm_trouble", "new", "Communications fail", "none"),
  YK: c("comm_trouble", "restore", "Communications restoral", "none"),
  RP: c("test", "new", "Automatic test", "none"),
  RX: c("test", "new", "Manual test", "none"),
  OP: c("opening", "new", "Opening report", "user"),
  CL: c("closing", "new", "Closing report", "user"),
  OC: c("cancel", "new", "Cancel report", "user"),
};

const MODIFIER = /^([a-z]{2})([0-9:-]*)/;
const EVENT = /^([A-Z]{2})(\d{0,6})/;
const TEXT = /^\^([^^]*)\^/;

/** Read the events of a SIA-DCS data block. Throws Dc09Error("data"). */
export function parseSiaDcs(data: string): EventMeaning[] {
  const fail = (why: string) => new Dc09Error("data", `SIA DCS data not understood: ${why} in ${JSON.stringify(data.slice(0, 60))}`);
  const account = /^#[0-9A-Fa-f]{1,16}/.exec(data);
  const blocks = (account ? data.slice(account[0].length) : data).split("|");
  const events: EventMeaning[] = [];
  for (const block of blocks) {
    if (block === "") continue;
    if (block.startsWith("A")) {
      // ASCII text block: belongs to the events before it.
      const text = block.slice(1).trim();
      for (const e of events) e.text = e.text === null ? text : `${e.text} ${text}`;
      continue;
    }
    if (!block.startsWith("N")) continue; // other block types carry nothing the agent uses
    let partition: number | null = null;
    let user: number | null = null;
    let rest = block.slice(1);
    let last: EventMeaning | undefined;
    while (rest.length > 0) {
      let m: RegExpExecArray | null;
      if (rest.startsWith("/")) {
        rest = rest.slice(1);
        last = undefined;
      } else if ((m = MODIFIER.exec(rest))) {
        if (m[1] === "ri") partition = numberOrNull(m[2]);
        if (m[1] === "id") user = numberOrNull(m[2]);
        rest = rest.slice(m[0].length);
      } else if ((m = EVENT.exec(rest))) {
        const [, code, digits] = m as unknown as [string, string, string];
        const known = SIA_CODES[code];
        const address = known?.address ?? "zone";
        last = {
          kind: known?.kind ?? "other",
          qualifier: known?.qualifier ?? "new",
          code,
          description: known?.description ?? `Unknown SIA event ${code}`,
          partition,
          zone: address === "zone" ? numberOrNull(digits) : null,
          user: address === "user" ? (numberOrNull(digits) ?? user) : user,
          text: null,
        };
        events.push(last);
        rest = rest.slice(m[0].length);
      } else if ((m = TEXT.exec(rest))) {
        // Text after an event describes it; after a modifier (an area's name) it is dropped.
        if (last !== undefined) last.text = m[1]?.trim() ?? null;
        rest = rest.slice(m[0].length);
      } else {
        throw fail(`unexpected ${JSON.stringify(rest.slice(0, 12))}`);
      }
    }
  }
  if (events.length === 0) throw fail("no event code");
  return events;
}
