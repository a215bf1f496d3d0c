/**
 * `campus-agent test-alarm <receiver>`: can this panic button reach the
 * district right now? Subscribes to the receiver's alarm topic at the broker
 * the running agent publishes to (with the gateway's own credentials), asks
 * the agent over its control socket to raise a test alarm through the
 * receiver's real path (kind panic-dc09: a DC-09 manual test sent to its own
 * listener; panic-contacts: a simulated input after a real read of the I/O
 * module), waits for that alarm to come back from the broker, and prints
 * each step with its time.
 *
 * Exit codes: 0 the alarm came back; 1 it did not (agent not running, path
 * broken, broker refused, timeout); 2 the request was wrong (unknown device,
 * not a panic receiver, unknown input).
 */
import { performance } from "node:perf_hooks";
import type { LoadedConfig } from "../../config/load.js";
import { controlRequest } from "../control/client.js";
import { ControlError, REQUEST_ERRORS } from "../control/protocol.js";
import { brokerCredentials } from "../mqtt/connection.js";
import { BrokerConsumer, type ConsumerMessage } from "../mqtt/consumer.js";
import { Topics } from "../mqtt/contract.js";
import { roundMs } from "../../drivers/trace.js";

export interface TestAlarmArgs {
  device: string;
  input?: string | undefined;
  timeoutMs: number;
  socket: string;
  json: boolean;
}

interface Step {
  step: string;
  ms: number;
  detail?: string;
}

interface AgentAbout {
  broker_url: string;
  campus: string;
  gateway: string;
  broker_connected: boolean;
  broker_last_error: string | null;
}

interface TestAlarmAnswer extends AgentAbout {
  device: string;
  kind: string;
  alarm_id: string;
  via: string;
  topic: string;
  steps: Step[];
}

export interface TestAlarmOutcome {
  ok: boolean;
  device: string;
  kind?: string;
  alarm_id?: string;
  via?: string;
  topic?: string;
  broker_url?: string;
  /** Request sent → alarm received from the broker, ms. */
  latency_ms?: number;
  steps: Step[];
  error?: { code: string; message: string };
}

export async function testAlarm(loaded: LoadedConfig, args: TestAlarmArgs, out: NodeJS.WritableStream): Promise<number> {
  const outcome = await run(loaded, args);
  out.write(args.json ? `${JSON.stringify(outcome)}\n` : render(outcome));
  if (outcome.ok) return 0;
  return outcome.error !== undefined && REQUEST_ERRORS.has(outcome.error.code) ? 2 : 1;
}

async function run(loaded: LoadedConfig, args: TestAlarmArgs): Promise<TestAlarmOutcome> {
  const outcome: TestAlarmOutcome = { ok: false, device: args.device, steps: [] };
  const deadline = performance.now() + args.timeoutMs;
  const left = () => Math.max(1, Math.round(deadline - performance.now()));
  let consumer: BrokerConsumer | undefined;
  try {
    // Which broker the agent publishes to (the demo's port may differ from the config's).
    const about = (await controlRequest(args.socket, "ping", {}, Math.min(left(), 5000))) as AgentAbout;
    const topic = new Topics(about.campus, about.gateway).deviceAlarm(args.device);
    outcome.topic = topic;
    outcome.broker_url = about.broker_url;
    const t0 = performance.now();
    try {
      consumer = await BrokerConsumer.connect(about.broker_url, brokerCredentials(loaded), "test-alarm", left());
      await consumer.subscribe(topic);
    } catch (e) {
      throw new ControlError("broker", `cannot subscribe to ${topic} at ${about.broker_url}: ${(e as Error).message}`);
    }
    outcome.steps.push({ step: "subscribe", ms: roundMs(performance.now() - t0), detail: `${topic} at ${about.broker_url}` });
    const seen: ConsumerMessage[] = [];
    let wake: (() => void) | undefined;
    consumer.onMessage((m) => {
      seen.push(m);
      wake?.();
    });

    const asked = performance.now();
    const r = (await controlRequest(args.socket, "test-alarm", { device: args.device, input: args.input, timeout_ms: Math.min(left(), 60_000) }, left())) as TestAlarmAnswer;
    const stored = performance.now();
    Object.assign(outcome, { kind: r.kind, alarm_id: r.alarm_id, via: r.via });
    outcome.steps.push(...r.steps.map((s) => ({ ...s, step: `  ${s.step}` })));
    outcome.steps.push({ step: "stored", ms: roundMs(stored - asked), detail: `alarm_id ${r.alarm_id} in the agent's outbox` });

    const match = (m: ConsumerMessage) => {
      try {
        return (JSON.parse(m.payload.toString()) as { alarm_id?: unknown }).alarm_id === r.alarm_id;
      } catch {
        return false;
      }
    };
    let got = seen.find(match);
    while (got === undefined) {
      const ms = deadline - performance.now();
      if (ms <= 0) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
      got = seen.find(match);
    }
    if (got === undefined) {
      const now = (await controlRequest(args.socket, "ping", {}, 2000).catch(() => about)) as AgentAbout;
      const link = now.broker_connected ? "connected" : `not connected${now.broker_last_error ? ` (${now.broker_last_error})` : ""}`;
      throw new ControlError(
        "not_delivered",
        `the test alarm is stored in the agent's outbox (alarm_id ${r.alarm_id}) but did not come back from ${about.broker_url} within ${args.timeoutMs / 1000} s; ` +
        `the agent's broker connection: ${link}. It will be published when the broker takes it.`,
      );
    }
    const payload = JSON.parse(got.payload.toString()) as { test?: unknown; type?: unknown };
    if (payload.test !== true) throw new ControlError("not_test", `the alarm ${r.alarm_id} came back without test: true; consumers may dispatch it`);
    outcome.latency_ms = roundMs(got.at - asked);
    outcome.steps.push({ step: "received", ms: outcome.latency_ms, detail: `from the broker, test: true, type ${String(payload.type)}` });
    outcome.ok = true;
  } catch (e) {
    outcome.error = e instanceof ControlError ? { code: e.code, message: e.message } : { code: "failed", message: e instanceof Error ? e.message : String(e) };
  } finally {
    await consumer?.close();
  }
  return outcome;
}

function render(o: TestAlarmOutcome): string {
  const lines = [`Test alarm: ${o.device}${o.kind !== undefined ? ` (${o.kind})` : ""}`];
  if (o.via !== undefined) lines.push(`  via ${o.via}`);
  const width = Math.max(0, ...o.steps.map((s) => s.step.length));
  for (const s of o.steps) {
    lines.push(`  ${s.step.padEnd(width)}  ${`${s.ms.toFixed(1)} ms`.padStart(10)}${s.detail !== undefined ? `  ${s.detail}` : ""}`);
  }
  if (o.ok) {
    lines.push(`OK: the test alarm reached the broker ${o.latency_ms?.toFixed(1)} ms after it was requested (alarm_id ${o.alarm_id}).`);
  } else {
    lines.push(`FAILED (${o.error?.code}): ${o.error?.message}`);
  }
  return `${lines.join("\n")}\n`;
}
