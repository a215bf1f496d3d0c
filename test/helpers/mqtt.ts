/** A test subscriber: an independent MQTT client that records what arrives. */
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { vi } from "vitest";

export interface Received {
  topic: string;
  payload: string;
  retain: boolean;
}

export interface Recorder {
  client: MqttClient;
  messages: Received[];
  /** Parsed JSON payloads of messages on topics matching `suffix` (topic ends with it). */
  json(suffix: string): Record<string, unknown>[];
  waitFor(predicate: (messages: Received[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function record(url: string, topic: string, opts: IClientOptions = {}): Promise<Recorder> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 200, ...opts });
  const messages: Received[] = [];
  client.on("message", (t, payload, packet) => messages.push({ topic: t, payload: payload.toString(), retain: packet.retain }));
  await client.subscribeAsync(topic, { qos: 1 });
  return {
    client,
    messages,
    json: (suffix) =>
      messages.filter((m) => m.topic.endsWith(suffix) && m.payload !== "").map((m) => JSON.parse(m.payload) as Record<string, unknown>),
    waitFor: (predicate, timeoutMs = 10_000) =>
      vi.waitFor(
        () => {
          if (!predicate(messages)) throw new Error(`condition not met; ${messages.length} messages so far`);
        },
        { timeout: timeoutMs, interval: 20 },
      ),
    close: async () => {
      await client.endAsync(true);
    },
  };
}
