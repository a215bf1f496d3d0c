/**
 * `campus-agent outbox [--export FILE|-] [--class C]`: what is waiting to be
 * sent, read from the outbox file itself (read-only, see
 * agent/outbox/inspect.ts), so it answers whether the agent runs or not.
 *
 * Exit codes: 0 nothing waits longer than --max-age-s (STALE_AFTER_S) and nothing was
 * dropped (an export: it was written); 1 a backlog older than that, drops,
 * or the file cannot be read (missing: the agent never ran with this config,
 * which is a fact about the gateway rather than a typo in the command);
 * 2 usage or config error (in cli.ts).
 */
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { type ExportedMessage, InspectError, type OldestMessage, OutboxInspector, type OutboxSummary } from "../outbox/inspect.js";
import { MESSAGE_CLASSES, type MessageClass } from "../outbox/types.js";
import { bytes, duration, plural, reportFailure, table } from "./format.js";

/** A message older than this means the outbox is not draining: on a connected agent, messages wait well under a second. */
export const STALE_AFTER_S = 60;

export interface OutboxArgs {
  path: string;
  json: boolean;
  /** A file, or "-" for stdout. */
  export?: string;
  klass?: MessageClass;
  /** A message waiting longer than this is a backlog (default STALE_AFTER_S). */
  maxAgeS?: number;
  now?: () => number;
}

/** What `--json` prints. Times are ISO 8601 UTC, ages in seconds. */
export interface OutboxView {
  ok: boolean;
  problems: string[];
  now: string;
  path: string;
  files: { db_bytes: number; wal_bytes: number; shm_bytes: number };
  schema_version: number;
  total: number;
  depth: Record<MessageClass, number>;
  bytes: number;
  oldest: { id: number; class: MessageClass; stream: string; seq: number; topic: string; created_at: string; age_s: number } | null;
  oldest_age_s: Record<MessageClass, number | null>;
  dropped: Record<MessageClass, number>;
  stale_after_s: number;
}

/** One line of `--export`. `payload` is the parsed JSON when `format` is "json", else the text as stored. */
export interface ExportLine {
  id: number;
  stream: string;
  class: MessageClass;
  seq: number;
  topic: string;
  retain: boolean;
  created_at: string;
  format: "json" | "text";
  payload: unknown;
}

export async function outbox(args: OutboxArgs, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  let inspector: OutboxInspector;
  try {
    inspector = OutboxInspector.open(args.path);
  } catch (e) {
    return failed(e, args, out, err);
  }
  try {
    if (args.export !== undefined) return await exportMessages(inspector, args, out, err);
    const view = outboxView(inspector.summary(), (args.now ?? Date.now)(), args.maxAgeS ?? STALE_AFTER_S);
    out.write(args.json ? `${JSON.stringify(view)}\n` : renderOutbox(view));
    return view.ok ? 0 : 1;
  } catch (e) {
    return failed(e, args, out, err);
  } finally {
    inspector.close();
  }
}

function failed(e: unknown, args: OutboxArgs, out: NodeJS.WritableStream, err: NodeJS.WritableStream): number {
  if (!(e instanceof InspectError)) throw e;
  return reportFailure("outbox", { code: e.code, message: e.message }, 1, { json: args.json, out, err });
}

export function outboxView(s: OutboxSummary, now: number, maxAgeS = STALE_AFTER_S): OutboxView {
  const age = (t: number | null) => (t === null ? null : Math.max(0, now - t) / 1000);
  const oldestAge = { alarm: age(s.oldestByClass.alarm), event: age(s.oldestByClass.event), telemetry: age(s.oldestByClass.telemetry) };
  const problems: string[] = [];
  const stale = MESSAGE_CLASSES.filter((k) => (oldestAge[k] ?? 0) > maxAgeS);
  if (stale.length > 0) {
    problems.push(
      `a backlog: ${stale.map((k) => `${k} ${s.depth[k]} waiting, the oldest ${duration((oldestAge[k] ?? 0) * 1000)} old`).join("; ")} (more than ${maxAgeS}s: the agent is not getting them to the broker; campus-agent status says why)`,
    );
  }
  const dropped = MESSAGE_CLASSES.filter((k) => s.dropped[k] > 0);
  if (dropped.length > 0) {
    const total = dropped.reduce((sum, k) => sum + s.dropped[k], 0);
    problems.push(`${plural(total, "message")} dropped since the outbox was created (${dropped.map((k) => `${k} ${s.dropped[k]}`).join(", ")}): it was full; see outbox.max_size_mb`);
  }
  return {
    ok: problems.length === 0,
    problems,
    now: new Date(now).toISOString(),
    path: s.path,
    files: { db_bytes: s.files.db, wal_bytes: s.files.wal, shm_bytes: s.files.shm },
    schema_version: s.schemaVersion,
    total: s.total,
    depth: s.depth,
    bytes: s.bytes,
    oldest: s.oldest === null ? null : oldestView(s.oldest, now),
    oldest_age_s: oldestAge,
    dropped: s.dropped,
    stale_after_s: maxAgeS,
  };
}

function oldestView(o: OldestMessage, now: number): NonNullable<OutboxView["oldest"]> {
  const created_at = new Date(o.createdAt).toISOString();
  return { id: o.id, class: o.klass, stream: o.stream, seq: o.seq, topic: o.topic, created_at, age_s: Math.max(0, now - o.createdAt) / 1000 };
}

export function renderOutbox(v: OutboxView): string {
  const lines: string[] = [];
  lines.push(`Outbox  ${v.path}`);
  const f = v.files;
  const onDisk = `${bytes(f.db_bytes + f.wal_bytes + f.shm_bytes)} (file ${bytes(f.db_bytes)}, -wal ${bytes(f.wal_bytes)}, -shm ${bytes(f.shm_bytes)})`;
  lines.push(...table([["on disk", onDisk]], { indent: "  " }));
  lines.push("", `Waiting  ${plural(v.total, "message")}, ${bytes(v.bytes)}`);
  const age = (s: number | null) => (s === null ? "-" : duration(s * 1000));
  lines.push(
    ...table(
      MESSAGE_CLASSES.map((k) => [k, String(v.depth[k]), age(v.oldest_age_s[k]), String(v.dropped[k])]),
      { head: ["CLASS", "WAITING", "OLDEST", "DROPPED"], align: ["left", "right", "right", "right"], indent: "  " },
    ),
  );
  if (v.oldest !== null) {
    const o = v.oldest;
    lines.push("", `Oldest  ${o.class} from ${o.stream} (seq ${o.seq}), ${duration(o.age_s * 1000)} old`, `  ${o.topic}`);
  }
  lines.push("");
  if (v.ok) lines.push(v.total === 0 ? "OK: nothing waiting, nothing dropped." : `OK: nothing waiting longer than ${v.stale_after_s}s, nothing dropped.`);
  else lines.push(`PROBLEMS (${v.problems.length}):`, ...v.problems.map((p) => `  - ${p}`));
  return `${lines.join("\n")}\n`;
}

export function exportLine(m: ExportedMessage): ExportLine {
  let format: ExportLine["format"] = "text";
  let payload: unknown = m.payload;
  try {
    payload = JSON.parse(m.payload);
    format = "json";
  } catch {
    // Not JSON (a payload the agent did not render itself): exported as the text it is.
  }
  const created_at = new Date(m.createdAt).toISOString();
  return { id: m.id, stream: m.stream, class: m.klass, seq: m.seq, topic: m.topic, retain: m.retain, created_at, format, payload };
}

/** Lines gathered before one write: few write calls, bounded memory. */
const CHUNK_BYTES = 64 * 1024;

async function exportMessages(inspector: OutboxInspector, args: OutboxArgs, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const toStdout = args.export === "-";
  // Payloads may be sensitive (alarm details): the export is the caller's alone.
  const sink: NodeJS.WritableStream = toStdout ? out : createWriteStream(args.export as string, { mode: 0o600 });
  const sinkError = new Promise<never>((_, reject) => sink.once("error", reject));
  sinkError.catch(() => undefined);
  let count = 0;
  try {
    let chunk = "";
    for (const m of inspector.messages(args.klass)) {
      chunk += `${JSON.stringify(exportLine(m))}\n`;
      count++;
      if (chunk.length >= CHUNK_BYTES) {
        // Wait for a slow reader (an SSH pipe) rather than buffer the outbox in memory.
        if (!sink.write(chunk)) await Promise.race([once(sink, "drain"), sinkError]);
        chunk = "";
      }
    }
    if (chunk !== "") sink.write(chunk);
    if (!toStdout) {
      const finished = once(sink, "finish");
      sink.end();
      await Promise.race([finished, sinkError]);
    }
  } catch (e) {
    if (e instanceof InspectError) throw e;
    err.write(`campus-agent outbox: cannot write ${toStdout ? "stdout" : args.export}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  if (!toStdout) err.write(`${plural(count, "message")}${args.klass ? ` (${args.klass})` : ""} exported to ${args.export}\n`);
  return 0;
}
