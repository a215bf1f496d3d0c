/**
 * Contact ID and SIA DCS data (drivers/dc09/contact-id.ts, sia-dcs.ts): the
 * same event in either protocol has the same kind and qualifier.
 */
import { describe, expect, it } from "vitest";
import { CONTACT_ID_CODES, parseContactId } from "../../drivers/dc09/contact-id.js";
import { Dc09Error } from "../../drivers/dc09/errors.js";
import { ALARM_KINDS } from "../../drivers/dc09/event.js";
import { parseSiaDcs, SIA_CODES } from "../../drivers/dc09/sia-dcs.js";

function dataReason(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(Dc09Error);
    return (e as Dc09Error).reason;
  }
}

describe("Contact ID data", () => {
  it("reads qualifier, event code, partition and zone of a panic from a pendant", () => {
    expect(parseContactId("#1234|1120 01 015")).toEqual({
      kind: "panic", qualifier: "new", code: "120", description: "Panic alarm", partition: 1, zone: 15, user: null, text: null,
    });
  });

  it("reads the qualifiers 1, 3 and 6 as new, restore and still_present", () => {
    expect(parseContactId("#1234|3120 01 015").qualifier).toBe("restore");
    expect(parseContactId("#1234|6381 00 007")).toMatchObject({ kind: "supervision_loss", qualifier: "still_present", zone: 7 });
  });

  it("accepts the block without the account or without the spaces", () => {
    for (const d of ["|1120 01 015", "1120 01 015", "#1234|112001015", "#12345A|1120 01 015"]) expect(parseContactId(d)).toMatchObject({ code: "120", partition: 1, zone: 15 });
  });

  it("gives the events the agent cares about their meaning", () => {
    const cases: [string, string, object][] = [
      ["1121 01 003", "duress", { user: 3, zone: null }],
      ["1122 01 015", "panic", {}],
      ["1123 01 015", "panic", {}],
      ["1100 01 020", "medical", {}],
      ["1110 00 129", "fire", { partition: null, zone: 129 }],
      ["1131 01 004", "burglary", {}],
      ["1301 00 000", "ac_loss", { zone: null }],
      ["1302 00 000", "low_battery", {}],
      ["1384 01 015", "low_battery", { zone: 15 }],
      ["1381 01 015", "supervision_loss", { zone: 15 }],
      ["1350 00 000", "comm_trouble", {}],
      ["1354 00 000", "comm_trouble", {}],
      ["1601 00 000", "test", {}],
      ["1602 00 000", "test", {}],
      ["1406 01 007", "cancel", { user: 7, zone: null }],
      ["1383 01 015", "tamper", {}],
    ];
    for (const [data, kind, extra] of cases) expect(parseContactId(data), data).toMatchObject({ kind, qualifier: "new", ...extra });
  });

  it("turns open/close qualifiers into kinds opening and closing, with the user", () => {
    expect(parseContactId("1401 02 012")).toMatchObject({ kind: "opening", qualifier: "new", user: 12, partition: 2 });
    expect(parseContactId("3401 02 012")).toMatchObject({ kind: "closing", qualifier: "new", user: 12 });
  });

  it("keeps an unknown code as kind other with the code", () => {
    expect(parseContactId("1999 01 001")).toMatchObject({ kind: "other", code: "999", description: "Unknown Contact ID event 999", zone: 1 });
  });

  it("refuses data that is not Contact ID with reason data", () => {
    for (const d of ["", "#1234|", "#1234|2120 01 015", "#1234|1120 1 015", "#1234|1120 01 015 9", "NPA015", "#1234|11A0 01 015"]) {
      expect(dataReason(() => parseContactId(d)), d).toBe("data");
    }
  });

  it("maps codes only to known kinds", () => {
    for (const c of Object.values(CONTACT_ID_CODES)) expect(ALARM_KINDS).toContain(c.kind);
  });
});

describe("SIA DCS data", () => {
  it("reads area, code and zone of a panic", () => {
    expect(parseSiaDcs("#1234|Nri01/PA015")).toEqual([{
      kind: "panic", qualifier: "new", code: "PA", description: "Panic alarm", partition: 1, zone: 15, user: null, text: null,
    }]);
  });

  it("maps each code the brief names onto the same meaning as its Contact ID twin", () => {
    const pairs: [string, string][] = [
      ["PA015", "1120 01 015"], ["PH015", "3120 01 015"], ["HA015", "1121 01 015"], ["HH015", "3121 01 015"],
      ["QA015", "1101 01 015"], ["MA015", "1100 01 015"], ["FA015", "1110 01 015"],
      ["RP", "1602 01 000"], ["RX", "1601 01 000"], ["YT", "1302 01 000"], ["YR", "3302 01 000"],
      ["AT", "1301 01 000"], ["AR", "3301 01 000"], ["XT015", "1384 01 015"], ["XR015", "3384 01 015"],
      ["YS", "1350 01 000"], ["TA015", "1383 01 015"], ["TR015", "3383 01 015"], ["OC007", "1406 01 007"],
    ];
    for (const [sia, cid] of pairs) {
      const [s] = parseSiaDcs(`#1234|Nri01/${sia}`);
      const c = parseContactId(`#1234|${cid}`);
      expect({ kind: s?.kind, qualifier: s?.qualifier }, `${sia} vs ${cid}`).toEqual({ kind: c.kind, qualifier: c.qualifier });
    }
  });

  it("reads openings and closings with their user, and an id modifier as the user", () => {
    expect(parseSiaDcs("#1234|Nri2/OP012")[0]).toMatchObject({ kind: "opening", user: 12, zone: null, partition: 2 });
    expect(parseSiaDcs("#1234|Nri2/CL012")[0]).toMatchObject({ kind: "closing", user: 12 });
    expect(parseSiaDcs("#1234|Nid34/ri2/HA015")[0]).toMatchObject({ kind: "duress", user: 34, zone: 15, partition: 2 });
  });

  it("reads several events in one block, and text after a code or in an A block", () => {
    expect(parseSiaDcs("#1234|Nri1/PA015/PA016").map((e) => e.zone)).toEqual([15, 16]);
    expect(parseSiaDcs("#123456|Nri1CL0^VX FRONTE ^")[0]).toMatchObject({ kind: "closing", partition: 1, text: "VX FRONTE" });
    expect(parseSiaDcs("#1234|NRR|Atest")[0]).toMatchObject({ kind: "other", code: "RR", text: "test" });
    expect(parseSiaDcs("#7777|Nri01^TOTAL^/LX901^centrale d'alarme JA-106K(R)^")[0]).toMatchObject({ code: "LX", zone: 901, partition: 1, text: "centrale d'alarme JA-106K(R)" });
  });

  it("reads blocks without the account (pysiaalarm test data)", () => {
    expect(parseSiaDcs("|Nri1/CL501")[0]).toMatchObject({ kind: "closing", user: 501 });
    expect(parseSiaDcs("Nri1/WA000")[0]).toMatchObject({ kind: "other", code: "WA", zone: null });
  });

  it("keeps an unknown code as kind other with the code", () => {
    expect(parseSiaDcs("#1234|NZZ12")[0]).toMatchObject({ kind: "other", code: "ZZ", zone: 12, description: "Unknown SIA event ZZ" });
  });

  it("refuses blocks with no event code or outside the grammar with reason data", () => {
    for (const d of ["", "#1234", "#1234|N", "#1234|Nri01", "#1234|Nri01/pa015", "#1234|N!PA015", "#1234|Xfoo"]) expect(dataReason(() => parseSiaDcs(d)), d).toBe("data");
  });

  it("maps codes only to known kinds", () => {
    for (const c of Object.values(SIA_CODES)) expect(ALARM_KINDS).toContain(c.kind);
  });
});
