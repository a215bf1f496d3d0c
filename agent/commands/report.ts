/**
 * `campus-agent report [--format text|json|csv|html] [--output FILE]`: the
 * asset register for auditors, from the running agent over its control
 * socket (control method `report`; it changes nothing): the campus
 * readiness, every configured device with its inventory, state and
 * compliance, and the unknown assets discovery found. The live state is the
 * agent's: without it there is no report.
 *
 * Exit codes: 0 the report was produced and every safety-critical device is
 * online and compliant, and no asset is missing or unknown; 1 the report was
 * produced but the campus is not ready (reportProblems says why), or the
 * agent cannot be asked, or the file cannot be written; 2 usage.
 */
import { randomBytes } from "node:crypto";
import { rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { renderCsv } from "../assets/report-csv.js";
import { renderJson, reportProblems } from "../assets/report-format.js";
import { renderHtml } from "../assets/report-html.js";
import { renderText } from "../assets/report-text.js";
import { type AssetReport, REPORT_SCHEMA } from "../assets/report-types.js";
import { ask, plural, reportFailure } from "./format.js";

export const REPORT_FORMATS = ["text", "json", "csv", "html"] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

const RENDER: Record<ReportFormat, (r: AssetReport) => string> = { text: renderText, json: renderJson, csv: renderCsv, html: renderHtml };

export interface ReportOptions {
  /** --format as given; text when absent. */
  format?: string | undefined;
  /** --json: the same as --format json. */
  json?: boolean | undefined;
  /** --output: the file to write instead of stdout; "-" is stdout. */
  output?: string | undefined;
}

export interface ReportArgs extends ReportOptions {
  socket: string;
  timeoutMs?: number;
}

/** What is wrong with the options, for a usage error; undefined when nothing is. */
export function reportUsageError(o: ReportOptions): string | undefined {
  if (o.format !== undefined && !(REPORT_FORMATS as readonly string[]).includes(o.format)) {
    return `--format expects one of ${REPORT_FORMATS.join(", ")}, got ${JSON.stringify(o.format)}`;
  }
  if (o.json === true && o.format !== undefined && o.format !== "json") return `--json is --format json; it cannot go with --format ${o.format}`;
  if (o.output === "") return "--output expects a file, or - for stdout";
  return undefined;
}

export async function report(args: ReportArgs, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const usage = reportUsageError(args);
  if (usage !== undefined) {
    err.write(`campus-agent report: ${usage}; see campus-agent report --help\n`);
    return 2;
  }
  const format: ReportFormat = args.json === true ? "json" : ((args.format ?? "text") as ReportFormat);
  const file = args.output === "-" ? undefined : args.output;
  // Scripts asking for JSON on stdout read a failure there too, as with the other commands' --json.
  const io = { json: format === "json" && file === undefined, out, err };

  const asked = await ask<AssetReport>(args.socket, "report", {}, args.timeoutMs ?? 10_000);
  if (!asked.ok) {
    if (asked.error.code === "unknown_method") {
      // Not a wrong request: an agent older than this CLI, still running after an upgrade.
      return reportFailure("report", { code: "unsupported_agent", message: olderAgent(asked.error.message) }, 1, io);
    }
    return reportFailure("report", asked.error, asked.exit, io);
  }
  const r = asked.result;
  if (typeof r !== "object" || r === null || r.schema !== REPORT_SCHEMA) {
    const got = typeof r === "object" && r !== null ? JSON.stringify(r.schema) : typeof r;
    return reportFailure("report", { code: "protocol", message: `the agent answered report with schema ${got}, not ${REPORT_SCHEMA}` }, 1, io);
  }

  const problems = reportProblems(r);
  const text = RENDER[format](r);
  if (file === undefined) {
    out.write(text);
  } else {
    try {
      await writeAtomically(file, text);
    } catch (e) {
      return reportFailure("report", { code: "write_failed", message: `cannot write ${file}: ${writeError(e)}` }, 1, io);
    }
    const unknown = r.unknown.length > 0 ? `, ${plural(r.unknown.length, "unknown asset")}` : "";
    out.write(`wrote ${file} (${plural(r.devices.length, "device")}${unknown})\n`);
    out.write(problems.length === 0 ? "READY\n" : `NOT READY (${problems.length}):\n${problems.map((p) => `  - ${p}\n`).join("")}`);
  }
  return problems.length === 0 ? 0 : 1;
}

/**
 * Write `file` whole or not at all: a temporary file in the same folder (so
 * the rename stays on one file system and is atomic), then renamed over it.
 * A reader never sees half a report, and an existing report survives a
 * failed write.
 */
async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    await writeFile(tmp, text, { flag: "wx" });
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

function writeError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "its folder does not exist";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EISDIR") return "it is a folder";
  return e instanceof Error ? e.message : String(e);
}

/** What to say when the running agent does not know the report method (`unknown_method`: it is older than this CLI). */
export function olderAgent(message: string): string {
  return `the running agent cannot make a report (${message}); restart it on this version`;
}
