/**
 * `campus-agent bundle`, in-process: a real agent (aedes on a free port,
 * cameras that refuse, DC-09 listeners on port 0) whose config holds a secret
 * in every place one can be (a broker URL password, password_file,
 * password_env, DC-09 key_file and key_env, a TLS client key, a password in
 * a comment); the bundle asks it over its control socket and reads its
 * outbox, then is taken apart with the tar package and searched, byte by
 * byte, for every secret. Then the same campus once the agent has stopped,
 * without a lifecycle policy or with an invalid one, and configs that are
 * invalid or missing.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { gunzipSync } from "node:zlib";
import { extract } from "tar";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parse, stringify } from "yaml";
import { Agent } from "../../agent/agent.js";
import { bundle, type BundleSummary, type JournalResult } from "../../agent/commands/bundle.js";
import { redactConfig, REDACTED } from "../../agent/commands/redact.js";
import { controlRequest } from "../../agent/control/client.js";
import type { StatusView } from "../../agent/control/views.js";
import type { AssetReport } from "../../agent/assets/report-types.js";
import { withPolicy } from "../../agent/lifecycle/policy.js";
import { createLogger, RecentLog } from "../../agent/log.js";
import { startEmbeddedBroker } from "../../agent/mqtt/broker.js";
import { VERSION } from "../../agent/version.js";
import { parseConfig } from "../../config/load.js";
import { DRIVERS } from "../../drivers/registry.js";
import { freePort } from "../helpers/net.js";
import { sink } from "../helpers/streams.js";
import { selfSignedCert } from "../helpers/tls.js";
import { scratchDir } from "../integration/helpers/agent-process.js";
import { quietLog } from "../helpers/agent.js";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** One per place a secret can be; each long and unlike anything else in a bundle. */
const SECRET = {
  url: "url/Pa55-w0rd", // in the URL percent-encoded: url%2FPa55-w0rd
  brokerFile: "broker-file-S3cret",
  cameraEnv: "cam-env-S3cret-1",
  cameraFile: "cam-file-S3cret-2",
  dc09File: "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
  dc09Env: "FEDCBA9876543210FEDCBA9876543210",
};

/** The journal as a careless program might have logged it: every secret, as is and encoded. */
function leakyJournal(tlsKey: string): () => Promise<JournalResult> {
  const lines = [
    `2026-03-02T10:00:00+0000 gw campus-agent[1]: {"msg":"connecting","password":"${SECRET.brokerFile}"}`,
    `2026-03-02T10:00:01+0000 gw campus-agent[1]: url mqtt://gw-1:url%2FPa55-w0rd@broker and ${SECRET.url}`,
    `2026-03-02T10:00:02+0000 gw campus-agent[1]: camera auth ${Buffer.from(SECRET.cameraEnv).toString("base64")} ${encodeURIComponent(SECRET.cameraFile)}`,
    `2026-03-02T10:00:03+0000 gw campus-agent[1]: keys ${SECRET.dc09File} ${SECRET.dc09Env}`,
    `2026-03-02T10:00:04+0000 gw campus-agent[1]: tls ${tlsKey.split("\n")[1] ?? ""}`,
  ];
  return () => Promise.resolve({ text: `${lines.join("\n")}\n` });
}

/** Every file under `dir`, by its path relative to `dir`. */
function filesUnder(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

/** Every secret value and the forms it could take in a file: as is, URL-encoded, base64, and each line of the TLS key's body. */
function forbidden(tlsKey: string): string[] {
  const values = [...Object.values(SECRET), encodeURIComponent(SECRET.url)];
  const keyLines = tlsKey.split("\n").filter((l) => l.length >= 16 && !l.startsWith("-----"));
  return [...values.flatMap((v) => [v, encodeURIComponent(v), Buffer.from(v).toString("base64")]), tlsKey.trim(), ...keyLines];
}

/** A valid lifecycle policy: what the campus's config names unless told otherwise. It holds no secret by design, but a careless comment can. */
const POLICY = [
  `# the campus baseline (IT-4711), checked on a camera with password ${SECRET.cameraFile}`,
  "version: 1",
  "firmware:",
  '  - { manufacturer: Lumen Optics, model: "LX-*", minimum: "5.4.0" }',
  "end_of_support:",
  "  - { manufacturer: Lumen Optics, model: LX-100, date: 2027-12-31 }",
  "",
].join("\n");

/** `policy`: the text of the lifecycle policy the config names (policy.yaml, relative to it); null for none. */
async function campus(opts: { policy?: string | null } = {}) {
  const policy = opts.policy === undefined ? POLICY : opts.policy;
  const dir = scratchDir("bundle-", cleanups);
  if (policy !== null) writeFileSync(join(dir, "policy.yaml"), policy);
  const tls = selfSignedCert();
  cleanups.push(() => tls.remove());
  const broker = await startEmbeddedBroker({ host: "127.0.0.1", port: 0, log: createLogger({ level: "silent" }) });
  cleanups.push(() => broker.close());
  mkdirSync(join(dir, "secrets"), { mode: 0o700 });
  const secretFile = (name: string, content: string) => {
    const p = join(dir, "secrets", name);
    writeFileSync(p, content, { mode: 0o600 });
    return p;
  };
  const refused = await freePort();
  const camera = (id: string, password: Record<string, string>) => ({
    id,
    kind: "onvif",
    category: "safety-critical",
    location: { building: "A" },
    options: { host: "127.0.0.1", port: refused, username: "campus-agent", ...password },
  });
  const panel = (id: string, account: string, key: Record<string, string>) => ({
    id,
    kind: "panic-dc09",
    category: "safety-critical",
    options: { listen: { host: "127.0.0.1", port: 0, protocols: ["tcp"] }, account, ...key },
  });
  const config = stringify({
    campus: { id: "lincoln" },
    gateway: { id: "gw-1" },
    broker: {
      url: broker.url.replace("mqtt://", `mqtt://gw-1:${encodeURIComponent(SECRET.url)}@`),
      protocol: "mqtt3.1.1",
      username: "gw-1",
      password_file: secretFile("mqtt.pass", `${SECRET.brokerFile}\n`),
      tls: { cert_file: tls.certFile, key_file: tls.keyFile },
      reconnect_min_ms: 100,
      reconnect_max_ms: 500,
    },
    outbox: { path: "outbox.db", flush_interval_ms: 20 },
    ...(policy !== null && { policy: { file: "policy.yaml" } }),
    polling: { interval_ms: 200, timeout_ms: 150, offline_after_failures: 2 },
    devices: [
      camera("cam-env", { password_env: "CAM_PASSWORD" }),
      camera("cam-file", { password_file: secretFile("camera.pass", `${SECRET.cameraFile}\n`) }),
      panel("panic-a", "1234", { key_file: secretFile("panic-a.key", `${SECRET.dc09File}\n`) }),
      panel("panic-b", "5678", { key_env: "DC09_KEY" }),
    ],
  });
  const file = join(dir, "config.yaml");
  // A technician's note in a comment: found by its value, not by its key.
  writeFileSync(file, `# the old camera password was ${SECRET.cameraEnv}, do not reuse\n${config}`);
  const env = { CAM_PASSWORD: SECRET.cameraEnv, DC09_KEY: SECRET.dc09Env };
  const parsed = parseConfig(readFileSync(file, "utf8"), { file, drivers: DRIVERS, env });
  // The agent loads the valid policy (as agent/run.ts does); one with another policy is never started.
  const loaded = policy === POLICY ? withPolicy(parsed) : parsed;
  const recentLog = new RecentLog(20);
  const agent = new Agent({ loaded, drivers: DRIVERS, log: quietLog(recentLog), version: VERSION, recentLog });
  const socket = loaded.config.control.socket ?? "";
  return { dir, file, env, tls, agent, socket };
}

async function run(c: Awaited<ReturnType<typeof campus>>, extra: { json?: boolean; configFile?: string } = {}) {
  const out = sink();
  const err = sink();
  const output = join(c.dir, "out");
  mkdirSync(output, { recursive: true });
  const code = await bundle(
    { configFile: extra.configFile ?? c.file, output, json: extra.json ?? false, drivers: DRIVERS, env: c.env, journal: leakyJournal(c.tls.key) },
    out.stream,
    err.stream,
  );
  const archives = readdirSync(output).filter((f) => f.endsWith(".tar.gz"));
  return { code, out: out.text(), err: err.text(), output, archives };
}

async function unpack(archive: string, into: string): Promise<Map<string, Buffer>> {
  mkdirSync(into, { recursive: true });
  await extract({ file: archive, cwd: into });
  return filesUnder(into);
}

function expectNoSecret(files: Map<string, Buffer>, needles: string[]) {
  for (const [name, data] of files) {
    for (const n of needles) expect(data.includes(Buffer.from(n)), `${name} holds a secret (${n.length} characters)`).toBe(false);
  }
}

describe("campus-agent bundle", () => {
  it("writes one archive, mode 0600, with the redacted config and its lifecycle policy, their check, the status, devices and asset report, outbox, logs and versions of a running agent, and no secret in any byte", async () => {
    const c = await campus();
    await c.agent.start();
    cleanups.push(() => c.agent.stop());
    // The two refused cameras are offline (their second failure), so devices.json says so, and their
    // failures were logged as warnings: the logs have something to show.
    await vi.waitFor(
      async () => {
        const st = (await controlRequest(c.socket, "status", {}, 5000)) as StatusView;
        expect(st.devices.offline).toBe(2);
        expect(st.recent_errors.total).toBeGreaterThan(0);
      },
      { timeout: 10_000, interval: 50 },
    );

    const r = await run(c);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.archives).toHaveLength(1);
    const archive = join(r.output, r.archives[0] ?? "");
    expect(r.archives[0]).toMatch(/^campus-agent-bundle-gw-1-\d{8}T\d{6}Z\.tar\.gz$/);
    expect(statSync(archive).mode & 0o777).toBe(0o600);
    expect(r.out).toContain(`Bundle  ${archive} (`);
    expect(r.out).toMatch(/\n {4}config\.yaml +[\d.]+ (B|KiB) +the config file, every secret replaced by \[REDACTED\]\n/);
    expect(r.out).toMatch(/\n {2}then removed +\d+ occurrences \(.*logs\/journal\.txt \d+.*\)\n/);
    expect(r.out.endsWith("\nOK: everything gathered.\n")).toBe(true);

    const folder = r.archives[0]?.replace(/\.tar\.gz$/, "") ?? "";
    const files = await unpack(archive, join(c.dir, "x"));
    expect([...files.keys()].sort()).toEqual(
      [
        "README.txt",
        "config.yaml",
        "config-check.txt",
        "policy.yaml",
        "status.json",
        "devices.json",
        "report.json",
        "outbox.json",
        "logs/recent-warnings.jsonl",
        "logs/journal.txt",
        "versions.json",
      ]
        .map((f) => `${folder}/${f}`)
        .sort(),
    );
    const text = (f: string) => files.get(`${folder}/${f}`)?.toString("utf8") ?? "";
    const json = (f: string) => JSON.parse(text(f)) as Record<string, unknown>;

    // The config, as it is but for its secrets; where they are (variables, files) is kept.
    const config = parse(text("config.yaml")) as { broker: Record<string, unknown> & { tls: Record<string, string> }; devices: { options: Record<string, unknown> }[] };
    expect(config.broker.url).toMatch(/^mqtt:\/\/gw-1:\[REDACTED\]@127\.0\.0\.1:\d+$/);
    expect(config.broker.password_file).toBe(join(c.dir, "secrets", "mqtt.pass"));
    expect(config.broker.tls.key_file).toBe(c.tls.keyFile);
    expect(config.devices.map((d) => d.options.password_env ?? d.options.password_file ?? d.options.key_file ?? d.options.key_env)).toEqual([
      "CAM_PASSWORD",
      join(c.dir, "secrets", "camera.pass"),
      join(c.dir, "secrets", "panic-a.key"),
      "DC09_KEY",
    ]);
    expect(text("config.yaml").split("\n")[0]).toBe(`# the old camera password was ${REDACTED}, do not reuse`);
    const policyFile = join(c.dir, "policy.yaml");
    expect(text("config-check.txt")).toBe(
      `${c.file}: OK (campus lincoln, gateway gw-1, 4 devices)\nlifecycle policy ${policyFile}: OK (1 firmware rule, 1 end-of-support date)\n`,
    );
    // The policy as it is, comments and all, but for the secret scrubbed like in every file; the agent's report names the same file and content.
    expect(text("policy.yaml")).toBe(POLICY.replace(SECRET.cameraFile, REDACTED));
    expect(r.out).toMatch(/\n {2}then removed +\d+ occurrences \(.*policy\.yaml 1.*\)\n/);

    // The agent's own answers, as status --json and devices --json give them.
    expect(json("status.json")).toMatchObject({ campus: "lincoln", gateway: "gw-1", agent: { version: VERSION, pid: process.pid }, devices: { total: 4 } });
    expect(json("devices.json")).toMatchObject({ ok: false, total: 4 });
    expect((json("devices.json").devices as { id: string }[]).map((d) => d.id)).toEqual(["cam-env", "cam-file", "panic-a", "panic-b"]);
    const report = json("report.json") as unknown as AssetReport;
    expect(report).toMatchObject({ schema: "campus-edge/asset-report/v1", campus: { id: "lincoln" }, gateway: { id: "gw-1" }, policy: { file: policyFile } });
    expect(report.devices.map((d) => [d.id, d.category, d.status.state])).toEqual([
      ["cam-env", "safety-critical", "offline"],
      ["cam-file", "safety-critical", "offline"],
      ["panic-a", "safety-critical", expect.any(String)],
      ["panic-b", "safety-critical", expect.any(String)],
    ]);
    expect(report.readiness).toEqual(expect.any(Object));
    expect(json("outbox.json")).toMatchObject({ path: join(c.dir, "outbox.db"), schema_version: expect.any(Number) as unknown });
    const warnings = text("logs/recent-warnings.jsonl").trim().split("\n").map((l) => JSON.parse(l) as { level: string; device?: string });
    expect(warnings.some((w) => w.level === "warn" && w.device?.startsWith("cam-"))).toBe(true);
    expect(text("logs/journal.txt")).toContain("campus-agent[1]: camera auth [REDACTED] [REDACTED]\n");
    const versions = json("versions.json") as {
      agent: string;
      node: string;
      sqlite: string;
      better_sqlite3: string;
      dependencies: Record<string, { installed: string }>;
      config: { path: string; sha256: string };
      policy: { path: string; bytes: number; sha256: string };
    };
    expect(versions).toMatchObject({ agent: VERSION, node: process.version, config: { path: c.file } });
    expect(versions.sqlite).toMatch(/^3\.\d+\.\d+$/);
    expect(versions.better_sqlite3).toMatch(/^\d+\.\d+\.\d+/);
    expect(versions.dependencies.tar?.installed).toMatch(/^7\./);
    expect(versions.config.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(versions.policy).toEqual({ path: policyFile, bytes: Buffer.byteLength(POLICY), sha256: report.policy?.sha256 });
    expect(text("README.txt")).toContain("\nEverything was gathered.\n");
    expect(text("README.txt")).toContain(`\n  policy  ${policyFile} (valid)\n`);
    expect(text("README.txt")).toMatch(/\n {2}report\.json +the asset register: /);
    expect(text("README.txt")).toMatch(/\n {2}devices\[0\]\.options\.password_env +env +CAM_PASSWORD +found\n/);

    const needles = forbidden(c.tls.key);
    expectNoSecret(files, needles);
    // And in the archive as a whole: its names and headers too.
    expectNoSecret(new Map([["the archive, decompressed", gunzipSync(readFileSync(archive))]]), needles);
    expectNoSecret(new Map([["stdout", Buffer.from(r.out)]]), needles);
  });

  it("when the agent has stopped, still writes the archive with what it can read, says why status, devices and the report are missing, and exits 1", async () => {
    const c = await campus();
    await c.agent.start();
    await c.agent.stop();

    const r = await run(c, { json: true });
    expect(r.code).toBe(1);
    expect(r.archives).toHaveLength(1);
    const summary = JSON.parse(r.out) as BundleSummary;
    expect(summary).toMatchObject({ ok: false, path: join(r.output, r.archives[0] ?? ""), config: { valid: true }, policy: { path: join(c.dir, "policy.yaml"), valid: true, problems: 0 } });
    expect(summary.problems).toEqual([expect.stringMatching(/^status\.json, logs\/recent-warnings\.jsonl, devices\.json, report\.json: no control socket at .*: is the agent running\?/)]);
    expect(summary.files.map((f) => f.name)).toEqual(["README.txt", "config.yaml", "config-check.txt", "policy.yaml", "outbox.json", "logs/journal.txt", "versions.json"]);

    const files = await unpack(summary.path, join(c.dir, "x"));
    const readme = files.get(`${summary.folder}/README.txt`)?.toString("utf8") ?? "";
    expect(readme).toContain(`\nNot gathered (1)\n  - ${summary.problems[0]}\n`);
    expect(existsSync(join(c.dir, "x", summary.folder, "status.json"))).toBe(false);
    expect(existsSync(join(c.dir, "x", summary.folder, "report.json"))).toBe(false);
    expect(JSON.parse(files.get(`${summary.folder}/outbox.json`)?.toString("utf8") ?? "")).toMatchObject({ path: join(c.dir, "outbox.db") });
    expectNoSecret(files, forbidden(c.tls.key));
  });

  it("says in a note, not as a problem, that a config names no lifecycle policy, and writes no policy.yaml", async () => {
    const c = await campus({ policy: null });
    await c.agent.start();
    cleanups.push(() => c.agent.stop());

    const r = await run(c, { json: true });
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.out) as BundleSummary;
    expect(summary).toMatchObject({ ok: true, problems: [], policy: null });
    expect(summary.notes).toContain("policy.yaml: the config names no lifecycle policy (policy.file): the agent checks no device's compliance");
    expect(summary.files.map((f) => f.name)).not.toContain("policy.yaml");
    expect(summary.files.map((f) => f.name)).toContain("report.json");

    const files = await unpack(summary.path, join(c.dir, "x"));
    const text = (f: string) => files.get(`${summary.folder}/${f}`)?.toString("utf8") ?? "";
    expect(files.has(`${summary.folder}/policy.yaml`)).toBe(false);
    expect(text("config-check.txt")).toBe(`${c.file}: OK (campus lincoln, gateway gw-1, 4 devices)\n`);
    expect(JSON.parse(text("report.json"))).toMatchObject({ policy: null });
    expect(JSON.parse(text("versions.json"))).toMatchObject({ policy: null });
    expect(text("README.txt")).toContain("\n  policy  none\n");
    expect(text("README.txt")).toContain("\n  - policy.yaml: the config names no lifecycle policy");
  });

  it("checks the lifecycle policy in config-check.txt: an invalid one is bundled as it is, its problems listed, and exits 2 like an invalid config", async () => {
    const c = await campus({ policy: 'version: 1\nfirmware:\n  - { manufacturer: Lumen Optics, model: "LX-*", minimum: 5.10 }\n' });
    const r = await run(c);
    expect(r.code).toBe(2);
    const policyFile = join(c.dir, "policy.yaml");
    expect(r.err).toBe(
      `${c.file}: OK (campus lincoln, gateway gw-1, 4 devices)\nInvalid lifecycle policy in ${policyFile} (1 problem):\n${policyFile}:3:59 firmware[0].minimum: expected a version in quotes: unquoted, YAML reads it as a number (1.10 becomes 1.1), got 5.1\n`,
    );
    expect(r.out).toContain("\nLIFECYCLE POLICY INVALID: 1 problem (listed above and in config-check.txt)\n");
    expect(r.out).not.toContain("CONFIG INVALID");
    const files = await unpack(join(r.output, r.archives[0] ?? ""), join(c.dir, "x"));
    const get = (name: string) => [...files].find(([k]) => k.endsWith(`/${name}`))?.[1].toString("utf8");
    expect(get("config-check.txt")).toBe(r.err);
    expect(get("policy.yaml")).toBe(readFileSync(policyFile, "utf8"));
    expect(get("README.txt")).toContain(`\n  policy  ${policyFile} (INVALID: 1 problem, see config-check.txt)\n`);

    // A policy that cannot be read: a problem in the check, and policy.yaml missing with the error code.
    const gone = await campus({ policy: null });
    writeFileSync(gone.file, readFileSync(gone.file, "utf8").replace("\npolling:", "\npolicy: { file: gone.yaml }\npolling:"));
    const g = await run(gone, { json: true });
    expect(g.code).toBe(2);
    const summary = JSON.parse(g.out) as BundleSummary;
    expect(summary).toMatchObject({ ok: false, config: { valid: true }, policy: { path: join(gone.dir, "gone.yaml"), valid: false, problems: 1 } });
    expect(summary.problems).toContain(`policy.yaml: cannot read ${join(gone.dir, "gone.yaml")}: ENOENT`);
    expect(g.err).toContain(`Invalid lifecycle policy in ${join(gone.dir, "gone.yaml")} (1 problem):\n`);
  });

  it("bundles an invalid config too, with every problem in config-check.txt and its inline secrets removed, and exits 2; a missing config is exit 2 with nothing written", async () => {
    const c = await campus();
    const bad = join(c.dir, "bad.yaml");
    writeFileSync(
      bad,
      [
        "campus: { id: lincoln }",
        "gateway: { id: gw-1 }",
        "broker:",
        "  url: mqtt://127.0.0.1:1",
        "  username: gw-1",
        "  password: inline-Pa55word",
        "polling: { interval_ms: fast }",
        "devices: []",
        "",
      ].join("\n"),
    );
    const r = await run(c, { configFile: bad });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^Invalid configuration in .*bad\.yaml \(2 problems\):\n/);
    expect(r.out).toContain("\nCONFIG INVALID: 2 problems (listed above and in config-check.txt)\n");
    expect(r.archives).toHaveLength(1);
    const files = await unpack(join(r.output, r.archives[0] ?? ""), join(c.dir, "x"));
    const get = (name: string) => [...files].find(([k]) => k.endsWith(`/${name}`))?.[1].toString("utf8") ?? "";
    expect(get("config-check.txt")).toMatch(/bad\.yaml:6:\d+ broker\.password: inline passwords are not accepted/);
    expect(get("config-check.txt")).toMatch(/bad\.yaml:7:\d+ polling\.interval_ms: /);
    expect(get("config.yaml")).toContain(`  password: "${REDACTED}"\n`);
    expect(get("README.txt")).toContain("INVALID: 2 problems, see config-check.txt");
    expectNoSecret(files, ["inline-Pa55word"]);

    const missing = await run(c, { configFile: join(c.dir, "none.yaml") });
    expect(missing).toMatchObject({ code: 2, out: "", archives: [r.archives[0]] });
    expect(missing.err).toBe(`campus-agent bundle: no config file at ${join(c.dir, "none.yaml")} (use --config FILE)\n`);
  });
});

describe("redactConfig", () => {
  it("replaces values under secret keys in block, flow and multi-line form, and URL passwords even in comments, keeps *_env and *_file, and learns what they name", () => {
    const text = [
      "# broker was mqtt://old:0ld-Secret@10.0.0.1 once",
      "broker: { url: \"mqtts://gw:p%40ss-word@broker:8883\", password_env: GW_PASS }",
      "api:",
      "  token: abcd-efgh-ijkl",
      "  secret: |",
      "    line one",
      "    line two",
      "  enabled_secret: true",
      "  key_file: missing.key",
      "devices:",
      "  - { id: cam, options: { password_file: /nonexistent/cam.pass, host: 10.0.0.5 } }",
      "keepalive_s: 30",
      "",
    ].join("\n");
    const r = redactConfig(text, { dir: "/etc/campus-agent", env: { GW_PASS: "from-the-env" } });
    // Only the secrets change: the rest of the file, comments and layout, is as it was.
    expect(r.text).toBe(
      text
        .replace("mqtt://old:0ld-Secret@", `mqtt://old:${REDACTED}@`)
        .replace("mqtts://gw:p%40ss-word@", `mqtts://gw:${REDACTED}@`)
        .replace("token: abcd-efgh-ijkl", `token: "${REDACTED}"`)
        .replace("secret: |\n    line one\n    line two", `secret: "${REDACTED}"`),
    );
    expect(parse(r.text)).toMatchObject({ api: { token: REDACTED, secret: REDACTED } });
    expect(r.values).toEqual(expect.arrayContaining(["abcd-efgh-ijkl", "line one\nline two\n", "from-the-env", "0ld-Secret", "p%40ss-word", "p@ss-word"]));
    expect(r.values).not.toContain("true");
    expect(r.sources).toEqual(
      expect.arrayContaining([
        { path: "broker.password_env", kind: "env", ref: "GW_PASS", found: "found" },
        { path: "api.key_file", kind: "file", ref: "/etc/campus-agent/missing.key", found: "cannot read: ENOENT" },
        { path: "devices[0].options.password_file", kind: "file", ref: "/nonexistent/cam.pass", found: "cannot read: ENOENT" },
        { path: "broker.url", kind: "url", found: "found" },
        { path: "a comment", kind: "url", found: "found" },
      ]),
    );
  });

  it("still finds `key: value` secrets line by line in a file that is not valid YAML", () => {
    // The unclosed quote makes the rest of the file one string, to the parser.
    const text = 'broker:\n  url: "mqtt://broker\n  password: hunter2-Broken\n';
    const r = redactConfig(text, { dir: "/", env: {} });
    expect(r.text).toBe(`broker:\n  url: "mqtt://broker\n  password: "${REDACTED}"\n`);
    expect(r.values).toContain("hunter2-Broken");
  });
});
