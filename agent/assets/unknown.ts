/**
 * The unknown assets: what discovery found on the campus that the config
 * does not name. Each is published retained under campus/<c>/unknown/<key>
 * on every run that finds it, remembered in the state file (its first
 * sighting survives restarts), and cleared after UNKNOWN_FORGET_AFTER_MISSES
 * runs in a row without it, or at once when a configured device is what
 * answers at its address now.
 */
import { createHash } from "node:crypto";
import type { Clock } from "../clock.js";
import type { DiscoveryReport, FoundDevice } from "../discovery.js";
import type { Messages } from "../messages.js";
import { isoTime } from "../mqtt/contract-fields.js";
import type { StateStore, UnknownAssetMemory } from "../state.js";
import type { ReportUnknown } from "./report-types.js";

/** Unknown assets are forgotten (their topic cleared) after this many discovery runs in a row that did not find them. */
export const UNKNOWN_FORGET_AFTER_MISSES = 3;

export class UnknownAssets {
  private readonly assets = new Map<string, UnknownAssetMemory>();

  constructor(private readonly deps: { state: StateStore; messages: Messages; clock: Clock }) {
    for (const u of deps.state.unknownAssets()) this.assets.set(u.key, u);
  }

  get size(): number {
    return this.assets.size;
  }

  /** A discovery run: the keys of the assets it found first, and of those it forgot. */
  reconcile(report: DiscoveryReport): { fresh: string[]; gone: string[] } {
    const now = this.deps.clock.now();
    const seen = new Set<string>();
    const fresh: string[] = [];
    for (const f of report.unknown) {
      const key = unknownKey(f);
      seen.add(key);
      const before = this.assets.get(key);
      if (before === undefined) fresh.push(key);
      const row: UnknownAssetMemory = { key, asset: fieldsOf(f), firstSeen: before?.firstSeen ?? now, lastSeen: now, missed: 0 };
      this.assets.set(key, row);
      this.deps.state.setUnknownAsset(row);
      this.deps.messages.unknownAsset(key, payloadOf(row));
    }
    const configuredNow = new Set(report.found.filter((f) => f.configured.length > 0).map(unknownKey));
    const gone: string[] = [];
    for (const [key, row] of this.assets) {
      if (seen.has(key)) continue;
      const missed = row.missed + 1;
      if (configuredNow.has(key) || missed >= UNKNOWN_FORGET_AFTER_MISSES) {
        this.assets.delete(key);
        this.deps.state.forgetUnknownAsset(key);
        this.deps.messages.unknownAsset(key, null);
        gone.push(key);
      } else {
        const next = { ...row, missed };
        this.assets.set(key, next);
        this.deps.state.setUnknownAsset(next);
      }
    }
    return { fresh, gone };
  }

  /** By key. */
  list(): ReportUnknown[] {
    return [...this.assets.values()].sort((a, b) => a.key.localeCompare(b.key)).map(payloadOf);
  }
}

/**
 * A topic-safe key for an unknown asset: its kind and address, with every
 * character a topic level must not hold as "-", and a short hash of the
 * whole address so two addresses that read alike stay apart.
 */
export function unknownKey(f: Pick<FoundDevice, "kind" | "address">): string {
  const readable = `${f.kind}-${f.address.replace(/^[a-z]+:\/\//i, "")}`
    .replace(/[^A-Za-z0-9._-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 48);
  const hash = createHash("sha256").update(`${f.kind} ${f.address}`).digest("hex").slice(0, 8);
  return `${readable}-${hash}`;
}

function fieldsOf(f: FoundDevice): Omit<ReportUnknown, "key" | "first_seen" | "last_seen"> {
  return { kind: f.kind, address: f.address, identity: { ...f.identity }, details: f.details };
}

function payloadOf(u: UnknownAssetMemory): ReportUnknown {
  return { ...(u.asset as Omit<ReportUnknown, "key" | "first_seen" | "last_seen">), key: u.key, first_seen: isoTime(u.firstSeen), last_seen: isoTime(u.lastSeen) };
}
