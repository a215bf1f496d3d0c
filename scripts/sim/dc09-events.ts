/**
 * What the simulated panel can report, in Contact ID (ADM-CID, SIA DC-05)
 * or SIA DCS (SIA-DCS, DC-03) data, plus the broken messages it sends on
 * demand. Written apart from drivers/dc09's code tables, from the same
 * public code lists, so a test comparing the two compares two readings.
 *
 * Node builtins only (none needed).
 */

/** One reportable event: its Contact ID qualifier and code, its SIA code, and what its number is. */
interface EventDef {
  cid: [qualifier: 1 | 3, code: string];
  /** SIA code, or null when SIA DCS has no code the receiver knows for it. */
  sia: string | null;
  number: "zone" | "user" | "none";
}

export const SIM_EVENTS = {
  panic: { cid: [1, "120"], sia: "PA", number: "zone" },
  "panic-restore": { cid: [3, "120"], sia: "PH", number: "zone" },
  duress: { cid: [1, "121"], sia: "HA", number: "user" },
  // SIA DCS has no silent-panic code; some panels send HA (hold-up), which reads as duress: send PA.
  "silent-panic": { cid: [1, "122"], sia: "PA", number: "zone" },
  medical: { cid: [1, "100"], sia: "MA", number: "zone" },
  emergency: { cid: [1, "101"], sia: "QA", number: "zone" },
  fire: { cid: [1, "110"], sia: "FA", number: "zone" },
  "low-battery": { cid: [1, "384"], sia: "XT", number: "zone" },
  "low-battery-restore": { cid: [3, "384"], sia: "XR", number: "zone" },
  "system-battery": { cid: [1, "302"], sia: "YT", number: "none" },
  "supervision-loss": { cid: [1, "381"], sia: null, number: "zone" },
  "supervision-restore": { cid: [3, "381"], sia: null, number: "zone" },
  "ac-loss": { cid: [1, "301"], sia: "AT", number: "none" },
  "ac-restore": { cid: [3, "301"], sia: "AR", number: "none" },
  "comm-trouble": { cid: [1, "350"], sia: "YS", number: "none" },
  tamper: { cid: [1, "383"], sia: "TA", number: "zone" },
  "tamper-restore": { cid: [3, "383"], sia: "TR", number: "zone" },
  test: { cid: [1, "602"], sia: "RP", number: "none" },
  "manual-test": { cid: [1, "601"], sia: "RX", number: "none" },
  cancel: { cid: [1, "406"], sia: "OC", number: "user" },
} as const satisfies Record<string, EventDef>;

export type SimEventName = keyof typeof SIM_EVENTS;
export const SIM_EVENT_NAMES = Object.keys(SIM_EVENTS) as SimEventName[];

/** Broken messages, on demand. */
export const SIM_FAULTS = [
  "bad-crc", // CRC field off by one bit
  "bad-length", // 0LLL one more than the body
  "replay", // the last message sent without a fault, its bytes again (same sequence number, same timestamp)
  "stale-timestamp", // stamped 10 minutes ago
  "garbage", // <LF>, random bytes, <CR>
  "unknown-token", // a token no receiver knows, CRC and length right
  "wrong-key", // encrypted with a key the receiver does not have
  "bad-data", // well-formed frame, data that is neither Contact ID nor SIA DCS
] as const;
export type SimFault = (typeof SIM_FAULTS)[number];

export type SimFormat = "cid" | "sia";

export interface EventParams {
  account: string;
  partition?: number;
  zone?: number;
  user?: number;
}

/** The token and data block of an event. */
export function simEventData(format: SimFormat, name: SimEventName, p: EventParams): { token: "ADM-CID" | "SIA-DCS"; data: string } {
  const def: EventDef = SIM_EVENTS[name];
  const n = def.number === "user" ? (p.user ?? 1) : def.number === "zone" ? (p.zone ?? 1) : 0;
  const part = p.partition ?? 1;
  if (format === "cid") {
    const [q, code] = def.cid;
    return { token: "ADM-CID", data: `#${p.account}|${q}${code} ${String(part).padStart(2, "0")} ${String(n).padStart(3, "0")}` };
  }
  if (def.sia === null) throw new Error(`${name} has no SIA DCS code here; send it in Contact ID (--format cid)`);
  // A user goes in an "id" modifier before the code (DC-03), a zone after it.
  const user = def.number === "user" ? `id${String(n).padStart(3, "0")}/` : "";
  const zone = def.number === "zone" ? String(n).padStart(3, "0") : "";
  return { token: "SIA-DCS", data: `#${p.account}|Nri${String(part).padStart(2, "0")}/${user}${def.sia}${zone}` };
}
