/**
 * The simulated camera's faults: what each one does, how the command line
 * names them, and the two that need their own way of writing an answer
 * (drip and huge).
 */
import type http from "node:http";
import { OPERATIONS, type OperationName } from "./camera-services.js";

export const FAULT_KINDS = [
  "slow",
  "hang",
  "drip",
  "http500",
  "malformed-xml",
  "invalid-utf8",
  "huge",
  "wrong-credentials",
  "auth-skew",
  "reboot",
  "no-video-source",
  "snapshot-500",
  "snapshot-wrong-type",
  "snapshot-tiny",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/**
 * One fault (see camera.ts for what each does). Optional numbers default to:
 * slow 3000 ms, drip 8 bytes every 100 ms, huge 50 MiB, auth-skew +600000 ms, reboot 5000 ms.
 */
export type CameraFault = (
  | { kind: "slow"; delayMs?: number } |
  { kind: "drip"; bytesPerTick?: number; tickMs?: number } |
  { kind: "huge"; bytes?: number } |
  { kind: "auth-skew"; jumpMs?: number } |
  { kind: "reboot"; downMs?: number } |
  { kind: Exclude<FaultKind, "slow" | "drip" | "huge" | "auth-skew" | "reboot"> }
) & {
  /**
   * Only requests for these SOAP operations suffer it (default: every
   * request, snapshots included): a camera whose firmware fails one call.
   * reboot and auth-skew are the whole camera's and ignore it.
   */
  ops?: readonly OperationName[];
};

export interface FaultPhase {
  /** null: healthy for this phase. */
  fault: CameraFault | null;
  forMs: number;
}
/** A fault, none (null), or phases repeated from the moment they are set. */
export type FaultSpec = CameraFault | null | { cycle: readonly FaultPhase[] };

export const FAULT_DEFAULTS = {
  slowDelayMs: 3000,
  dripBytes: 8,
  dripTickMs: 100,
  hugeBytes: 50 * 1024 * 1024,
  authSkewMs: 600_000,
  rebootDownMs: 5000,
} as const;

/**
 * "kind" or "kind:N" (N the fault's number: slow/reboot/drip ms, huge bytes,
 * auth-skew ms), optionally "@Op+Op" (only those operations suffer it, e.g.
 * "hang@GetNetworkInterfaces") → a fault; "none" → null.
 */
export function parseFault(s: string): CameraFault | null {
  const at = s.indexOf("@");
  if (at < 0) return parseFaultKind(s);
  const f = parseFaultKind(s.slice(0, at));
  const ops = s.slice(at + 1).split("+");
  for (const op of ops) {
    if (!Object.hasOwn(OPERATIONS, op)) throw new Error(`unknown operation "${op}": expected one of ${Object.keys(OPERATIONS).join(", ")}`);
  }
  if (f === null) throw new Error("none takes no operations");
  return { ...f, ops: ops as OperationName[] };
}

function parseFaultKind(s: string): CameraFault | null {
  const [kind = "", arg] = s.split(":");
  if (kind === "none") return null;
  if (!(FAULT_KINDS as readonly string[]).includes(kind)) {
    throw new Error(`unknown fault "${kind}": expected none or one of ${FAULT_KINDS.join(", ")}`);
  }
  let n: number | undefined;
  if (arg !== undefined) {
    n = Number(arg);
    if (!Number.isInteger(n) || n < 0) throw new Error(`fault ${kind}: expected a non-negative integer after ':', got "${arg}"`);
  }
  switch (kind as FaultKind) {
    case "slow":
      return n === undefined ? { kind: "slow" } : { kind: "slow", delayMs: n };
    case "drip":
      return n === undefined ? { kind: "drip" } : { kind: "drip", tickMs: n };
    case "huge":
      return n === undefined ? { kind: "huge" } : { kind: "huge", bytes: n };
    case "auth-skew":
      return n === undefined ? { kind: "auth-skew" } : { kind: "auth-skew", jumpMs: n };
    case "reboot":
      return n === undefined ? { kind: "reboot" } : { kind: "reboot", downMs: n };
    default:
      if (n !== undefined) throw new Error(`fault ${kind} takes no number`);
      return { kind } as CameraFault;
  }
}

/** "none:40000,hang:20000" → phases. */
export function parseFaultCycle(s: string): FaultPhase[] {
  return s.split(",").map((part) => {
    const at = part.lastIndexOf(":");
    const forMs = Number(part.slice(at + 1));
    if (at < 0 || !Number.isInteger(forMs) || forMs <= 0) throw new Error(`cycle phase "${part}": expected fault:ms with ms > 0`);
    return { fault: parseFault(part.slice(0, at)), forMs };
  });
}

export function describeFault(spec: FaultSpec): string {
  if (spec === null) return "healthy";
  if ("cycle" in spec) return spec.cycle.map((p) => `${p.fault ? faultName(p.fault) : "healthy"} ${p.forMs / 1000} s`).join(", then ");
  return faultName(spec);
}

function faultName(f: CameraFault): string {
  return f.ops === undefined ? f.kind : `${f.kind} on ${f.ops.join(", ")}`;
}

/**
 * Send the headers, then the body a few bytes at a time: every read makes
 * progress, so an idle timeout never fires and only an overall deadline stops it.
 */
export function dripResponse(
  res: http.ServerResponse,
  head: { status: number; headers: http.OutgoingHttpHeaders },
  body: Buffer,
  f: CameraFault,
): void {
  const bytes = f.kind === "drip" ? (f.bytesPerTick ?? FAULT_DEFAULTS.dripBytes) : FAULT_DEFAULTS.dripBytes;
  const tickMs = f.kind === "drip" ? (f.tickMs ?? FAULT_DEFAULTS.dripTickMs) : FAULT_DEFAULTS.dripTickMs;
  res.writeHead(head.status, head.headers);
  res.flushHeaders();
  let at = 0;
  const timer = setInterval(() => {
    if (res.destroyed) return clearInterval(timer);
    const next = Math.min(body.length, at + Math.max(1, bytes));
    res.write(body.subarray(at, next));
    at = next;
    if (at >= body.length) {
      clearInterval(timer);
      res.end();
    }
  }, tickMs);
  res.once("close", () => clearInterval(timer));
}

const PAD = Buffer.alloc(64 * 1024, " ");

/**
 * A valid but enormous answer: prefix, then whitespace padding, then suffix,
 * totalling `total` bytes (Content-Length says so up front), written as fast
 * as the client reads and abandoned when it goes away.
 */
export function hugeResponse(
  res: http.ServerResponse,
  head: { status: number; headers: http.OutgoingHttpHeaders },
  prefix: Buffer,
  suffix: Buffer,
  total: number,
): void {
  let padLeft = Math.max(0, total - prefix.length - suffix.length);
  res.writeHead(head.status, { ...head.headers, "Content-Length": prefix.length + padLeft + suffix.length });
  res.write(prefix);
  const pump = () => {
    while (padLeft > 0 && !res.destroyed) {
      const chunk = padLeft >= PAD.length ? PAD : PAD.subarray(0, padLeft);
      padLeft -= chunk.length;
      if (!res.write(chunk)) {
        res.once("drain", pump);
        return;
      }
    }
    if (!res.destroyed) res.end(suffix);
  };
  pump();
}
