import { describe, expect, it } from "vitest";
import { DriverError } from "../../drivers/contract.js";
import { decode, type DecodedPoint, emptyBanks } from "../../drivers/modbus/decode.js";
import { firmwareText, identityOf, identityProfile } from "../../drivers/modbus/identity.js";
import { endpointOf, modbusOptionsSchema, profileOf } from "../../drivers/modbus/options.js";
import { planReads } from "../../drivers/modbus/plan.js";
import { type Profile, type ProfileInput, profileProblems, profileSchema } from "../../drivers/modbus/profile.js";
import { BUILTIN_PROFILE_NAMES, builtinProfile } from "../../drivers/modbus/profiles/index.js";
import { GENERIC_DOOR_LAYOUT } from "../../scripts/sim/modbus-door.js";

const profile = (points: ProfileInput["points"], extra: Partial<ProfileInput> = {}): Profile =>
  profileSchema.parse({ name: "t", points, ...extra });
const problems = (points: Record<string, unknown>, extra: Record<string, unknown> = {}) => profileProblems({ name: "t", points, ...extra });

describe("modbus profile schema", () => {
  it("accepts every built-in profile", () => {
    expect(BUILTIN_PROFILE_NAMES).toEqual(["generic-door", "vendor-dc-le", "io-8di"]);
    for (const name of BUILTIN_PROFILE_NAMES) expect(builtinProfile(name)?.name).toBe(name);
    expect(builtinProfile("nope")).toBeUndefined();
  });

  it("fills defaults: big word order, contiguous reads only, protocol read limits", () => {
    const p = profile({ x: { table: "holding", address: 0, type: "u16" } });
    expect(p).toMatchObject({ word_order: "big", max_gap: 0, max_read_registers: 125, max_read_bits: 2000 });
  });

  it("rejects an out-of-range address and a 32-bit value running past 65535", () => {
    expect(problems({ x: { table: "holding", address: 65536, type: "u16" } })).toEqual(["points.x.address: expected a 0-based address (0-65535)"]);
    expect(problems({ x: { table: "holding", address: -1, type: "u16" } })).toEqual(["points.x.address: expected a 0-based address (0-65535)"]);
    expect(problems({ x: { table: "input", address: 65535, type: "u32" } })).toEqual(["points.x: spans addresses 65535-65536, past the last address 65535"]);
  });

  it("rejects an unknown type, an unknown table and a misspelt key", () => {
    expect(problems({ x: { table: "holding", address: 0, type: "u64" } }).join()).toMatch(/^points\.x\.type: .*u16/);
    expect(problems({ x: { table: "register", address: 0, type: "u16" } }).join()).toMatch(/^points\.x\.table: /);
    expect(problems({ x: { table: "holding", address: 0, type: "u16", scael: 2 } }).join()).toMatch(/scael/);
  });

  it("rejects overlapping points in one table, counting 32-bit and string widths", () => {
    expect(problems({ a: { table: "holding", address: 10, type: "u32" }, b: { table: "holding", address: 11, type: "u16" } })).toEqual([
      "points.b: holding 11-11 overlaps point a (holding 10-11)",
    ]);
    expect(problems({ s: { table: "input", address: 0, type: "string", length: 4 }, f: { table: "input", address: 3, type: "float32" } })).toEqual([
      "points.f: input 3-4 overlaps point s (input 0-3)",
    ]);
    expect(problems({ a: { table: "coil", address: 1, type: "bool" }, b: { table: "coil", address: 1, type: "bool" } })).toEqual([
      "points.b: coil 1-1 overlaps point a (coil 1-1)",
    ]);
  });

  it("allows the same address in different tables, distinct bits of one register, and a status word with its bits", () => {
    expect(
      problems({
        a: { table: "holding", address: 0, type: "u16" },
        b: { table: "input", address: 0, type: "u16" },
        c: { table: "holding", address: 0, type: "bit", bit: 3 },
        d: { table: "holding", address: 0, type: "bit", bit: 4 },
      }),
    ).toEqual([]);
    expect(problems({ c: { table: "holding", address: 0, type: "bit", bit: 3 }, d: { table: "holding", address: 0, type: "bit", bit: 3 } })).toEqual([
      "points.d: bit 3 of holding 0 is already point c",
    ]);
  });

  it("rejects a bit point without its bit, a string without length, and misplaced options", () => {
    expect(problems({ x: { table: "holding", address: 0, type: "bit" } })).toEqual(["points.x: type bit needs `bit` (0-15): which bit of the register"]);
    expect(problems({ x: { table: "holding", address: 0, type: "bit", bit: 16 } }).join()).toMatch(/^points\.x\.bit: /);
    expect(problems({ x: { table: "holding", address: 0, type: "string" } })).toEqual(["points.x: type string needs `length`, in registers"]);
    expect(problems({ x: { table: "holding", address: 0, type: "u16", word_order: "little" } })).toEqual([
      "points.x: `word_order` is only for u32, i32 and float32 (found u16)",
    ]);
    expect(problems({ x: { table: "holding", address: 0, type: "u16", bit: 1 } })).toEqual(["points.x: `bit` is only for type bit (found u16)"]);
  });

  it("rejects a register type on a coil and a bool in a register", () => {
    expect(problems({ x: { table: "coil", address: 0, type: "u16" } })).toEqual(["points.x: a coil holds one bit: its type must be bool (found u16)"]);
    expect(problems({ x: { table: "holding", address: 0, type: "bool" } })).toEqual([
      "points.x: type bool is for coils and discrete inputs; for one bit of a holding register use type bit",
    ]);
  });

  it("rejects an enum on a non-integer type or combined with scale", () => {
    expect(problems({ x: { table: "holding", address: 0, type: "float32", enum: { 0: "a" } } })).toEqual(["points.x: enum needs an integer type (found float32)"]);
    expect(problems({ x: { table: "holding", address: 0, type: "u16", scale: 2, enum: { 0: "a" } } })).toEqual([
      "points.x: enum and scale/offset cannot be combined: enum keys are raw values",
    ]);
    expect(problems({ x: { table: "holding", address: 0, type: "u16", enum: { zero: "a" } } }).join()).toMatch(/enum keys are raw integer values/);
  });

  it("checks semantic points: door position and lock state need an enum with their states, alarms are booleans", () => {
    expect(problems({ door_position: { table: "coil", address: 0, type: "bool" } })).toEqual([
      'points.door_position: door_position needs an enum saying which raw value is "open" and which is "closed"',
    ]);
    expect(problems({ lock_state: { table: "coil", address: 0, type: "bool", enum: { 0: "open", 1: "locked" } } })).toEqual([
      "points.lock_state: lock_state enum labels must be locked or unlocked (found open)",
    ]);
    expect(problems({ tamper: { table: "holding", address: 0, type: "u16" } })).toEqual(["points.tamper: tamper is true or false: use type bool or bit"]);
    expect(problems({ battery_voltage: { table: "holding", address: 0, type: "bit", bit: 0 } })).toEqual([
      "points.battery_voltage: battery_voltage is a number: use u16, i16, u32, i32 or float32 without enum",
    ]);
  });

  it("rejects an empty point map and a point name that is not lower_snake_case", () => {
    expect(problems({})).toEqual(["points: a profile needs at least one point"]);
    expect(problems({ "Door Open": { table: "coil", address: 0, type: "bool" } }).join()).toMatch(/lower_snake_case/);
  });
});

describe("modbus decode", () => {
  const regs = (entries: [number, number][]) => {
    const b = emptyBanks();
    for (const [a, v] of entries) b.holding.set(a, v);
    return b;
  };

  it.each([
    ["u16", { type: "u16" }, [0xfffe], 65534],
    ["i16", { type: "i16" }, [0xfffe], -2],
    ["u32 big word order", { type: "u32" }, [0x0001, 0x0002], 65538],
    ["u32 little word order", { type: "u32", word_order: "little" }, [0x0002, 0x0001], 65538],
    ["i32 big", { type: "i32" }, [0xffff, 0xfffe], -2],
    ["i32 little", { type: "i32", word_order: "little" }, [0xfffe, 0xffff], -2],
    ["float32 big", { type: "float32" }, [0x4151, 0x999a], 13.100000381469727],
    ["float32 little", { type: "float32", word_order: "little" }, [0x999a, 0x4151], 13.100000381469727],
    ["scale and offset", { type: "u16", scale: 0.1, offset: -40 }, [523], 12.3],
    ["scaled i16", { type: "i16", scale: 0.1 }, [0xff9c], -10],
    ["bit 3", { type: "bit", bit: 3 }, [0b1000], true],
    ["bit 2 inverted", { type: "bit", bit: 2, invert: true }, [0b1000], true],
    ["string, NUL-ended", { type: "string", length: 3 }, [0x4142, 0x4300, 0x5a5a], "ABC"],
    ["string, space-padded", { type: "string", length: 2 }, [0x5631, 0x2020], "V1"],
    ["enum", { type: "u16", enum: { 0: "closed", 1: "open" } }, [1], "open"],
  ])("decodes %s", (_name, spec, words, expected) => {
    const p = profile({ x: { table: "holding", address: 5, ...(spec as object) } as ProfileInput["points"][string] });
    const out = decode(p, regs(words.map((w, i) => [5 + i, w])));
    expect(out.missing).toEqual([]);
    expect(out.points.x?.value).toBe(expected);
  });

  it("uses the profile's word order for 32-bit points that do not set one", () => {
    const p = profile({ x: { table: "input", address: 0, type: "u32" } }, { word_order: "little" });
    const b = emptyBanks();
    b.input.set(0, 0x0002).set(1, 0x0001);
    expect(decode(p, b).points.x?.value).toBe(65538);
  });

  it("maps a bool through an enum, keeps the raw value and the unit, and flags a value outside the enum", () => {
    const p = profile({
      door_position: { table: "discrete_input", address: 0, type: "bool", enum: { 0: "closed", 1: "open" } },
      mode: { table: "holding", address: 0, type: "u16", enum: { 0: "auto", 1: "manual" } },
      volts: { table: "holding", address: 1, type: "u16", scale: 0.01, unit: "V" },
    });
    const b = regs([[0, 7], [1, 1365]]);
    b.discrete_input.set(0, true);
    const out = decode(p, b);
    expect(out.points.door_position).toEqual({ raw: true, value: "open" });
    expect(out.points.mode).toEqual({ raw: 7, value: null, problem: "raw value 7 is not in the enum (0, 1)" });
    expect(out.points.volts).toEqual({ raw: 1365, value: 13.65, unit: "V" });
  });

  it("lists as missing the points whose registers were not read", () => {
    const p = profile({ a: { table: "holding", address: 0, type: "u32" }, b: { table: "coil", address: 0, type: "bool" } });
    expect(decode(p, regs([[0, 1]]))).toEqual({ points: {}, missing: ["a", "b"] });
  });
});

describe("modbus planReads", () => {
  it("reads the generic door profile in one request per table", () => {
    const p = builtinProfile("generic-door");
    if (p === undefined) throw new Error("generic-door missing");
    expect(planReads(p).map((g) => [g.functionCode, g.address, g.count])).toEqual([
      [1, 0, 1],
      [2, 0, 7],
      [3, 0, 2],
      [4, 0, 9],
    ]);
  });

  it("matches the simulator's GENERIC_DOOR_LAYOUT address for address", () => {
    const p = builtinProfile("generic-door");
    const L = GENERIC_DOOR_LAYOUT;
    const at = (name: string) => [p?.points[name]?.table, p?.points[name]?.address];
    expect(at("door_position")).toEqual(["discrete_input", L.discreteInputs.door_open]);
    expect(at("request_to_exit")).toEqual(["discrete_input", L.discreteInputs.request_to_exit]);
    expect(at("tamper")).toEqual(["discrete_input", L.discreteInputs.tamper]);
    expect(at("mains_power")).toEqual(["discrete_input", L.discreteInputs.mains_ok]);
    expect(at("forced_open_alarm")).toEqual(["discrete_input", L.discreteInputs.forced_alarm]);
    expect(at("held_open_alarm")).toEqual(["discrete_input", L.discreteInputs.held_alarm]);
    expect(at("battery_low")).toEqual(["discrete_input", L.discreteInputs.battery_low]);
    expect(at("lock_state")).toEqual(["coil", L.coils.lock]);
    expect(at("battery_voltage")).toEqual(["input", L.inputRegisters.battery_v_x100]);
    expect(at("firmware_version")).toEqual(["input", L.inputRegisters.firmware]);
    expect(at("serial_number")).toEqual(["input", L.inputRegisters.serial]);
    expect(at("uptime")).toEqual(["input", L.inputRegisters.uptime_s]);
    expect(at("door_state")).toEqual(["input", L.inputRegisters.door_state]);
    expect(at("held_open_limit")).toEqual(["holding", L.holdingRegisters.held_open_limit_s]);
  });

  it("splits at a gap unless max_gap allows spanning it, and the span includes the gap", () => {
    const points = { a: { table: "holding", address: 0, type: "u16" }, b: { table: "holding", address: 5, type: "u32" } } as const;
    expect(planReads(profile(points)).map((g) => [g.address, g.count, g.points])).toEqual([
      [0, 1, ["a"]],
      [5, 2, ["b"]],
    ]);
    expect(planReads(profile(points, { max_gap: 4 })).map((g) => [g.address, g.count, g.points])).toEqual([[0, 7, ["a", "b"]]]);
    expect(planReads(profile(points), { maxGap: 3 })).toHaveLength(2);
  });

  it("never exceeds 125 registers or 2000 bits per request, nor the profile's own lower limit", () => {
    const regs: ProfileInput["points"] = {};
    const bits: ProfileInput["points"] = {};
    for (let i = 0; i < 200; i++) regs[`r${i}`] = { table: "input", address: i, type: "u16" };
    for (let i = 0; i < 2500; i++) bits[`b${i}`] = { table: "coil", address: i, type: "bool" };
    const groups = planReads(profile({ ...regs, ...bits }));
    expect(groups.map((g) => [g.table, g.address, g.count])).toEqual([
      ["coil", 0, 2000],
      ["coil", 2000, 500],
      ["input", 0, 125],
      ["input", 125, 75],
    ]);
    expect(planReads(profile(regs, { max_read_registers: 60 })).map((g) => g.count)).toEqual([60, 60, 60, 20]);
    expect(planReads(profile(regs), { maxRegisters: 500 }).map((g) => g.count)).toEqual([125, 75]);
  });

  it("keeps a 32-bit value whole rather than splitting it across two requests", () => {
    const points: ProfileInput["points"] = { a: { table: "holding", address: 0, type: "string", length: 124 }, b: { table: "holding", address: 124, type: "u32" } };
    expect(planReads(profile(points)).map((g) => [g.address, g.count])).toEqual([
      [0, 124],
      [124, 2],
    ]);
  });

  it("puts bits of one register and the register itself in one read", () => {
    const p = builtinProfile("vendor-dc-le");
    if (p === undefined) throw new Error("vendor-dc-le missing");
    expect(planReads(p).map((g) => [g.address, g.count])).toEqual([
      [0, 2],
      [10, 5],
      [16, 4],
    ]);
  });
});

describe("modbus device options", () => {
  const issues = (input: unknown) => {
    const r = modbusOptionsSchema.safeParse(input);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  };

  it("takes a built-in profile by name or a profile inline, and derives the endpoint", () => {
    const byName = modbusOptionsSchema.parse({ transport: "tcp", host: "10.0.0.9", profile: "generic-door" });
    expect(endpointOf(byName)).toEqual({ transport: "tcp", host: "10.0.0.9", port: 502 });
    expect(profileOf(byName).name).toBe("generic-door");
    const inline = modbusOptionsSchema.parse({
      transport: "rtu",
      path: "/dev/ttyUSB0",
      unit_id: 7,
      profile: { name: "mine", points: { door_position: { table: "coil", address: 3, type: "bool", enum: { 0: "closed", 1: "open" } } } },
    });
    expect(endpointOf(inline)).toEqual({ transport: "rtu", path: "/dev/ttyUSB0", baud_rate: 9600, parity: "none", data_bits: 8, stop_bits: 1 });
    expect(profileOf(inline).points.door_position?.address).toBe(3);
  });

  it("rejects a malformed profile name, serial settings on TCP, a missing path, and reports inline profile problems by path", () => {
    expect(issues({ transport: "tcp", host: "a", profile: "Generic Door" }).join("\n")).toMatch(/^profile: .*expected a lower-case profile name/);
    expect(issues({ transport: "tcp", host: "a", parity: "even", profile: "io-8di" })).toEqual(["parity: parity is for rtu (a serial port), not tcp"]);
    expect(issues({ transport: "rtu", profile: "io-8di" })).toEqual(["path: rtu needs the serial device path"]);
    const bad = issues({ transport: "tcp", host: "a", profile: { name: "x", points: { tamper: { table: "holding", address: 0, type: "u16" } } } });
    expect(bad.join("\n")).toMatch(/tamper is true or false/);
  });

  it("leaves a well-formed profile name to the config, and profileOf refuses a name that is not built-in as a config error", () => {
    // Only the config knows the profiles under modbus_profiles (test/config/modbus-profiles.test.ts checks the names).
    const o = modbusOptionsSchema.parse({ transport: "tcp", host: "a", profile: "acme-dc-200" });
    expect(() => profileOf(o)).toThrow(DriverError);
    expect(() => profileOf(o)).toThrow(/unknown profile "acme-dc-200": expected one of generic-door, vendor-dc-le, io-8di \(built-in\)/);
  });
});

describe("modbus firmware format and model", () => {
  const fw = (spec: Record<string, unknown>) => problems({ firmware_version: { table: "holding", address: 0, ...spec } });

  it("accepts each format on a type that can hold it", () => {
    expect(fw({ type: "string", length: 4, format: "as_read" })).toEqual([]);
    expect(fw({ type: "u16", format: "major_minor" })).toEqual([]);
    expect(fw({ type: "u32", format: "major_minor_patch" })).toEqual([]);
    expect(fw({ type: "u16", format: "hundredths" })).toEqual([]);
    expect(fw({ type: "u32", format: "hundredths" })).toEqual([]);
  });

  it("rejects a format that does not fit the point's type", () => {
    expect(fw({ type: "u32", format: "major_minor" })).toEqual(["points.firmware_version: format major_minor needs type u16 (found u32)"]);
    expect(fw({ type: "u16", format: "major_minor_patch" })).toEqual(["points.firmware_version: format major_minor_patch needs type u32 (found u16)"]);
    expect(fw({ type: "string", length: 2, format: "hundredths" })).toEqual(["points.firmware_version: format hundredths needs type u16 or u32 (found string)"]);
    expect(fw({ type: "i16", format: "hundredths" })).toEqual(["points.firmware_version: format hundredths needs type u16 or u32 (found i16)"]);
  });

  it("rejects a packed format combined with scale or enum, since it reads the raw value", () => {
    expect(fw({ type: "u16", format: "hundredths", scale: 0.01 })).toEqual([
      "points.firmware_version: format hundredths reads the raw value: it cannot be combined with scale, offset or enum",
    ]);
    expect(fw({ type: "u16", format: "major_minor", enum: { 1: "one" } })).toEqual([
      "points.firmware_version: format major_minor reads the raw value: it cannot be combined with scale, offset or enum",
    ]);
  });

  it("rejects format on any point but firmware_version, and an unknown format", () => {
    expect(problems({ serial_number: { table: "holding", address: 0, type: "u16", format: "major_minor" } })).toEqual([
      "points.serial_number: `format` is only for firmware_version (it says how a version number is packed), not for serial_number",
    ]);
    expect(fw({ type: "u16", format: "semver" }).join()).toMatch(/^points\.firmware_version\.format: .*major_minor/);
  });

  it("takes model as a text point and as a profile field", () => {
    const p = profile({ model: { table: "holding", address: 0, type: "string", length: 4 } }, { model: "DC-200" });
    expect(p.model).toBe("DC-200");
    expect(problems({ x: { table: "holding", address: 0, type: "u16" } }, { model: "" }).join()).toMatch(/^model: /);
  });

  it("gives generic-door's firmware as major_minor and vendor-dc-le's as hundredths; io-8di maps no identity point", () => {
    expect(builtinProfile("generic-door")?.points.firmware_version?.format).toBe("major_minor");
    expect(builtinProfile("vendor-dc-le")?.points.firmware_version?.format).toBe("hundredths");
    const io = builtinProfile("io-8di");
    if (io === undefined) throw new Error("io-8di missing");
    expect(identityProfile(io)).toBeUndefined();
  });
});

describe("modbus identity", () => {
  const point = (raw: DecodedPoint["raw"], value: DecodedPoint["value"] = raw): DecodedPoint => ({ raw, value });

  it.each([
    ["as_read", " V1.4 ", "V1.4"],
    ["as_read", 215, "215"],
    ["as_read", 0x0203, "515"],
    ["major_minor", 0x0203, "2.3"],
    ["major_minor", 7, "0.7"],
    ["major_minor", 0xff0a, "255.10"],
    ["major_minor_patch", 0x00020301, "2.3.1"],
    ["major_minor_patch", 0xff020301, "2.3.1"],
    ["major_minor_patch", 0x000a0000, "10.0.0"],
    ["hundredths", 215, "2.15"],
    ["hundredths", 7, "0.07"],
    ["hundredths", 300, "3.00"],
    ["hundredths", 123456, "1234.56"],
  ] as const)("reads firmware %s %j as %j", (format, raw, text) => {
    expect(firmwareText(point(raw), format)).toBe(text);
  });

  it("reads firmware as_read when no format is given, and gives nothing for a null or blank value", () => {
    expect(firmwareText(point(0x0203))).toBe("515");
    expect(firmwareText(point(13.5))).toBe("13.5");
    expect(firmwareText(point(9, null))).toBeUndefined();
    expect(firmwareText(point("   "))).toBeUndefined();
  });

  it("builds identity from serial, firmware by its format, model point and vendor", () => {
    const p = profile(
      {
        serial_number: { table: "holding", address: 0, type: "string", length: 4 },
        firmware_version: { table: "holding", address: 4, type: "u32", format: "major_minor_patch" },
        model: { table: "holding", address: 6, type: "string", length: 4 },
      },
      { vendor: "ACME", model: "DC-200" },
    );
    const points = { serial_number: point(" SN-42 "), firmware_version: point(0x00010203), model: point("DC-210") };
    expect(identityOf(points, p)).toEqual({ serial: "SN-42", firmware: "1.2.3", model: "DC-210", manufacturer: "ACME" });
  });

  it("takes the profile's model when no model point is read, and no manufacturer from a vendor starting with none", () => {
    const p = profile({ serial_number: { table: "input", address: 0, type: "u32" } }, { vendor: "None (reference layout)", model: "DC-200" });
    expect(identityOf({ serial_number: point(1001) }, p)).toEqual({ serial: "1001", model: "DC-200" });
    expect(identityOf({}, profile({ x: { table: "input", address: 0, type: "u16" } }))).toEqual({});
  });

  it("reads generic-door's firmware register 0x0203 as 2.3 and vendor-dc-le's 215 as 2.15", () => {
    const generic = builtinProfile("generic-door");
    const vendor = builtinProfile("vendor-dc-le");
    if (generic === undefined || vendor === undefined) throw new Error("built-in profile missing");
    expect(identityOf({ firmware_version: point(0x0203), serial_number: point(1001) }, generic)).toEqual({ firmware: "2.3", serial: "1001" });
    expect(identityOf({ firmware_version: point(215), serial_number: point("VD000042") }, vendor)).toEqual({ firmware: "2.15", serial: "VD000042" });
  });

  it("cuts a profile down to its identity points, keeping its word order, and plans only their reads", () => {
    const p = builtinProfile("generic-door");
    if (p === undefined) throw new Error("generic-door missing");
    const id = identityProfile(p);
    expect(Object.keys(id?.points ?? {}).sort()).toEqual(["firmware_version", "serial_number"]);
    expect(id).toMatchObject({ name: "generic-door", word_order: "big", max_gap: 0 });
    if (id === undefined) throw new Error("no identity profile");
    // input 1 (firmware) and 2-3 (serial): one FC 4 read instead of four reads.
    expect(planReads(id).map((g) => [g.functionCode, g.address, g.count])).toEqual([[4, 1, 3]]);
    const withModel = profile({ model: { table: "holding", address: 9, type: "string", length: 2 }, tamper: { table: "coil", address: 0, type: "bool" } });
    expect(Object.keys(identityProfile(withModel)?.points ?? {})).toEqual(["model"]);
  });

  it("has no identity profile for a profile without identity points", () => {
    expect(identityProfile(profile({ tamper: { table: "coil", address: 0, type: "bool" } }))).toBeUndefined();
  });
});
