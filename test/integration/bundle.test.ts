/**
 * `campus-agent bundle` as a technician runs it: the built CLI, a separate
 * process, against the built agent (another process) publishing to Debian's
 * mosquitto over TLS with a password; the config names a secret in every
 * way it can (the URL's password, password_env, a camera's password_file, a
 * DC-09 key file, a TLS client key). The archive is unpacked with the tar
 * package and every byte searched for them; then the same once the agent
 * has stopped.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { gunzipSync } from "node:zlib";
import { extract } from "tar";
import { afterEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { BundleSummary } from "../../agent/commands/bundle.js";
import { VERSION } from "../../agent/version.js";
import { startNetDevice } from "../../scripts/sim/netdevice.js";
import { freePort } from "../helpers/net.js";
import { selfSignedCert } from "../helpers/tls.js";
import { runCli, startAgent, scratchDir, writeCampusConfig } from "./helpers/agent-process.js";
import { startMosquitto } from "./helpers/mosquitto.js";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const BROKER_PASSWORD = "gw/Pa55-in-env-and-url";
const CAMERA_PASSWORD = "camera-file-S3cret";
const DC09_KEY = "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF";

async function unpack(archive: string, into: string): Promise<Map<string, Buffer>> {
  mkdirSync(into, { recursive: true });
  await extract({ file: archive, cwd: into });
  const files = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else files.set(relative(into, join(d, e.name)), readFileSync(join(d, e.name)));
    }
  };
  walk(into);
  return files;
}

async function campus() {
  const dir = scratchDir("bundle-cli-", cleanups);
  const m = await startMosquitto({ tls: true, users: { "gw-1": BROKER_PASSWORD } });
  cleanups.push(() => m.dispose());
  const client = selfSignedCert();
  cleanups.push(() => client.remove());
  const device = await startNetDevice({});
  cleanups.push(() => device.close());
  writeFileSync(join(dir, "camera.pass"), `${CAMERA_PASSWORD}\n`, { mode: 0o600 });
  writeFileSync(join(dir, "panic.key"), `${DC09_KEY}\n`, { mode: 0o600 });
  const file = writeCampusConfig(dir, {
    broker: {
      url: m.url.replace("://", `://gw-1:${encodeURIComponent(BROKER_PASSWORD)}@`),
      username: "gw-1",
      password_env: "GW_PASSWORD",
      tls: { ca_file: m.caFile, cert_file: client.certFile, key_file: client.keyFile },
    },
    polling: { interval_ms: 300, timeout_ms: 200 },
    devices: [
      { id: "intercom", kind: "reachability", category: "safety-critical", options: { host: device.host, port: device.port } },
      {
        id: "cam-lot",
        kind: "onvif",
        category: "safety-critical",
        options: { host: "127.0.0.1", port: await freePort(), username: "campus-agent", password_file: join(dir, "camera.pass") },
      },
      { id: "panic-office", kind: "panic-dc09", category: "safety-critical", options: { listen: { port: 0 }, account: "1234", key_file: join(dir, "panic.key") } },
    ],
  });
  const env = { GW_PASSWORD: BROKER_PASSWORD };
  const secrets = [BROKER_PASSWORD, encodeURIComponent(BROKER_PASSWORD), CAMERA_PASSWORD, DC09_KEY, client.key.trim(), ...client.key.split("\n").filter((l) => l.length >= 16 && !l.startsWith("-----"))];
  const out = join(dir, "support");
  mkdirSync(out);
  return { dir, file, env, secrets, out, keyFile: client.keyFile };
}

function expectNoSecret(where: Map<string, Buffer>, secrets: string[]) {
  for (const [name, data] of where) for (const s of secrets) expect(data.includes(Buffer.from(s)), `${name} holds a secret`).toBe(false);
}

describe("campus-agent bundle", () => {
  it("writes the support archive of a running agent with every file filled in and no configured secret anywhere in it", async () => {
    const c = await campus();
    const agent = startAgent(c.file, c.env);
    cleanups.push(() => agent.kill("SIGKILL"));
    await agent.waitForLog((l) => l.msg === "control socket open");
    await agent.waitForLog((l) => l.device === "cam-lot" && l.level === 40);

    // Run from the folder it should write into: the default name, in the current folder.
    const r = await runCli(["bundle", "--config", c.file], { env: c.env, cwd: c.out, timeoutMs: 60_000 });
    const journalOnly = (r.stdout.match(/\nNOT GATHERED \(\d+\):\n([\s\S]*)$/)?.[1] ?? "").split("\n").filter((l) => l !== "" && !l.startsWith("  - logs/journal.txt"));
    // journalctl is the machine's: only it may be missing here.
    expect(journalOnly).toEqual([]);
    expect(r.code).toBe(r.stdout.includes("\nOK: everything gathered.\n") ? 0 : 1);
    const [name] = readdirSync(c.out);
    expect(name).toMatch(/^campus-agent-bundle-gw-1-\d{8}T\d{6}Z\.tar\.gz$/);
    const archive = join(c.out, name ?? "");
    expect(r.stdout.startsWith(`Bundle  ${archive} (`)).toBe(true);
    expect(statSync(archive).mode & 0o777).toBe(0o600);

    const files = await unpack(archive, join(c.dir, "x"));
    const folder = (name ?? "").replace(/\.tar\.gz$/, "");
    const text = (f: string) => files.get(`${folder}/${f}`)?.toString("utf8") ?? "";
    for (const f of ["README.txt", "config.yaml", "config-check.txt", "status.json", "devices.json", "outbox.json", "logs/recent-warnings.jsonl", "versions.json"]) {
      expect(text(f), f).not.toBe("");
    }
    const config = parse(text("config.yaml")) as { broker: { url: string; password_env: string; tls: { key_file: string } } };
    expect(config.broker).toMatchObject({ password_env: "GW_PASSWORD", tls: { key_file: c.keyFile } });
    expect(config.broker.url).toMatch(/^mqtts:\/\/gw-1:\[REDACTED\]@localhost:\d+$/);
    expect(text("config-check.txt")).toBe(`${c.file}: OK (campus lincoln, gateway gw-1, 3 devices)\n`);
    expect(JSON.parse(text("status.json"))).toMatchObject({ campus: "lincoln", gateway: "gw-1", agent: { version: VERSION, pid: agent.child.pid }, broker: { connected: true } });
    expect(JSON.parse(text("devices.json"))).toMatchObject({ total: 3 });
    expect(JSON.parse(text("outbox.json"))).toMatchObject({ path: join(c.dir, "outbox.db") });
    expect(JSON.parse(text("versions.json"))).toMatchObject({ agent: VERSION, config: { path: c.file } });
    expect(text("logs/recent-warnings.jsonl")).toContain('"device":"cam-lot"');
    expect(text("README.txt")).toMatch(/\n {2}broker\.password_env +env +GW_PASSWORD +found\n/);

    expectNoSecret(files, c.secrets);
    expectNoSecret(new Map([["the archive, decompressed", gunzipSync(readFileSync(archive))], ["stdout", Buffer.from(r.stdout + r.stderr)]]), c.secrets);

    // Stopped: status and devices cannot be had, the rest still can.
    agent.child.kill("SIGTERM");
    expect(await agent.exited).toBe(0);
    const stopped = await runCli(["bundle", "--config", c.file, "--json", "--output", join(c.dir, "stopped.tar.gz")], { env: c.env, cwd: c.out, timeoutMs: 60_000 });
    expect(stopped.code).toBe(1);
    const summary = JSON.parse(stopped.stdout) as BundleSummary;
    expect(summary.path).toBe(join(c.dir, "stopped.tar.gz"));
    expect(summary.problems[0]).toMatch(/^status\.json, logs\/recent-warnings\.jsonl, devices\.json, report\.json: no control socket at /);
    expect(summary.files.map((f) => f.name)).toEqual(expect.arrayContaining(["README.txt", "config.yaml", "config-check.txt", "outbox.json", "versions.json"]));
    expect(summary.files.map((f) => f.name)).not.toContain("status.json");
    expectNoSecret(await unpack(summary.path, join(c.dir, "y")), c.secrets);
  });

  it("refuses another command's options, an argument or an empty path with exit code 2, and writes nothing", async () => {
    const dir = scratchDir("bundle-usage-", cleanups);
    for (const [args, message] of [
      [["bundle", "--count", "3"], "bundle takes no --count"],
      [["bundle", "--export", "-", "--class", "alarm"], "bundle takes no --export, --class"],
      [["bundle", "now"], 'bundle takes no argument, got "now"'],
      [["bundle", "--output", ""], "--output expects a path"],
      [["outbox", "--output", "x.tar.gz"], "outbox takes no --output"],
    ] as const) {
      const r = await runCli(args, { cwd: dir, timeoutMs: 60_000 });
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toContain(message);
    }
    expect(readdirSync(dir)).toEqual([]);
  });
});
