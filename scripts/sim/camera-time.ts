/**
 * Camera time: POSIX TZ strings, as ONVIF cameras carry them in
 * GetSystemDateAndTime's tt:TimeZone/tt:TZ ("The time zone shall be
 * formatted according to POSIX 1003.1 section 8.3", ONVIF Core, SetSystemDateAndTime),
 * and the local time they imply. Written from the POSIX grammar (IEEE 1003.1,
 * Base Definitions §8.3, TZ), extended like glibc and RFC 8536 §3.3.1 with
 * transition times outside 0–24 h. Independent of the driver's conversion on
 * purpose: the two must agree on the demo's local-time camera.
 *
 *   std offset [dst [offset] [,start[/time],end[/time]]]
 *   e.g. CET-1CEST,M3.5.0,M10.5.0/3   EST5EDT,M3.2.0,M11.1.0   <+03>-3   CST-8:00:00
 *
 * A POSIX offset is what to ADD to local time to get UTC (west is positive);
 * here offsets are stored the other way round, as local minus UTC.
 */

type Rule =
  /** Mm.w.d: day d (0 = Sunday) of week w (1–5, 5 = last) of month m. */
  | { kind: "M"; month: number; week: number; weekday: number; timeSec: number } |
  /** Jn: day n (1–365), 29 February never counted. */
  { kind: "J"; day: number; timeSec: number } |
  /** n: zero-based day n (0–365), 29 February counted. */
  { kind: "n"; day: number; timeSec: number };

export interface PosixTz {
  source: string;
  stdName: string;
  /** Local time minus UTC outside daylight saving, in seconds. */
  stdOffsetSec: number;
  dst?: { name: string; offsetSec: number; start: Rule; end: Rule };
}

/** How GetSystemDateAndTime reports the clock (see the camera options). */
export const TIME_REPORTS = ["utc-and-local", "utc-only", "local-only", "local-as-utc"] as const;
export type TimeReport = (typeof TIME_REPORTS)[number];

export interface DateTimeFields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const DAY_MS = 86_400_000;
/** glibc's choice when a DST name comes without rules: today's US rules. */
const DEFAULT_RULES = "M3.2.0,M11.1.0";

export function parsePosixTz(source: string): PosixTz {
  let s = source;
  const fail = (why: string): never => {
    throw new Error(`time zone "${source}": ${why}`);
  };
  const name = (): string => {
    const m = /^(<[A-Za-z0-9+-]{3,}>|[A-Za-z]{3,})/.exec(s) ?? fail("expected a zone name of 3+ letters or <...>");
    s = s.slice(m[0].length);
    return m[0].replace(/^<|>$/g, "");
  };
  /** [+-]hh[:mm[:ss]] in seconds; maxHours 24 for offsets, 167 for transition times (RFC 8536). */
  const clock = (maxHours: number): number => {
    const m = /^([+-]?)(\d{1,3})(?::(\d{2}))?(?::(\d{2}))?/.exec(s) ?? fail("expected hh[:mm[:ss]]");
    s = s.slice(m[0].length);
    const [h, min, sec] = [Number(m[2]), Number(m[3] ?? 0), Number(m[4] ?? 0)];
    if (h > maxHours || min > 59 || sec > 59) fail(`${m[0]} is out of range`);
    return (m[1] === "-" ? -1 : 1) * (h * 3600 + min * 60 + sec);
  };
  const rule = (): Rule => {
    const m = /^(?:M(\d{1,2})\.(\d)\.(\d)|J(\d{1,3})|(\d{1,3}))/.exec(s) ?? fail("expected a rule Mm.w.d, Jn or n");
    const [whole, month, week, weekday, julian, zeroBased] = m;
    let r: Rule;
    if (month !== undefined) {
      r = { kind: "M", month: Number(month), week: Number(week), weekday: Number(weekday), timeSec: 7200 };
      if (r.month < 1 || r.month > 12 || r.week < 1 || r.week > 5 || r.weekday > 6) fail(`bad rule ${whole}`);
    } else if (julian !== undefined) {
      r = { kind: "J", day: Number(julian), timeSec: 7200 };
      if (r.day < 1 || r.day > 365) fail(`bad rule ${whole}`);
    } else {
      r = { kind: "n", day: Number(zeroBased), timeSec: 7200 };
      if (r.day > 365) fail(`bad rule ${whole}`);
    }
    s = s.slice(whole.length);
    // The default transition time is 02:00:00 local (POSIX §8.3).
    if (s.startsWith("/")) {
      s = s.slice(1);
      r.timeSec = clock(167);
    }
    return r;
  };

  if (s.startsWith(":")) fail("implementation-defined zones (':...') are not POSIX rules");
  const stdName = name();
  // POSIX offsets are west-positive; ours are local minus UTC (and never -0).
  const utcOffset = () => 0 - clock(24);
  const tz: PosixTz = { source, stdName, stdOffsetSec: utcOffset() };
  if (s === "") return tz;
  const dstName = name();
  const offsetSec = /^[+\-\d]/.test(s) ? utcOffset() : tz.stdOffsetSec + 3600;
  if (s === "") s = `,${DEFAULT_RULES}`;
  if (!s.startsWith(",")) fail("expected ',' before the daylight saving rules");
  s = s.slice(1);
  const start = rule();
  if (!s.startsWith(",")) fail("expected ',' between the start and end rules");
  s = s.slice(1);
  const end = rule();
  if (s !== "") fail(`unexpected "${s}"`);
  tz.dst = { name: dstName, offsetSec, start, end };
  return tz;
}

/** Midnight (as a UTC timestamp) of the day a rule names in a year. */
function ruleDay(year: number, r: Rule): number {
  const jan1 = Date.UTC(year, 0, 1);
  if (r.kind === "n") return jan1 + r.day * DAY_MS;
  if (r.kind === "J") {
    const leap = new Date(Date.UTC(year, 1, 29)).getUTCMonth() === 1;
    return jan1 + (r.day - 1 + (leap && r.day >= 60 ? 1 : 0)) * DAY_MS;
  }
  const first = Date.UTC(year, r.month - 1, 1);
  const daysInMonth = new Date(Date.UTC(year, r.month, 0)).getUTCDate();
  let day = 1 + ((r.weekday - new Date(first).getUTCDay() + 7) % 7) + (r.week - 1) * 7;
  while (day > daysInMonth) day -= 7;
  return Date.UTC(year, r.month - 1, day);
}

/** The offset (local minus UTC) in force at utcMs, and whether it is daylight saving time. */
export function offsetAt(tz: PosixTz, utcMs: number): { offsetSec: number; dst: boolean } {
  const std = { offsetSec: tz.stdOffsetSec, dst: false };
  if (!tz.dst) return std;
  const { offsetSec, start, end } = tz.dst;
  const year = new Date(utcMs + tz.stdOffsetSec * 1000).getUTCFullYear();
  // The start time is given in standard time, the end time in daylight saving time (POSIX §8.3).
  const startUtc = ruleDay(year, start) + (start.timeSec - tz.stdOffsetSec) * 1000;
  const endUtc = ruleDay(year, end) + (end.timeSec - offsetSec) * 1000;
  // Southern hemisphere zones start daylight saving late in the year and end it early in the next.
  const inDst = startUtc < endUtc ? utcMs >= startUtc && utcMs < endUtc : !(utcMs >= endUtc && utcMs < startUtc);
  return inDst ? { offsetSec, dst: true } : std;
}

/** Calendar fields of a timestamp read as UTC (whole seconds, as tt:DateTime carries them). */
export function fieldsOf(ms: number): DateTimeFields {
  const d = new Date(ms);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
  };
}

/** The camera's clock at utcMs: UTC and local calendar fields, and whether DST is on. */
export function cameraClock(tz: PosixTz, utcMs: number): { utc: DateTimeFields; local: DateTimeFields; dst: boolean } {
  const { offsetSec, dst } = offsetAt(tz, utcMs);
  return { utc: fieldsOf(utcMs), local: fieldsOf(utcMs + offsetSec * 1000), dst };
}
