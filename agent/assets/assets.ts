/**
 * The asset register as the running agent drives it: the register itself
 * (register.ts), the minute re-evaluation, the reconciliation on
 * `discovery.cron` and on demand (`campus-agent discover`), the lifecycle
 * policy's reloads, the retained campus readiness (live: at most one every
 * READINESS_MIN_INTERVAL_MS, and on every connect) and the report.
 */
import type { Logger } from "pino";
import type { LoadedConfig } from "../../config/load.js";
import type { Config } from "../../config/schema.js";
import type { Clock } from "../clock.js";
import type { DeviceManager } from "../devices.js";
import type { DiscoveryReport } from "../discovery.js";
import type { LoadedPolicy } from "../lifecycle/policy.js";
import type { Messages } from "../messages.js";
import type { CampusReadinessPayload, Readiness } from "../mqtt/asset-contract.js";
import { isoTime, type Topics } from "../mqtt/contract.js";
import type { Publisher } from "../mqtt/publisher.js";
import type { Outbox } from "../outbox/types.js";
import type { CronHandle, Scheduler } from "../scheduler.js";
import type { StateStore } from "../state.js";
import { AssetRegister } from "./register.js";
import { type AssetReport, REPORT_SCHEMA } from "./report-types.js";

/** The readiness is published at most this often (it changes with every poll's status). */
export const READINESS_MIN_INTERVAL_MS = 5_000;
/** How often compliance is re-evaluated without a change: time alone fails not_seen. */
export const TICK_MS = 60_000;

export interface AssetsDeps {
  devices: DeviceManager;
  messages: Messages;
  state: StateStore;
  outbox: Pick<Outbox, "batch" | "stats">;
  scheduler: Scheduler;
  topics: Topics;
  clock: Clock;
  log: Logger;
  version: string;
  /** The publisher of the moment (a broker change replaces it). */
  publisher(): Publisher | null;
  loaded(): LoadedConfig;
}

export class Assets {
  readonly register: AssetRegister;
  private discoveryCron: CronHandle | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  private readinessTimer: NodeJS.Timeout | null = null;
  private lastReadinessAt = 0;
  private reconciling: Promise<DiscoveryReport> | null = null;
  private stopped = false;

  constructor(private readonly deps: AssetsDeps) {
    this.register = new AssetRegister({
      source: deps.devices,
      messages: deps.messages,
      state: deps.state,
      clock: deps.clock,
      log: deps.log,
      onChange: () => this.readinessSoon(),
      batch: (fn) => this.inBatch(fn),
    });
  }

  /** Before the devices are applied: the policy, and the register as the devices' observer. */
  start(policy: LoadedPolicy | undefined): void {
    this.register.setPolicy(policy);
    this.deps.devices.observe(this.register);
    this.tickTimer = setInterval(() => this.register.tick(), TICK_MS);
    this.tickTimer.unref();
    this.startDiscovery();
  }

  private get config(): Config {
    return this.deps.loaded().config;
  }

  /** After a config reload: a new or changed policy, a new discovery schedule. */
  reloaded(prev: LoadedConfig, next: LoadedConfig): void {
    if (next.config.discovery.cron !== prev.config.discovery.cron) this.startDiscovery();
    const before = prev.policy?.sha256;
    const after = next.policy?.sha256;
    if (before === after && prev.policy?.file === next.policy?.file) return;
    this.register.setPolicy(next.policy);
    const rows = this.register.rows();
    const nonCompliant = rows.filter((r) => !r.compliance.compliant).map((r) => r.id);
    const p = next.policy;
    if (p === undefined) {
      this.deps.messages.gatewayEvent("policy_reloaded", "lifecycle policy removed from the config: compliance is no longer checked", { file: null });
      return;
    }
    this.deps.messages.gatewayEvent(
      "policy_reloaded",
      `lifecycle policy ${p.file} loaded: ${p.policy.firmware.length} firmware and ${p.policy.end_of_support.length} end-of-support rules; ${nonCompliant.length} of ${rows.length} devices fail a rule`,
      {
        file: p.file,
        sha256: p.sha256,
        firmware_rules: p.policy.firmware.length,
        end_of_support_rules: p.policy.end_of_support.length,
        non_compliant: nonCompliant,
      },
    );
    this.deps.log.info({ file: p.file, sha256: p.sha256, non_compliant: nonCompliant.length }, "lifecycle policy loaded");
  }

  /** An invalid policy on SIGHUP: the running policy (and config) are kept. */
  policyRejected(file: string, problems: string[]): void {
    for (const problem of problems) this.deps.log.error({ file, problem }, "lifecycle policy rejected");
    this.deps.messages.gatewayEvent(
      "policy_rejected",
      `lifecycle policy ${file} rejected: ${problems.length} problem(s); the running policy and config are kept`,
      { file, problems },
    );
  }

  /**
   * Discovery, then the register's reconciliation with its result (unknown
   * and missing assets), reported as a gateway event. A run already going
   * is joined, not started twice.
   */
  reconcile(signal?: AbortSignal): Promise<DiscoveryReport> {
    this.reconciling ??= this.runReconcile(signal).finally(() => {
      this.reconciling = null;
    });
    return this.reconciling;
  }

  private async runReconcile(signal?: AbortSignal): Promise<DiscoveryReport> {
    const report = await this.deps.devices.discover(this.config, signal);
    if (this.stopped) return report;
    const r = this.inBatch(() => this.register.reconcile(report));
    const failed = report.scans.filter((s) => !s.ok).length;
    this.deps.messages.gatewayEvent(
      "assets_reconciled",
      `discovery: ${report.found.length} found, ${r.unknown} unknown (${r.new_unknown.length} new), ${r.missing.length} missing${failed > 0 ? `, ${failed} scan(s) failed` : ""}`,
      { found: report.found.length, unknown: r.unknown, new_unknown: r.new_unknown, gone: r.gone, missing: r.missing, failed_scans: failed, ms: report.ms },
    );
    this.deps.log.info({ found: report.found.length, unknown: r.unknown, missing: r.missing.length }, "assets reconciled");
    return report;
  }

  /** The inventory cron: every device's inventory and compliance, published again. */
  cycle(): void {
    this.register.cycle();
    this.publishReadiness();
  }

  readiness(): Readiness {
    const publisher = this.deps.publisher();
    const depth = this.deps.outbox.stats().depth;
    return this.register.readiness({ connected: publisher?.state().connected ?? false, outbox_depth: depth.alarm + depth.event + depth.telemetry });
  }

  report(): AssetReport {
    const cfg = this.config;
    return {
      schema: REPORT_SCHEMA,
      generated_at: isoTime(this.deps.clock.now()),
      campus: { id: cfg.campus.id, name: cfg.campus.name ?? null },
      gateway: { id: cfg.gateway.id, name: cfg.gateway.name ?? null },
      agent_version: this.deps.version,
      policy: this.register.policyInfo(),
      readiness: this.readiness(),
      devices: this.register.rows(),
      unknown: this.register.unknownAssets(),
    };
  }

  /** Publish the retained readiness now (on connect, on the cron); live: a readiness from the past is never replayed. */
  publishReadiness(): void {
    const publisher = this.deps.publisher();
    if (this.stopped || publisher === null || !publisher.state().connected) return;
    if (this.readinessTimer !== null) clearTimeout(this.readinessTimer);
    this.readinessTimer = null;
    this.lastReadinessAt = this.deps.clock.now();
    const payload: CampusReadinessPayload = {
      schema: "campus-edge/campus-readiness/v1",
      campus: this.deps.topics.campus,
      gateway: this.deps.topics.gateway,
      ts: isoTime(this.lastReadinessAt),
      ...this.readiness(),
    };
    publisher.publishLive(this.deps.topics.readiness(), JSON.stringify(payload), true).catch((err: unknown) => {
      this.deps.log.debug({ err }, "readiness not published; it is published again on the next connect");
    });
  }

  /** Something the readiness depends on changed: publish it, at most every READINESS_MIN_INTERVAL_MS. */
  private readinessSoon(): void {
    if (this.readinessTimer !== null || this.stopped) return;
    const wait = Math.max(0, this.lastReadinessAt + READINESS_MIN_INTERVAL_MS - this.deps.clock.now());
    this.readinessTimer = setTimeout(() => {
      this.readinessTimer = null;
      this.publishReadiness();
    }, wait);
    this.readinessTimer.unref();
  }

  private startDiscovery(): void {
    this.discoveryCron?.stop();
    this.discoveryCron = null;
    const cron = this.config.discovery.cron;
    if (cron === "off") return;
    this.discoveryCron = this.deps.scheduler.cron("discovery", cron, async (signal) => {
      await this.reconcile(signal);
    });
  }

  /**
   * What fn publishes and remembers, stored in one transaction of each store
   * (one sync, not one per message): the register's batch for each chunk of
   * a refresh, and a reconciliation's unknown assets.
   */
  private inBatch<T>(fn: () => T): T {
    return this.deps.state.batch(() => this.deps.outbox.batch(fn));
  }

  stop(): void {
    this.stopped = true;
    this.register.close();
    this.discoveryCron?.stop();
    if (this.tickTimer !== null) clearInterval(this.tickTimer);
    if (this.readinessTimer !== null) clearTimeout(this.readinessTimer);
    this.discoveryCron = null;
    this.tickTimer = null;
    this.readinessTimer = null;
  }
}
