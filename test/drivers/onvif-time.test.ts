import { describe, expect, it } from "vitest";
import {
  type CameraClock,
  cameraUtc,
  clockDriftMs,
  localToUtc,
  parsePosixTz,
  parseSystemDateAndTime,
  ruleDateMs,
  type WallTime,
} from "../../drivers/onvif/time.js";

/** A GetSystemDateAndTimeResponse the way cameras send it; `p` is the schema prefix ("" for none). */
function answer(o: { utc?: WallTime; local?: WallTime; tz?: string; dst?: boolean; mode?: string; p?: string }): string {
  const p = o.p ?? "tt:";
  const dt = (tag: string, w: WallTime) =>
    `<${p}${tag}><${p}Time><${p}Hour>${w.hour}</${p}Hour><${p}Minute>${w.minute}</${p}Minute><${p}Second>${w.second}</${p}Second></${p}Time>` +
    `<${p}Date><${p}Year>${w.year}</${p}Year><${p}Month>${w.month}</${p}Month><${p}Day>${w.day}</${p}Day></${p}Date></${p}${tag}>`;
  return (
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://www.w3.org/2003/05/soap-envelope\"><SOAP-ENV:Body>" +
    "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>" +
    `<${p}DateTimeType>${o.mode ?? "NTP"}</${p}DateTimeType><${p}DaylightSavings>${o.dst ?? false}</${p}DaylightSavings>` +
    (o.tz === undefined ? "" : `<${p}TimeZone><${p}TZ>${o.tz}</${p}TZ></${p}TimeZone>`) +
    (o.utc ? dt("UTCDateTime", o.utc) : "") +
    (o.local ? dt("LocalDateTime", o.local) : "") +
    "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>"
  );
}

const wall = (iso: string): WallTime => {
  const d = new Date(`${iso}Z`);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
  };
};

function utcOf(xml: string): string {
  const clock = parseSystemDateAndTime(xml);
  if (!clock) throw new Error("no clock parsed");
  const r = cameraUtc(clock);
  if (!r.ok) throw new Error(r.problem);
  return new Date(r.utcMs).toISOString().replace(".000", "");
}

describe("camera clock answers converted to UTC", () => {
  // Each row: what a camera sent, and the UTC instant it means.
  const table: { name: string; xml: string; utc: string }[] = [
    {
      name: "UTCDateTime wins over LocalDateTime (Hikvision style, POSIX TZ with seconds)",
      xml: answer({ utc: wall("2024-05-01T04:00:00"), local: wall("2024-05-01T12:00:00"), tz: "CST-8:00:00" }),
      utc: "2024-05-01T04:00:00Z",
    },
    {
      name: "UTCDateTime with a European TZ and rules (Axis style)",
      xml: answer({ utc: wall("2024-07-01T10:00:00"), tz: "CET-1CEST,M3.5.0,M10.5.0/3" }),
      utc: "2024-07-01T10:00:00Z",
    },
    {
      name: "local time only, US Eastern in summer is UTC-4",
      xml: answer({ local: wall("2024-07-04T12:00:00"), tz: "EST5EDT,M3.2.0,M11.1.0", dst: true }),
      utc: "2024-07-04T16:00:00Z",
    },
    {
      name: "local time only, US Eastern in winter is UTC-5",
      xml: answer({ local: wall("2024-01-15T12:00:00"), tz: "EST5EDT,M3.2.0,M11.1.0" }),
      utc: "2024-01-15T17:00:00Z",
    },
    {
      name: "local time only, Central Europe in summer is UTC+2",
      xml: answer({ local: wall("2024-08-01T09:30:00"), tz: "CET-1CEST,M3.5.0,M10.5.0/3" }),
      utc: "2024-08-01T07:30:00Z",
    },
    {
      name: "southern hemisphere: Sydney in January is on DST (UTC+11) across the new year",
      xml: answer({ local: wall("2024-01-15T10:00:00"), tz: "AEST-10AEDT,M10.1.0,M4.1.0/3" }),
      utc: "2024-01-14T23:00:00Z",
    },
    {
      name: "southern hemisphere: Sydney in July is on standard time (UTC+10)",
      xml: answer({ local: wall("2024-07-15T10:00:00"), tz: "AEST-10AEDT,M10.1.0,M4.1.0/3" }),
      utc: "2024-07-15T00:00:00Z",
    },
    {
      name: "half-hour zone without DST (India)",
      xml: answer({ local: wall("2024-03-01T12:00:00"), tz: "IST-5:30" }),
      utc: "2024-03-01T06:30:00Z",
    },
    {
      name: "quoted zone name and a 45-minute offset (Nepal)",
      xml: answer({ local: wall("2024-03-01T12:00:00"), tz: "&lt;+0545&gt;-5:45" }),
      utc: "2024-03-01T06:15:00Z",
    },
    {
      name: "the same zone name sent unescaped, which is not well-formed XML",
      xml: answer({ local: wall("2024-03-01T12:00:00"), tz: "<+0545>-5:45" }),
      utc: "2024-03-01T06:15:00Z",
    },
    {
      name: "an IANA name where a POSIX TZ belongs (seen in some firmware)",
      xml: answer({ local: wall("2024-07-01T12:00:00"), tz: "America/Chicago" }),
      utc: "2024-07-01T17:00:00Z",
    },
    {
      name: "a DST zone without rules follows the camera's DaylightSavings flag",
      xml: answer({ local: wall("2024-07-01T12:00:00"), tz: "EST5EDT", dst: true }),
      utc: "2024-07-01T16:00:00Z",
    },
    {
      name: "plain UTC zone name",
      xml: answer({ local: wall("2024-07-01T12:00:00"), tz: "UTC" }),
      utc: "2024-07-01T12:00:00Z",
    },
    {
      name: "elements without namespace prefixes, with whitespace around values",
      xml: answer({ utc: wall("2023-12-31T23:59:59"), p: "" }).replace(/<Hour>23/, "<Hour>\n 23 "),
      utc: "2023-12-31T23:59:59Z",
    },
  ];
  for (const row of table) {
    it(`reads ${row.name}`, () => {
      expect(utcOf(row.xml)).toBe(row.utc);
    });
  }

  it("lets the camera's DaylightSavings flag settle the hour that happens twice when DST ends", () => {
    const local = wall("2024-11-03T01:30:00");
    expect(localToUtc(local, "EST5EDT,M3.2.0,M11.1.0", true)).toBe(Date.parse("2024-11-03T05:30:00Z"));
    expect(localToUtc(local, "EST5EDT,M3.2.0,M11.1.0", false)).toBe(Date.parse("2024-11-03T06:30:00Z"));
  });

  it("reads a time in the hour skipped when DST starts as standard time unless the camera says DST", () => {
    const local = wall("2024-03-10T02:30:00");
    expect(localToUtc(local, "EST5EDT,M3.2.0,M11.1.0")).toBe(Date.parse("2024-03-10T07:30:00Z"));
  });

  it("converts the instants either side of a DST start correctly", () => {
    const tz = "EST5EDT,M3.2.0,M11.1.0";
    expect(localToUtc(wall("2024-03-10T01:59:59"), tz)).toBe(Date.parse("2024-03-10T06:59:59Z"));
    expect(localToUtc(wall("2024-03-10T03:00:00"), tz)).toBe(Date.parse("2024-03-10T07:00:00Z"));
  });

  it("says why the UTC time is unknown when a camera gives local time without a usable zone", () => {
    const noTz = parseSystemDateAndTime(answer({ local: wall("2024-07-01T12:00:00") })) as CameraClock;
    expect(cameraUtc(noTz)).toEqual({ ok: false, problem: "the camera gave local time without a time zone" });
    const badTz = parseSystemDateAndTime(answer({ local: wall("2024-07-01T12:00:00"), tz: "somewhere" })) as CameraClock;
    expect(cameraUtc(badTz)).toMatchObject({ ok: false, problem: expect.stringContaining('"somewhere"') });
  });

  it("returns nothing for an answer without a date, and ignores impossible dates", () => {
    expect(parseSystemDateAndTime("<Envelope><Body><Fault/></Body></Envelope>")).toBeUndefined();
    expect(parseSystemDateAndTime(answer({ utc: { ...wall("2024-01-01T00:00:00"), month: 13 } }))).toBeUndefined();
  });

  it("keeps the mode, zone and DST flag the camera reported", () => {
    const c = parseSystemDateAndTime(answer({ utc: wall("2024-01-01T00:00:00"), tz: "UTC", dst: true, mode: "Manual" }));
    expect(c).toMatchObject({ mode: "Manual", tz: "UTC", daylightSavings: true });
  });
});

describe("POSIX TZ rules", () => {
  it("parses offsets with POSIX signs: positive is west of Greenwich", () => {
    expect(parsePosixTz("EST5")).toEqual({ stdOffsetS: 5 * 3600 });
    expect(parsePosixTz("JST-9")).toEqual({ stdOffsetS: -9 * 3600 });
    expect(parsePosixTz("EST5EDT")).toEqual({ stdOffsetS: 18000, dst: { offsetS: 14400 } });
    expect(parsePosixTz("NZST-12NZDT-13,M9.5.0,M4.1.0/3")?.dst?.offsetS).toBe(-13 * 3600);
  });

  it("rejects strings that are not POSIX TZ", () => {
    for (const bad of ["", "5", "EST", "EST5EDT,M13.1.0,M11.1.0", "EST5EDT,M3.2.0", "Europe/Berlin"]) {
      expect(parsePosixTz(bad), bad).toBeUndefined();
    }
  });

  it("finds the dates of Mm.w.d, Jn and n rules, with week 5 meaning the last one", () => {
    const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    expect(iso(ruleDateMs(2024, { kind: "M", month: 3, week: 2, weekday: 0 }))).toBe("2024-03-10");
    expect(iso(ruleDateMs(2024, { kind: "M", month: 11, week: 1, weekday: 0 }))).toBe("2024-11-03");
    expect(iso(ruleDateMs(2024, { kind: "M", month: 3, week: 5, weekday: 0 }))).toBe("2024-03-31");
    expect(iso(ruleDateMs(2024, { kind: "M", month: 10, week: 5, weekday: 0 }))).toBe("2024-10-27");
    // J60 is March 1st every year; n counts February 29th.
    expect(iso(ruleDateMs(2024, { kind: "J", day: 60 }))).toBe("2024-03-01");
    expect(iso(ruleDateMs(2023, { kind: "J", day: 60 }))).toBe("2023-03-01");
    expect(iso(ruleDateMs(2024, { kind: "n", day: 59 }))).toBe("2024-02-29");
  });

  it("applies a rule's explicit transition times", () => {
    // Europe switches at 01:00 UTC: 02:00 CET on the last Sunday of March, 03:00 CEST in October.
    const tz = "CET-1CEST,M3.5.0,M10.5.0/3";
    expect(localToUtc(wall("2024-03-31T01:59:00"), tz)).toBe(Date.parse("2024-03-31T00:59:00Z"));
    expect(localToUtc(wall("2024-03-31T03:00:00"), tz)).toBe(Date.parse("2024-03-31T01:00:00Z"));
    expect(localToUtc(wall("2024-10-27T03:00:00"), tz)).toBe(Date.parse("2024-10-27T02:00:00Z"));
  });
});

describe("clock drift", () => {
  it("is camera UTC minus gateway UTC at the request's midpoint, with whole-second readings centred", () => {
    const sent = Date.parse("2024-01-01T00:00:00.000Z");
    expect(clockDriftMs(Date.parse("2024-01-01T00:01:30Z"), sent, sent + 100)).toBe(90_000 + 500 - 50);
    expect(clockDriftMs(Date.parse("2023-12-31T23:59:00Z"), sent, sent)).toBe(-59_500);
  });
});
