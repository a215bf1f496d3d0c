/**
 * The asset register on the demo campus, end to end: the built agent (its
 * own process, `campus-agent demo`, with the simulated campus) and the built
 * CLI (`discover`, `report`) as a technician runs them on the gateway, and
 * an independent MQTT client on the demo's broker. The demo must show every
 * compliance rule failing on at least one device (config/demo.yaml's header
 * says which), an unknown camera and Modbus unit, and a missing device.
 *
 * not_seen fails 90 s after the start (the demo policy's limit for
 * safety-critical devices), so the report's test waits for it.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { AssetReport } from "../../agent/assets/report-types.js";
import type { DiscoveryReport } from "../../agent/discovery.js";
import { COMPLIANCE_RULES } from "../../agent/lifecycle/evaluate.js";
import { DEMO_DEVICES, DEMO_MISSING, DEMO_UNCONFIGURED } from "../../scripts/sim/demo-campus.js";
import { record } from "../helpers/mqtt.js";
import { expectValidPayloads } from "../helpers/schemas.js";
import { type DemoProcess, runCli, startDemo } from "./helpers/agent-process.js";

const DEMO_CONFIG = join(import.meta.dirname, "..", "..", "config", "demo.yaml");

/** Which demo devices fail which rule (config/demo.yaml's header table). */
const EXPECTED: Record<(typeof COMPLIANCE_RULES)[number], string> = {
  firmware_outdated: "cam-gym",
  firmware_blocked: "cam-bus-loop",
  firmware_unknown: "cam-cafeteria",
  end_of_support: "cam-parking",
  warranty_expired: "switch-core",
  clock_drift: "cam-parking",
  not_seen: "cam-stadium",
};

describe("the asset register on the demo campus", () => {
  let demo: DemoProcess;

  beforeAll(async () => {
    demo = await startDemo({ topic: "campus/demo-hs/#" });
  });

  afterAll(() => demo.stop());

  it("discover through the running agent finds the unknown camera and Modbus unit and the missing camera, and publishes them as retained unknown assets", async () => {
    const sub = demo.sub;
    const r = await runCli(["discover", "--json", "--socket", demo.socket, "--config", DEMO_CONFIG], { timeoutMs: 120_000 });
    expect(r.code).toBe(1);
    const d = JSON.parse(r.stdout) as DiscoveryReport & { via: string };
    expect(d.via).toBe("agent");
    const [camera, door] = DEMO_UNCONFIGURED;
    expect(d.unknown).toContainEqual(expect.objectContaining({ kind: "onvif", address: (camera as { address: string }).address }));
    expect(d.unknown).toContainEqual(expect.objectContaining({ kind: "modbus", address: expect.stringMatching(/127\.77\.2\.20:4001.* 3$/) as unknown }));
    expect(d.not_found.map((n) => n.id)).toEqual(expect.arrayContaining(DEMO_MISSING.map((m) => m.id)));
    expect(door).toBeDefined();

    await sub.waitFor((m) => m.filter((x) => x.topic.startsWith("campus/demo-hs/unknown/") && x.payload !== "").length >= 2);
    await sub.waitFor(() => sub.json("/gateway/gw-demo/event").some((e) => e.type === "assets_reconciled"));
    const late = await record(`mqtt://127.0.0.1:${demo.port}`, "campus/demo-hs/unknown/#");
    try {
      await late.waitFor((m) => m.filter((x) => x.retain).length >= 2);
      expect(late.json("").map((u) => u.kind).sort()).toEqual(["modbus", "onvif"]);
      expect(late.json("").find((u) => u.kind === "onvif")).toMatchObject({ identity: { manufacturer: "Lumen Optics", model: "LX-4410" } });
    } finally {
      await late.close();
    }
  });

  it("the report shows every compliance rule failing on the demo, the missing camera and the unknown assets, and exits 1", async () => {
    const ask = async () => {
      const r = await runCli(["report", "--format", "json", "--socket", demo.socket]);
      return { code: r.code, report: JSON.parse(r.stdout) as AssetReport };
    };
    const failing = (rep: AssetReport, id: string) => rep.devices.find((x) => x.id === id)?.compliance.failing.map((f) => f.rule) ?? [];
    await vi.waitFor(
      async () => {
        const { report } = await ask();
        for (const [rule, id] of Object.entries(EXPECTED)) expect(failing(report, id), `${id} fails ${rule}`).toContain(rule);
      },
      { timeout: 150_000, interval: 2000 },
    );
    const { code, report } = await ask();
    expect(code).toBe(1);
    expect(report.devices.map((x) => x.id)).toEqual(DEMO_DEVICES.map((x) => x.id));
    expect(report.policy?.file).toMatch(/config\/demo-policy\.yaml$/);
    for (const rule of COMPLIANCE_RULES) expect(report.readiness.failing[rule], rule).toBeGreaterThanOrEqual(1);
    expect(report.devices.find((x) => x.id === "cam-main-entrance")?.compliance).toMatchObject({ evaluated: true, compliant: true, failing: [] });
    expect(report.devices.find((x) => x.id === "cam-stadium")).toMatchObject({ presence: "missing", status: { state: "offline", last_seen: null } });
    expect(report.readiness.assets.missing).toContain("cam-stadium");
    expect(report.readiness.assets.unknown).toBeGreaterThanOrEqual(2);
    expect(report.unknown.map((u) => u.kind).sort()).toEqual(["modbus", "onvif"]);
    expect(report.readiness.safety_critical.ready).toBeLessThan(1);

    const text = await runCli(["report", "--socket", demo.socket]);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain("Asset and compliance report: Demo High School (demo-hs)");
    expect(text.stdout).toMatch(/firmware_outdated: firmware 5\.2\.0 is below the approved minimum 7\.4\.1 for Lumen Optics LX-4410/);
    expect(text.stdout).toMatch(/\nNOT READY \(\d+\):\n/);
  });

  it("the report as CSV has one row per configured device with every inventory and compliance column, read back by Python's csv module", async () => {
    const output = join(demo.dir, "assets.csv");
    const r = await runCli(["report", "--format", "csv", "--output", output, "--socket", demo.socket]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`wrote ${output} (${DEMO_DEVICES.length} devices`);
    const rows = JSON.parse(
      execFileSync("python3", ["-c", "import csv,json,sys; print(json.dumps(list(csv.DictReader(open(sys.argv[1], newline='')))))", output], { encoding: "utf8" }),
    ) as Record<string, string>[];
    expect(rows.map((x) => x.id)).toEqual(DEMO_DEVICES.map((x) => x.id));
    const gym = rows.find((x) => x.id === "cam-gym");
    expect(gym).toMatchObject({ manufacturer: "Lumen Optics", model: "LX-4410", firmware: "5.2.0", rule_firmware_outdated: "fail", compliance_evaluated: "true", compliant: "false" });
    expect(rows.find((x) => x.id === "cam-main-entrance")).toMatchObject({ compliant: "true", rule_firmware_outdated: "pass", rule_clock_drift: "pass" });
  });

  it("the report as HTML is one self-contained page for the district to open or print", async () => {
    const output = join(demo.dir, "assets.html");
    const r = await runCli(["report", "--format", "html", "--output", output, "--socket", demo.socket]);
    expect(r.code).toBe(1);
    const html = readFileSync(output, "utf8");
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
    expect(html).toContain("Demo High School");
    expect(html).toContain("cam-stadium");
    expect(html).not.toMatch(/<script|\bsrc=|href="http/i);
  });

  it("every asset-register payload on the broker validates against its committed schema, and the readiness is retained", async () => {
    const sub = demo.sub;
    await sub.waitFor((m) => m.some((x) => x.topic === "campus/demo-hs/gateway/gw-demo/readiness"));
    expectValidPayloads(sub.messages.filter((m) => /\/(inventory|compliance|readiness|event)$|\/unknown\//.test(m.topic)));
    const late = await record(`mqtt://127.0.0.1:${demo.port}`, "campus/demo-hs/gateway/gw-demo/readiness");
    try {
      await late.waitFor((m) => m.some((x) => x.retain));
      expect(late.json("/readiness").at(-1)).toMatchObject({ schema: "campus-edge/campus-readiness/v1", devices: { total: DEMO_DEVICES.length } });
    } finally {
      await late.close();
    }
  });
});
