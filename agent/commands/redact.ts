/**
 * Secrets out of a support bundle (`campus-agent bundle`), in two steps.
 *
 * 1. From the config file's text, without trusting it to be valid (a bundle
 *    is most wanted when the agent refuses its config): every value under a
 *    key that names a secret (password, key, token, secret, passphrase…) is
 *    replaced in place, and so is the password of every URL, comments
 *    included. Keys ending in _env, _file or _path only say where a secret
 *    is, which support needs to know: they are kept, and the variable or file
 *    they name is read, only to learn the secret to remove.
 * 2. Then every secret so learned is searched for in every file of the
 *    bundle, also JSON-escaped, URL-encoded and in base64, and replaced.
 *
 * Secrets are handled as bytes and never printed: what is reported is where
 * each one is configured and how many occurrences were replaced.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { isAlias, isMap, isScalar, isSeq, type Node, parseDocument } from "yaml";

export const REDACTED = "[REDACTED]";

/** A shorter secret is not searched for in free text: it would match too much to tell it from anything else. */
export const MIN_SECRET_LENGTH = 4;

/** The most read of a file a secret reference names (a key or password file is small; /dev/zero is not). */
const MAX_SECRET_FILE_BYTES = 64 * 1024;

const SECRET_WORDS = new Set(["password", "passwd", "pwd", "passphrase", "secret", "secrets", "token", "key", "keys", "psk", "credential", "credentials", "apikey"]);
const REFERENCE_SUFFIXES = new Set(["env", "file", "path"]);

/** `value`: the key holds a secret; `env`/`file`/`path`: it names where one is; null: not a secret's key. */
export function secretKey(name: string): "value" | "env" | "file" | "path" | null {
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  const last = words.at(-1);
  if (last !== undefined && REFERENCE_SUFFIXES.has(last)) {
    return words.slice(0, -1).some((w) => SECRET_WORDS.has(w)) ? (last as "env" | "file" | "path") : null;
  }
  return words.some((w) => SECRET_WORDS.has(w)) ? "value" : null;
}

/** Where a secret is configured, and whether its value was found: never the value. */
export interface SecretSource {
  /** Like `broker.password_file`, `devices[3].options.password_env`, `broker.url`. */
  path: string;
  kind: "inline" | "env" | "file" | "url";
  /** The variable or file named, for env and file. */
  ref?: string;
  /** "found", or why not: "not set", "empty", "cannot read: ENOENT"… */
  found: string;
}

export interface ConfigSecrets {
  /** The config file's text with every secret value replaced by [REDACTED]. */
  text: string;
  /** Values replaced in the text (by key or in a URL). */
  replaced: number;
  sources: SecretSource[];
  /** Every secret value learned (raw, as configured or read). */
  values: string[];
}

/**
 * The config's text with its secrets replaced, and the secret values it holds
 * or names. `dir` resolves relative file names (the config file's folder).
 */
export function redactConfig(text: string, opts: { dir: string; env: NodeJS.ProcessEnv; readFile?: (p: string) => Buffer }): ConfigSecrets {
  const readFile = opts.readFile ?? readHead;
  const doc = parseDocument(text, { uniqueKeys: false, logLevel: "silent", prettyErrors: false });
  const ranges: [number, number][] = [];
  const sources: SecretSource[] = [];
  const values: string[] = [];

  /** Every scalar under `node`: its text is replaced, its value is a secret. */
  const takeAll = (node: unknown, path: string) => {
    if (isAlias(node)) {
      const target = node.resolve(doc);
      if (isScalar(target) && target.value !== null && typeof target.value !== "boolean") values.push(String(target.value));
      return;
    }
    if (isScalar(node)) {
      // A flag (`secret: true`) is not a secret, and "true" would be removed from every file.
      if (node.value === null || typeof node.value === "boolean" || !node.range) return;
      values.push(String(node.value));
      ranges.push([node.range[0], node.range[1]]);
      sources.push({ path, kind: "inline", found: "found" });
      return;
    }
    if (isMap(node)) for (const p of node.items) takeAll(p.value, `${path}.${isScalar(p.key) ? String(p.key.value) : "?"}`);
    if (isSeq(node)) node.items.forEach((item, i) => takeAll(item, `${path}[${i}]`));
  };

  const reference = (kind: "env" | "file" | "path", ref: string, path: string) => {
    if (kind === "env") {
      const v = opts.env[ref];
      const found = v === undefined ? "not set" : v === "" ? "empty" : "found";
      if (v) values.push(v);
      sources.push({ path, kind: "env", ref, found });
      return;
    }
    const abs = resolve(opts.dir, ref);
    let found = "found";
    try {
      const content = readFile(abs).toString("utf8");
      if (content.trim() === "") found = "empty";
      else values.push(...fileSecrets(content));
    } catch (e) {
      found = `cannot read: ${(e as { code?: string }).code ?? String(e)}`;
    }
    sources.push({ path, kind: "file", ref: abs, found });
  };

  /** Every string scalar and its path, to say where a URL with credentials is. */
  const strings: { path: string; value: string }[] = [];
  const walk = (node: Node | null | undefined | unknown, path: string) => {
    if (isScalar(node) && typeof node.value === "string") strings.push({ path, value: node.value });
    if (isSeq(node)) node.items.forEach((item, i) => walk(item, `${path}[${i}]`));
    if (!isMap(node)) return;
    for (const pair of node.items) {
      const name = isScalar(pair.key) ? String(pair.key.value) : "";
      const at = path === "" ? name : `${path}.${name}`;
      const kind = secretKey(name);
      if (kind === "value") takeAll(pair.value, at);
      else if (kind !== null && isScalar(pair.value) && typeof pair.value.value === "string" && pair.value.value !== "") reference(kind, pair.value.value, at);
      else walk(pair.value, at);
    }
  };
  walk(doc.contents, "");

  // Replace from the end, so earlier offsets still hold.
  let out = text;
  for (const [start, end] of ranges.sort((a, b) => b[0] - a[0])) {
    const tail = /\s*$/.exec(out.slice(start, end))?.[0] ?? "";
    out = `${out.slice(0, start)}"${REDACTED}"${tail}${out.slice(end)}`;
  }
  let replaced = ranges.length;

  // URL credentials anywhere in the text, comments included: scheme://user:password@
  out = out.replace(/([a-z][a-z0-9+.-]*:\/\/[^\s:@/?#"'[\]{},]*):([^\s@"']+)@/gi, (match: string, head: string, password: string) => {
    if (password === REDACTED) return `${head}:${password}@`;
    values.push(password);
    try {
      values.push(decodeURIComponent(password));
    } catch {
      // Not percent-encoded properly: the raw form is the secret.
    }
    replaced++;
    sources.push({ path: strings.find((x) => x.value.includes(match))?.path ?? "a comment", kind: "url", found: "found" });
    return `${head}:${REDACTED}@`;
  });

  // A file the YAML parser could not make sense of may still hold `password: x` lines.
  if (doc.errors.length > 0) {
    out = out.replace(/^(\s*(?:-\s+)?["']?([A-Za-z0-9_.-]+)["']?\s*:[ \t]+)(\S.*)$/gm, (line, head: string, key: string, value: string) => {
      if (secretKey(key) !== "value" || value.startsWith(`"${REDACTED}"`)) return line;
      values.push(value.replace(/^["']|["']$/g, ""));
      replaced++;
      sources.push({ path: key, kind: "inline", found: "found" });
      return `${head}"${REDACTED}"`;
    });
  }
  return { text: out, replaced, sources, values: [...new Set(values)] };
}

/** The secrets a file holds: its content as the agent reads it (trailing newline trimmed, or trimmed), and each line of a multi-line one (a PEM key's body). */
function fileSecrets(content: string): string[] {
  const lines = content
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !/^-----(BEGIN|END) /.test(l));
  // Not the content with its newline: replacing that would take the line break after it too.
  return [content.replace(/\r?\n$/, ""), content.trim(), ...(lines.length > 1 ? lines : [])];
}

function readHead(path: string): Buffer {
  const buf = readFileSync(path);
  return buf.subarray(0, MAX_SECRET_FILE_BYTES);
}

/**
 * What to search for: each secret as it is, JSON-escaped (inside a JSON
 * string), URL-encoded and in base64, those at least MIN_SECRET_LENGTH long,
 * longest first (so a secret holding another is replaced whole). `tooShort`
 * counts the secrets left out for their length.
 */
export function needles(values: readonly string[]): { needles: string[]; tooShort: number } {
  const out = new Set<string>();
  let tooShort = 0;
  for (const v of new Set(values)) {
    if (v.length < MIN_SECRET_LENGTH) {
      tooShort++;
      continue;
    }
    const b64 = Buffer.from(v).toString("base64");
    for (const form of [v, JSON.stringify(v).slice(1, -1), encodeURIComponent(v), b64, b64.replace(/=+$/, ""), Buffer.from(v).toString("base64url")]) {
      // A form inside the replacement would be found again in what replaced it.
      if (form.length >= MIN_SECRET_LENGTH && !REDACTED.includes(form)) out.add(form);
    }
  }
  return { needles: [...out].sort((a, b) => Buffer.byteLength(b) - Buffer.byteLength(a)), tooShort };
}

/** Replace every occurrence of every needle in `data` by [REDACTED]; bytes, so text that is not UTF-8 (a journal) stays as it is. */
export function scrub(data: Buffer, list: readonly string[]): { data: Buffer; count: number } {
  const replacement = Buffer.from(REDACTED);
  let count = 0;
  for (const n of list) {
    const needle = Buffer.from(n);
    let at = data.indexOf(needle);
    if (at < 0) continue;
    const parts: Buffer[] = [];
    let from = 0;
    while (at >= 0) {
      parts.push(data.subarray(from, at), replacement);
      count++;
      from = at + needle.length;
      at = data.indexOf(needle, from);
    }
    parts.push(data.subarray(from));
    data = Buffer.concat(parts);
  }
  return { data, count };
}

/** A message fit to print: every needle replaced. */
export function scrubText(text: string, list: readonly string[]): string {
  return scrub(Buffer.from(text), list).data.toString("utf8");
}
