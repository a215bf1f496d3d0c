/**
 * `campus-agent report` (agent/commands/report.ts) over a real control
 * socket in a scratch folder: usage errors, no agent, an agent that cannot
 * report, and a control server answering `report` with a hand-built
 * AssetReport; then against a running agent (in-process, aedes on a free
 * port, fake cameras, a lifecycle policy).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { renderCsv } from "../../agent/assets/report-csv.js";
import { renderHtml } from "../../agent/assets/report-html.js";
import { renderText } from "../../agent/assets/report-text.js";
import type { AssetReport } from "../../agent/assets/report-types.js";
import { report, type ReportArgs } from "../../agent/commands/report.js";
import { controlRequest } from "../../agent/control/client.js";
import { type ControlHandler, ControlServer } from "../../agent/control/server.js";
import { withPolicy } from "../../agent/lifecycle/policy.js";
import { createLogger } from "../../agent/log.js";
import { startEmbeddedBroker } from "../../agent/mqtt/broker.js";
import { type DriverFactory, defineDriver, type Identity } from "../../drivers/contract.js";
import { DRIVERS } from "../../drivers/registry.js";
import { campusConfig, startTestAgent } from "../helpers/agent.js";
import { assetReport, FIXTURE_NOT_READY, readyReport } from "../helpers/asset-report.js";
import { sink } from "../helpers/streams.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), "report-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A control server on `dir`/campus-agent.sock with these handlers: the socket path. */
async function agentAnswering(dir: string, handlers: Record<string, ControlHandler>): Promise<string> {
  const path = join(dir, "campus-agent.sock");
  const server = await ControlServer.open({ path, log: pino({ level: "silent" }), handlers });
  cleanups.push(() => server.close());
  return path;
}

function answering(r: AssetReport): Record<string, ControlHandler> {
  return { report: () => Promise.resolve(r) };
}

async function run(args: ReportArgs): Promise<{ code: number; out: string; err: string }> {
  const out = sink();
  const err = sink();
  const code = await report(args, out.stream, err.stream);
  return { code, out: out.text(), err: err.text() };
}

describe("campus-agent report: usage", () => {
  it("refuses an unknown format with exit code 2, before asking the agent", async () => {
    const socket = join(scratch(), "nobody.sock");
    expect(await run({ socket, format: "pdf" })).toEqual({
      code: 2,
      out: "",
      err: 'campus-agent report: --format expects one of text, json, csv, html, got "pdf"; see campus-agent report --help\n',
    });
  });

  it("refuses --json with another format, and an empty --output, with exit code 2", async () => {
    const socket = join(scratch(), "nobody.sock");
    expect(await run({ socket, json: true, format: "csv" })).toMatchObject({ code: 2, out: "", err: expect.stringContaining("--json is --format json; it cannot go with --format csv") as unknown });
    expect(await run({ socket, output: "" })).toMatchObject({ code: 2, out: "", err: expect.stringContaining("--output expects a file, or - for stdout") as unknown });
  });
});

describe("campus-agent report: without an agent", () => {
  it("says the agent is not running, on stderr, with exit code 1, and writes no file", async () => {
    const dir = scratch();
    const output = join(dir, "report.html");
    const r = await run({ socket: join(dir, "campus-agent.sock"), format: "html", output });
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    expect(r.err).toMatch(/^campus-agent report: no control socket at .*campus-agent\.sock: is the agent running\? \(systemctl status campus-agent\)\n$/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("with JSON on stdout, says so as JSON on stdout, as the other commands' --json do", async () => {
    const r = await run({ socket: join(scratch(), "campus-agent.sock"), json: true });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toMatchObject({ ok: false, error: { code: "not_running" } });
    expect(r.err).toBe("");
  });

  it("says an agent that does not know the method must be restarted on this version (exit code 1, not a usage error)", async () => {
    const socket = await agentAnswering(scratch(), { status: () => Promise.resolve({}) });
    const r = await run({ socket });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^campus-agent report: the running agent cannot make a report \(.*\); restart it on this version\n$/);
  });

  it("refuses an answer that is not an asset report", async () => {
    const socket = await agentAnswering(scratch(), { report: () => Promise.resolve({ schema: "something/else" }) });
    const r = await run({ socket });
    expect(r).toEqual({ code: 1, out: "", err: 'campus-agent report: the agent answered report with schema "something/else", not campus-edge/asset-report/v1\n' });
  });
});

describe("campus-agent report: with the agent's answer", () => {
  it("prints the text report and exits 1 when the campus is not ready", async () => {
    const socket = await agentAnswering(scratch(), answering(assetReport()));
    expect(await run({ socket })).toEqual({ code: 1, out: renderText(assetReport()), err: "" });
  });

  it("exits 0 when every safety-critical device is online and compliant and no asset is missing or unknown", async () => {
    const socket = await agentAnswering(scratch(), answering(readyReport()));
    expect(await run({ socket, format: "json" })).toEqual({ code: 0, out: `${JSON.stringify(readyReport(), null, 2)}\n`, err: "" });
    expect(await run({ socket, json: true, output: "-" })).toMatchObject({ code: 0, out: `${JSON.stringify(readyReport(), null, 2)}\n` });
  });

  it("writes --output whole, replacing an older report, leaves no temporary file, and says what it wrote and why the campus is not ready", async () => {
    const dir = scratch();
    const socket = await agentAnswering(dir, answering(assetReport()));
    const output = join(dir, "lincoln.csv");
    writeFileSync(output, "last month's report\n");
    const r = await run({ socket, format: "csv", output });
    expect(r.code).toBe(1);
    expect(readFileSync(output, "utf8")).toBe(renderCsv(assetReport()));
    expect(readdirSync(dir).sort()).toEqual(["campus-agent.sock", "lincoln.csv"]);
    expect(r.out).toBe(`wrote ${output} (6 devices, 2 unknown assets)\n${FIXTURE_NOT_READY}`);
    expect(r.err).toBe("");
  });

  it("writes the HTML page and says READY when all is well", async () => {
    const dir = scratch();
    const socket = await agentAnswering(dir, answering(readyReport()));
    const output = join(dir, "lincoln.html");
    expect(await run({ socket, format: "html", output })).toEqual({ code: 0, out: `wrote ${output} (2 devices)\nREADY\n`, err: "" });
    expect(readFileSync(output, "utf8")).toBe(renderHtml(readyReport()));
  });

  it("says why it cannot write a file whose folder does not exist (exit code 1), leaving nothing behind", async () => {
    const dir = scratch();
    const socket = await agentAnswering(dir, answering(readyReport()));
    const output = join(dir, "no-such-folder", "report.csv");
    expect(await run({ socket, format: "csv", output })).toEqual({ code: 1, out: "", err: `campus-agent report: cannot write ${output}: its folder does not exist\n` });
    expect(readdirSync(dir)).toEqual(["campus-agent.sock"]);
  });
});

/** A camera kind answering with the identity the test gives each device id. */
const identities = new Map<string, Identity>();
const fakeCamera: DriverFactory = defineDriver({
  kind: "fake-camera",
  description: "test double",
  optionsSchema: z.strictObject({}),
  create: () => ({
    poll: async (d) => ({ health: "ok", responseTimeMs: 5, metrics: {}, identity: { ...identities.get(d.id) } }),
  }),
});
const drivers = [...DRIVERS, fakeCamera];

/** A running agent with a lifecycle policy (minimum firmware 5.4.0) and these cameras, all safety-critical: its control socket, once every camera has answered with its identity and been evaluated. */
async function runningAgent(cameras: Record<string, Identity>): Promise<string> {
  const dir = scratch();
  writeFileSync(join(dir, "policy.yaml"), 'version: 1\nfirmware:\n  - { manufacturer: Lumen Optics, model: "LX-*", minimum: "5.4.0" }\n');
  const broker = await startEmbeddedBroker({ host: "127.0.0.1", port: 0, log: createLogger({ level: "silent" }) });
  cleanups.push(() => broker.close());
  for (const [id, identity] of Object.entries(cameras)) identities.set(id, identity);
  const loaded = withPolicy(
    campusConfig(
      dir,
      {
        broker: { url: broker.url },
        campus: { id: "lincoln", name: "Lincoln High School" },
        policy: { file: "policy.yaml" },
        polling: { interval_ms: 100, timeout_ms: 80 },
        devices: Object.keys(cameras).map((id) => ({ id, kind: "fake-camera", category: "safety-critical", location: { building: "A", room: id }, options: {} })),
      },
      { drivers },
    ),
  );
  const { socket } = await startTestAgent(loaded, drivers, cleanups);
  await vi.waitFor(
    async () => {
      const r = (await controlRequest(socket, "report", {}, 5000)) as AssetReport;
      expect(r.devices.every((d) => d.status.state === "online" && d.identity.firmware !== undefined && d.compliance.evaluated)).toBe(true);
    },
    { timeout: 10_000, interval: 50 },
  );
  return socket;
}

describe("campus-agent report: against a running agent", () => {
  it("exits 0 when every safety-critical camera is online and compliant, and says so in every format", async () => {
    const socket = await runningAgent({ "cam-ok": { manufacturer: "Lumen Optics", model: "LX-4410", serial: "A1", firmware: "5.6.0" } });
    const text = await run({ socket });
    expect(text.code).toBe(0);
    expect(text.out).toContain("Asset and compliance report: Lincoln High School (lincoln)\n");
    expect(text.out).toMatch(/\n {4}cam-ok +A \/ cam-ok +Lumen Optics LX-4410 +5\.6\.0 +online +OK\n/);
    expect(text.out).toContain("\nREADY: every safety-critical device online and compliant, no asset missing or unknown.\n");
    const html = await run({ socket, format: "html" });
    expect(html.code).toBe(0);
    expect(html.out).toContain("<title>Asset and compliance report — Lincoln High School</title>");
  });

  it("exits 1 and names the camera below the firmware minimum, in the text and in its CSV row", async () => {
    const socket = await runningAgent({
      "cam-ok": { manufacturer: "Lumen Optics", model: "LX-4410", serial: "A1", firmware: "5.6.0" },
      "cam-old": { manufacturer: "Lumen Optics", model: "LX-4410", serial: "B1", firmware: "5.2.0" },
    });
    const text = await run({ socket });
    expect(text.code).toBe(1);
    expect(text.out).toContain("  - 1 safety-critical device not compliant: cam-old\n");
    expect(text.out).toMatch(/\n {4}firmware_outdated: firmware 5\.2\.0 is below the approved minimum 5\.4\.0 for Lumen Optics LX-4410\n/);
    const dir = scratch();
    const csv = await run({ socket, format: "csv", output: join(dir, "report.csv") });
    expect(csv.code).toBe(1);
    const rows = readFileSync(join(dir, "report.csv"), "utf8").split("\r\n");
    expect(rows[0]).toMatch(/^id,name,kind,category,/);
    expect(rows.filter((r) => r.startsWith("cam-old,"))[0]).toMatch(/,safety-critical,A,,cam-old,,Lumen Optics,LX-4410,B1,5\.2\.0,.*,true,false,fail,pass,pass,.*,firmware_outdated,/);
    expect(rows.filter((r) => r !== "")).toHaveLength(3);
  });
});
