/**
 * Camera time: POSIX TZ rules (checked against transitions published for
 * these zones), and what GetSystemDateAndTime reports for UTC and local-time
 * cameras. A camera is put at a chosen instant with its clock offset.
 */
import { describe, expect, it } from "vitest";
import { offsetAt, parsePosixTz } from "../../scripts/sim/camera-time.js";
import { child, descend, type XmlElement } from "../../scripts/sim/camera-xml.js";
import { op, soap, useCameras } from "./camera-helpers.js";

const camera = useCameras();
const at = (iso: string, tz: string) => offsetAt(parsePosixTz(tz), Date.parse(iso));

describe("POSIX TZ rules", () => {
  it("parses names, offsets (west positive) and rules", () => {
    expect(parsePosixTz("CET-1CEST,M3.5.0,M10.5.0/3")).toMatchObject({
      stdName: "CET",
      stdOffsetSec: 3600,
      dst: { name: "CEST", offsetSec: 7200, start: { kind: "M", month: 3, week: 5, weekday: 0, timeSec: 7200 }, end: { timeSec: 10800 } },
    });
    expect(parsePosixTz("EST5EDT,M3.2.0,M11.1.0")).toMatchObject({ stdOffsetSec: -18000, dst: { offsetSec: -14400 } });
    expect(parsePosixTz("CST-8:00:00")).toEqual({ source: "CST-8:00:00", stdName: "CST", stdOffsetSec: 28800 });
    expect(parsePosixTz("<+0330>-3:30")).toMatchObject({ stdName: "+0330", stdOffsetSec: 12600 });
    expect(parsePosixTz("UTC0")).toEqual({ source: "UTC0", stdName: "UTC", stdOffsetSec: 0 });
  });

  it("rejects what is not a POSIX TZ string, saying why", () => {
    expect(() => parsePosixTz("Europe/Berlin")).toThrow(/expected hh/);
    expect(() => parsePosixTz(":Europe/Berlin")).toThrow(/implementation-defined/);
    expect(() => parsePosixTz("CET-1CEST,M13.5.0,M10.5.0")).toThrow(/bad rule M13.5.0/);
    expect(() => parsePosixTz("EST25")).toThrow(/out of range/);
  });

  it("switches Central European time at 01:00 UTC on the last Sundays of March and October", () => {
    const cet = "CET-1CEST,M3.5.0,M10.5.0/3";
    expect(at("2025-03-30T00:59:59Z", cet)).toEqual({ offsetSec: 3600, dst: false });
    expect(at("2025-03-30T01:00:00Z", cet)).toEqual({ offsetSec: 7200, dst: true });
    expect(at("2025-10-26T00:59:59Z", cet)).toEqual({ offsetSec: 7200, dst: true });
    expect(at("2025-10-26T01:00:00Z", cet)).toEqual({ offsetSec: 3600, dst: false });
  });

  it("switches US Eastern time at 2 a.m. local on the second Sunday of March and the first of November", () => {
    const est = "EST5EDT,M3.2.0,M11.1.0";
    expect(at("2025-03-09T06:59:59Z", est).offsetSec).toBe(-18000);
    expect(at("2025-03-09T07:00:00Z", est).offsetSec).toBe(-14400);
    expect(at("2025-11-02T05:59:59Z", est).offsetSec).toBe(-14400);
    expect(at("2025-11-02T06:00:00Z", est).offsetSec).toBe(-18000);
  });

  it("handles a southern-hemisphere zone whose daylight saving spans the new year", () => {
    const syd = "AEST-10AEDT,M10.1.0,M4.1.0/3";
    expect(at("2025-01-15T00:00:00Z", syd)).toEqual({ offsetSec: 39600, dst: true });
    expect(at("2025-04-05T15:59:59Z", syd).dst).toBe(true);
    expect(at("2025-04-05T16:00:00Z", syd).dst).toBe(false);
    expect(at("2025-10-04T15:59:59Z", syd).dst).toBe(false);
    expect(at("2025-10-04T16:00:00Z", syd).dst).toBe(true);
  });

  it("counts Jn days without 29 February and n days with it", () => {
    // J60 is 1 March in every year; day 59 is 1 March in 2023 and 29 February in 2024.
    expect(at("2024-03-01T02:00:00Z", "AAA0BBB,J60/0,J300/0").dst).toBe(true);
    expect(at("2024-02-29T23:59:59Z", "AAA0BBB,J60/0,J300/0").dst).toBe(false);
    expect(at("2024-02-29T00:00:00Z", "AAA0BBB,59/0,300/0").dst).toBe(true);
    expect(at("2023-02-28T23:59:59Z", "AAA0BBB,59/0,300/0").dst).toBe(false);
  });
});

/** tt:DateTime → "YYYY-MM-DD hh:mm" (seconds left out: the request takes a moment). */
function minuteOf(dt: XmlElement | undefined): string | undefined {
  if (!dt) return undefined;
  const n = (...p: string[]) => String(descend(dt, ...p)?.text).padStart(2, "0");
  return `${n("Date", "Year")}-${n("Date", "Month")}-${n("Date", "Day")} ${n("Time", "Hour")}:${n("Time", "Minute")}`;
}

describe("GetSystemDateAndTime", () => {
  /** A camera whose clock reads `iso` now. */
  const cameraAt = (iso: string, opts: Parameters<typeof camera>[0]) => camera({ ...opts, clockOffsetMs: Date.parse(iso) - Date.now() });
  const read = async (cam: Awaited<ReturnType<typeof camera>>) =>
    descend((await soap(cam, op("GetSystemDateAndTime"))).body, "GetSystemDateAndTimeResponse", "SystemDateAndTime");

  it("reports UTC and local time, the TZ string and whether DST is on, by default", async () => {
    const sdt = await read(await cameraAt("2025-07-01T12:00:00Z", { timeZone: "CET-1CEST,M3.5.0,M10.5.0/3", dateTimeType: "Manual" }));
    expect(sdt?.children.map((c) => c.local)).toEqual(["DateTimeType", "DaylightSavings", "TimeZone", "UTCDateTime", "LocalDateTime"]);
    expect(child(sdt, "DateTimeType")?.text).toBe("Manual");
    expect(child(sdt, "DaylightSavings")?.text).toBe("true");
    expect(descend(sdt, "TimeZone", "TZ")?.text).toBe("CET-1CEST,M3.5.0,M10.5.0/3");
    expect(minuteOf(child(sdt, "UTCDateTime"))).toBe("2025-07-01 12:00");
    expect(minuteOf(child(sdt, "LocalDateTime"))).toBe("2025-07-01 14:00");
  });

  it("reports only local time and the TZ string for a local-only camera", async () => {
    const sdt = await read(await cameraAt("2025-01-15T03:30:00Z", { timeZone: "EST5EDT,M3.2.0,M11.1.0", timeReport: "local-only" }));
    expect(sdt?.children.map((c) => c.local)).toEqual(["DateTimeType", "DaylightSavings", "TimeZone", "LocalDateTime"]);
    expect(child(sdt, "DaylightSavings")?.text).toBe("false");
    expect(minuteOf(child(sdt, "LocalDateTime"))).toBe("2025-01-14 22:30");
  });

  it("reports only UTC for a utc-only camera, and local time under the UTC name for the local-as-utc firmware bug", async () => {
    const utc = await read(await cameraAt("2025-01-15T03:30:00Z", { timeZone: "EST5EDT,M3.2.0,M11.1.0", timeReport: "utc-only" }));
    expect(utc?.children.map((c) => c.local)).toEqual(["DateTimeType", "DaylightSavings", "TimeZone", "UTCDateTime"]);
    const buggy = await read(await cameraAt("2025-01-15T03:30:00Z", { timeZone: "EST5EDT,M3.2.0,M11.1.0", timeReport: "local-as-utc" }));
    expect(minuteOf(child(buggy, "UTCDateTime"))).toBe("2025-01-14 22:30");
  });
});
