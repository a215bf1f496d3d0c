/**
 * The camera's clock, from its GetSystemDateAndTime answer (ONVIF Device
 * service, tt:SystemDateTime), converted to UTC milliseconds. Pure.
 *
 * A camera may give UTCDateTime, LocalDateTime, or both, plus a TimeZone/TZ in
 * POSIX 1003.1 form (section 8.3 of the base definitions: "std offset dst
 * [offset],start[/time],end[/time]"). UTCDateTime wins when present. When only
 * LocalDateTime is given (seen on cameras set up by hand through their web
 * page), the POSIX TZ says how to get back to UTC. Some firmware puts an IANA
 * name ("Europe/Berlin") in TZ instead; that is converted with the ICU data
 * Node carries. The onvif library reads LocalDateTime as if it were UTC, which
 * is off by the zone offset: hence this module.
 */
import { element, text } from "./xml.js";

/** A wall-clock reading with no zone: what LocalDateTime holds. */
export interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

export interface CameraClock {
  /** From UTCDateTime. */
  utcMs?: number;
  /** From LocalDateTime. */
  local?: WallTime;
  /** TimeZone/TZ as sent, trimmed. */
  tz?: string;
  /** DaylightSavings: the camera's own "DST is on now" flag. */
  daylightSavings?: boolean;
  /** DateTimeType: "NTP" or "Manual". */
  mode?: string;
}

/** The DateTime parts of a tt:DateTime element (Date/Year..Day, Time/Hour..Second). */
function wallTime(xml: string | undefined): WallTime | undefined {
  if (xml === undefined) return undefined;
  const date = element(xml, "Date") ?? "";
  const time = element(xml, "Time") ?? "";
  const num = (within: string, name: string) => {
    const t = text(within, name);
    return t !== undefined && /^\d{1,4}$/.test(t) ? Number(t) : undefined;
  };
  const w = {
    year: num(date, "Year"),
    month: num(date, "Month"),
    day: num(date, "Day"),
    hour: num(time, "Hour"),
    minute: num(time, "Minute"),
    second: num(time, "Second"),
  };
  if (Object.values(w).some((v) => v === undefined)) return undefined;
  const ok = w as WallTime;
  const valid =
    ok.month >= 1 &&
    ok.month <= 12 &&
    ok.day >= 1 &&
    ok.day <= 31 &&
    ok.hour <= 24 &&
    ok.minute <= 59 &&
    ok.second <= 60 &&
    ok.year >= 1970;
  return valid ? ok : undefined;
}

export function wallToMs(w: WallTime): number {
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
}

/** Parse a GetSystemDateAndTimeResponse (or just its SystemDateAndTime); undefined when it holds no date at all. */
export function parseSystemDateAndTime(xml: string): CameraClock | undefined {
  const sdt = element(xml, "SystemDateAndTime") ?? xml;
  const utc = wallTime(element(sdt, "UTCDateTime"));
  const local = wallTime(element(sdt, "LocalDateTime"));
  if (!utc && !local) return undefined;
  const tzBlock = element(sdt, "TimeZone");
  const tz = tzBlock === undefined ? undefined : (text(tzBlock, "TZ") ?? undefined);
  const dst = text(sdt, "DaylightSavings");
  const mode = text(sdt, "DateTimeType");
  return {
    ...(utc ? { utcMs: wallToMs(utc) } : {}),
    ...(local ? { local } : {}),
    ...(tz ? { tz } : {}),
    ...(dst === "true" || dst === "false" ? { daylightSavings: dst === "true" } : {}),
    ...(mode ? { mode } : {}),
  };
}

export type ClockResult =
  | { ok: true; utcMs: number; source: "utc" | "local_tz" } |
  {
    ok: false;
    /** Why the camera's UTC time cannot be known. */
    problem: string;
  };

/** The camera's time in UTC ms, or why it cannot be known (local time with no usable zone). */
export function cameraUtc(c: CameraClock): ClockResult {
  if (c.utcMs !== undefined) return { ok: true, utcMs: c.utcMs, source: "utc" };
  if (!c.local) return { ok: false, problem: "the camera gave no date" };
  if (!c.tz) return { ok: false, problem: "the camera gave local time without a time zone" };
  const utcMs = localToUtc(c.local, c.tz, c.daylightSavings);
  if (utcMs === undefined) return { ok: false, problem: `the camera's time zone ${JSON.stringify(c.tz)} is not a POSIX TZ or IANA name` };
  return { ok: true, utcMs, source: "local_tz" };
}

/**
 * UTC ms of a local wall time in a POSIX TZ or an IANA zone; undefined when
 * the zone cannot be read. `dstHint` (the camera's DaylightSavings flag)
 * settles the hour that happens twice when DST ends, and is the only source
 * when a POSIX TZ names a DST zone without rules (POSIX leaves those rules
 * to the implementation).
 */
export function localToUtc(w: WallTime, tz: string, dstHint?: boolean): number | undefined {
  const posix = parsePosixTz(tz);
  if (posix) return posixLocalToUtc(wallToMs(w), posix, dstHint);
  return ianaLocalToUtc(wallToMs(w), tz);
}

// ------------------------------------------------------------ POSIX TZ

/** A transition date: Jn (1-365, Feb 29 never counted), n (0-365, counted) or Mm.w.d. */
export type TzDate = { kind: "J"; day: number } | { kind: "n"; day: number } | { kind: "M"; month: number; week: number; weekday: number };

export interface PosixTz {
  /** Seconds to ADD to local standard time to get UTC (POSIX sign: positive west of Greenwich). */
  stdOffsetS: number;
  dst?: {
    offsetS: number;
    /** Absent: the TZ names a DST zone without saying when it applies. */
    rule?: { start: TzDate; startS: number; end: TzDate; endS: number };
  };
}

const NAME = /^(?:<[A-Za-z0-9+-]{1,}>|[A-Za-z]{3,})/;
const OFFSET = /^[+-]?\d{1,3}(?::\d{1,2}(?::\d{1,2})?)?/;

function hms(s: string): number {
  const sign = s.startsWith("-") ? -1 : 1;
  const [h = 0, m = 0, sec = 0] = s.replace(/^[+-]/, "").split(":").map(Number);
  return sign * (h * 3600 + m * 60 + sec);
}

function tzDate(s: string): TzDate | undefined {
  let m = /^J(\d{1,3})$/.exec(s);
  if (m) {
    const day = Number(m[1]);
    return day >= 1 && day <= 365 ? { kind: "J", day } : undefined;
  }
  m = /^(\d{1,3})$/.exec(s);
  if (m) {
    const day = Number(m[1]);
    return day <= 365 ? { kind: "n", day } : undefined;
  }
  m = /^M(\d{1,2})\.(\d)\.(\d)$/.exec(s);
  if (!m) return undefined;
  const [month, week, weekday] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return month >= 1 && month <= 12 && week >= 1 && week <= 5 && weekday <= 6 ? { kind: "M", month, week, weekday } : undefined;
}

/** Parse a POSIX TZ string; undefined when it is not one. "UTC" and "GMT" alone are accepted as UTC. */
export function parsePosixTz(input: string): PosixTz | undefined {
  let s = input.trim();
  if (/^(UTC|GMT|Z|UCT)$/i.test(s)) return { stdOffsetS: 0 };
  const std = NAME.exec(s);
  if (!std) return undefined;
  s = s.slice(std[0].length);
  const off = OFFSET.exec(s);
  if (!off) return undefined;
  const stdOffsetS = hms(off[0]);
  if (Math.abs(stdOffsetS) > 24 * 3600) return undefined;
  s = s.slice(off[0].length);
  if (s === "") return { stdOffsetS };
  const dstName = NAME.exec(s);
  if (!dstName) return undefined;
  s = s.slice(dstName[0].length);
  let offsetS = stdOffsetS - 3600;
  const dstOff = OFFSET.exec(s);
  if (dstOff) {
    offsetS = hms(dstOff[0]);
    s = s.slice(dstOff[0].length);
  }
  if (s === "") return { stdOffsetS, dst: { offsetS } };
  const rule = /^,([^,/]+)(?:\/([+-]?[\d:]+))?,([^,/]+)(?:\/([+-]?[\d:]+))?$/.exec(s);
  if (!rule) return undefined;
  const start = tzDate(rule[1] ?? "");
  const end = tzDate(rule[3] ?? "");
  if (!start || !end) return undefined;
  // RFC 8536 §3.3.1 extends the rule time to -167..167 hours; 02:00 is the POSIX default.
  const startS = rule[2] === undefined ? 7200 : hms(rule[2]);
  const endS = rule[4] === undefined ? 7200 : hms(rule[4]);
  if (Math.abs(startS) > 167 * 3600 || Math.abs(endS) > 167 * 3600) return undefined;
  return { stdOffsetS, dst: { offsetS, rule: { start, startS, end, endS } } };
}

const DAY_MS = 86_400_000;

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

/** Midnight (as UTC ms of the wall date) of a rule's date in a year. */
export function ruleDateMs(year: number, d: TzDate): number {
  const jan1 = Date.UTC(year, 0, 1);
  if (d.kind === "n") return jan1 + d.day * DAY_MS;
  if (d.kind === "J") return jan1 + (d.day - 1 + (isLeap(year) && d.day >= 60 ? 1 : 0)) * DAY_MS;
  const first = Date.UTC(year, d.month - 1, 1);
  const firstWeekday = new Date(first).getUTCDay();
  let day = 1 + ((d.weekday - firstWeekday + 7) % 7) + (d.week - 1) * 7;
  const daysInMonth = new Date(Date.UTC(year, d.month, 0)).getUTCDate();
  // Week 5 means "the last such weekday of the month".
  while (day > daysInMonth) day -= 7;
  return Date.UTC(year, d.month - 1, day);
}

/** Whether DST is in effect at a UTC instant, by the rule of the given year. */
function dstAt(utcMs: number, year: number, tz: PosixTz): boolean {
  const rule = tz.dst?.rule;
  if (!tz.dst || !rule) return false;
  // The start time is in standard local time, the end time in DST local time (POSIX).
  const start = ruleDateMs(year, rule.start) + rule.startS * 1000 + tz.stdOffsetS * 1000;
  const end = ruleDateMs(year, rule.end) + rule.endS * 1000 + tz.dst.offsetS * 1000;
  // Southern hemisphere zones (AEST-10AEDT,M10.1.0,M4.1.0/3) have DST across the new year.
  return start < end ? utcMs >= start && utcMs < end : !(utcMs >= end && utcMs < start);
}

function posixLocalToUtc(localMs: number, tz: PosixTz, dstHint?: boolean): number {
  const asStd = localMs + tz.stdOffsetS * 1000;
  if (!tz.dst) return asStd;
  const asDst = localMs + tz.dst.offsetS * 1000;
  if (!tz.dst.rule) return dstHint ? asDst : asStd;
  const year = new Date(localMs).getUTCFullYear();
  const stdValid = !dstAt(asStd, year, tz);
  const dstValid = dstAt(asDst, year, tz);
  if (stdValid && !dstValid) return asStd;
  if (dstValid && !stdValid) return asDst;
  // Both: the repeated hour when DST ends. Neither: the hour skipped when it
  // starts, which a correct clock never shows. The camera's flag decides.
  return dstHint ? asDst : asStd;
}

// ------------------------------------------------------------ IANA zones

function ianaOffsetMs(utcMs: number, zone: string): number | undefined {
  try {
    const parts = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    }).formatToParts(new Date(utcMs));
    const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
    const wall = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
    return wall - Math.floor(utcMs / 1000) * 1000;
  } catch {
    return undefined;
  }
}

function ianaLocalToUtc(localMs: number, zone: string): number | undefined {
  if (!/^[A-Za-z_]+(?:\/[A-Za-z0-9_+-]+)+$/.test(zone)) return undefined;
  const first = ianaOffsetMs(localMs, zone);
  if (first === undefined) return undefined;
  const guess = localMs - first;
  const second = ianaOffsetMs(guess, zone) ?? first;
  return localMs - second;
}

/**
 * Camera UTC minus gateway UTC, in ms. ONVIF DateTime has whole seconds, so
 * the camera's true time lies in [reported, reported + 1 s): half a second is
 * added so a perfect clock reads 0 ± 500 ms instead of -500 on average. The
 * gateway's time is the midpoint of the request, so half the round trip is
 * the other error term.
 */
export function clockDriftMs(cameraUtcMs: number, sentAtMs: number, receivedAtMs: number): number {
  return Math.round(cameraUtcMs + 500 - (sentAtMs + receivedAtMs) / 2);
}
