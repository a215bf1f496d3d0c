/**
 * scripts/install.sh and scripts/systemd/campus-agent.service.
 *
 * The unit is checked by systemd-analyze verify (the real file: its ExecStart
 * and ExecReload binaries exist on a Debian host). The script runs in a
 * scratch root (--root, --no-start) from a scratch checkout: the sources
 * transpiled to dist/ (as `npm run build` would; no type checking, tsc does
 * that), package.json, package-lock.json, the repository's node_modules. The
 * tests run in order, on one root: first install, a second run that must
 * change nothing, an upgrade from a newer checkout that must keep the config
 * and the buffered data, and an upgrade refused because the new version
 * rejects the config. Each run copies and prunes node_modules (a few seconds),
 * hence the integration project.
 *
 * Needs root (useradd --prefix, chown), useradd/groupadd, /usr/bin/node and
 * npm; skipped, saying which is missing, otherwise. The shellcheck test needs
 * shellcheck (apt-get install shellcheck).
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  appendFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const REPO = join(import.meta.dirname, "..", "..");
const UNIT = join(REPO, "scripts", "systemd", "campus-agent.service");
const VERSION = (JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string }).version;
const SBIN_PATH = `${process.env.PATH ?? ""}:/usr/local/sbin:/usr/sbin:/sbin`;

function has(tool: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${tool}`], { env: { ...process.env, PATH: SBIN_PATH } }).status === 0;
}

function missingForInstall(): string | undefined {
  if (process.getuid?.() !== 0) return "not running as root (useradd --prefix and chown need it)";
  for (const tool of ["useradd", "groupadd", "usermod", "npm"]) if (!has(tool)) return `${tool} is not installed`;
  if (!existsSync("/usr/bin/node")) return "no /usr/bin/node (the unit and the command run node from there)";
  return undefined;
}
const missing = missingForInstall();
const noAnalyze = has("systemd-analyze") ? undefined : "systemd-analyze is not installed (apt-get install systemd)";
const noShellcheck = has("shellcheck") ? undefined : "shellcheck is not installed (apt-get install shellcheck)";
const skipNote = (why: string | undefined) => (why === undefined ? "" : ` (skipped: ${why})`);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Every path under `root` with its type and mode, owner, size, mtime, and a content hash or link target. */
function listing(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (path: string) => {
    const st = lstatSync(path);
    let what = "";
    if (st.isSymbolicLink()) what = `-> ${readlinkSync(path)}`;
    else if (st.isFile()) what = createHash("sha256").update(readFileSync(path)).digest("hex");
    out.set(relative(root, path) || ".", `${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeMs} ${what}`);
    if (st.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(root);
  return out;
}

/** What differs between two listings, one line per path. */
function changes(before: Map<string, string>, after: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [path, was] of before) {
    const now = after.get(path);
    if (now === undefined) out.push(`removed ${path}`);
    else if (now !== was) out.push(`changed ${path}: ${was} => ${now}`);
  }
  for (const path of after.keys()) if (!before.has(path)) out.push(`added ${path}`);
  return out;
}

/** A built checkout in a scratch folder: what `npm ci && npm run build` leaves that install.sh uses. */
function makeCheckout(dir: string, version: string): void {
  for (const top of ["agent", "drivers", "config", "scripts"]) {
    const walk = (rel: string) => {
      for (const entry of readdirSync(join(REPO, rel), { withFileTypes: true })) {
        const path = join(rel, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) {
          const js = ts.transpileModule(readFileSync(join(REPO, path), "utf8"), {
            compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
            fileName: entry.name,
          });
          const dest = join(dir, "dist", path.replace(/\.ts$/, ".js"));
          mkdirSync(dirname(dest), { recursive: true });
          writeFileSync(dest, js.outputText);
        }
      }
    };
    walk(top);
  }
  const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as Record<string, unknown>;
  writeFileSync(join(dir, "package.json"), `${JSON.stringify({ ...pkg, version }, null, 2)}\n`);
  cpSync(join(REPO, "package-lock.json"), join(dir, "package-lock.json"));
  for (const file of [
    "scripts/install.sh",
    "scripts/bin/campus-agent",
    "scripts/systemd/campus-agent.service",
    "config/examples/minimal.yaml",
    "config/config.schema.json",
  ]) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    cpSync(join(REPO, file), join(dir, file), { preserveTimestamps: true });
  }
  symlinkSync(join(REPO, "node_modules"), join(dir, "node_modules"));
}

/** A Debian root's account files, as far as useradd --prefix needs them: root, and the dialout group. */
function makeRoot(dir: string): void {
  mkdirSync(join(dir, "etc"));
  writeFileSync(join(dir, "etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n");
  writeFileSync(join(dir, "etc/group"), "root:x:0:\ndialout:x:20:\n");
  writeFileSync(join(dir, "etc/shadow"), "root:*:19000:0:99999:7:::\n", { mode: 0o640 });
  writeFileSync(join(dir, "etc/gshadow"), "root:*::\ndialout:*::\n", { mode: 0o640 });
}

/** uid and gid of campus-agent in the root's own account files. */
function ids(root: string): { uid: number; gid: number } {
  const user = readFileSync(join(root, "etc/passwd"), "utf8").split("\n").find((l) => l.startsWith("campus-agent:"));
  const group = readFileSync(join(root, "etc/group"), "utf8").split("\n").find((l) => l.startsWith("campus-agent:"));
  return { uid: Number(user?.split(":")[2]), gid: Number(group?.split(":")[2]) };
}

function modeOwner(path: string): string {
  const st = lstatSync(path);
  return `${(st.mode & 0o7777).toString(8).padStart(4, "0")} ${st.uid}:${st.gid}`;
}

describe(`the systemd unit${skipNote(noAnalyze)}`, () => {
  it.skipIf(noAnalyze !== undefined)("passes systemd-analyze verify, without a warning about it", async () => {
    const r = await run("systemd-analyze", ["verify", UNIT]);
    const about = `${r.stdout}${r.stderr}`.split("\n").filter((l) => l.includes("campus-agent.service"));
    expect(about).toEqual([]);
    expect(r.code).toBe(0);
  });

  it("runs the agent the way it expects to be run", () => {
    const directives = new Map<string, string[]>();
    for (const line of readFileSync(UNIT, "utf8").split("\n")) {
      const m = /^([A-Za-z]+)=(.*)$/.exec(line);
      if (m) directives.set(m[1] as string, [...(directives.get(m[1] as string) ?? []), m[2] as string]);
    }
    const one = (key: string) => directives.get(key)?.join(" | ");
    expect(one("Type")).toBe("simple");
    expect([one("User"), one("Group"), one("SupplementaryGroups")]).toEqual(["campus-agent", "campus-agent", "dialout"]);
    expect(one("ExecStart")).toBe("/usr/bin/node /opt/campus-agent/dist/agent/cli.js run --config /etc/campus-agent/config.yaml");
    expect(one("ExecReload")).toBe("/bin/kill -HUP $MAINPID");
    expect([one("KillSignal"), one("TimeoutStopSec"), one("Restart"), one("RestartSec")]).toEqual(["SIGTERM", "15", "always", "2"]);
    expect([one("StateDirectory"), one("StateDirectoryMode"), one("UMask")]).toEqual(["campus-agent", "0750", "0007"]);
    expect(one("EnvironmentFile")).toBe("-/etc/campus-agent/environment");
    expect(one("RestrictAddressFamilies")).toBe("AF_UNIX AF_INET AF_INET6 AF_NETLINK");
    expect(one("MemoryDenyWriteExecute")).toBe("no");
    // Serial ports must stay reachable: no private /dev, no device allow-list.
    for (const key of ["PrivateDevices", "DeviceAllow", "DevicePolicy", "ProtectClock"]) expect(directives.has(key), key).toBe(false);
  });
});

it.skipIf(noShellcheck !== undefined)(`install.sh and bin/campus-agent are shellcheck-clean${skipNote(noShellcheck)}`, async () => {
  const r = await run("shellcheck", [join(REPO, "scripts", "install.sh"), join(REPO, "scripts", "bin", "campus-agent")]);
  expect(r.stdout).toBe("");
  expect(r.code).toBe(0);
});

describe.skipIf(!existsSync("/usr/bin/node"))(`bin/campus-agent${skipNote(existsSync("/usr/bin/node") ? undefined : "no /usr/bin/node")}`, () => {
  it("runs the app's cli.js with the service's environment file, as systemd reads it; the caller's variables win", async () => {
    const app = mkdtempSync(join(tmpdir(), "wrapper-test-"));
    try {
      mkdirSync(join(app, "bin"));
      mkdirSync(join(app, "dist/agent"), { recursive: true });
      cpSync(join(REPO, "scripts/bin/campus-agent"), join(app, "bin/campus-agent"));
      const names = ["A", "B", "C", "D", "E", "F", "G", "H", "I", "bad"].map((n) => `WRAPPER_TEST_${n}`);
      writeFileSync(
        join(app, "dist/agent/cli.js"),
        `console.log(JSON.stringify({ args: process.argv.slice(2), env: Object.fromEntries(${JSON.stringify(names)}.map((k) => [k, process.env[k]])) }));\n`,
      );
      const envFile = join(app, "environment");
      writeFileSync(
        envFile,
        [
          "# a comment",
          "; another",
          "",
          "WRAPPER_TEST_A=plain",
          '  WRAPPER_TEST_B = "double quoted, with spaces"  ',
          "WRAPPER_TEST_C='single'",
          "#WRAPPER_TEST_D=commented out",
          "WRAPPER_TEST_E",
          "WRAPPER_TEST_bad-name=x",
          "WRAPPER_TEST_F=",
          "WRAPPER_TEST_G=a=b",
          "WRAPPER_TEST_H=from the file",
          "WRAPPER_TEST_I=last line without a newline",
        ].join("\n"),
      );
      const r = await run(join(app, "bin/campus-agent"), ["config", "check", "some file"], {
        CAMPUS_AGENT_ENVIRONMENT_FILE: envFile,
        WRAPPER_TEST_H: "from the caller",
      });
      expect(r.stderr).toBe("");
      expect(JSON.parse(r.stdout)).toEqual({
        args: ["config", "check", "some file"],
        env: {
          WRAPPER_TEST_A: "plain",
          WRAPPER_TEST_B: "double quoted, with spaces",
          WRAPPER_TEST_C: "single",
          WRAPPER_TEST_F: "",
          WRAPPER_TEST_G: "a=b",
          WRAPPER_TEST_H: "from the caller",
          WRAPPER_TEST_I: "last line without a newline",
        },
      });
      // No file: runs all the same.
      const none = await run(join(app, "bin/campus-agent"), ["--version"], { CAMPUS_AGENT_ENVIRONMENT_FILE: join(app, "missing") });
      expect(none.code).toBe(0);
      expect(JSON.parse(none.stdout)).toEqual({ args: ["--version"], env: {} });
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  });
});

describe.skipIf(missing !== undefined)(`install.sh in a scratch root${skipNote(missing)}`, () => {
  let scratch = "";
  let root = "";
  let checkout = "";
  const hostPasswd = existsSync("/etc/passwd") ? readFileSync("/etc/passwd", "utf8") : "";
  const hostHadApp = existsSync("/opt/campus-agent");
  const install = (from: string) => run("bash", [join(from, "scripts", "install.sh"), "--root", root, "--no-start"]);

  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), "install-test-"));
    root = join(scratch, "root");
    checkout = join(scratch, "checkout");
    mkdirSync(root);
    mkdirSync(checkout);
    makeRoot(root);
    makeCheckout(checkout, VERSION);
  });
  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it("installs: user and group, directories, app, command, config, environment and unit", async () => {
    const r = await install(checkout);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines.every((l) => l.startsWith("install: ")), r.stdout).toBe(true);
    expect(lines).toContain(`install: group campus-agent: created (gid ${ids(root).gid})`);
    expect(lines).toContain("install: /etc/campus-agent/config.yaml: created from config/examples/minimal.yaml (0640 root:campus-agent): edit it");
    expect(lines).toContain("install: service: systemctl not run (--root)");

    // The account, in the root's own files; nothing on the host.
    const { uid, gid } = ids(root);
    expect(uid).toBeGreaterThan(0);
    expect(uid).toBeLessThan(1000); // a system user
    expect(readFileSync(join(root, "etc/passwd"), "utf8")).toContain(`campus-agent:x:${uid}:${gid}:Campus Edge Agent:/var/lib/campus-agent:/usr/sbin/nologin\n`);
    expect(readFileSync(join(root, "etc/group"), "utf8")).toMatch(/^dialout:x:20:campus-agent$/m);
    expect(readFileSync("/etc/passwd", "utf8")).toBe(hostPasswd);
    expect(existsSync("/opt/campus-agent")).toBe(hostHadApp);

    // Directories, config, environment, unit: modes and owners.
    expect(modeOwner(join(root, "etc/campus-agent"))).toBe(`0750 0:${gid}`);
    expect(modeOwner(join(root, "etc/campus-agent/config.yaml"))).toBe(`0640 0:${gid}`);
    expect(readFileSync(join(root, "etc/campus-agent/config.yaml"), "utf8")).toBe(readFileSync(join(REPO, "config/examples/minimal.yaml"), "utf8"));
    expect(modeOwner(join(root, "etc/campus-agent/environment"))).toBe(`0640 0:${gid}`);
    expect(readFileSync(join(root, "etc/campus-agent/environment"), "utf8")).toContain("#CAMPUS_AGENT_MQTT_PASSWORD=");
    expect(modeOwner(join(root, "var/lib/campus-agent"))).toBe(`0750 ${uid}:${gid}`);
    expect(readdirSync(join(root, "var/lib/campus-agent"))).toEqual([]);
    expect(modeOwner(join(root, "etc/systemd/system/campus-agent.service"))).toBe("0644 0:0");
    expect(readFileSync(join(root, "etc/systemd/system/campus-agent.service"), "utf8")).toBe(readFileSync(UNIT, "utf8"));

    // The app: root-owned, nothing writable but by root, production dependencies only.
    const app = join(root, "opt/campus-agent");
    expect(modeOwner(app)).toBe("0755 0:0");
    const writable = [...listing(app)].filter(([, v]) => {
      const [mode = "", owner] = v.split(" ");
      return owner !== "0:0" || (!mode.startsWith("12") && (Number.parseInt(mode, 8) & 0o022) !== 0);
    });
    expect(writable).toEqual([]);
    expect(readFileSync(join(app, "package-lock.json"), "utf8")).toBe(readFileSync(join(REPO, "package-lock.json"), "utf8"));
    for (const dep of ["better-sqlite3", "mqtt", "aedes", "onvif", "modbus-serial", "zod"]) expect(existsSync(join(app, "node_modules", dep)), dep).toBe(true);
    for (const dev of ["vitest", "typescript", "eslint", "ajv", "@types/better-sqlite3"]) expect(existsSync(join(app, "node_modules", dev)), dev).toBe(false);
    expect(existsSync(join(app, "node_modules/.vite"))).toBe(false);

    // The command: a relative link to the app's wrapper, which runs cli.js with the host's /usr/bin/node.
    expect(readlinkSync(join(root, "usr/local/bin/campus-agent"))).toBe("../../../opt/campus-agent/bin/campus-agent");
    const version = await run(join(root, "usr/local/bin/campus-agent"), ["--version"]);
    expect(version).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: "" });
  });

  it("a second run changes nothing", async () => {
    const before = listing(root);
    const r = await install(checkout);
    expect(r.code, r.stderr).toBe(0);
    expect(changes(before, listing(root))).toEqual([]);
    expect(r.stdout).toContain("install: group campus-agent: exists");
    expect(r.stdout).toContain("install: user campus-agent: exists");
    expect(r.stdout).toContain(`install: /opt/campus-agent: campus-edge-agent ${VERSION}, unchanged`);
    expect(r.stdout).toContain("install: /etc/campus-agent/config.yaml: kept as it is");
    expect(r.stdout).toContain("install: /etc/systemd/system/campus-agent.service: unchanged");
    // The untouched example names a password variable the environment file does not set yet.
    expect(r.stdout).toContain("broker.password_env: environment variable CAMPUS_AGENT_MQTT_PASSWORD is not set");
  });

  it("an upgrade replaces the app and keeps the config, the environment and the buffered data", async () => {
    const { uid, gid } = ids(root);
    const config = join(root, "etc/campus-agent/config.yaml");
    appendFileSync(config, "# edited on the gateway\n");
    writeFileSync(join(root, "etc/campus-agent/environment"), 'CAMPUS_AGENT_MQTT_PASSWORD="s3cret with spaces"\n', { mode: 0o640 });
    const data = join(root, "var/lib/campus-agent");
    writeFileSync(join(data, "outbox.db"), "buffered messages");
    writeFileSync(join(data, "outbox.db-wal"), "more");
    spawnSync("chown", ["-R", `${uid}:${gid}`, data]);
    writeFileSync(join(root, "opt/campus-agent/dist/left-over.js"), "// from the old version");
    const kept = (l: Map<string, string>) => new Map([...l].filter(([p]) => p.startsWith("etc/") || p.startsWith("var/")));
    const before = listing(root);

    const newer = join(scratch, "checkout-newer");
    mkdirSync(newer);
    makeCheckout(newer, `${VERSION}-newer`);
    const r = await install(newer);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`install: /opt/campus-agent: campus-edge-agent ${VERSION}-newer installed (was ${VERSION})`);
    // The environment file is read as systemd reads it: the check passes now.
    expect(r.stdout).toContain("install: config: /etc/campus-agent/config.yaml: OK (campus lincoln-hs, gateway gw-1, 4 devices)");

    expect(changes(kept(before), kept(listing(root)))).toEqual([]);
    expect(readFileSync(config, "utf8")).toMatch(/# edited on the gateway\n$/);
    expect(existsSync(join(root, "opt/campus-agent/dist/left-over.js"))).toBe(false);
    expect(existsSync(join(root, "opt/campus-agent.old")) || existsSync(join(root, "opt/campus-agent.new"))).toBe(false);
    const version = await run(join(root, "usr/local/bin/campus-agent"), ["--version"]);
    expect(version.stdout).toBe(`${VERSION}-newer\n`);
  });

  it("refuses an upgrade whose new version rejects the config the installed one accepts, changing nothing", async () => {
    const broken = join(scratch, "checkout-broken");
    mkdirSync(broken);
    makeCheckout(broken, `${VERSION}-broken`);
    // A "new version" whose config check rejects every config.
    writeFileSync(
      join(broken, "dist/agent/cli.js"),
      [
        'if (process.argv[2] === "--version") console.log("broken");',
        'else { console.error("config.yaml:1:1 campus.id: not accepted by this version"); process.exitCode = 2; }',
        "",
      ].join("\n"),
    );
    const before = listing(root);
    const r = await install(broken);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("campus.id: not accepted by this version");
    expect(r.stderr).toContain(`install: error: refused: campus-edge-agent broken rejects /etc/campus-agent/config.yaml, which the installed ${VERSION}-newer accepts`);
    expect(changes(before, listing(root))).toEqual([]);
  });

  it("refuses a root without account files, and a checkout that is not built", async () => {
    const empty = join(scratch, "empty-root");
    mkdirSync(empty);
    const r = await run("bash", [join(checkout, "scripts", "install.sh"), "--root", empty, "--no-start"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`install: error: --root ${empty} has no etc/passwd and etc/group\n`);
    expect(readdirSync(empty)).toEqual([]);

    const unbuilt = join(scratch, "checkout-unbuilt");
    cpSync(join(checkout, "scripts"), join(unbuilt, "scripts"), { recursive: true });
    const u = await run("bash", [join(unbuilt, "scripts", "install.sh"), "--root", root, "--no-start"]);
    expect(u.code).toBe(1);
    expect(u.stderr).toContain("dist/agent/cli.js is missing: run this from a built checkout (npm ci && npm run build)");
    expect(statSync(join(root, "opt/campus-agent")).isDirectory()).toBe(true);
  });
});
