/**
 * A consumer's view of the broker, for the CLI: connect with the gateway's
 * identity (a client id of its own, so the running agent is not kicked off),
 * subscribe, collect messages. The agent itself publishes through
 * publisher.ts; this never publishes.
 */
import { randomBytes } from "node:crypto";
import mqtt, { type MqttClient } from "mqtt";
import type { BrokerCredentials } from "./connection.js";

export interface ConsumerMessage {
  topic: string;
  payload: Buffer;
  /** Delivered as a retained message (the topic's current value, on subscribing). */
  retain: boolean;
  /** performance.now() when it arrived. */
  at: number;
}

export class BrokerConsumer {
  private readonly listeners = new Set<(m: ConsumerMessage) => void>();
  private readonly closeListeners = new Set<() => void>();
  private closing = false;

  private constructor(private readonly client: MqttClient) {
    client.on("message", (topic, payload, packet) => {
      const m = { topic, payload, retain: packet.retain, at: performance.now() };
      for (const l of this.listeners) l(m);
    });
    client.on("close", () => {
      for (const l of this.closeListeners) l();
    });
  }

  /** Connect, or reject with the broker's or the network's reason within timeoutMs. */
  static connect(url: string, creds: BrokerCredentials, purpose: string, timeoutMs: number): Promise<BrokerConsumer> {
    const client = mqtt.connect(url, {
      clientId: `${creds.clientId}-${purpose}-${randomBytes(3).toString("hex")}`.slice(0, 64),
      protocolVersion: creds.protocol === "mqtt5" ? 5 : 4,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: timeoutMs,
      ...(creds.username !== undefined ? { username: creds.username } : {}),
      ...(creds.password !== undefined ? { password: creds.password } : {}),
      ...(creds.tls ?? {}),
    });
    return new Promise<BrokerConsumer>((resolve, reject) => {
      const fail = (err: Error) => {
        client.end(true);
        reject(err);
      };
      const closed = () => fail(new Error("the broker closed the connection"));
      client.once("connect", () => {
        client.removeListener("error", fail);
        client.removeListener("close", closed);
        client.on("error", () => {}); // later errors end in "close"; the caller's wait times out
        resolve(new BrokerConsumer(client));
      });
      client.once("error", fail);
      client.once("close", closed);
    });
  }

  /** Subscribe at QoS 1; rejects when the broker refuses (an ACL). */
  subscribe(topic: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.client.subscribe(topic, { qos: 1 }, (err, granted) => {
        if (err) reject(err);
        else if (granted?.some((g) => g.qos >= 0x80)) reject(new Error(`the broker refused the subscription to ${topic} (check its ACL)`));
        else resolve();
      });
    });
  }

  /** Call fn for every message from now on; returns the unsubscribe. */
  onMessage(fn: (m: ConsumerMessage) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Call fn when the connection is lost (not when close() was called). */
  onClose(fn: () => void): void {
    this.closeListeners.add(() => {
      if (!this.closing) fn();
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.client.end(true);
        resolve();
      }, 1000);
      this.client.end(false, {}, () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
