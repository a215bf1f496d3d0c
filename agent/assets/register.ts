/**
 * The asset register: for every configured device, its inventory (identity,
 * location, owner, lifecycle data) and its compliance with the lifecycle
 * policy, published retained and kept current; the assets discovery found
 * that the config does not name (unknown.ts) and the configured ones never
 * seen (missing); the alarms still open (open-alarms.ts). From these, the
 * campus readiness and the auditors' report (readiness.ts, report-types.ts).
 *
 * When: inventory and compliance on start, on every change of a device
 * (identity, status, config, policy), and on the inventory cron (cycle());
 * compliance is also re-evaluated every minute (tick()), for the rules that
 * time alone breaks (not_seen, a date passing). A change of the failing
 * rules is a compliance_changed event. What is published is stored with
 * the poll results that caused it (the caller's outbox and state batch).
 *
 * Holds no device data of its own: it reads the device manager's view
 * (AssetSource) and remembers only what it published.
 */
import type { Logger } from "pino";
import type { DeviceConfig } from "../../config/schema.js";
import type { DeviceAlarm, Identity } from "../../drivers/contract.js";
import type { Clock } from "../clock.js";
import type { DiscoveryReport } from "../discovery.js";
import type { LoadedPolicy } from "../lifecycle/policy.js";
import { type Compliance, complianceChange, evaluate, failingRules } from "../lifecycle/evaluate.js";
import { type DeviceInfo, type Messages, stripUndefined } from "../messages.js";
import type { OpenAlarm, Presence, Readiness } from "../mqtt/asset-contract.js";
import { isoTime } from "../mqtt/contract-fields.js";
import type { AssetMemory, StateStore } from "../state.js";
import { OpenAlarms } from "./open-alarms.js";
import { UnknownAssets } from "./unknown.js";
import type { DeviceStatus } from "../status.js";
import { readiness } from "./readiness.js";
import type { ReportDevice, ReportUnknown } from "./report-types.js";

/** What the agent knows of one configured device, as the register reads it. */
export interface DeviceAsset {
  config: DeviceConfig;
  info: DeviceInfo;
  status: DeviceStatus | undefined;
  identity: Identity | undefined;
  /** Wall ms of the last identity read; undefined when not read since the agent started. */
  identityReadAt: number | undefined;
  /** The device's clock minus the gateway's at its last poll (ms); null when it does not report one. */
  clockDriftMs: number | null;
  /** Wall ms since when the agent has watched it (its start, or when the device was added). */
  watchedSince: number;
  /** A poll of it has been recorded since then: until one is, what the last run knew (clock drift) is not all back. */
  polled: boolean;
}

export interface AssetSource {
  /** Every configured device, in config order. */
  assets(): DeviceAsset[];
  /** One configured device; undefined when there is none of that id. */
  asset(id: string): DeviceAsset | undefined;
}

export interface AssetRegisterDeps {
  source: AssetSource;
  messages: Messages;
  state: StateStore;
  clock: Clock;
  log: Logger;
  /** IANA zone of the gateway's calendar, for dates; the process's when absent. */
  timeZone?: string;
  /** Called after anything the readiness depends on may have changed. */
  onChange?: () => void;
  /** Runs `fn` with what it stores in one outbox and state transaction (the agent's); as is when absent. */
  batch?: <T>(fn: () => T) => T;
}

/**
 * Devices refreshed per event-loop turn when all of them are (start, policy
 * reload, the cron, the minute tick): publishing one device's inventory and
 * compliance costs about 0.1 ms, so 500 devices at once held the loop, and
 * with it DC-09 ACKs, for 130 ms (scripts/bench/assets.ts).
 */
export const REFRESH_CHUNK = 64;

interface Published {
  /** The inventory's content as last published, without envelope and seq. */
  inventory?: string;
  /** The compliance's content as last published. */
  compliance?: string;
  /** What the last evaluation found, null when no policy is loaded. */
  result: Compliance | null;
  /** The failing rules remembered (published, or from the last run). */
  memory: AssetMemory | undefined;
}

export class AssetRegister {
  private policy: LoadedPolicy | undefined;
  private readonly published = new Map<string, Published>();
  private readonly unknown: UnknownAssets;
  private readonly alarms: OpenAlarms;
  /** From the last discovery run: the configured devices it found, and those it did not. */
  private discovery: { at: number; found: Set<string>; notFound: Set<string> } | undefined;

  constructor(private readonly deps: AssetRegisterDeps) {
    this.unknown = new UnknownAssets(deps);
    this.alarms = new OpenAlarms(deps);
  }

  /** The policy to check devices against (undefined: none; devices are only inventoried). Re-evaluates every device. */
  setPolicy(policy: LoadedPolicy | undefined): void {
    this.policy = policy;
    this.refreshAll(false);
  }

  policyInfo(): { file: string; sha256: string } | null {
    return this.policy === undefined ? null : { file: this.policy.file, sha256: this.policy.sha256 };
  }

  /** One device may have changed (a poll, its identity, its config): publish what did. */
  update(id: string): void {
    const asset = this.deps.source.asset(id);
    if (asset !== undefined) this.refresh(asset, false);
    this.deps.onChange?.();
  }

  /** The inventory cron: publish every device's inventory and compliance, changed or not. */
  cycle(): void {
    this.refreshAll(true);
  }

  /** Every minute: re-evaluate compliance (time alone fails not_seen, or passes a date); publish what changed. */
  tick(): void {
    this.refreshAll(false);
  }

  /** Devices removed from the config: forget what was published (their retained topics are cleared by the device manager). */
  forget(ids: readonly string[]): void {
    for (const id of ids) {
      this.published.delete(id);
      this.alarms.forgetDevice(id);
    }
    this.deps.onChange?.();
  }

  /** A device's alarms as they are stored (open-alarms.ts): the readiness lists those still open. */
  noteAlarms(info: DeviceInfo, alarms: readonly DeviceAlarm[]): void {
    if (this.alarms.note(info.id, alarms)) this.deps.onChange?.();
  }

  /**
   * A discovery run's result: unknown assets published (retained) or
   * refreshed, those no longer found forgotten after a few runs (at once
   * when a configured device now is what answered there); which configured
   * devices it found sets their presence. Returns the counts, for the
   * gateway event that reports the run.
   */
  reconcile(report: DiscoveryReport): { unknown: number; new_unknown: string[]; gone: string[]; missing: string[] } {
    const now = this.deps.clock.now();
    const found = new Set(report.found.flatMap((f) => f.configured));
    const notFound = new Set(report.not_found.map((n) => n.id));
    this.discovery = { at: now, found, notFound };
    const { fresh, gone } = this.unknown.reconcile(report);
    this.refreshAll(false);
    const missing = this.deps.source
      .assets()
      .filter((a) => this.presence(a) === "missing")
      .map((a) => a.config.id);
    return { unknown: this.unknown.size, new_unknown: fresh, gone, missing };
  }

  /** The campus readiness now. */
  readiness(uplink: Readiness["uplink"]): Readiness {
    return readiness({
      now: this.deps.clock.now(),
      devices: this.rows(),
      policy: this.policyInfo(),
      unknown: this.unknown.size,
      lastDiscovery: this.discovery === undefined ? null : isoTime(this.discovery.at),
      openAlarms: this.openAlarms(),
      uplink,
    });
  }

  /** Every configured device as the report shows it, in config order. */
  rows(): ReportDevice[] {
    const now = this.deps.clock.now();
    return this.deps.source.assets().map((a) => {
      const p = this.published.get(a.config.id);
      // A device waiting for its turn in a refresh (after a policy reload) is evaluated now, not shown with the old policy.
      const result = this.policy === undefined ? null : p?.result == null || this.pending.has(a.config.id) ? this.evaluate(a, now) : p.result;
      const s = a.status;
      return {
        id: a.config.id,
        name: a.config.name ?? null,
        kind: a.config.kind,
        category: a.config.category,
        location: stripUndefined(a.config.location),
        owner: a.config.owner ?? null,
        identity: { ...a.identity },
        lifecycle: lifecycleOf(a.config),
        presence: this.presence(a),
        status: {
          state: s?.state ?? "unknown",
          reason: s?.reason ?? null,
          reason_text: s?.reasonText ?? null,
          since: s === undefined ? null : isoTime(s.since),
          last_seen: s?.lastSeen == null ? null : isoTime(s.lastSeen),
        },
        compliance: {
          evaluated: result !== null,
          compliant: result?.compliant ?? true,
          failing: result?.failing ?? [],
          unchecked: result?.unchecked ?? [],
          since: p?.memory === undefined ? null : isoTime(p.memory.since),
        },
      };
    });
  }

  unknownAssets(): ReportUnknown[] {
    return this.unknown.list();
  }

  openAlarms(): OpenAlarm[] {
    return this.alarms.list();
  }

  // ------------------------------------------------------------ publishing

  /** Devices waiting to be refreshed, and whether each must be published even if unchanged. */
  private readonly pending = new Map<string, boolean>();
  private drainScheduled = false;
  private closed = false;

  /** Every device, REFRESH_CHUNK per turn: the first chunk now, the rest on the following turns. */
  private refreshAll(force: boolean): void {
    for (const a of this.deps.source.assets()) this.pending.set(a.config.id, force || this.pending.get(a.config.id) === true);
    this.drainPending();
  }

  private drainPending(): void {
    if (this.closed) return;
    const chunk = [...this.pending].slice(0, REFRESH_CHUNK);
    const batch = this.deps.batch ?? ((fn: () => void) => fn());
    batch(() => {
      for (const [id, force] of chunk) {
        this.pending.delete(id);
        const asset = this.deps.source.asset(id);
        if (asset !== undefined) this.refresh(asset, force);
      }
    });
    this.deps.onChange?.();
    if (this.pending.size === 0 || this.drainScheduled) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      this.drainPending();
    });
  }

  /** The agent stops: nothing more is refreshed (its stores are closing). */
  close(): void {
    this.closed = true;
    this.pending.clear();
    this.alarms.flush();
  }

  /** Publish the device's inventory and compliance when they changed (or `force`); a change of failing rules is also an event. */
  private refresh(a: DeviceAsset, force: boolean): void {
    const id = a.config.id;
    const now = this.deps.clock.now();
    let p = this.published.get(id);
    if (p === undefined) {
      p = { result: null, memory: this.deps.state.get(id).asset };
      this.published.set(id, p);
    }
    const inventory = {
      owner: a.config.owner ?? null,
      identity: { ...a.identity },
      lifecycle: lifecycleOf(a.config),
      presence: this.presence(a),
      last_seen: a.status?.lastSeen == null ? null : isoTime(a.status.lastSeen),
      identity_read_at: a.identityReadAt === undefined ? null : isoTime(a.identityReadAt),
    };
    // last_seen and identity_read_at move with every poll: only the cron republishes for them.
    const inventoryKey = JSON.stringify({ ...inventory, last_seen: undefined, identity_read_at: undefined });
    if (force || inventoryKey !== p.inventory) {
      this.deps.messages.inventory(a.info, inventory);
      p.inventory = inventoryKey;
    }

    // Before its first poll the device's clock drift is not known again (after a restart): evaluating then would
    // clear clock_drift and raise it again a poll later. Its compliance waits for that poll.
    if (!a.polled) return;
    const result = this.policy === undefined ? null : this.evaluate(a, now);
    p.result = result;
    const failing = result === null ? null : failingRules(result);
    const before = p.memory;
    const rulesChanged = before === undefined || JSON.stringify(before.failing) !== JSON.stringify(failing);
    const memory: AssetMemory = rulesChanged ? { failing, since: now } : before;
    // The values in a failure (a drift of 91 s, then 92 s) do not make a new state; the rules, the entries that decided and the unchecked checks do.
    const complianceKey = JSON.stringify({
      failing: result?.failing.map((f) => [f.rule, f.details.policy_rule ?? null]) ?? null,
      unchecked: result?.unchecked.map((u) => u.check) ?? null,
      policy: this.policyInfo()?.sha256 ?? null,
    });
    if (force || rulesChanged || complianceKey !== p.compliance) {
      this.deps.messages.compliance(a.info, {
        evaluated: result !== null,
        compliant: result?.compliant ?? true,
        failing: result?.failing ?? [],
        unchecked: result?.unchecked ?? [],
        since: isoTime(memory.since),
        policy: this.policyInfo(),
      });
      p.compliance = complianceKey;
    }
    if (rulesChanged) {
      p.memory = memory;
      this.deps.state.setAsset(id, memory);
      const change = failing === null ? undefined : complianceChange(before?.failing ?? undefined, failing);
      if (change !== undefined && result !== null) {
        const texts = [
          ...change.raised.map((r) => `${r} failing`),
          ...change.cleared.map((r) => `${r} cleared`),
        ];
        this.deps.messages.complianceChange(a.info, {
          message: `${a.config.id}: ${texts.join(", ")}${result.compliant ? "; compliant now" : ""}`,
          raised: change.raised,
          cleared: change.cleared,
          compliant: result.compliant,
          failing: failingRules(result),
        });
        this.deps.log.info({ device: id, raised: change.raised, cleared: change.cleared }, "device compliance changed");
      }
    }
  }

  private evaluate(a: DeviceAsset, now: number): Compliance | null {
    if (this.policy === undefined) return null;
    const s = a.status;
    return evaluate(
      {
        id: a.config.id,
        kind: a.config.kind,
        category: a.config.category,
        ...(a.identity !== undefined ? { identity: a.identity } : {}),
        lifecycle: a.config.lifecycle,
        lastSeen: s?.lastSeen ?? null,
        watchedSince: a.watchedSince,
        clockDriftMs: a.clockDriftMs,
        ...(s !== undefined ? { status: { state: s.state, reason: s.reason } } : {}),
      },
      this.policy.policy,
      now,
      this.deps.timeZone === undefined ? {} : { timeZone: this.deps.timeZone },
    );
  }

  /**
   * present: it has answered the gateway, or discovery found it; missing:
   * never answered, and offline (its polls fail) or not found by the last
   * discovery; pending: neither yet.
   */
  private presence(a: DeviceAsset): Presence {
    if (a.status?.lastSeen != null || this.discovery?.found.has(a.config.id) === true) return "present";
    if (a.status?.state === "offline" || this.discovery?.notFound.has(a.config.id) === true) return "missing";
    return "pending";
  }
}

function lifecycleOf(d: DeviceConfig): ReportDevice["lifecycle"] {
  return stripUndefined({ ...d.lifecycle });
}
