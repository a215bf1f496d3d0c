import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadConfigFile } from "../../config/load.js";
import { DRIVERS } from "../../drivers/registry.js";
import { DEMO_DEVICES, simulatorFor } from "../../scripts/sim/demo-campus.js";

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
});
