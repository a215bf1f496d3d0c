import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { DEMO_DATA_DIR as AGENT_DEMO_DATA_DIR, DEMO_DC09_KEY as AGENT_DEMO_DC09_KEY, withOverrides } from "../../agent/demo.js";
import { ConfigError, loadConfigFile, parseConfig } from "../../config/load.js";
import { DRIVERS } from "../../drivers/registry.js";
import { DEMO_DATA_DIR, DEMO_DC09_KEY, DEMO_DEVICES, DEMO_DOORS, DEMO_PANIC_RECEIVERS, simulatorFor } from "../../scripts/sim/demo-campus.js";

const ROOT = join(import.meta.dirname, "..", "..");

describe("shipped configs", () => {
  it("config/examples/minimal.yaml is valid against the real driver registry", () => {
    const loaded = loadConfigFile(join(ROOT, "config/examples/minimal.yaml"), {
      drivers: DRIVERS,
      env: { CAMPUS_AGENT_MQTT_PASSWORD: "example" },
    });
    expect(loaded.config.devices.length).toBeGreaterThan(0);
    expect(loaded.config.broker.tls?.verify).toBe("full");
  });

  it("the README's configuration example is valid, but for the files it names that do not exist here", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const block = /```yaml\n(campus: \{ id: lincoln-hs[\s\S]*?)```/.exec(readme)?.[1];
    expect(block, "the example under Running against a real broker").toBeDefined();
    let problems: string[] = [];
    try {
      parseConfig(block ?? "", { file: join(ROOT, "README-example.yaml"), drivers: DRIVERS, env: { CAMPUS_CAMERA_PASSWORD: "x" } });
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      problems = e.problems.map((p) => `${p.path}: ${p.message}`);
    }
    expect(problems).toEqual([expect.stringMatching(/^broker\.password_file: cannot read/), expect.stringMatching(/^broker\.tls\.ca_file: cannot read/)]);
  });

  it("config/demo.yaml is valid and runs on the embedded broker", () => {
    const loaded = loadConfigFile(join(ROOT, "config/demo.yaml"), { drivers: DRIVERS });
    expect(loaded.config.devices.map((d) => d.kind)).toContain("onvif");
    expect(loaded.config.broker.url).toBeUndefined();
    expect(loaded.config.broker.embedded).toEqual({ host: "127.0.0.1", port: 1883 });
  });

  it("every device of config/demo.yaml points at its simulator in scripts/sim/demo-campus.ts, and every simulator is configured", () => {
    const raw = parse(readFileSync(join(ROOT, "config/demo.yaml"), "utf8")) as {
      devices: { id: string; kind: string; options: unknown }[];
    };
    for (const d of raw.devices) {
      const sim = simulatorFor(d.id);
      expect(sim, `simulator for ${d.id}`).toBeDefined();
      expect({ kind: d.kind, options: d.options }, d.id).toEqual(sim?.driver);
    }
    expect(raw.devices.map((d) => d.id).sort()).toEqual(DEMO_DEVICES.map((s) => s.id).sort());
  });

  it("config/demo.yaml polls its door controllers every second, safety-critical, each with an owner and a place in building A or B", () => {
    const loaded = loadConfigFile(join(ROOT, "config/demo.yaml"), { drivers: DRIVERS });
    const doors = loaded.config.devices.filter((d) => d.kind === "modbus-door");
    expect(doors.map((d) => d.id).sort()).toEqual(DEMO_DOORS.map((d) => d.id).sort());
    for (const d of doors) {
      expect(d.poll, d.id).toEqual({ interval_ms: 1000, timeout_ms: 800 });
      expect(d.category, d.id).toBe("safety-critical");
      expect(d.owner, d.id).toBeDefined();
      expect(d.location.building, d.id).toMatch(/^[AB]$/);
      expect(d.location.room, d.id).toBeDefined();
    }
  });

  it("the demo moves the serial doors' and the DC-09 key's placeholder paths into its data folder, and nothing else", () => {
    // agent/demo.ts does not load the simulators: it holds its own copy of the placeholder and of the key.
    expect(AGENT_DEMO_DATA_DIR).toBe(DEMO_DATA_DIR);
    expect(AGENT_DEMO_DC09_KEY).toBe(DEMO_DC09_KEY);
    const loaded = loadConfigFile(join(ROOT, "config/demo.yaml"), { drivers: DRIVERS });
    const optionOf = (c: typeof loaded, id: string, k: "path" | "key_file") => (c.config.devices.find((d) => d.id === id)?.options as Record<string, unknown>)[k];
    expect(optionOf(loaded, "door-a-north-exit", "path")).toBe(`${DEMO_DATA_DIR}/rs485-a`);
    expect(optionOf(loaded, "panic-rx-a-office", "key_file")).toBe(`${DEMO_DATA_DIR}/panic-rx-a-office.key`);
    const moved = withOverrides(loaded, { dataDir: "/var/tmp/demo-1" });
    expect(["door-a-north-exit", "door-a-courtyard"].map((id) => optionOf(moved, id, "path"))).toEqual(["/var/tmp/demo-1/rs485-a", "/var/tmp/demo-1/rs485-a"]);
    expect(optionOf(moved, "panic-rx-a-office", "key_file")).toBe("/var/tmp/demo-1/panic-rx-a-office.key");
    expect(moved.config.outbox.path).toBe("/var/tmp/demo-1/demo-outbox.db");
    expect(moved.config.control.socket).toBe("/var/tmp/demo-1/campus-agent.sock");
    // Without a data folder, data/ in the install folder, where the outbox goes too.
    const byDefault = withOverrides(loaded, {});
    expect(optionOf(byDefault, "door-a-north-exit", "path")).toBe(join(ROOT, "data", "rs485-a"));
    expect(optionOf(byDefault, "panic-rx-a-office", "key_file")).toBe(join(ROOT, "data", "panic-rx-a-office.key"));
    expect(byDefault.config.outbox.path).toBe(join(ROOT, "data", "demo-outbox.db"));
    expect(byDefault.config.control.socket).toBe(join(ROOT, "data", "campus-agent.sock"));
    // A relative data folder still gives the absolute paths the schema wants.
    expect(optionOf(withOverrides(loaded, { dataDir: "demo-2" }), "panic-rx-a-office", "key_file")).toBe(join(process.cwd(), "demo-2", "panic-rx-a-office.key"));
    const movedIds = ["door-a-north-exit", "door-a-courtyard", "panic-rx-a-office"];
    const others = (c: typeof loaded) => c.config.devices.filter((d) => !movedIds.includes(d.id));
    expect(others(moved)).toEqual(others(loaded));
  });

  it("config/demo.yaml has safety-critical panic receivers of both kinds, each with an owner, its zones named and located", () => {
    const loaded = loadConfigFile(join(ROOT, "config/demo.yaml"), { drivers: DRIVERS });
    const receivers = loaded.config.devices.filter((d) => d.kind === "panic-dc09" || d.kind === "panic-contacts");
    expect(receivers.map((d) => d.id).sort()).toEqual(DEMO_PANIC_RECEIVERS.map((d) => d.id).sort());
    expect(new Set(receivers.map((d) => d.kind))).toEqual(new Set(["panic-dc09", "panic-contacts"]));
    for (const d of receivers) {
      expect(d.category, d.id).toBe("safety-critical");
      expect(d.owner, d.id).toBeDefined();
      expect(d.location.room, d.id).toBeDefined();
      type Zone = { name?: string; location?: unknown };
      const o = d.options as { zones?: Record<string, Zone>; inputs?: Record<string, Zone & { meaning: string }> };
      const zones = [...Object.values(o.zones ?? {}), ...Object.values(o.inputs ?? {}).filter((i) => i.meaning === "panic")];
      expect(zones.length, d.id).toBeGreaterThan(0);
      const located = expect.objectContaining({ building: expect.any(String) as unknown, room: expect.any(String) as unknown }) as unknown;
      for (const z of zones) expect([typeof z.name, z.location], d.id).toEqual(["string", located]);
    }
  });
});
