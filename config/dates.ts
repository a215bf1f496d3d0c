/** Calendar dates as the config and the lifecycle policy write them. */

/** `2025-06-30`: a real calendar date (no 30 February). */
export function isIsoDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.toISOString().startsWith(s);
}
