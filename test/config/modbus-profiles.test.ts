import { describe, expect, test } from "vitest";
import { z } from "zod";
import { defineDriver } from "../../drivers/contract.js";
import { modbusDoorDriver } from "../../drivers/modbus/index.js";
import { profileOf, type ModbusOptions } from "../../drivers/modbus/options.js";
import { profileSchema } from "../../drivers/modbus/profile.js";
import { BASE, linesOf, parse, problemsOf, TEST_DRIVERS } from "./helpers.js";

/** Another kind taking Modbus profiles, under another option name: what the config does is not tied to modbus-door. */
const ioModuleDriver = defineDriver({
  kind: "io-module",
  description: "Test kind: a Modbus I/O module whose inputs are given by a profile.",
  optionsSchema: z.strictObject({ host: z.string(), inputs: z.union([z.string(), profileSchema]) }),
  modbusProfileOption: "inputs",
  create: () => ({ poll: () => Promise.reject(new Error("config tests never poll")) }),
});

const drivers = [...TEST_DRIVERS, modbusDoorDriver, ioModuleDriver];
const opts = { drivers };

/** The YAML of one user profile under modbus_profiles; `firmwareAddress` lets a test edit it. */
function acmeProfile(firmwareAddress = 14): string {
  return [
    "  - name: acme-dc-200",
    "    vendor: ACME Access",
    "    model: DC-200",
    "    points:",
    '      door_position: { table: holding, address: 0, type: bit, bit: 0, enum: { "0": closed, "1": open } }',
    `      firmware_version: { table: holding, address: ${firmwareAddress}, type: u16, format: hundredths }`,
    "",
  ].join("\n");
}

/** A modbus-door device as YAML list item lines. */
function door(id: string, profile: string): string {
  return [
    `  - id: ${id}`,
    "    kind: modbus-door",
    "    category: safety-critical",
    `    options: { transport: tcp, host: 10.20.0.60, profile: ${profile} }`,
    "",
  ].join("\n");
}

/** The options of a modbus-door device of a parsed config. */
function doorOptions(devices: { id: string; options: unknown }[], id: string): ModbusOptions {
  const d = devices.find((x) => x.id === id);
  if (d === undefined) throw new Error(`no device ${id}`);
  return d.options as ModbusOptions;
}

describe("modbus_profiles", () => {
  test("a user profile is defined once and used by name by several devices, each getting the profile itself", () => {
    const yaml = `${BASE}modbus_profiles:\n${acmeProfile()}devices:\n${door("door-1", "acme-dc-200")}${door("door-2", "acme-dc-200")}`;
    const { config } = parse(yaml, opts);
    expect(config.modbus_profiles.map((p) => p.name)).toEqual(["acme-dc-200"]);
    for (const id of ["door-1", "door-2"]) {
      const o = doorOptions(config.devices, id);
      expect(o.profile).toMatchObject({ name: "acme-dc-200", vendor: "ACME Access", model: "DC-200", word_order: "big", max_gap: 0 });
      expect(profileOf(o).points.firmware_version).toEqual({ table: "holding", address: 14, type: "u16", format: "hundredths" });
    }
  });

  test("a built-in profile name stays a name, which the driver resolves, and an inline profile stays inline", () => {
    const inline = "{ name: mine, points: { tamper: { table: coil, address: 0, type: bool } } }";
    const yaml = `${BASE}modbus_profiles:\n${acmeProfile()}devices:\n${door("door-1", "generic-door")}${door("door-2", inline)}`;
    const { config } = parse(yaml, opts);
    expect(doorOptions(config.devices, "door-1").profile).toBe("generic-door");
    expect(profileOf(doorOptions(config.devices, "door-1")).name).toBe("generic-door");
    expect(doorOptions(config.devices, "door-2").profile).toMatchObject({ name: "mine", points: { tamper: { table: "coil" } } });
  });

  test("editing a user profile changes the config of every device using it, so a reload re-applies them", () => {
    const config = (address: number) =>
      parse(`${BASE}modbus_profiles:\n${acmeProfile(address)}devices:\n${door("door-1", "acme-dc-200")}${door("door-2", "generic-door")}`, opts).config;
    const [before, after] = [config(14), config(15)];
    // agent/devices.ts re-applies a device whose JSON differs.
    expect(JSON.stringify(after.devices[0])).not.toBe(JSON.stringify(before.devices[0]));
    expect(JSON.stringify(after.devices[1])).toBe(JSON.stringify(before.devices[1]));
    expect(profileOf(doorOptions(after.devices, "door-1")).points.firmware_version?.address).toBe(15);
  });

  test("any kind whose driver declares modbusProfileOption takes user profiles by name in that option", () => {
    const yaml = `${BASE}modbus_profiles:\n${acmeProfile()}devices:\n  - { id: io-1, kind: io-module, category: safety-critical, options: { host: h, inputs: acme-dc-200 } }\n`;
    const { config } = parse(yaml, opts);
    expect(config.devices[0]?.options).toMatchObject({ host: "h", inputs: { name: "acme-dc-200", model: "DC-200" } });
  });

  test("an unknown profile name is an error at the device's option, listing the user and built-in names", () => {
    const yaml = `${BASE}modbus_profiles:\n${acmeProfile()}devices:\n${door("door-1", "acme-dc-200")}${door("door-2", "acme-dc-20")}`;
    expect(problemsOf(yaml, opts)).toEqual([
      {
        path: "devices[1].options.profile",
        message: 'unknown profile "acme-dc-20": expected one of acme-dc-200 (modbus_profiles) or generic-door, vendor-dc-le, io-8di (built-in), or a profile inline',
        line: 20,
        column: 59,
      },
    ]);
  });

  test("without modbus_profiles, an unknown profile name lists the built-in names and says where to define one", () => {
    const yaml = `${BASE}devices:\n${door("door-1", "acme")}  - { id: io-1, kind: io-module, category: operational, options: { host: h, inputs: nope } }\n`;
    expect(linesOf(yaml, opts)).toEqual([
      'devices[0].options.profile: unknown profile "acme": expected one of generic-door, vendor-dc-le, io-8di (built-in), one of your own under modbus_profiles, or a profile inline',
      'devices[1].options.inputs: unknown profile "nope": expected one of generic-door, vendor-dc-le, io-8di (built-in), one of your own under modbus_profiles, or a profile inline',
    ]);
  });

  test("a malformed profile name is reported once, as malformed", () => {
    expect(linesOf(`${BASE}devices:\n${door("door-1", '"Generic Door"')}`, opts)).toEqual([
      "devices[0].options.profile: expected a lower-case profile name (letters, digits, '.', '_', '-'), got \"Generic Door\"",
    ]);
  });

  test("a duplicate user profile name, and one that is a built-in's, are errors at that entry's name", () => {
    const tamper = "    points: { tamper: { table: coil, address: 0, type: bool } }\n";
    const yaml = `${BASE}modbus_profiles:\n  - name: lobby-io\n${tamper}  - name: generic-door\n${tamper}  - name: lobby-io\n${tamper}`;
    expect(problemsOf(yaml, opts)).toEqual([
      {
        path: "modbus_profiles[1].name",
        message: '"generic-door" is the name of a built-in profile: give yours another name',
        line: 8,
        column: 11,
      },
      { path: "modbus_profiles[2].name", message: 'duplicate profile name "lobby-io" (also modbus_profiles[0].name)', line: 10, column: 11 },
    ]);
  });

  test("a broken user profile reports each problem by its path, with the other problems of the config, and its devices add none", () => {
    const broken = [
      "  - name: broken",
      "    points:",
      "      door_position: { table: coil, address: 0, type: bool }",
      "      firmware_version: { table: input, address: 1, type: u32, format: major_minor }",
      "  - name: misspelt",
      "    points:",
      "      tamper: { table: coil, adress: 0, type: bool }",
      "",
    ].join("\n");
    const yaml = `${BASE}modbus_profiles:\n${acmeProfile()}${broken}devices:\n${door("door-1", "broken")}${door("door-2", "nope")}`;
    expect(problemsOf(yaml, opts)).toEqual([
      {
        path: "modbus_profiles[1].points.door_position",
        message: 'door_position needs an enum saying which raw value is "open" and which is "closed"',
        line: 14,
        column: 7,
      },
      { path: "modbus_profiles[1].points.firmware_version", message: "format major_minor needs type u16 (found u32)", line: 15, column: 7 },
      { path: "modbus_profiles[2].points.tamper.address", message: "required", line: 18, column: 7 },
      { path: "modbus_profiles[2].points.tamper.adress", message: 'unknown key (did you mean "address"?)', line: 18, column: 30 },
      {
        path: "devices[1].options.profile",
        message: expect.stringMatching(/^unknown profile "nope": expected one of acme-dc-200, broken, misspelt \(modbus_profiles\)/),
        line: 27,
        column: 59,
      },
    ]);
  });
});
