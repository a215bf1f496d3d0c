/**
 * The control socket's wire format, shared by the agent (server.ts) and the
 * CLI (client.ts): one JSON object per line each way. A request names a
 * method and its params; its response carries the same id and either a
 * result or an error with a code.
 *
 *   → {"id":1,"method":"test-alarm","params":{"device":"panic-office"}}
 *   ← {"id":1,"ok":true,"result":{…}}
 *   ← {"id":1,"ok":false,"error":{"code":"unknown_device","message":"…"}}
 */

/** A request line is at most this long; a longer one is answered with an error and the connection closed. */
export const MAX_LINE_BYTES = 64 * 1024;

export interface ControlRequest {
  id: number | string;
  method: string;
  params?: Record<string, unknown>;
}

export type ControlResponse =
  | { id: number | string | null; ok: true; result: unknown } |
  { id: number | string | null; ok: false; error: { code: string; message: string } };

/**
 * An error with a code for the other side: the CLI turns `unknown_device`,
 * `unsupported`, `bad_request`, `unknown_method` into exit code 2 (the
 * request was wrong) and the rest into 1 (a problem was found).
 */
export class ControlError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ControlError";
  }
}

/** Codes that mean the request itself was wrong (exit code 2 in the CLI). */
export const REQUEST_ERRORS: ReadonlySet<string> = new Set(["unknown_device", "unsupported", "bad_request", "unknown_method"]);
