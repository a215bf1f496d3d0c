/**
 * What went wrong with one camera call, from whatever the onvif library, node
 * sockets and our own transport report. Pure: tests feed it synthetic errors
 * and raw answers.
 *
 * The onvif library reports everything as a plain Error with a message, and
 * throws away the HTTP status; the driver records the raw answer of each call
 * (the library's "rawResponse" event) so the status and any SOAP fault can be
 * read here instead of guessed from messages.
 */
import { DriverError } from "../contract.js";
import { CLOSED, errnoCode, UNREACHABLE } from "../net-errors.js";
import { isSoapEnvelope, type SoapFault, soapFault } from "./xml.js";

/**
 * - transport: the call got no complete answer (refused, timeout, reset, too long);
 * - auth: the camera answered and refused our credentials;
 * - answer: the camera answered in SOAP, but with a fault or something unreadable;
 * - not_onvif: the camera answered with something that is not SOAP.
 */
export type FailureKind = "transport" | "auth" | "answer" | "not_onvif";

/** The last raw answer the library read during the call, if any. */
export interface RawAnswer {
  status: number;
  body: string;
}

/** A failed camera call: a DriverError that also says what kind of failure it was. */
export class CallFailure extends DriverError {
  readonly kind: FailureKind;
  /** For auth: the camera said our timestamp was stale (wsu:MessageExpired). */
  readonly expired: boolean;
  constructor(kind: FailureKind, code: string, message: string, options?: { retryable?: boolean; cause?: unknown; expired?: boolean }) {
    super(code, message, options);
    this.kind = kind;
    this.expired = options?.expired ?? false;
  }
}

/**
 * Fault codes and texts that mean "your credentials were refused": ter:NotAuthorized
 * (ONVIF Core, "Authentication" error codes), wsse:FailedAuthentication and
 * wsse:InvalidSecurityToken (WSS 1.0 §12), and the texts cameras put in Reason.
 */
const AUTH_FAULT =
  /NotAuthori[sz]ed|FailedAuthentication|InvalidSecurityToken|not\s+authori[sz]ed|unauthori[sz]ed|authentication failed|access denied/i;
/** wsu:MessageExpired (WSS 1.0 §10): the camera says our Created timestamp is too old or in the future. */
const EXPIRED_FAULT = /MessageExpired|timestamp.*(expired|invalid|skew)|expired.*timestamp/i;

export function describeFault(f: SoapFault): string {
  const codes = f.codes.filter((c) => c !== "").join(" / ");
  return [codes, f.reason].filter((s) => s !== "").join(": ") || "no reason given";
}

export function classify(op: string, err: unknown, last: RawAnswer | undefined): CallFailure {
  if (err instanceof CallFailure) return err;
  const fail = (kind: FailureKind, reason: string, message: string, retryable = true, expired = false) =>
    new CallFailure(kind, reason, `${op}: ${message}`, { retryable, cause: err, expired });
  if (err instanceof DriverError) return fail("transport", err.code, err.message, err.retryable);

  const code = errnoCode(err);
  const message = err instanceof Error ? err.message : String(err);
  if (code === "ECONNREFUSED") return fail("transport", "refused", "connection refused (nothing listening on that port)");
  if (code !== undefined && UNREACHABLE.has(code)) return fail("transport", "unreachable", `no route to the camera (${code})`);
  if (code === "ENOTFOUND") return fail("transport", "dns", "the name does not resolve", false);
  if (code === "EAI_AGAIN") return fail("transport", "dns", "the name server did not answer");
  if (code === "ETIMEDOUT" || message === "Network timeout") return fail("transport", "timeout", "no answer (the connection went quiet)");
  if ((code !== undefined && CLOSED.has(code)) || message === "socket hang up") {
    return fail("transport", "protocol", "the camera closed the connection before a complete answer (rebooting?)");
  }
  if (code?.startsWith("HPE_")) return fail("not_onvif", "protocol", `the answer is not valid HTTP (${code})`, false);

  // The library retries a 401 with HTTP Digest; a second 401 is this message.
  if (/^Digest authentication failed/.test(message)) return fail("auth", "auth", "credentials refused (HTTP Digest)", false);
  if (/^Digest authentication headers not found/.test(message)) {
    return fail("auth", "auth", "the camera asks for an HTTP authentication other than Digest, which ONVIF does not use", false);
  }

  const body = last?.body ?? "";
  const fault = isSoapEnvelope(body) ? soapFault(body) : undefined;
  if (fault) {
    const said = describeFault(fault);
    const text = `${fault.codes.join(" ")} ${fault.reason}`;
    if (EXPIRED_FAULT.test(text)) return fail("auth", "auth", `the camera rejected our WS-Security timestamp (${said})`, false, true);
    if (AUTH_FAULT.test(text)) return fail("auth", "auth", `credentials refused (${said})`, false);
    return fail("answer", "protocol", `SOAP fault: ${said}`);
  }
  if (last?.status === 401) return fail("auth", "auth", "credentials refused (HTTP 401)", false);
  if (last && !isSoapEnvelope(body)) {
    const what = describeBody(body);
    if (last.status >= 500) return fail("not_onvif", "http_status", `HTTP ${last.status} with ${what}`);
    return fail("not_onvif", "protocol", `answers HTTP ${last.status} but not ONVIF (${what})`, false);
  }
  if (last) return fail("answer", "protocol", `the camera's answer could not be read: ${message}`);
  return fail("transport", "internal", `unexpected error: ${message}`);
}

function describeBody(body: string): string {
  if (body.trim() === "") return "an empty body";
  if (/<html[\s>]/i.test(body)) return "an HTML page";
  return "a body that is not SOAP";
}
