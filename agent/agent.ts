/**
 * Wires the agent together and runs its start-up, reload and shut-down; the
 * work itself lives in the modules it wires (scheduler, outbox, publisher,
 * status model, devices).
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Logger } from "pino";
import type { LoadedConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";
import type { DriverFactory } from "../drivers/contract.js";
import { type Clock, systemClock } from "./clock.js";
import { ControlError } from "./control/protocol.js";
import { ControlServer } from "./control/server.js";
import { type DevicesView, devicesView, parseDeviceFilter, type StatusView, statusView } from "./control/views.js";
import { Assets } from "./assets/assets.js";
import { DeviceManager, DeviceRequestError } from "./devices.js";
import type { RecentLog } from "./log.js";
import { Messages } from "./messages.js";
import { type EmbeddedBroker, startEmbeddedBroker } from "./mqtt/broker.js";
import { brokerCredentials, redactUrl } from "./mqtt/connection.js";
import { type GatewayStatusPayload, type HeartbeatPayload, isoTime, Topics } from "./mqtt/contract.js";
import { Publisher, type PublisherOptions, type PublisherState } from "./mqtt/publisher.js";
import { SqliteOutbox } from "./outbox/sqlite.js";
import type { Outbox, OutboxStats } from "./outbox/types.js";
import { type CronHandle, Scheduler } from "./scheduler.js";
import { StateStore } from "./state.js";
import { StatusModel } from "./status.js";

/** Longest deadline a probe may ask for (each of its poll and identify). */
export const MAX_PROBE_TIMEOUT_MS = 60_000;

export interface AgentDeps {
  loaded: LoadedConfig;
  drivers: readonly DriverFactory[];
  log: Logger;
  version: string;
  clock?: Clock;
  /** The last warnings and errors of `log` (agent/log.ts), for `campus-agent status`. */
  recentLog?: RecentLog | undefined;
}

export interface AgentSnapshot {
  brokerUrl: string;
  publisher: PublisherState;
  outbox: OutboxStats;
  devices: ReturnType<DeviceManager["counts"]>;
}

export class Agent {
  private readonly clock: Clock;
  private readonly log: Logger;
  private loaded: LoadedConfig;
  private readonly startedAt: number;
  private outbox: Outbox | null = null;
  private broker: EmbeddedBroker | null = null;
  private publisher: Publisher | null = null;
  private scheduler: Scheduler | null = null;
  private devices: DeviceManager | null = null;
  private messages: Messages | null = null;
  private state: StateStore | null = null;
  private inventoryCron: CronHandle | null = null;
  private assets: Assets | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private control: ControlServer | null = null;
  private brokerUrl = "";
  private readonly topics: Topics;

  constructor(private readonly deps: AgentDeps) {
    this.clock = deps.clock ?? systemClock;
    this.log = deps.log;
    this.loaded = deps.loaded;
    this.startedAt = this.clock.now();
    this.topics = new Topics(deps.loaded.config.campus.id, deps.loaded.config.gateway.id);
  }

  get config(): Config {
    return this.loaded.config;
  }

  async start(): Promise<void> {
    const cfg = this.config;
    mkdirSync(dirname(cfg.outbox.path), { recursive: true });
    const outbox = SqliteOutbox.open({
      path: cfg.outbox.path,
      maxSizeBytes: Math.round(cfg.outbox.max_size_mb * 1024 * 1024),
      flushIntervalMs: cfg.outbox.flush_interval_ms,
      batchSize: cfg.outbox.batch_size,
      clock: this.clock,
      log: this.log.child({ module: "outbox" }),
    });
    this.outbox = outbox;
    try {
      this.state = StateStore.open(cfg.outbox.path);
      if (cfg.broker.url === undefined) {
        this.broker = await startEmbeddedBroker({ ...cfg.broker.embedded, log: this.log.child({ module: "broker" }) });
      }
      this.brokerUrl = cfg.broker.url ?? this.broker?.url ?? "";
      this.messages = new Messages({ outbox, topics: this.topics, clock: this.clock });
      this.messages.gatewayEvent("started", `agent ${this.deps.version} started with ${cfg.devices.length} devices`, {
        agent_version: this.deps.version,
        devices: cfg.devices.length,
        config_file: this.loaded.file,
      });
      this.publisher = this.createPublisher(outbox);
      this.publisher.start();
      this.scheduler = new Scheduler({
        clock: this.clock,
        log: this.log.child({ module: "scheduler" }),
        maxConcurrency: cfg.polling.max_concurrency,
      });
      this.devices = new DeviceManager({
        drivers: this.deps.drivers,
        scheduler: this.scheduler,
        status: new StatusModel({ clock: this.clock }),
        messages: this.messages,
        state: this.state,
        outbox,
        log: this.log,
        clock: this.clock,
      });
      this.assets = new Assets({
        devices: this.devices,
        messages: this.messages,
        state: this.state,
        outbox,
        scheduler: this.scheduler,
        topics: this.topics,
        clock: this.clock,
        log: this.log.child({ module: "assets" }),
        version: this.deps.version,
        publisher: () => this.publisher,
        loaded: () => this.loaded,
      });
      this.assets.start(this.loaded.policy);
      this.devices.apply(cfg);
      this.scheduler.start();
      this.startInventory();
      this.startHeartbeat();
      await this.openControl();
      this.log.info(
        { campus: cfg.campus.id, gateway: cfg.gateway.id, devices: cfg.devices.length, broker: this.brokerUrl },
        "agent started",
      );
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /**
   * Apply a new config without a restart and without losing buffered data:
   * devices are added, removed or re-scheduled; a changed broker section gets a
   * new connection. The outbox file and the campus/gateway ids need a restart.
   */
  async reload(next: LoadedConfig): Promise<void> {
    const prevLoaded = this.loaded;
    const prev = prevLoaded.config;
    const cfg = next.config;
    const needsRestart: string[] = [];
    if (cfg.campus.id !== prev.campus.id) needsRestart.push("campus.id");
    if (cfg.gateway.id !== prev.gateway.id) needsRestart.push("gateway.id");
    if (cfg.outbox.path !== prev.outbox.path) needsRestart.push("outbox.path");
    if (cfg.control.enabled !== prev.control.enabled || cfg.control.socket !== prev.control.socket) needsRestart.push("control");
    if (
      JSON.stringify(cfg.broker.embedded) !== JSON.stringify(prev.broker.embedded) ||
      (cfg.broker.url === undefined) !== (prev.broker.url === undefined)
    ) {
      needsRestart.push("broker.url / broker.embedded");
    }
    if (needsRestart.length > 0) {
      const message = `config not reloaded: ${needsRestart.join(", ")} changed, which needs a restart`;
      this.log.error({ fields: needsRestart }, message);
      this.messages?.gatewayEvent("config_rejected", message, { problems: needsRestart.map((p) => `${p}: changed; needs a restart`) });
      return;
    }
    this.loaded = next;
    const result = this.devices?.apply(cfg) ?? { added: [], removed: [], changed: [] };
    const brokerChanged =
      JSON.stringify(cfg.broker) !== JSON.stringify(prev.broker) || next.secrets.brokerPassword !== prevLoaded.secrets.brokerPassword;
    if (brokerChanged && this.outbox) {
      await this.publisher?.stop();
      this.publisher = this.createPublisher(this.outbox);
      this.publisher.start();
    }
    if (cfg.heartbeat.interval_s !== prev.heartbeat.interval_s) this.startHeartbeat();
    if (cfg.inventory.cron !== prev.inventory.cron) this.startInventory();
    this.assets?.reloaded(prevLoaded, next);
    for (const id of result.added) this.messages?.gatewayEvent("device_added", `device ${id} added`, { device: id });
    for (const id of result.removed) this.messages?.gatewayEvent("device_removed", `device ${id} removed`, { device: id });
    for (const id of result.changed) this.messages?.gatewayEvent("device_changed", `device ${id} changed`, { device: id });
    this.messages?.gatewayEvent(
      "config_reloaded",
      `config reloaded: ${result.added.length} added, ${result.removed.length} removed, ${result.changed.length} changed`,
      {
        ...result,
        broker_reconnected: brokerChanged,
      },
    );
    this.log.info({ ...result, brokerChanged }, "config reloaded");
  }

  /** Report a config reload that failed validation (or its lifecycle policy, at `policyFile`), keeping the running config and policy. */
  reloadRejected(problems: string[], policyFile?: string): void {
    if (policyFile !== undefined && this.assets !== null) {
      this.assets.policyRejected(policyFile, problems);
      return;
    }
    for (const p of problems) this.log.error({ problem: p }, "config reload rejected");
    this.messages?.gatewayEvent("config_rejected", `config reload rejected: ${problems.length} problem(s); running config kept`, {
      problems,
    });
  }

  snapshot(): AgentSnapshot | null {
    if (!this.publisher || !this.outbox || !this.devices) return null;
    return { brokerUrl: this.brokerUrl, publisher: this.publisher.state(), outbox: this.outbox.stats(), devices: this.devices.counts() };
  }

  async stop(): Promise<void> {
    await this.control?.close();
    this.control = null;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    this.inventoryCron?.stop();
    this.inventoryCron = null;
    this.assets?.stop();
    this.assets = null;
    await this.scheduler?.stop();
    await this.devices?.close();
    this.outbox?.flush();
    await this.publisher?.stop();
    this.outbox?.close();
    this.state?.close();
    await this.broker?.close();
    this.scheduler = null;
    this.publisher = null;
    this.outbox = null;
    this.state = null;
    this.broker = null;
    this.log.info("agent stopped");
  }

  private createPublisher(outbox: Outbox): Publisher {
    const cfg = this.config;
    const b = cfg.broker;
    const statusPayload = (state: "online" | "offline", reason: GatewayStatusPayload["reason"]): string => {
      const p: GatewayStatusPayload = {
        schema: "campus-edge/gateway-status/v1",
        campus: cfg.campus.id,
        gateway: cfg.gateway.id,
        ts: isoTime(this.clock.now()),
        state,
        reason,
        agent_version: this.deps.version,
        started_at: isoTime(this.startedAt),
      };
      return JSON.stringify(p);
    };
    const { protocol, clientId, ...auth } = brokerCredentials(this.loaded);
    const options: PublisherOptions = {
      url: this.brokerUrl,
      clientId,
      protocol,
      ...auth,
      keepaliveS: b.keepalive_s,
      connectTimeoutMs: b.connect_timeout_ms,
      publishTimeoutMs: b.publish_timeout_ms,
      maxInFlight: b.max_in_flight,
      reconnectMinMs: b.reconnect_min_ms,
      reconnectMaxMs: b.reconnect_max_ms,
      statusTopic: this.topics.gatewayStatus(),
      birthPayload: () => statusPayload("online", "connected"),
      willPayload: () => statusPayload("offline", "connection_lost"),
      shutdownPayload: () => statusPayload("offline", "shutdown"),
      echoCheckMs: protocol === "mqtt3.1.1" ? 5000 : 0,
    };
    const publisher = new Publisher({ outbox, log: this.log.child({ module: "publisher" }), clock: this.clock, options });
    publisher.on("connected", () => {
      const down = publisher.state().lastDisconnectAt;
      if (down !== null) {
        const depth = outbox.stats().depth;
        this.messages?.gatewayEvent(
          "uplink_restored",
          `broker connection restored after ${Math.round((this.clock.now() - down) / 1000)} s`,
          {
            down_since: isoTime(down),
            duration_s: Math.round((this.clock.now() - down) / 1000),
            backlog: depth,
          },
        );
      }
      this.sendHeartbeat();
      this.assets?.publishReadiness();
    });
    return publisher;
  }

  /**
   * The control socket for the CLI on this gateway. An agent that cannot open
   * it still runs (it is a technician's tool; alarms do not depend on it) and
   * says why.
   */
  private async openControl(): Promise<void> {
    const c = this.config.control;
    if (!c.enabled || c.socket === undefined) return;
    const devices = this.devices;
    const running = (): DeviceManager => {
      if (devices === null) throw new ControlError("failed", "the agent is not running its devices");
      return devices;
    };
    const assets = (): Assets => {
      running();
      if (this.assets === null) throw new ControlError("failed", "the agent is stopping");
      return this.assets;
    };
    try {
      this.control = await ControlServer.open({
        path: c.socket,
        log: this.log.child({ module: "control" }),
        handlers: {
          ping: () => Promise.resolve(this.about()),
          status: () => Promise.resolve(this.statusView()),
          devices: (params) => Promise.resolve(this.devicesView(params)),
          probe: async (params) => {
            const device = params.device;
            if (typeof device !== "string") throw new ControlError("bad_request", "probe needs a device id");
            const timeoutMs = timeoutParam(params.timeout_ms, MAX_PROBE_TIMEOUT_MS);
            const r = await deviceRequest(() => running().probe(device, timeoutMs));
            return { ...r, agent: this.about() };
          },
          discover: async () => ({ ...(await assets().reconcile()), campus: this.config.campus.id, agent: this.about() }),
          report: () => Promise.resolve({ ...assets().report(), agent: this.about() }),
          "test-alarm": async (params) => {
            const device = params.device;
            const input = params.input;
            if (typeof device !== "string") throw new ControlError("bad_request", "test-alarm needs a device id");
            if (input !== undefined && typeof input !== "string") throw new ControlError("bad_request", "input must be a string");
            const timeoutMs = timeoutParam(params.timeout_ms ?? 5000, 60_000) ?? 5000;
            const r = await deviceRequest(() => running().testAlarm(device, input, timeoutMs));
            return { device, kind: r.kind, alarm_id: r.alarmId, via: r.via, steps: r.steps, topic: this.topics.deviceAlarm(device), ...this.about() };
          },
        },
      });
      this.log.info({ socket: c.socket }, "control socket open");
    } catch (err) {
      this.log.error({ err, socket: c.socket }, "control socket not opened: the CLI cannot reach this agent");
    }
  }

  /** `campus-agent status`: the gateway at a glance, from the modules that own each part. */
  private statusView(): StatusView {
    const { publisher, outbox, devices } = this;
    if (!publisher || !outbox || !devices) throw new ControlError("failed", "the agent is stopping");
    const cfg = this.config;
    const recent = this.deps.recentLog;
    return statusView({
      now: this.clock.now(),
      agent: { version: this.deps.version, pid: process.pid, startedAt: this.startedAt, configFile: this.loaded.file },
      campus: cfg.campus.id,
      gateway: cfg.gateway.id,
      brokerUrl: redactUrl(this.brokerUrl),
      embedded: cfg.broker.url === undefined,
      publisher: publisher.state(),
      outbox: outbox.stats(),
      devices: devices.list(),
      recent: recent && { total: recent.total, capacity: recent.capacity, entries: recent.entries() },
    });
  }

  /** `campus-agent devices`: one row per device, filtered by `params` (status, kind, building). */
  private devicesView(params: Record<string, unknown>): DevicesView {
    const devices = this.devices;
    if (!devices) throw new ControlError("failed", "the agent is stopping");
    const filter = parseDeviceFilter(params, devices.kinds());
    return devicesView({ now: this.clock.now(), campus: this.config.campus.id, gateway: this.config.gateway.id, devices: devices.list(), filter });
  }

  /** Who this agent is, for the CLI: never a secret. */
  private about(): Record<string, unknown> {
    const cfg = this.config;
    const publisher = this.publisher?.state();
    return {
      agent_version: this.deps.version,
      pid: process.pid,
      campus: cfg.campus.id,
      gateway: cfg.gateway.id,
      config_file: this.loaded.file,
      broker_url: redactUrl(this.brokerUrl),
      embedded_broker: cfg.broker.url === undefined,
      broker_connected: publisher?.connected ?? false,
      broker_last_error: publisher?.lastError?.message ?? null,
      started_at: isoTime(this.startedAt),
    };
  }

  /** Device identities: once at start, then on the inventory cron, which publishes every device's inventory and compliance after. */
  private startInventory(): void {
    const scheduler = this.scheduler;
    const devices = this.devices;
    if (!scheduler || !devices) return;
    this.inventoryCron?.stop();
    this.inventoryCron = scheduler.cron("inventory", this.config.inventory.cron, async (signal) => {
      await devices.refreshIdentities(signal);
      if (!signal.aborted) this.assets?.cycle();
    });
    devices.refreshIdentities().catch((err: unknown) => this.log.warn({ err }, "initial identity refresh failed"));
  }

  private startHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => this.sendHeartbeat(), this.config.heartbeat.interval_s * 1000);
  }

  private sendHeartbeat(): void {
    const publisher = this.publisher;
    const outbox = this.outbox;
    const devices = this.devices;
    if (!publisher || !outbox || !devices) return;
    const ps = publisher.state();
    if (!ps.connected || ps.connectedSince === null) return;
    const now = this.clock.now();
    const st = outbox.stats();
    const mem = process.memoryUsage();
    const mb = (n: number) => Math.round((n / 1048576) * 10) / 10;
    const p: HeartbeatPayload = {
      schema: "campus-edge/gateway-heartbeat/v1",
      campus: this.config.campus.id,
      gateway: this.config.gateway.id,
      ts: isoTime(now),
      uptime_s: Math.round((now - this.startedAt) / 1000),
      interval_s: this.config.heartbeat.interval_s,
      connected_since: isoTime(ps.connectedSince),
      outbox: {
        depth: st.depth,
        bytes: st.bytes,
        oldest_age_s: st.oldestCreatedAt === null ? null : Math.max(0, Math.round((now - st.oldestCreatedAt) / 1000)),
        dropped: st.dropped,
      },
      devices: devices.counts(),
      process: { rss_mb: mb(mem.rss), heap_used_mb: mb(mem.heapUsed) },
    };
    publisher.publishLive(this.topics.heartbeat(), JSON.stringify(p)).catch((err: unknown) => {
      this.log.debug({ err }, "heartbeat not published");
    });
  }
}

/** A control request's `timeout_ms`: absent, or milliseconds from 1 to `maxMs`. */
function timeoutParam(value: unknown, maxMs: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !(value > 0 && value <= maxMs)) {
    throw new ControlError("bad_request", `timeout_ms must be a number of milliseconds (1-${maxMs})`);
  }
  return value;
}

/** A request about one device; its refusal (unknown device, a kind that cannot…) answered with the same code. */
async function deviceRequest<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof DeviceRequestError) throw new ControlError(e.code, e.message);
    throw e;
  }
}
