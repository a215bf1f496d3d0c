/**
 * The publisher owns MQTT: it is the only module that imports `mqtt`.
 *
 * It drains the outbox at QoS 1 with a bounded number of messages in flight,
 * acks a message in the outbox only after the broker's PUBACK, and treats the
 * outbox as the source of truth: mqtt.js keeps its offline queue in memory,
 * loses it on restart and may never settle its promises (PRODUCT.md), so we
 * never publish while disconnected, put a deadline on every publish, and on
 * any connection loss abandon the client and hand every in-flight message back
 * to the outbox, to be sent again in order on a fresh connection.
 */
import { EventEmitter } from "node:events";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import type { Logger } from "pino";
import type { Clock } from "../clock.js";
import type { Outbox, StoredMessage } from "../outbox/types.js";

export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
  rejectUnauthorized: boolean;
}

export interface PublisherOptions {
  url: string;
  clientId: string;
  protocol: "mqtt5" | "mqtt3.1.1";
  username?: string;
  password?: string;
  tls?: TlsMaterial;
  keepaliveS: number;
  connectTimeoutMs: number;
  publishTimeoutMs: number;
  maxInFlight: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** Retained gateway status topic: birth on connect, Last Will, shutdown. */
  statusTopic: string;
  birthPayload(): string;
  willPayload(): string;
  shutdownPayload(): string;
  /**
   * Under MQTT 3.1.1 a broker that denies a publish by ACL still acks it
   * (PRODUCT.md: Mosquitto), so the loss would be silent. We subscribe to our
   * own status topic and expect the birth message back within this time;
   * otherwise the publisher reports `unconfirmed`. 0 disables the check.
   */
  echoCheckMs: number;
}

export interface PublisherError {
  code: string;
  message: string;
  at: number;
}

export interface PublisherState {
  connected: boolean;
  connectedSince: number | null;
  lastDisconnectAt: number | null;
  lastAckAt: number | null;
  acked: number;
  inFlight: number;
  blockedStreams: string[];
  lastError: PublisherError | null;
}

interface Flight {
  message: StoredMessage;
  timer: NodeJS.Timeout;
}

/** MQTT 5 reason codes worth naming for a technician ([MQTT-3.4.2.1] PUBACK reason codes). */
const REASONS: Record<number, string> = {
  128: "unspecified_error",
  131: "implementation_specific_error",
  135: "not_authorized",
  144: "topic_name_invalid",
  151: "quota_exceeded",
  153: "payload_format_invalid",
};

/**
 * In-flight slots beyond broker.max_in_flight that only alarms may take, so
 * an alarm goes out at once even while the window is full (a backlog being
 * drained after an outage, a slow broker).
 */
export const ALARM_RESERVE = 16;

/** After an alarm, for this long, other messages share at most ALARM_BUSY_WINDOW in-flight slots. */
export const ALARM_CALM_MS = 500;
export const ALARM_BUSY_WINDOW = 8;

const ACK_BATCH = 256;
const ACK_DELAY_MS = 25;

export class Publisher extends EventEmitter<{ connected: [since: number]; disconnected: [at: number] }> {
  private client: MqttClient | null = null;
  private generation = 0;
  private connected = false;
  private stopping = false;
  private connectedSince: number | null = null;
  private lastDisconnectAt: number | null = null;
  private lastAckAt: number | null = null;
  private acked = 0;
  private lastError: PublisherError | null = null;
  private readonly inFlight = new Map<number, Flight>();
  private readonly pendingAcks: number[] = [];
  /** Streams held back after the broker rejected one of their messages: stream -> monotonic ms until retry. */
  private readonly blocked = new Map<string, { until: number; holdMs: number }>();
  private backoffMs: number;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private echoTimer: NodeJS.Timeout | null = null;
  private pumpScheduled = false;
  /** Monotonic ms of the last alarm stored (-Infinity: none yet). */
  private lastAlarmAt = Number.NEGATIVE_INFINITY;
  private ackTimer: NodeJS.Timeout | null = null;
  private unsubscribeOutbox: (() => void) | null = null;
  private lastConnectErrorLogged = "";

  constructor(private readonly deps: { outbox: Outbox; log: Logger; clock: Clock; options: PublisherOptions; random?: () => number }) {
    super();
    this.backoffMs = deps.options.reconnectMinMs;
  }

  start(): void {
    this.unsubscribeOutbox = this.deps.outbox.onEnqueue((klass) => {
      // An alarm goes out in the same turn it was stored in (a DC-09 frame's, before its ACK), not after
      // whatever else this turn still has to run (other sockets' callbacks, a batch of poll results).
      if (klass === "alarm") {
        this.lastAlarmAt = this.deps.clock.monotonic();
        this.pumpAlarms();
      }
      this.schedulePump();
    });
    this.connect();
  }

  state(): PublisherState {
    return {
      connected: this.connected,
      connectedSince: this.connectedSince,
      lastDisconnectAt: this.lastDisconnectAt,
      lastAckAt: this.lastAckAt,
      acked: this.acked,
      inFlight: this.inFlight.size,
      blockedStreams: [...this.blocked.keys()],
      lastError: this.lastError,
    };
  }

  /**
   * Publish a live message (heartbeat): not buffered, because a heartbeat
   * from the past says nothing about now. Rejects when not connected.
   */
  async publishLive(topic: string, payload: string, retain = false): Promise<void> {
    const client = this.client;
    if (!client || !this.connected) throw new Error("not connected to the broker");
    await this.publishWithDeadline(client, topic, payload, retain);
  }

  /** Stop: publish the shutdown status if connected, then close; bounded by timeoutMs even when the broker is unreachable. */
  async stop(timeoutMs = 3000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.unsubscribeOutbox?.();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.echoTimer) clearTimeout(this.echoTimer);
    const client = this.client;
    if (client && this.connected) {
      try {
        await this.publishWithDeadline(client, this.deps.options.statusTopic, this.deps.options.shutdownPayload(), true, timeoutMs / 2);
      } catch (err) {
        this.deps.log.warn({ err }, "could not publish the shutdown status; the broker will publish our Last Will");
      }
    }
    this.flushAcks();
    this.abandonInFlight();
    this.generation++;
    this.connected = false;
    if (client) await endClient(client, timeoutMs / 2);
    this.client = null;
  }

  private connect(): void {
    if (this.stopping) return;
    const o = this.deps.options;
    const gen = ++this.generation;
    const mqtt5 = o.protocol === "mqtt5";
    const opts: IClientOptions = {
      clientId: o.clientId,
      protocolVersion: mqtt5 ? 5 : 4,
      clean: true,
      keepalive: o.keepaliveS,
      connectTimeout: o.connectTimeoutMs,
      // We reconnect ourselves, with backoff and a fresh client, so that nothing
      // mqtt.js kept in memory is resent behind the outbox's back.
      reconnectPeriod: 0,
      queueQoSZero: false,
      resubscribe: false,
      will: { topic: o.statusTopic, payload: Buffer.from(o.willPayload()), qos: 1, retain: true },
      ...(mqtt5 ? { properties: { sessionExpiryInterval: 0 } } : {}),
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(o.tls ?? {}),
    };
    const client = mqtt.connect(o.url, opts);
    // mqtt.js leaves Nagle on: an alarm written while telemetry is unacknowledged
    // would wait for the broker's delayed ACK (up to ~40 ms).
    (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
    this.client = client;
    client.on("connect", () => this.onConnect(gen, client));
    client.on("close", () => this.onClose(gen, client));
    client.on("error", (err) => this.onError(gen, err));
    client.on("message", (topic, payload) => this.onMessage(gen, topic, payload));
  }

  private onConnect(gen: number, client: MqttClient): void {
    if (gen !== this.generation) return;
    const now = this.deps.clock.now();
    this.connected = true;
    this.connectedSince = now;
    // The backoff resets once the broker takes a message (the birth, below), not at CONNACK: a broker that
    // accepts the connection, refuses everything and drops it (wrong campus id under an ACL) must not be
    // reconnected to at reconnect_min_ms forever.
    this.lastConnectErrorLogged = "";
    if (this.lastError?.code === "connect" || this.lastError?.code === "timeout") this.lastError = null;
    this.deps.log.info({ url: this.deps.options.url }, "connected to the broker");
    this.sendBirth(gen, client);
    this.emit("connected", now);
    this.schedulePump();
  }

  private sendBirth(gen: number, client: MqttClient): void {
    const o = this.deps.options;
    const birth = o.birthPayload();
    const needEcho = o.echoCheckMs > 0;
    if (needEcho) {
      this.expectedEcho = birth;
      client.subscribe(o.statusTopic, { qos: 1 }, (err, granted) => {
        if (gen !== this.generation) return;
        if (err || granted?.some((g) => g.qos >= 0x80)) {
          this.setError("not_authorized", `the broker refused our subscription to ${o.statusTopic}: check its ACL`);
        }
      });
      this.echoTimer = setTimeout(() => {
        if (gen !== this.generation || this.expectedEcho === null) return;
        this.setError(
          "unconfirmed",
          `the broker did not deliver our own status message back within ${o.echoCheckMs} ms: ` +
          `its ACL may deny ${o.statusTopic.split("/").slice(0, 2).join("/")}/# to this gateway (MQTT 3.1.1 hides denials)`,
        );
      }, o.echoCheckMs);
      this.echoTimer.unref();
    }
    this.publishWithDeadline(client, o.statusTopic, birth, true).then(
      () => {
        if (gen === this.generation) this.backoffMs = o.reconnectMinMs;
      },
      (err: unknown) => {
        if (gen !== this.generation) return;
        this.rejectionOrDrop(err, `${o.statusTopic} (birth)`);
      },
    );
  }

  private expectedEcho: string | null = null;

  private onMessage(gen: number, topic: string, payload: Buffer): void {
    if (gen !== this.generation || topic !== this.deps.options.statusTopic) return;
    if (this.expectedEcho !== null && payload.toString() === this.expectedEcho) {
      this.expectedEcho = null;
      if (this.echoTimer) clearTimeout(this.echoTimer);
      if (this.lastError?.code === "unconfirmed") this.lastError = null;
      this.client?.unsubscribe(topic);
    }
  }

  private onClose(gen: number, client: MqttClient): void {
    if (gen !== this.generation) return;
    this.generation++;
    const wasConnected = this.connected;
    this.connected = false;
    this.expectedEcho = null;
    if (this.echoTimer) clearTimeout(this.echoTimer);
    this.flushAcks();
    this.abandonInFlight();
    client.removeAllListeners("connect");
    client.end(true);
    if (wasConnected) {
      this.lastDisconnectAt = this.deps.clock.now();
      this.deps.log.warn("lost the broker connection; messages stay in the outbox");
      this.emit("disconnected", this.lastDisconnectAt);
    }
    this.scheduleReconnect();
  }

  private onError(gen: number, err: Error & { code?: string | number }): void {
    if (gen !== this.generation) return;
    const text = `${err.message}${err.code !== undefined ? ` (${err.code})` : ""}`;
    const auth = err.code === 4 || err.code === 5 || err.code === 134 || err.code === 135;
    this.setError(auth ? "auth" : "connect", text, text !== this.lastConnectErrorLogged);
    this.lastConnectErrorLogged = text;
  }

  private scheduleReconnect(): void {
    if (this.stopping || this.reconnectTimer) return;
    const o = this.deps.options;
    const jitter = 0.8 + 0.4 * (this.deps.random ?? Math.random)();
    const delay = Math.round(this.backoffMs * jitter);
    this.backoffMs = Math.min(o.reconnectMaxMs, this.backoffMs * 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Alarms only, into their reserved slots, now: called from the outbox listener, in the storing call's stack. */
  private pumpAlarms(): void {
    const client = this.client;
    if (!client || !this.connected || this.stopping) return;
    if (this.inFlight.size >= this.deps.options.maxInFlight + ALARM_RESERVE) return;
    this.sendAlarms(client, this.blockedStreamSet());
  }

  /** Alarms into every free slot, the ones only they may use included; sent now. */
  private sendAlarms(client: MqttClient, skip: Set<string>): void {
    const free = this.deps.options.maxInFlight + ALARM_RESERVE - this.inFlight.size;
    if (free <= 0) return;
    const gen = this.generation;
    for (const m of this.deps.outbox.take(free, skip, ["alarm"])) this.send(gen, client, m);
  }

  private pump(): void {
    const client = this.client;
    if (!client || !this.connected || this.stopping) return;
    // Refill as PUBACKs come (coalesced per tick by schedulePump). Waiting to refill
    // in batches looked cheaper but stalls on brokers that leave Nagle on (Mosquitto's
    // set_tcp_nodelay defaults to false): their later PUBACKs wait for our delayed ACK,
    // ~40 ms a batch, which cut the drain to ~400 msg/s here.
    const max = this.deps.options.maxInFlight;
    if (this.inFlight.size >= max + ALARM_RESERVE) return;
    const skip = this.blockedStreamSet();
    // Alarms first, into slots only they may use: a window full of telemetry
    // or of a backlog's events never holds an alarm back.
    this.sendAlarms(client, skip);
    // While alarms are coming in, the rest goes out through a narrower window: a backlog drained at full
    // speed keeps this thread (and a small gateway's CPU) busy, and the next alarm's frame waits behind it.
    const window = this.deps.clock.monotonic() - this.lastAlarmAt < ALARM_CALM_MS ? Math.min(max, ALARM_BUSY_WINDOW) : max;
    const room = window - this.inFlight.size;
    if (room <= 0) return;
    const gen = this.generation;
    for (const m of this.deps.outbox.take(room, skip)) this.send(gen, client, m);
  }

  private blockedStreamSet(): Set<string> {
    const now = this.deps.clock.monotonic();
    const skip = new Set<string>();
    for (const [stream, b] of this.blocked) if (b.until > now) skip.add(stream);
    if (skip.size > 0) {
      const soonest = Math.min(...[...this.blocked.values()].map((b) => b.until));
      setTimeout(() => this.schedulePump(), Math.max(10, soonest - now)).unref();
    }
    return skip;
  }

  private send(gen: number, client: MqttClient, m: StoredMessage): void {
    const timer = setTimeout(() => {
      if (gen !== this.generation) return;
      this.setError("timeout", `no PUBACK for ${m.topic} within ${this.deps.options.publishTimeoutMs} ms; reconnecting`);
      // A missing PUBACK means a broken connection; a fresh one re-sends in order.
      client.stream.destroy();
    }, this.deps.options.publishTimeoutMs);
    this.inFlight.set(m.id, { message: m, timer });
    client.publish(m.topic, m.payload, { qos: 1, retain: m.retain }, (err) => {
      if (gen !== this.generation) return; // connection already abandoned; the message was handed back
      const flight = this.inFlight.get(m.id);
      if (!flight) return;
      clearTimeout(flight.timer);
      this.inFlight.delete(m.id);
      if (err) {
        this.deps.outbox.release([m.id]);
        const code = (err as { code?: unknown }).code;
        if (typeof code === "number" && code >= 0x80) this.blockStream(m, code, err.message);
      } else {
        this.queueAck(m.id);
        this.acked++;
        this.lastAckAt = this.deps.clock.now();
        this.blocked.delete(m.stream);
        if (this.lastError?.code === "not_authorized" || this.lastError?.code === "rejected") this.lastError = null;
      }
      this.schedulePump();
    });
  }

  /** The broker refused a message (MQTT 5 reason code): keep it, hold its stream back with backoff, say why. */
  private blockStream(m: StoredMessage, code: number, text: string): void {
    const prev = this.blocked.get(m.stream);
    const holdMs = Math.min(this.deps.options.reconnectMaxMs * 2, prev ? prev.holdMs * 2 : 1000);
    this.blocked.set(m.stream, { until: this.deps.clock.monotonic() + holdMs, holdMs });
    const name = REASONS[code] ?? "rejected";
    this.setError(
      name === "not_authorized" ? "not_authorized" : "rejected",
      `broker refused ${m.topic}: ${text} (reason code ${code}); kept in the outbox, retrying in ${holdMs} ms. ` +
      "Check the broker ACL allows campus/<campus-id>/# and the configured campus id.",
      !prev,
    );
  }

  private rejectionOrDrop(err: unknown, what: string): void {
    const code = (err as { code?: unknown }).code;
    if (typeof code === "number" && code >= 0x80) {
      this.setError(REASONS[code] === "not_authorized" ? "not_authorized" : "rejected", `broker refused ${what}: reason code ${code}`);
    } else {
      this.deps.log.debug({ err }, `publish of ${what} did not complete`);
    }
  }

  /**
   * Deletes are batched: with synchronous=FULL each outbox transaction is an
   * fsync, and one per PUBACK capped the drain at ~800 msg/s with one message
   * in flight. A crash before the batch commits only re-sends those messages
   * (same seq, de-duplicated by consumers); nothing is lost.
   */
  private queueAck(id: number): void {
    this.pendingAcks.push(id);
    if (this.pendingAcks.length >= ACK_BATCH) this.flushAcks();
    else if (!this.ackTimer) {
      this.ackTimer = setTimeout(() => this.flushAcks(), ACK_DELAY_MS);
      this.ackTimer.unref();
    }
  }

  private flushAcks(): void {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    if (this.pendingAcks.length === 0) return;
    const ids = this.pendingAcks.splice(0);
    this.deps.outbox.ack(ids);
  }

  private abandonInFlight(): void {
    for (const f of this.inFlight.values()) clearTimeout(f.timer);
    this.inFlight.clear();
    this.deps.outbox.releaseAll();
  }

  private setError(code: string, message: string, log = true): void {
    this.lastError = { code, message, at: this.deps.clock.now() };
    if (log) this.deps.log.error({ code }, message);
  }

  private publishWithDeadline(client: MqttClient, topic: string, payload: string, retain: boolean, timeoutMs?: number): Promise<void> {
    const ms = timeoutMs ?? this.deps.options.publishTimeoutMs;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no PUBACK for ${topic} within ${ms} ms`)), ms);
      client.publish(topic, payload, { qos: 1, retain }, (err) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      });
    });
  }
}

/** end() can hang while offline (PRODUCT.md): give it a deadline, then force. */
async function endClient(client: MqttClient, timeoutMs: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      client.end(true);
      resolve();
    }, timeoutMs);
    client.end(false, {}, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
