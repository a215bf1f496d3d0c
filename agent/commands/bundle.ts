/**
 * `campus-agent bundle`: one archive for support, made without disturbing
 * the agent (its control socket, and the outbox file read-only; never a
 * network port): the config with its secrets removed and its check, the
 * lifecycle policy it names and its check, the agent's status, devices and
 * asset report, the outbox, the recent warnings and the service's journal,
 * the versions of everything. It is written whether the agent runs or not,
 * and even when the config is invalid (when support is most wanted); what
 * could not be gathered is said in README.txt and in the summary.
 *
 * Secrets (agent/commands/redact.ts): the config's text is redacted by key
 * and in URLs; then every secret the config holds or names is searched for
 * in every file, as the last step before archiving, and replaced.
 *
 * Exit codes: 0 written with everything; 1 written but something could not
 * be gathered (listed), or not written; 2 the config cannot be read or is
 * invalid, or the lifecycle policy it names is (the agent would refuse
 * both alike; the bundle is still written when the config could be read),
 * or a usage error (in cli.ts).
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname, release, tmpdir, type as osType, userInfo, version as osVersion } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import BetterSqlite3 from "better-sqlite3";
import { create as tar } from "tar";
import { ConfigError, formatProblems, type LoadedConfig, parseConfig } from "../../config/load.js";
import type { DriverFactory } from "../../drivers/contract.js";
import { renderJson } from "../assets/report-format.js";
import type { AssetReport } from "../assets/report-types.js";
import type { DevicesView, StatusView } from "../control/views.js";
import { loadPolicy, PolicyError } from "../lifecycle/policy.js";
import { InspectError, OutboxInspector } from "../outbox/inspect.js";
import { PACKAGE_ROOT, VERSION } from "../version.js";
import { devicesExitCode } from "./devices.js";
import { olderAgent } from "./report.js";
import { ask, bytes, plural, reportFailure, table } from "./format.js";
import { outboxView } from "./outbox.js";
import { type ConfigSecrets, needles, redactConfig, REDACTED, scrub, scrubText } from "./redact.js";
import { statusProblems } from "./status.js";

/** The service whose journal goes in (scripts/systemd/campus-agent.service). */
export const JOURNAL_UNIT = "campus-agent";
export const JOURNAL_LINES = 2000;

/** What each file is, in the order they are listed. */
export const BUNDLE_FILES = {
  "README.txt": "what is in the bundle, when and where it was made, what is missing",
  "config.yaml": `the config file, every secret replaced by ${REDACTED}`,
  "config-check.txt": "the config and its lifecycle policy checked: OK, or every problem with its line",
  "policy.yaml": "the lifecycle policy file the config names, as it is",
  "status.json": "the agent at a glance (campus-agent status --json)",
  "devices.json": "every device, its state and reason (campus-agent devices --json)",
  "report.json": "the asset register: readiness, inventory, compliance, unknown assets (campus-agent report --format json)",
  "outbox.json": "what is waiting to be sent (campus-agent outbox --json)",
  "logs/recent-warnings.jsonl": "the agent's last warnings and errors, one JSON object a line",
  "logs/journal.txt": `journalctl -u ${JOURNAL_UNIT} -n ${JOURNAL_LINES} -o short-iso`,
  "versions.json": "agent, Node.js, OS, kernel, SQLite, dependencies; the config's and the policy's SHA-256",
} as const;
export type BundleFile = keyof typeof BUNDLE_FILES;

export interface BundleArgs {
  configFile: string;
  /** The control socket; default the config's. */
  socket?: string;
  /** The outbox file; default the config's. */
  db?: string;
  /** The archive, or a folder to put it in; default the current folder. */
  output?: string;
  json: boolean;
  drivers: readonly DriverFactory[];
  env?: NodeJS.ProcessEnv;
  now?: () => number;
  /** Reads the service's journal; injectable for tests. */
  journal?: () => Promise<JournalResult>;
  timeoutMs?: number;
}

/** The journal's text when it could be read; a note when there is none to read here, a problem when it failed. */
export interface JournalResult {
  text?: string;
  note?: string;
  problem?: string;
}

/** What `--json` prints. */
export interface BundleSummary {
  ok: boolean;
  path: string;
  bytes: number;
  folder: string;
  created_at: string;
  config: { path: string; valid: boolean; problems: number };
  /** The lifecycle policy the config names, checked (an invalid one: exit code 2, like the config); null when it names none, or the config is invalid (which one it names is then not known). */
  policy: { path: string; valid: boolean; problems: number } | null;
  files: { name: BundleFile; bytes: number; what: string }[];
  secrets: {
    configured: ConfigSecrets["sources"];
    /** Values replaced in config.yaml, by key or in a URL. */
    replaced_in_config: number;
    /** Occurrences removed afterwards from each file. */
    scrubbed: Partial<Record<BundleFile, number>>;
    /** Secrets too short to search for in free text (removed from config.yaml by key only). */
    too_short: number;
  };
  /** What could not be gathered, and why. */
  problems: string[];
  notes: string[];
}

export async function bundle(args: BundleArgs, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const env = args.env ?? process.env;
  const now = (args.now ?? Date.now)();
  const configFile = resolve(args.configFile);
  let raw: Buffer;
  try {
    raw = readFileSync(configFile);
  } catch (e) {
    const code = (e as { code?: string }).code ?? String(e);
    const message = code === "ENOENT" ? `no config file at ${configFile} (use --config FILE)` : `cannot read ${configFile}: ${code}`;
    return reportFailure("bundle", { code: "config", message }, 2, { json: args.json, out, err });
  }
  const text = raw.toString("utf8");
  let loaded: LoadedConfig | undefined;
  let check: string;
  let configProblems = 0;
  try {
    loaded = parseConfig(text, { file: configFile, drivers: args.drivers, env });
    check = `${configFile}: OK (campus ${loaded.config.campus.id}, gateway ${loaded.config.gateway.id}, ${plural(loaded.config.devices.length, "device")})\n`;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    configProblems = e.problems.length;
    check = `${formatProblems(e)}\n`;
  }
  // The policy the agent would load with this config (agent/run.ts withPolicy): checked the same way.
  const policyFile = loaded?.config.policy?.file;
  let policyProblems = 0;
  if (policyFile !== undefined) {
    try {
      const p = loadPolicy(policyFile).policy;
      check += `lifecycle policy ${policyFile}: OK (${plural(p.firmware.length, "firmware rule")}, ${plural(p.end_of_support.length, "end-of-support date")})\n`;
    } catch (e) {
      if (!(e instanceof PolicyError)) throw e;
      policyProblems = e.problems.length;
      check += `${formatProblems(e)}\n`;
    }
  }
  // An invalid policy stops the agent like an invalid config: both make the bundle's exit code 2.
  const invalid = configProblems > 0 || policyProblems > 0;
  const secrets = redactConfig(text, { dir: dirname(configFile), env });
  const { needles: list, tooShort } = needles(secrets.values);

  const gateway = loaded?.config.gateway.id ?? "unknown";
  const folder = `campus-agent-bundle-${gateway}-${new Date(now).toISOString().replace(/[-:]|\.\d+/g, "")}`;
  let path = resolve(args.output ?? `${folder}.tar.gz`);
  if (args.output !== undefined && isDirectory(path)) path = join(path, `${folder}.tar.gz`);

  const g = new Gathered();
  g.put("config.yaml", secrets.text);
  g.put("config-check.txt", check);
  const policyRaw = fromPolicy(g, loaded, policyFile);
  const socket = args.socket ?? (loaded?.config.control.enabled ? loaded.config.control.socket : undefined);
  const db = args.db ?? loaded?.config.outbox.path;
  const noSocket = loaded === undefined ? "the config is invalid, so its control socket is not known" : "the config has no control socket (control.enabled is false, or the outbox is in memory)";
  const [journal] = await Promise.all([
    (args.journal ?? readJournal)(),
    socket === undefined ? g.missing(AGENT_FILES, `${noSocket}; give --socket PATH`) : fromAgent(g, socket, args.timeoutMs ?? 5000),
  ]);
  // No outbox path only from an invalid config: a valid one always has one.
  if (db === undefined) g.missing(["outbox.json"], "the config is invalid, so where its outbox is is not known; give --db PATH");
  else if (db === ":memory:") g.notes.push("outbox.json: the config keeps the outbox in memory (outbox.path is :memory:): there is no file to read");
  else fromOutbox(g, db, now);
  if (journal.text !== undefined) g.put("logs/journal.txt", journal.text);
  if (journal.note !== undefined) g.notes.push(`logs/journal.txt: ${journal.note}`);
  if (journal.problem !== undefined) g.missing([], `logs/journal.txt: ${journal.problem}`);
  g.put("versions.json", `${JSON.stringify(versions(configFile, raw, policyFile, policyRaw), null, 2)}\n`);
  if (tooShort > 0) g.notes.push(`${plural(tooShort, "secret")} shorter than 4 characters ${tooShort === 1 ? "was" : "were"} removed from config.yaml by key only: too short to search for in other text`);

  // The last step before archiving: every secret out of every file.
  const { files } = g;
  const scrubbed: Partial<Record<BundleFile, number>> = {};
  for (const [name, data] of files) {
    const r = scrub(data, list);
    files.set(name, r.data);
    if (r.count > 0) scrubbed[name] = r.count;
  }
  const safeProblems = g.problems.map((p) => scrubText(p, list));
  const safeNotes = g.notes.map((n) => scrubText(n, list));
  const summary: BundleSummary = {
    ok: safeProblems.length === 0 && !invalid,
    path,
    bytes: 0,
    folder,
    created_at: new Date(now).toISOString(),
    config: { path: configFile, valid: loaded !== undefined, problems: configProblems },
    policy: policyFile === undefined ? null : { path: policyFile, valid: policyProblems === 0, problems: policyProblems },
    files: [],
    secrets: { configured: secrets.sources, replaced_in_config: secrets.replaced, scrubbed, too_short: tooShort },
    problems: safeProblems,
    notes: safeNotes,
  };
  const ordered = (Object.keys(BUNDLE_FILES) as BundleFile[]).filter((n) => n === "README.txt" || files.has(n));
  const readme = scrub(Buffer.from(renderReadme(summary, { socket, db, config: loaded?.config, names: ordered })), list);
  if (readme.count > 0) scrubbed["README.txt"] = readme.count;
  files.set("README.txt", readme.data);
  summary.files = ordered.map((name) => ({ name, bytes: files.get(name)?.length ?? 0, what: BUNDLE_FILES[name] }));

  try {
    summary.bytes = await writeArchive(path, folder, ordered.map((n) => [n, files.get(n) as Buffer]));
  } catch (e) {
    const message = `cannot write ${path}: ${scrubText(e instanceof Error ? e.message : String(e), list)} (give --output FILE in a folder you can write to)`;
    return reportFailure("bundle", { code: "write", message }, 1, { json: args.json, out, err });
  }
  if (invalid) err.write(`${check}`);
  out.write(args.json ? `${JSON.stringify(summary)}\n` : renderSummary(summary));
  return invalid ? 2 : safeProblems.length > 0 ? 1 : 0;
}

/** The files gathered so far, and what could not be. */
class Gathered {
  readonly files = new Map<BundleFile, Buffer>();
  readonly problems: string[] = [];
  readonly notes: string[] = [];

  put(name: BundleFile, data: string | Buffer): void {
    this.files.set(name, Buffer.isBuffer(data) ? data : Buffer.from(data));
  }

  /** `files` could not be gathered, for `reason` (a problem: exit code 1). */
  missing(files: readonly BundleFile[], reason: string): void {
    this.problems.push(files.length === 0 ? reason : `${files.join(", ")}: ${reason}`);
  }
}

/** The lifecycle policy file as it is (scrubbed at the end like every file); its content, for its hash, when it could be read. */
function fromPolicy(g: Gathered, loaded: LoadedConfig | undefined, file: string | undefined): Buffer | undefined {
  if (loaded === undefined) {
    g.missing(["policy.yaml"], "the config is invalid, so which lifecycle policy it names is not known");
    return undefined;
  }
  if (file === undefined) {
    g.notes.push("policy.yaml: the config names no lifecycle policy (policy.file): the agent checks no device's compliance");
    return undefined;
  }
  try {
    const data = readFileSync(file);
    g.put("policy.yaml", data);
    return data;
  } catch (e) {
    g.missing(["policy.yaml"], `cannot read ${file}: ${(e as { code?: string }).code ?? String(e)}`);
    return undefined;
  }
}

/** What the running agent answers on its control socket. */
const AGENT_FILES = ["status.json", "logs/recent-warnings.jsonl", "devices.json", "report.json"] as const;

/**
 * status, devices and the asset report from the agent, as `campus-agent
 * status --json`, `devices --json` and `report --format json` print them;
 * with them the recent warnings.
 */
async function fromAgent(g: Gathered, socket: string, timeoutMs: number): Promise<void> {
  const [st, dv, rp] = await Promise.all([
    ask<StatusView>(socket, "status", {}, timeoutMs),
    ask<DevicesView>(socket, "devices", {}, timeoutMs),
    ask<AssetReport>(socket, "report", {}, timeoutMs),
  ]);
  const failed: [readonly BundleFile[], string][] = [];
  if (st.ok) {
    const problems = statusProblems(st.result);
    g.put("status.json", `${JSON.stringify({ ok: problems.length === 0, problems, ...st.result }, null, 2)}\n`);
    g.put("logs/recent-warnings.jsonl", st.result.recent_errors.entries.map((e) => `${JSON.stringify(e)}\n`).join(""));
  } else failed.push([["status.json", "logs/recent-warnings.jsonl"], st.error.message]);
  if (dv.ok) g.put("devices.json", `${JSON.stringify({ ok: devicesExitCode(dv.result) === 0, ...dv.result }, null, 2)}\n`);
  else failed.push([["devices.json"], dv.error.message]);
  if (rp.ok) g.put("report.json", renderJson(rp.result));
  else if (rp.error.code === "unknown_method") failed.push([["report.json"], olderAgent(rp.error.message)]);
  else failed.push([["report.json"], rp.error.message]);
  // An agent that is not running fails every request the same way: said once.
  if (failed.length === 3 && failed.every(([, m]) => m === failed[0]?.[1])) g.missing(AGENT_FILES, failed[0]?.[1] ?? "");
  else for (const [files, message] of failed) g.missing(files, message);
}

/** The outbox, read-only, as `campus-agent outbox --json` prints it. */
function fromOutbox(g: Gathered, db: string, now: number): void {
  try {
    const inspector = OutboxInspector.open(db);
    try {
      g.put("outbox.json", `${JSON.stringify(outboxView(inspector.summary(), now), null, 2)}\n`);
    } finally {
      inspector.close();
    }
  } catch (e) {
    if (!(e instanceof InspectError)) throw e;
    g.missing(["outbox.json"], e.message);
  }
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The files into a private folder (0700, files 0600), tar + gzip into a
 * fresh file beside `path` (0600, never an existing one), renamed onto
 * `path` once complete; the folder is always removed. Returns the size.
 */
async function writeArchive(path: string, folder: string, files: [string, Buffer][]): Promise<number> {
  const tmp = mkdtempSync(join(tmpdir(), "campus-agent-bundle-"));
  const partial = join(dirname(path), `.${basename(path)}.${process.pid}.partial`);
  try {
    for (const [name, data] of files) {
      const file = join(tmp, folder, name);
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      writeFileSync(file, data, { mode: 0o600 });
    }
    try {
      // portable: no uid, gid or user name of whoever made it; the modes (0600, 0700) are kept.
      await pipeline(tar({ gzip: true, cwd: tmp, portable: true }, [folder]), createWriteStream(partial, { flags: "wx", mode: 0o600 }));
      renameSync(partial, path);
    } catch (e) {
      rmSync(partial, { force: true });
      throw e;
    }
    return statSync(path).size;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** `journalctl -u campus-agent`: its text; a note where there is no journal; a problem where it cannot be read. */
export function readJournal(): Promise<JournalResult> {
  const cmd = ["-u", JOURNAL_UNIT, "-n", String(JOURNAL_LINES), "--no-pager", "-o", "short-iso"];
  return new Promise((done) => {
    execFile("journalctl", cmd, { encoding: "utf8", timeout: 20_000, maxBuffer: 64 * 1024 * 1024 }, (e, stdout, stderr) => {
      const said = stderr.trim().replace(/\s+/g, " ");
      if ((e as NodeJS.ErrnoException | null)?.code === "ENOENT") done({ note: "journalctl is not installed here (no systemd journal to read)" });
      else if (e !== null) done({ problem: `journalctl ${cmd.join(" ")} failed: ${said || e.message}` });
      // journalctl shows an unprivileged user only their own entries, and says so on stderr.
      else if (/not seeing messages from other users/i.test(said)) {
        done({ text: stdout, problem: "the journal is not readable by this user: run as root, or as a member of group systemd-journal or adm" });
      } else done({ text: stdout, ...(said !== "" ? { note: `journalctl said: ${said}` } : {}) });
    });
  });
}

function versions(configFile: string, raw: Buffer, policyFile: string | undefined, policyRaw: Buffer | undefined): Record<string, unknown> {
  const pkg = readJson(join(PACKAGE_ROOT, "package.json")) as { dependencies?: Record<string, string> } | undefined;
  const installed = (name: string) => (readJson(join(PACKAGE_ROOT, "node_modules", name, "package.json")) as { version?: string } | undefined)?.version ?? null;
  let sqlite: string;
  try {
    const db = new BetterSqlite3(":memory:");
    sqlite = (db.prepare("SELECT sqlite_version() AS v").get() as { v: string }).v;
    db.close();
  } catch (e) {
    sqlite = `unavailable: ${e instanceof Error ? e.message : String(e)}`;
  }
  const osName = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readText("/etc/os-release") ?? "")?.[1] ?? null;
  return {
    agent: VERSION,
    install_root: PACKAGE_ROOT,
    node: process.version,
    node_versions: Object.fromEntries(["v8", "uv", "openssl", "zlib", "modules"].map((k) => [k, process.versions[k] ?? null])),
    platform: process.platform,
    arch: process.arch,
    os: { name: osName, type: osType(), hostname: hostname() },
    kernel: { release: release(), version: osVersion() },
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    better_sqlite3: installed("better-sqlite3"),
    sqlite,
    dependencies: Object.fromEntries(Object.entries(pkg?.dependencies ?? {}).map(([name, wanted]) => [name, { wanted, installed: installed(name) }])),
    config: { path: configFile, bytes: raw.length, sha256: sha256(raw) },
    // The running agent's report.json names the sha256 of the policy it loaded: the same unless the file changed since (no SIGHUP yet).
    policy: policyFile !== undefined && policyRaw !== undefined ? { path: policyFile, bytes: policyRaw.length, sha256: sha256(policyRaw) } : null,
  };
}

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

function readText(p: string): string | undefined {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return undefined;
  }
}

function readJson(p: string): unknown {
  const t = readText(p);
  return t === undefined ? undefined : JSON.parse(t);
}

function renderReadme(s: BundleSummary, at: { socket: string | undefined; db: string | undefined; config: LoadedConfig["config"] | undefined; names: BundleFile[] }): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = `uid ${process.getuid?.() ?? "?"}`; // no passwd entry for this uid (a container)
  }
  const lines = [
    "campus-agent support bundle",
    "",
    ...table(
      [
        ["made", `${s.created_at} by campus-agent ${VERSION} (campus-agent bundle), user ${user}, pid ${process.pid}`],
        ["on", `${hostname()} (${process.platform} ${process.arch}, kernel ${release()})`],
        ["campus", at.config ? `${at.config.campus.id}, gateway ${at.config.gateway.id}` : "unknown: the config is invalid"],
        ["config", `${s.config.path} (${s.config.valid ? "valid" : `INVALID: ${plural(s.config.problems, "problem")}, see config-check.txt`})`],
        ["policy", s.policy === null ? (s.config.valid ? "none" : "unknown: the config is invalid") : `${s.policy.path} (${s.policy.valid ? "valid" : `INVALID: ${plural(s.policy.problems, "problem")}, see config-check.txt`})`],
        ["socket", at.socket ?? "none"],
        ["outbox", at.db ?? "unknown"],
      ],
      { indent: "  " },
    ),
    "",
    "Files",
    ...table(
      at.names.map((n) => [n, BUNDLE_FILES[n]]),
      { indent: "  " },
    ),
    "",
    s.problems.length === 0 ? "Everything was gathered." : `Not gathered (${s.problems.length})`,
    ...s.problems.map((p) => `  - ${p}`),
    ...(s.notes.length > 0 ? ["", "Notes", ...s.notes.map((n) => `  - ${n}`)] : []),
    "",
    "Secrets",
    "  In config.yaml every value under a key that names a secret (password, key, token, secret, passphrase...)",
    `  and the password of every URL are replaced by ${REDACTED} (${plural(s.secrets.replaced_in_config, "value")}). Keys ending in _env`,
    "  or _file are kept: they name the variable or file where the secret is. Then every secret the config",
    "  holds or names was searched for in every file, also JSON-escaped, URL-encoded and in base64, and",
    `  replaced by ${REDACTED}: ${scrubbedText(s.secrets.scrubbed)}.`,
    ...(s.secrets.configured.length > 0 ? ["", ...table(s.secrets.configured.map((c) => [c.path, c.kind, c.ref ?? "", c.found]), { head: ["WHERE", "KIND", "NAMES", "VALUE"], indent: "  " })] : []),
  ];
  return `${lines.join("\n")}\n`;
}

function scrubbedText(counts: Partial<Record<BundleFile, number>>): string {
  const entries = Object.entries(counts);
  if (entries.length === 0) return "none found";
  const total = entries.reduce((n, [, c]) => n + c, 0);
  return `${plural(total, "occurrence")} (${entries.map(([f, c]) => `${f} ${c}`).join(", ")})`;
}

/** The secrets that could not be read, one line per variable or file (six cameras share one password). */
function notRead(sources: BundleSummary["secrets"]["configured"]): string[] {
  const by = new Map<string, string[]>();
  for (const c of sources.filter((x) => x.found !== "found")) {
    const k = `${c.kind === "env" ? "variable" : "file"} ${c.ref ?? ""} (${c.found})`;
    by.set(k, [...(by.get(k) ?? []), c.path]);
  }
  return [...by].map(([k, paths]) => `${k}: ${paths[0]}${paths.length > 1 ? ` and ${paths.length - 1} more` : ""}`);
}

export function renderSummary(s: BundleSummary): string {
  const lines = [`Bundle  ${s.path} (${bytes(s.bytes)}, mode 0600)`, `  ${s.folder}/`];
  lines.push(...table(s.files.map((f) => [f.name, bytes(f.bytes), f.what]), { align: ["left", "right", "left"], indent: "    " }));
  const found = s.secrets.configured.filter((c) => c.found === "found").length;
  lines.push("", `Secrets  ${plural(s.secrets.configured.length, "configured secret")}, ${found} read here to be removed (never shown)`);
  const rows = [
    ["in config.yaml", `${plural(s.secrets.replaced_in_config, "value")} replaced by key or in a URL`],
    ["then removed", scrubbedText(s.secrets.scrubbed)],
    ...notRead(s.secrets.configured).map((line) => ["not read", line]),
  ];
  lines.push(...table(rows, { indent: "  " }));
  if (s.notes.length > 0) lines.push("", "Notes:", ...s.notes.map((n) => `  - ${n}`));
  lines.push("");
  if (!s.config.valid) lines.push(`CONFIG INVALID: ${plural(s.config.problems, "problem")} (listed above and in config-check.txt)`);
  if (s.policy !== null && !s.policy.valid) lines.push(`LIFECYCLE POLICY INVALID: ${plural(s.policy.problems, "problem")} (listed above and in config-check.txt)`);
  if (s.problems.length === 0) lines.push("OK: everything gathered.");
  else lines.push(`NOT GATHERED (${s.problems.length}):`, ...s.problems.map((p) => `  - ${p}`));
  return `${lines.join("\n")}\n`;
}
