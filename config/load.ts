/**
 * Loads the YAML config and reports every problem at once, each with its path
 * (`devices[3].poll.interval_ms`), a message a technician can act on, and the
 * line and column in the file. Secrets are read here and returned apart from
 * the config, so the config can be logged and no message ever holds a secret.
 */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { type Document, isMap, isNode, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import type { z } from "zod";
import type { LoadedPolicy } from "../agent/lifecycle/policy.js";
import type { DriverFactory } from "../drivers/contract.js";
import { describeIssue, formatPath, type Path, show } from "./messages.js";
import { buildConfigSchema, type Config } from "./schema.js";

export interface ConfigProblem {
  /** Like `devices[3].poll.interval_ms`; "" for the whole file. */
  path: string;
  message: string;
  line?: number;
  column?: number;
}

/** Invalid config: every problem found, one per line of the message as `<file>:<line>:<col> <path>: <message>`. */
export class ConfigError extends Error {
  override readonly name: string = "ConfigError";
  /** What the file holds, for the header of formatProblems(); subclasses for other files (PolicyError) say theirs. */
  readonly subject: string = "configuration";
  readonly problems: ConfigProblem[];
  readonly file: string;
  constructor(file: string, problems: ConfigProblem[]) {
    super(problems.map((p) => formatProblem(file, p)).join("\n"));
    this.file = file;
    this.problems = problems;
  }
}

export interface LoadedConfig {
  /** Validated, defaults applied, relative paths resolved against `dir`. Holds no secret. */
  config: Config;
  /** Absolute path of the config file. */
  file: string;
  dir: string;
  secrets: { brokerPassword?: string };
  /** The lifecycle policy `config.policy.file` names, once loaded (agent/lifecycle/policy.ts withPolicy). */
  policy?: LoadedPolicy;
}

export interface ParseOptions {
  /** Named in messages; relative paths in the config are resolved against its folder. */
  file: string;
  drivers: readonly DriverFactory[];
  env?: NodeJS.ProcessEnv;
  /** Reads the password and TLS files; injectable for tests. */
  readFile?: (p: string) => string;
}

/** A report for a person: a header, then one problem per line. */
export function formatProblems(err: ConfigError): string {
  const n = err.problems.length;
  return `Invalid ${err.subject} in ${err.file} (${n} problem${n === 1 ? "" : "s"}):\n${err.message}`;
}

export function loadConfigFile(file: string, opts: { drivers: readonly DriverFactory[]; env?: NodeJS.ProcessEnv }): LoadedConfig {
  return parseConfig(readYamlFile(file), { file, ...opts });
}

export function parseConfig(text: string, opts: ParseOptions): LoadedConfig {
  const file = resolve(opts.file);
  const dir = dirname(file);
  const readFile = opts.readFile ?? ((p: string) => readFileSync(p, "utf8"));
  const env = opts.env ?? process.env;
  const schema = buildConfigSchema(opts.drivers);
  const { raw, parsed, problems, problem, fail } = checkYaml(text, {
    file: opts.file,
    schema,
    empty: "the file is empty: expected a mapping with at least campus.id and gateway.id",
  });

  // Files and variables are checked even when the schema failed, so that one
  // run lists them too; a path that already has a problem is not checked again.
  const secrets: LoadedConfig["secrets"] = {};
  const broker = isObject(raw) && isObject(raw.broker) ? raw.broker : {};
  const hasProblem = (path: Path) => problems.some((p) => p.path === formatPath(path));
  const checkable = (path: Path, value: unknown): value is string => typeof value === "string" && value !== "" && !hasProblem(path);
  const tryRead = (path: Path, value: string): string | undefined => {
    const abs = resolve(dir, value);
    try {
      return readFile(abs);
    } catch (e) {
      problem(path, `cannot read ${abs}: ${errorCode(e)}`);
      return undefined;
    }
  };
  if (checkable(["broker", "password_file"], broker.password_file)) {
    const content = tryRead(["broker", "password_file"], broker.password_file);
    const password = content?.replace(/\r?\n$/, "");
    if (password === "") problem(["broker", "password_file"], `${resolve(dir, broker.password_file)} is empty`);
    else if (password !== undefined) secrets.brokerPassword = password;
  }
  if (checkable(["broker", "password_env"], broker.password_env)) {
    const value = env[broker.password_env];
    if (value === undefined) problem(["broker", "password_env"], `environment variable ${broker.password_env} is not set`);
    else if (value === "") problem(["broker", "password_env"], `environment variable ${broker.password_env} is empty`);
    else secrets.brokerPassword = value;
  }
  const tls = isObject(broker.tls) ? broker.tls : {};
  for (const key of TLS_FILES) {
    // Read only to prove the agent can; the content is dropped, never reported.
    if (checkable(["broker", "tls", key], tls[key])) tryRead(["broker", "tls", key], tls[key]);
  }

  if (problems.length > 0 || !parsed.success) return fail();
  const config = parsed.data;
  resolvePaths(config, dir);
  const socket = config.control.socket;
  // sun_path holds 108 bytes with its NUL: a longer path cannot be bound, and would fail only at start.
  if (config.control.enabled && socket !== undefined && Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
    return fail([{ path: "control.socket", message: `${socket} is ${Buffer.byteLength(socket)} bytes; a Unix socket path has at most ${MAX_SOCKET_PATH}: choose a shorter one` }]);
  }
  return { config, file, dir, secrets };
}

const TLS_FILES = ["ca_file", "cert_file", "key_file"] as const;

// ---------------------------------------------------------------- YAML files checked against a schema

/** The error a loader throws: ConfigError, or a subclass that names another kind of file (agent/lifecycle's PolicyError). */
export type ProblemsErrorClass = new (file: string, problems: ConfigProblem[]) => ConfigError;

/** The text of a YAML file; a file that cannot be read is the one problem of an `error`. */
export function readYamlFile(file: string, error: ProblemsErrorClass = ConfigError): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new error(file, [{ path: "", message: `cannot read ${resolve(file)}: ${errorCode(e)}` }]);
  }
}

export interface CheckedYaml<T> {
  /** The file as plain data, before the schema. */
  raw: unknown;
  parsed: z.ZodSafeParseResult<T>;
  /** Every problem found so far (YAML warnings, duplicate keys, the schema's issues), each placed in the file. */
  problems: ConfigProblem[];
  /**
   * Adds a problem at `path`, placed at its value, at its key (`atKey`, or
   * when the value is a collection), or for a missing key at its nearest parent.
   */
  problem(path: Path, message: string, atKey?: boolean): void;
  /** Throws every problem (and `extra`), in file order. */
  fail(extra?: ConfigProblem[]): never;
}

/**
 * Parses YAML whose top level is a mapping and checks it against `schema`,
 * listing every problem with its path, line and column. A file that is not
 * YAML, is `empty` (that message) or is not a mapping is thrown at once; the
 * caller throws the rest with `fail()` after its own checks.
 */
export function checkYaml<S extends z.ZodType>(
  text: string,
  opts: { file: string; schema: S; empty: string; error?: ProblemsErrorClass },
): CheckedYaml<z.output<S>> {
  const error = opts.error ?? ConfigError;
  const lineCounter = new LineCounter();
  // prettyErrors off: its messages quote the source line, which may hold a secret.
  // uniqueKeys off: duplicates are found below, where their path is known.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false, logLevel: "silent" });
  const at = (offset: number | undefined) => {
    if (offset === undefined) return {};
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const problems: ConfigProblem[] = [];
  const fail = (extra: ConfigProblem[] = []): never => {
    throw new error(opts.file, sortProblems([...problems, ...extra]));
  };

  const yamlProblems = [...doc.errors, ...doc.warnings].map((e) => ({ path: "", message: e.message, ...at(e.pos[0]) }));
  if (doc.errors.length > 0) fail(yamlProblems);
  if (doc.contents === null) fail([{ path: "", message: opts.empty, line: 1, column: 1 }]);
  if (!isMap(doc.contents)) {
    const got = isSeq(doc.contents) ? "a list" : show(doc.toJS());
    fail([{ path: "", message: `expected a mapping (key: value) at the top level, got ${got}`, ...at(doc.contents?.range?.[0]) }]);
  }
  problems.push(...yamlProblems);

  const problemAt = (path: Path, message: string, offset: number | undefined) => {
    problems.push({ path: formatPath(path), message, ...at(offset) });
  };
  const problem = (path: Path, message: string, atKey = false) => problemAt(path, message, locate(doc, path, atKey));
  findKeyProblems(doc.contents, [], problemAt, (offset) => lineCounter.linePos(offset).line);

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    // Only an alias bomb gets here (yaml's guard against resource exhaustion).
    fail([{ path: "", message: e instanceof Error ? e.message : String(e) }]);
  }

  const parsed = opts.schema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      for (const p of describeIssue(issue, opts.schema, raw)) problem(p.path, p.message, p.atKey);
    }
  }
  return { raw, parsed, problems, problem, fail };
}

/** The longest Unix socket path Linux binds (sun_path without its NUL). */
export const MAX_SOCKET_PATH = 107;

/** Where the control socket goes when the config does not say: next to the outbox. */
export const DEFAULT_CONTROL_SOCKET = "campus-agent.sock";

function resolvePaths(config: Config, dir: string): void {
  // ":memory:" is SQLite's in-memory database, not a file name.
  if (config.outbox.path !== ":memory:") config.outbox.path = resolve(dir, config.outbox.path);
  if (config.control.socket !== undefined) config.control.socket = resolve(dir, config.control.socket);
  // An in-memory outbox (tests) has no folder to put a socket in: none unless one is named.
  else if (config.outbox.path !== ":memory:") config.control.socket = join(dirname(config.outbox.path), DEFAULT_CONTROL_SOCKET);
  if (config.broker.password_file !== undefined) config.broker.password_file = resolve(dir, config.broker.password_file);
  if (config.policy !== undefined) config.policy.file = resolve(dir, config.policy.file);
  const tls = config.broker.tls;
  if (tls) for (const key of TLS_FILES) if (tls[key] !== undefined) tls[key] = resolve(dir, tls[key]);
}

// ---------------------------------------------------------------- reporting

function formatProblem(file: string, p: ConfigProblem): string {
  const where = p.line === undefined ? file : `${file}:${p.line}:${p.column ?? 1}`;
  return p.path === "" ? `${where}: ${p.message}` : `${where} ${p.path}: ${p.message}`;
}

/** File order, then problems without a position; duplicates dropped. */
function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  const unique = problems.filter((p) => {
    const k = `${p.path}\0${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  const rank = (p: ConfigProblem) => (p.line === undefined ? Number.POSITIVE_INFINITY : p.line * 1e6 + (p.column ?? 0));
  return unique.sort((a, b) => rank(a) - rank(b));
}

// ---------------------------------------------------------------- YAML positions

/**
 * Offset to report for a path: a scalar's value, a collection's key (its value
 * starts on the next line), or for a missing key the key of the nearest parent
 * that exists (`campus.id: required` points at `campus:`).
 */
function locate(doc: Document, path: Path, atKey: boolean): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const prefix = path.slice(0, n);
    const node = n === 0 ? doc.contents : doc.getIn(prefix, true);
    if (!isNode(node)) continue;
    if (n > 0 && (atKey || n < path.length || !isScalar(node))) {
      const key = keyNode(doc, prefix);
      if (key?.range) return key.range[0];
    }
    if (node.range) return node.range[0];
  }
  return undefined;
}

function keyNode(doc: Document, path: Path): Node | undefined {
  const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
  if (!isMap(parent)) return undefined;
  const name = String(path[path.length - 1]);
  const pair = parent.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === name);
  return isNode(pair?.key) ? pair.key : undefined;
}

/** Duplicate keys (the YAML spec forbids them; parsers silently keep one) and keys that are not scalars. */
function findKeyProblems(
  node: unknown,
  path: Path,
  problem: (path: Path, message: string, offset: number | undefined) => void,
  lineOf: (offset: number) => number,
): void {
  if (isSeq(node)) {
    node.items.forEach((item, i) => {
      findKeyProblems(item, [...path, i], problem, lineOf);
    });
  }
  if (!isMap(node)) return;
  const seen = new Map<string, number | undefined>();
  for (const pair of node.items) {
    const offset = isNode(pair.key) ? pair.key.range?.[0] : undefined;
    if (!isScalar(pair.key)) {
      problem(path, "keys must be plain words, not lists or mappings", offset);
      continue;
    }
    const name = String(pair.key.value);
    if (seen.has(name)) {
      const first = seen.get(name);
      problem([...path, name], `duplicate key${first === undefined ? "" : ` (first at line ${lineOf(first)})`}`, offset);
    } else seen.set(name, offset);
    findKeyProblems(pair.value, [...path, name], problem, lineOf);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function errorCode(e: unknown): string {
  if (isObject(e) && typeof e.code === "string") return e.code;
  return e instanceof Error ? e.message : String(e);
}
