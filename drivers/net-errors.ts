/**
 * Socket error codes, shared by every driver that talks TCP/UDP: which errno
 * means "no route", which means "the peer closed on us", and how to read the
 * code out of whatever Node threw.
 */

/** No route to the device: its network or host is down, or the address is not ours to use. */
export const UNREACHABLE = new Set(["EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ENETDOWN", "EADDRNOTAVAIL"]);

/** The connection was there and the peer (or something between) closed it. */
export const CLOSED = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED"]);

export function errnoCode(err: unknown): string | undefined {
  // Node 20 tries every address of a name (autoSelectFamily) and reports an
  // AggregateError when all fail; the first attempt's code is the telling one.
  if (err instanceof AggregateError && err.errors.length > 0) return errnoCode(err.errors[0]);
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}
