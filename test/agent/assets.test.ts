/**
 * The asset register in a running agent: retained inventory and compliance
 * per device, compliance changes as events, the policy's reload and
 * rejection, the campus readiness and the `report` control method. Over
 * aedes on an ephemeral port, with a camera kind whose identity, clock and
 * answers the test sets; the register's own logic (reconciliation, open
 * alarms) is tested in register.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import type { AssetReport } from "../../agent/assets/report-types.js";
import { controlRequest } from "../../agent/control/client.js";
import { loadPolicy, PolicyError, withPolicy } from "../../agent/lifecycle/policy.js";
import { createLogger } from "../../agent/log.js";
import { startEmbeddedBroker } from "../../agent/mqtt/broker.js";
import { reloader } from "../../agent/run.js";
import type { LoadedConfig } from "../../config/load.js";
import { DriverError, type DriverFactory, defineDriver, type Identity } from "../../drivers/contract.js";
import { DRIVERS } from "../../drivers/registry.js";
import { campusConfig, startTestAgent } from "../helpers/agent.js";
import { record } from "../helpers/mqtt.js";
import { expectValidPayloads } from "../helpers/schemas.js";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** What each fake camera reports: set by the test between polls; `down` makes its polls fail. */
const cameras = new Map<string, { identity: Identity; driftMs: number | null; down?: boolean }>();

const fakeCamera: DriverFactory = defineDriver({
  kind: "fake-camera",
  description: "test double",
  optionsSchema: z.strictObject({}),
  create: () => ({
    poll: async (d) => {
      const c = cameras.get(d.id);
      if (c === undefined || c.down === true) throw new DriverError("timeout", `${d.id} did not answer`);
      return { health: "ok", responseTimeMs: 5, metrics: { clock_drift_ms: c.driftMs }, identity: { ...c.identity } };
    },
  }),
});
const drivers = [...DRIVERS, fakeCamera];

const POLICY = `version: 1
firmware:
  - manufacturer: Lumen Optics
    model: "LX-*"
    minimum: "5.4.0"
    blocked: ["5.4.2"]
end_of_support:
  - { manufacturer: Lumen Optics, model: LX-1000, date: 2020-12-31 }
clock:
  max_drift_s: 30
not_seen:
  max_age_s: 3600
`;

async function campus(opts: { policy?: string; down?: string[] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "assets-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "policy.yaml"), opts.policy ?? POLICY);
  const broker = await startEmbeddedBroker({ host: "127.0.0.1", port: 0, log: createLogger({ level: "silent" }) });
  cleanups.push(() => broker.close());
  const cam = (id: string, extra: Record<string, unknown> = {}) => ({
    id,
    kind: "fake-camera",
    category: "safety-critical",
    owner: "District security",
    location: { building: "A", room: id },
    options: {},
    ...extra,
  });
  const loaded = withPolicy(
    campusConfig(
      dir,
      {
        broker: { url: broker.url },
        policy: { file: "policy.yaml" },
        polling: { interval_ms: 100, timeout_ms: 80, offline_after_failures: 1 },
        devices: [
          cam("cam-ok", { lifecycle: { install_date: "2024-08-01", warranty_end: "2099-12-31", asset_tag: "LHS-0001" } }),
          cam("cam-old", { lifecycle: { warranty_end: "2021-06-30" } }),
          cam("cam-lib", { category: "operational" }),
        ],
      },
      { drivers },
    ),
  );
  cameras.set("cam-ok", { identity: { manufacturer: "Lumen Optics", model: "LX-4410", serial: "A1", firmware: "5.6.0" }, driftMs: 120 });
  cameras.set("cam-old", { identity: { manufacturer: "Lumen Optics", model: "LX-1000", serial: "B1", firmware: "5.2.0" }, driftMs: 95_000 });
  cameras.set("cam-lib", { identity: { manufacturer: "Lumen Optics", model: "LX-4410", serial: "C1", firmware: "5.4.2" }, driftMs: null });
  for (const id of opts.down ?? []) cameras.set(id, { ...(cameras.get(id) as { identity: Identity; driftMs: null }), down: true });
  const sub = await record(broker.url, "campus/lincoln/#");
  cleanups.push(() => sub.close());
  const { agent, socket } = await startTestAgent(loaded, drivers, cleanups);
  const ask = async <T>(method: string) => (await controlRequest(socket, method, {}, 5000)) as T;
  return { dir, broker, sub, agent, socket, ask, loaded };
}

const rulesOf = (c: Record<string, unknown> | undefined) => ((c?.failing ?? []) as { rule: string }[]).map((f) => f.rule);

describe("the asset register in a running agent", () => {
  it("publishes each device's retained inventory and compliance, with every failing rule and its reason, valid against the contract", async () => {
    const { sub, broker } = await campus();
    const known = (id: string) => sub.json(`/device/${id}/inventory`).some((i) => (i.identity as Identity).serial !== undefined);
    await sub.waitFor(() => ["cam-ok", "cam-old", "cam-lib"].every(known));
    await sub.waitFor(() => rulesOf(sub.json("/device/cam-old/compliance").at(-1)).length === 4);

    const inv = sub.json("/device/cam-ok/inventory").at(-1);
    expect(inv).toMatchObject({
      schema: "campus-edge/device-inventory/v1",
      device: "cam-ok",
      category: "safety-critical",
      owner: "District security",
      identity: { manufacturer: "Lumen Optics", model: "LX-4410", serial: "A1", firmware: "5.6.0" },
      lifecycle: { install_date: "2024-08-01", warranty_end: "2099-12-31", asset_tag: "LHS-0001" },
      presence: "present",
    });
    // Retained: a consumer that subscribes later gets it at once.
    const late = await record(broker.url, "campus/lincoln/device/cam-ok/inventory");
    cleanups.push(() => late.close());
    await late.waitFor((m) => m.some((x) => x.retain && x.payload.includes('"serial":"A1"')));

    expect(sub.json("/device/cam-ok/compliance").at(-1)).toMatchObject({ evaluated: true, compliant: true, failing: [] });
    const old = sub.json("/device/cam-old/compliance").at(-1);
    expect(rulesOf(old)).toEqual(["firmware_outdated", "end_of_support", "warranty_expired", "clock_drift"]);
    expect(old?.failing).toContainEqual(
      expect.objectContaining({ rule: "firmware_outdated", text: "firmware 5.2.0 is below the approved minimum 5.4.0 for Lumen Optics LX-1000" }),
    );
    expect(old?.failing).toContainEqual(expect.objectContaining({ rule: "clock_drift", text: "clock is 95 s ahead of the gateway, more than the 30 s allowed" }));
    expect(old?.policy).toMatchObject({ file: expect.stringMatching(/policy\.yaml$/) as unknown, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown });
    await sub.waitFor(() => rulesOf(sub.json("/device/cam-lib/compliance").at(-1)).includes("firmware_blocked"));

    // Each failing rule was announced once as an event, when it started failing.
    const events = sub.json("/device/cam-old/event").filter((e) => e.type === "compliance_changed");
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ compliant: false, cleared: [] });
    expect(events[0]?.failing).toEqual(["firmware_outdated", "end_of_support", "warranty_expired", "clock_drift"]);

    await sub.waitFor((m) => m.some((x) => x.topic.endsWith("/gateway/gw-1/readiness")));
    expectValidPayloads(sub.messages);
  });

  it("a firmware update is an identity_changed firmware_updated event, and the rules it fixes a compliance_changed event", async () => {
    const { sub } = await campus();
    await sub.waitFor(() => rulesOf(sub.json("/device/cam-old/compliance").at(-1)).includes("firmware_outdated"));
    cameras.set("cam-old", { identity: { manufacturer: "Lumen Optics", model: "LX-1000", serial: "B1", firmware: "5.6.1" }, driftMs: 100 });
    await sub.waitFor(() => sub.json("/device/cam-old/event").some((e) => e.type === "compliance_changed" && (e.cleared as string[]).includes("firmware_outdated")));

    const identity = sub.json("/device/cam-old/event").filter((e) => e.type === "identity_changed");
    expect(identity.at(0)).toMatchObject({ change: "learned", from: null });
    expect(identity.at(-1)).toMatchObject({ change: "firmware_updated", changed: ["firmware"], from: { firmware: "5.2.0" }, to: { firmware: "5.6.1" } });
    const change = sub.json("/device/cam-old/event").filter((e) => e.type === "compliance_changed").at(-1);
    expect(change).toMatchObject({ raised: [], cleared: ["firmware_outdated", "clock_drift"], compliant: false, failing: ["end_of_support", "warranty_expired"] });
    expect(sub.json("/device/cam-old/inventory").at(-1)).toMatchObject({ identity: { firmware: "5.6.1" } });

    // A new serial in the same place is another device: replaced.
    cameras.set("cam-old", { identity: { manufacturer: "Lumen Optics", model: "LX-4410", serial: "Z9", firmware: "5.6.1" }, driftMs: 100 });
    await sub.waitFor(() => sub.json("/device/cam-old/event").some((e) => e.type === "identity_changed" && e.change === "replaced"));
    await sub.waitFor(() => sub.json("/device/cam-old/compliance").at(-1)?.compliant === false && !rulesOf(sub.json("/device/cam-old/compliance").at(-1)).includes("end_of_support"));
  });

  it("after a restart, a device failing the same rules is not announced again and its compliance keeps its since", async () => {
    const { sub, agent, loaded } = await campus();
    await sub.waitFor(() => rulesOf(sub.json("/device/cam-old/compliance").at(-1)).length === 4);
    const since = sub.json("/device/cam-old/compliance").at(-1)?.since;
    await agent.stop();
    sub.messages.length = 0;

    const { agent: again } = await startTestAgent(loaded, drivers, cleanups);
    await sub.waitFor(() => sub.json("/device/cam-old/compliance").length > 0 && sub.json("/device/cam-old/inventory").length > 0);
    // Give the first polls after the restart time to be recorded: a poll of each device, seen as telemetry.
    await sub.waitFor((m) => m.filter((x) => x.topic.endsWith("/device/cam-old/telemetry")).length >= 3);
    expect(sub.json("/device/cam-old/compliance").at(-1)?.since).toBe(since);
    expect(sub.json("/device/cam-old/event").filter((e) => e.type === "compliance_changed")).toEqual([]);
    await again.stop();
  });

  it("a reloaded policy re-evaluates every device and says so; an invalid one on SIGHUP is rejected with its problems and the running one kept", async () => {
    const { sub, agent, loaded, dir } = await campus();
    await sub.waitFor(() => rulesOf(sub.json("/device/cam-lib/compliance").at(-1)).includes("firmware_blocked"));

    writeFileSync(join(dir, "policy.yaml"), POLICY.replace('blocked: ["5.4.2"]', "blocked: []"));
    await agent.reload({ ...loaded, policy: loadPolicy(join(dir, "policy.yaml")) });
    await sub.waitFor(() => sub.json("/gateway/gw-1/event").some((e) => e.type === "policy_reloaded"));
    await sub.waitFor(() => sub.json("/device/cam-lib/compliance").at(-1)?.compliant === true);
    expect(sub.json("/gateway/gw-1/event").find((e) => e.type === "policy_reloaded")).toMatchObject({
      details: { firmware_rules: 1, end_of_support_rules: 1, non_compliant: ["cam-old"] },
    });

    // What run.ts does on SIGHUP with a broken policy file (the reloader's PolicyError: see below).
    writeFileSync(join(dir, "policy.yaml"), BROKEN_POLICY);
    const err = policyError(join(dir, "policy.yaml"));
    agent.reloadRejected(err.problems.map((p) => `${p.path}: ${p.message}`), err.file);
    await sub.waitFor(() => sub.json("/gateway/gw-1/event").some((e) => e.type === "policy_rejected"));
    const rejected = sub.json("/gateway/gw-1/event").find((e) => e.type === "policy_rejected");
    expect((rejected?.details as { problems: string[] }).problems).toEqual([expect.stringMatching(/^firmware\[0\]\.minimum: expected a version in quotes/)]);
    // The running policy still decides.
    const running = sub.json("/device/cam-lib/compliance").at(-1)?.policy as { sha256: string };
    expect((await askReport(loaded)).policy?.sha256).toBe(running.sha256);
  });

  it("the report holds the readiness, every device's inventory, state and compliance, computed on the gateway while the uplink is down", async () => {
    const { sub, broker, ask } = await campus({ down: ["cam-lib"] });
    await sub.waitFor(() => rulesOf(sub.json("/device/cam-old/compliance").at(-1)).length === 4);
    await sub.close();
    await broker.close();

    // The uplink gone, and every camera's first poll recorded (first polls are spread over the interval).
    await vi.waitFor(
      async () => {
        const now = await ask<AssetReport>("report");
        expect(now.readiness.uplink.connected).toBe(false);
        expect(now.devices.map((d) => d.status.state)).toEqual(["online", "online", "offline"]);
      },
      { timeout: 10_000, interval: 50 },
    );
    const r = await ask<AssetReport>("report");
    expect(r).toMatchObject({ schema: "campus-edge/asset-report/v1", campus: { id: "lincoln" }, gateway: { id: "gw-1" } });
    expect(r.devices.map((d) => d.id)).toEqual(["cam-ok", "cam-old", "cam-lib"]);
    expect(r.devices[2]).toMatchObject({ presence: "missing", status: { state: "offline", reason: "timeout", last_seen: null } });
    expect(r.readiness).toMatchObject({
      devices: { total: 3, online: 2, offline: 1, compliant: 2, non_compliant: 1 },
      by_category: { "safety-critical": { total: 2, online: 2, compliant: 1 }, operational: { total: 1, offline: 1 } },
      safety_critical: { total: 2, online: 1, compliant: 0.5, ready: 0.5 },
      failing: { firmware_outdated: 1, end_of_support: 1, warranty_expired: 1, clock_drift: 1, firmware_blocked: 0 },
      assets: { unknown: 0, missing: ["cam-lib"], pending: 0, last_discovery: null },
      open_alarms: [],
    });
    expect(r.readiness.oldest_heartbeat?.device).toMatch(/^cam-(ok|old)$/);
    expect(r.readiness.uplink.outbox_depth).toBeGreaterThanOrEqual(0);
  });
});

const BROKEN_POLICY = 'version: 1\nfirmware:\n  - { manufacturer: Lumen Optics, model: "LX-*", minimum: 5.10 }\n';

function policyError(file: string): PolicyError {
  try {
    loadPolicy(file);
  } catch (e) {
    if (e instanceof PolicyError) return e;
    throw e;
  }
  throw new Error(`${file} loaded without a problem`);
}

describe("reloading on SIGHUP", () => {
  it("the reloader returns a PolicyError naming the policy file when the config is valid but its policy is not", () => {
    const dir = mkdtempSync(join(tmpdir(), "assets-reload-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "policy.yaml"), BROKEN_POLICY);
    writeFileSync(join(dir, "config.yaml"), "campus: { id: lincoln }\ngateway: { id: gw-1 }\npolicy: { file: policy.yaml }\n");
    const next = reloader(join(dir, "config.yaml"))();
    expect(next).toBeInstanceOf(PolicyError);
    expect((next as PolicyError).file).toBe(join(dir, "policy.yaml"));
    expect((next as PolicyError).message).toMatch(/policy\.yaml:3:\d+ firmware\[0\]\.minimum: expected a version in quotes/);
    writeFileSync(join(dir, "policy.yaml"), POLICY);
    expect(reloader(join(dir, "config.yaml"))()).toMatchObject({ policy: { file: join(dir, "policy.yaml") } });
  });
});

async function askReport(loaded: LoadedConfig): Promise<AssetReport> {
  return (await controlRequest(loaded.config.control.socket ?? "", "report", {}, 5000)) as AssetReport;
}
