/**
 * zod issues rewritten for people: `expected X, got <the value>`, `required`,
 * `unknown key (did you mean "options"?)`. The loader adds file positions.
 */
import { type core, z } from "zod";

export type Path = (string | number)[];

/** One problem of the config, before the loader finds its line. */
export interface IssueProblem {
  path: Path;
  message: string;
  /** Point at the key rather than its value (an unknown key). */
  atKey: boolean;
}

/** The problems of one zod issue (an unrecognized_keys issue names several keys). */
export function describeIssue(issue: core.$ZodIssue, schema: z.ZodType, input: unknown): IssueProblem[] {
  const path = issue.path.filter((k): k is string | number => typeof k !== "symbol");
  if (issue.code !== "unrecognized_keys") return [{ path, message: issueMessage(issue, path), atKey: false }];
  const allowed = objectKeysAt(schema, path, input) ?? [];
  return issue.keys.map((key) => ({ path: [...path, key], message: unknownKeyMessage(key, allowed), atKey: true }));
}

/** `devices[3].poll.interval_ms`; keys that are not plain words are quoted: `labels["a b"]`. */
export function formatPath(path: readonly (string | number)[]): string {
  let out = "";
  for (const k of path) {
    if (typeof k === "number") out += `[${k}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(k)) out += out === "" ? k : `.${k}`;
    else out += `[${JSON.stringify(k)}]`;
  }
  return out;
}

/** The input as JSON, cut to about 40 characters: enough to recognise it. */
export function show(v: unknown): string {
  const s = typeof v === "number" && !Number.isFinite(v) ? String(v) : (JSON.stringify(v) ?? String(v));
  return s.length > 40 ? `${s.slice(0, 39)}…` : s;
}

// A value under such a key may be a secret typed in the wrong place: never echo it.
const SENSITIVE_KEY = /pass|secret|token|credential|api_?key|private/i;

const TYPE_NAMES: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  bigint: "an integer",
  boolean: "true or false",
  object: "a mapping",
  array: "a list",
  null: "null",
};

function issueMessage(issue: core.$ZodIssue, path: Path): string {
  if (issue.code === "invalid_type" && issue.input === undefined) return "required";
  if (issue.code === "invalid_union" && issue.message === defaultMessage(issue)) {
    return withGot(unionExpectation(issue), issue.input, path);
  }
  if (issue.code === "custom" || issue.code === "invalid_union") {
    // Our own messages (duplicate ids, timeouts, unknown kind…) already say it all.
    const primitive = issue.input === null || typeof issue.input !== "object";
    return issue.message.startsWith("expected ") && primitive ? withGot(issue.message, issue.input, path) : issue.message;
  }
  // A message set in the schema (`expected a positive integer`) wins over ours.
  const custom = issue.message !== defaultMessage(issue);
  return withGot(custom ? issue.message : expectation(issue), issue.input, path);
}

/** `expected an HTTP status or a list`: what each branch of a plain union wanted. */
function unionExpectation(issue: core.$ZodIssueInvalidUnion): string {
  const wanted = new Set<string>();
  const collect = (i: core.$ZodIssue): void => {
    if (i.path.length > 0) return;
    if (i.code === "invalid_union" && i.message === defaultMessage(i)) for (const branch of i.errors) branch.forEach(collect);
    else {
      const m = i.message === defaultMessage(i) ? expectation(i) : i.message;
      if (m.startsWith("expected ")) wanted.add(m.slice("expected ".length));
    }
  };
  for (const branch of issue.errors) branch.forEach(collect);
  return wanted.size > 0 ? `expected ${[...wanted].join(" or ")}` : "matches none of the allowed forms";
}

function withGot(message: string, input: unknown, path: Path): string {
  if (/, got /.test(message)) return message;
  const last = path[path.length - 1];
  if (typeof last === "string" && SENSITIVE_KEY.test(last)) return `${message} (value not shown)`;
  return `${message}, got ${show(input)}`;
}

function defaultMessage(issue: core.$ZodIssue): string | undefined {
  const m = z.config().localeError?.(issue as unknown as core.$ZodRawIssue);
  return typeof m === "string" ? m : m?.message;
}

function expectation(issue: core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}`;
    case "invalid_value":
      return issue.values.length === 1
        ? `expected ${JSON.stringify(issue.values[0])}`
        : `expected one of ${issue.values.map((v) => String(v)).join(", ")}`;
    case "invalid_format":
      return issue.format === "regex" && issue.pattern ? `expected a string matching ${issue.pattern}` : `expected a valid ${issue.format}`;
    case "not_multiple_of":
      return `expected a multiple of ${issue.divisor}`;
    case "too_small":
    case "too_big":
      return bound(issue);
    default:
      return issue.message;
  }
}

function bound(issue: core.$ZodIssueTooSmall | core.$ZodIssueTooBig): string {
  const small = issue.code === "too_small";
  const limit = Number(small ? issue.minimum : issue.maximum);
  const op = small ? (issue.inclusive ? ">=" : ">") : issue.inclusive ? "<=" : "<";
  switch (issue.origin) {
    case "number":
    case "int":
    case "bigint": {
      const what = issue.origin === "number" ? "number" : "integer";
      return small && limit === 0 && !issue.inclusive
        ? `expected a positive ${what}`
        : `expected ${TYPE_NAMES[issue.origin]} ${op} ${limit}`;
    }
    case "string":
      if (small && limit === 1) return "expected a non-empty string";
      return `expected ${small ? "at least" : "at most"} ${limit} characters`;
    case "array":
    case "set":
      return `expected ${small ? "at least" : "at most"} ${limit} items`;
    default:
      return issue.message;
  }
}

function unknownKeyMessage(key: string, allowed: readonly string[]): string {
  const near = closest(key, allowed);
  if (near !== undefined) return `unknown key (did you mean "${near}"?)`;
  return allowed.length > 0 ? `unknown key (allowed: ${allowed.join(", ")})` : "unknown key";
}

/** The allowed key nearest to a typo, if it is near enough to be what was meant. */
function closest(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of allowed) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return bestDistance <= Math.max(1, Math.floor(key.length / 3)) ? best : undefined;
}

/** Edit distance counting a swap of two neighbours as one edit ("prot" → "port"): the typos people make. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

// ---------------------------------------------------------------- schema walking

/** Enough of zod's internal definitions to walk a schema along a path. */
interface SchemaNode {
  _zod: {
    def: {
      type: string;
      innerType?: SchemaNode;
      in?: SchemaNode;
      getter?: () => SchemaNode;
      shape?: Record<string, SchemaNode>;
      element?: SchemaNode;
      valueType?: SchemaNode;
      options?: SchemaNode[];
      discriminator?: string;
    };
    propValues?: Record<string, Set<unknown>>;
  };
}

/**
 * The keys a strict object accepts at `path`, following the input through
 * unions (a device's options depend on its kind). zod's unrecognized_keys issue
 * names the bad key but not the good ones, which a suggestion needs.
 */
function objectKeysAt(schema: z.ZodType, path: Path, input: unknown): string[] | undefined {
  let node = schema as unknown as SchemaNode;
  let value = input;
  let i = 0;
  for (let guard = 0; guard < 1000; guard++) {
    const def = node._zod.def;
    let next: SchemaNode | undefined;
    if (def.innerType) next = def.innerType;
    else if (def.type === "pipe") next = def.in;
    else if (def.type === "lazy") next = def.getter?.();
    else if (def.type === "union") {
      const disc = def.discriminator;
      const tag = isObject(value) && disc ? value[disc] : undefined;
      next = def.options?.find((o) => (disc ? o._zod.propValues?.[disc]?.has(tag) : o._zod.def.type === "object"));
    } else if (def.type === "object" || def.type === "array" || def.type === "record") {
      // A record (a profile's points, by name) has no fixed keys: its values' keys are checked.
      if (i === path.length) return def.type === "object" ? Object.keys(def.shape ?? {}) : undefined;
      const key = path[i++];
      next = def.type === "object" ? def.shape?.[key] : def.type === "array" ? def.element : def.valueType;
      value = isObject(value) || Array.isArray(value) ? (value as Record<string | number, unknown>)[key] : undefined;
    }
    if (!next) return undefined;
    node = next;
  }
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
