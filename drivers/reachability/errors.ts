/**
 * Turning what node:net, node:tls and node:http throw into DriverErrors with a
 * reason code. Pure: the tests feed it synthetic errors for the cases a test
 * network cannot produce (EHOSTUNREACH, EAI_AGAIN).
 */
import { DriverError } from "../contract.js";
import { CLOSED, errnoCode, UNREACHABLE } from "../net-errors.js";

/** The step a poll was in when it failed; it changes what an error means. */
export type Phase = "connect" | "tls" | "http";

export function toDriverError(err: unknown, phase: Phase, where: string): DriverError {
  if (err instanceof DriverError) return err;
  const code = errnoCode(err);
  const detail = err instanceof Error ? err.message : String(err);
  const make = (reason: string, message: string, retryable = true) =>
    new DriverError(reason, `${where}: ${message}`, { retryable, cause: err });

  if (code === "ECONNREFUSED") return make("refused", "connection refused (nothing listening on that port)");
  if (code !== undefined && UNREACHABLE.has(code)) return make("unreachable", `no route to the device (${code})`);
  // ENOTFOUND is an answer ("no such name"): retrying soon will not help.
  // EAI_AGAIN is a resolver that did not answer: it may next time.
  if (code === "ENOTFOUND") return make("dns", "the name does not resolve", false);
  if (code === "EAI_AGAIN") return make("dns", "the name server did not answer", true);
  if (code === "ETIMEDOUT") return make("timeout", "the operating system gave up connecting");
  if (code?.startsWith("HPE_")) return make("protocol", `the answer is not valid HTTP (${code})`, false);
  if (phase === "tls" || code?.startsWith("ERR_SSL_") || code?.startsWith("ERR_TLS_")) {
    return make("tls", `TLS handshake failed: ${detail}`);
  }
  if (code !== undefined && CLOSED.has(code)) {
    return phase === "connect"
      ? make("refused", `connection reset (${code})`)
      : make("protocol", "the device closed the connection without a complete HTTP answer");
  }
  return make("internal", `unexpected error: ${detail}`);
}

/**
 * A certificate the verifier rejected (self-signed, expired, wrong name…).
 * Not retryable: the certificate will be the same next poll.
 */
export function certificateError(authorizationError: unknown, where: string): DriverError {
  const code = authorizationError instanceof Error ? errnoCode(authorizationError) : String(authorizationError);
  return new DriverError("tls", `${where}: certificate not trusted (${code ?? "unknown"})`, {
    retryable: false,
    cause: authorizationError,
  });
}
