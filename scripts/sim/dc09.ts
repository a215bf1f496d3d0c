/**
 * DC-09 sender simulator (a panel or communicator reporting to an alarm
 * receiver): the public entry point and its CLI.
 *
 *   node dist/scripts/sim/dc09.js --host 127.0.0.1 --port N (--tcp | --udp) --account 1234
 *     [--key HEX] [--format cid|sia] [--receiver HEX] [--line HEX] [--partition N]
 *     [--ack-timeout-ms 20000] [--attempts 3]
 *     [--send event[:number]]...      (panic:15, duress:3, test, low-battery:7 …)
 *     [--fault fault[:event]]...      (bad-crc, replay, wrong-key:panic … see dc09-events.ts)
 *     [--null-interval-s N]           (NULL link test every N s, until stopped)
 *     [--scenario file.json]          (see dc09-scenario.ts)
 *
 * Sends the --send messages, then the --fault ones, in order, then runs the
 * scenario; prints one line per message: `SENT {report}` (answer, latency of
 * each attempt). Exits when everything is answered, unless --null-interval-s
 * or a looping scenario keeps it running until SIGTERM/SIGINT or until
 * stdin (a pipe from a parent) closes. Exit code 2 on bad arguments.
 *
 * Node builtins only.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { SIM_EVENT_NAMES, SIM_EVENTS, SIM_FAULTS, type SimEventName, type SimFault } from "./dc09-events.js";
import { parseDc09Scenario, runDc09Scenario, type Dc09Scenario } from "./dc09-scenario.js";
import { Dc09Sender, type Dc09SenderOptions, type SendReport, type SendRequest } from "./dc09-sender.js";
import { isMain, untilShutdown } from "./process.js";

export { SIM_EVENT_NAMES, SIM_EVENTS, SIM_FAULTS, simEventData } from "./dc09-events.js";
export type { EventParams, SimEventName, SimFault, SimFormat } from "./dc09-events.js";
export { parseDc09Scenario, runDc09Scenario } from "./dc09-scenario.js";
export type { Dc09Scenario, Dc09ScenarioRun, Dc09ScenarioStep } from "./dc09-scenario.js";
export { Dc09Sender } from "./dc09-sender.js";
export type { AttemptAnswer, AttemptReport, Dc09SenderOptions, SendReport, SendRequest } from "./dc09-sender.js";
export { simBody, simCrc, simEncrypt, simEnvelope, simFrame, SimFrameReader, simReadAnswer, simTimestamp } from "./dc09-wire.js";
export type { SimAnswer, SimMessage } from "./dc09-wire.js";

export interface Dc09SimArgs {
  sender: Dc09SenderOptions;
  sends: SendRequest[];
  nullIntervalS?: number;
  scenarioFile?: string;
}

/** CLI arguments → options. Exported so the parsing is tested without a process. */
export function parseDc09SimArgs(argv: string[]): Dc09SimArgs {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      tcp: { type: "boolean", default: false },
      udp: { type: "boolean", default: false },
      account: { type: "string" },
      key: { type: "string" },
      format: { type: "string", default: "cid" },
      receiver: { type: "string" },
      line: { type: "string", default: "0" },
      partition: { type: "string", default: "1" },
      "ack-timeout-ms": { type: "string", default: "20000" },
      attempts: { type: "string", default: "3" },
      send: { type: "string", multiple: true, default: [] },
      fault: { type: "string", multiple: true, default: [] },
      "null-interval-s": { type: "string" },
      scenario: { type: "string" },
    },
  });
  const int = (name: string, s: string | undefined, min: number, max: number): number => {
    const n = Number(s);
    if (s === undefined || s === "" || !Number.isInteger(n) || n < min || n > max) throw new Error(`--${name}: expected an integer in ${min}..${max}, got "${s ?? ""}"`);
    return n;
  };
  if (v.tcp === v.udp) throw new Error("give exactly one of --tcp and --udp");
  if (v.account === undefined) throw new Error("--account is required (3-16 hex digits)");
  if (v.format !== "cid" && v.format !== "sia") throw new Error(`--format: expected cid or sia, got "${v.format}"`);
  const sender: Dc09SenderOptions = {
    host: v.host,
    port: int("port", v.port, 1, 65535),
    transport: v.tcp ? "tcp" : "udp",
    account: v.account,
    format: v.format,
    line: v.line,
    partition: int("partition", v.partition, 0, 99),
    ackTimeoutMs: int("ack-timeout-ms", v["ack-timeout-ms"], 1, 600_000),
    attempts: int("attempts", v.attempts, 1, 20),
  };
  if (v.key !== undefined) sender.key = v.key;
  if (v.receiver !== undefined) sender.receiver = v.receiver;
  const eventOf = (name: string, s: string): SimEventName | "null" => {
    if ((SIM_EVENT_NAMES as readonly string[]).includes(s) || s === "null") return s as SimEventName | "null";
    throw new Error(`--${name}: unknown event "${s}"; one of ${SIM_EVENT_NAMES.join(", ")}, null`);
  };
  const sends: SendRequest[] = v.send.map((arg) => {
    const [name = "", num] = arg.split(":");
    const event = eventOf("send", name);
    const req: SendRequest = { event };
    if (num !== undefined && event !== "null") {
      const n = int("send", num, 0, 999);
      if (SIM_EVENTS[event].number === "user") req.user = n;
      else req.zone = n;
    }
    return req;
  });
  for (const arg of v.fault) {
    const [name = "", ev = "test"] = arg.split(":");
    if (!(SIM_FAULTS as readonly string[]).includes(name)) throw new Error(`--fault: unknown fault "${name}"; one of ${SIM_FAULTS.join(", ")}`);
    sends.push({ event: eventOf("fault", ev), fault: name as SimFault });
  }
  const out: Dc09SimArgs = { sender, sends };
  if (v["null-interval-s"] !== undefined) out.nullIntervalS = int("null-interval-s", v["null-interval-s"], 1, 86_400);
  if (v.scenario !== undefined) out.scenarioFile = v.scenario;
  return out;
}

function print(report: SendReport | Error): void {
  process.stdout.write(report instanceof Error ? `ERROR ${JSON.stringify({ message: report.message })}\n` : `SENT ${JSON.stringify(report)}\n`);
}

async function main(): Promise<void> {
  let args: Dc09SimArgs;
  let scenario: Dc09Scenario | undefined;
  let sender: Dc09Sender;
  try {
    args = parseDc09SimArgs(process.argv.slice(2));
    if (args.scenarioFile !== undefined) scenario = parseDc09Scenario(JSON.parse(readFileSync(args.scenarioFile, "utf8")));
    sender = new Dc09Sender(args.sender);
  } catch (e) {
    process.stderr.write(`dc09: ${(e as Error).message}\n`);
    process.exit(2);
  }
  const stop = untilShutdown({ watchParent: true });
  const runsForever = args.nullIntervalS !== undefined || scenario?.loop_ms !== undefined;
  for (const req of args.sends) print(await sender.send(req).catch((e: unknown) => e as Error));
  const linkTest = () => {
    sender.send({ event: "null" }).then(print, (e: unknown) => print(e as Error));
  };
  const timer = args.nullIntervalS === undefined ? undefined : setInterval(linkTest, args.nullIntervalS * 1000);
  const run = scenario ? runDc09Scenario(sender, scenario, (_step, r) => print(r)) : undefined;
  if (runsForever) await stop;
  else await run?.done;
  if (timer) clearInterval(timer);
  run?.stop();
  await sender.close();
}

if (isMain(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`dc09: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
