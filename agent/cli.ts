#!/usr/bin/env node
/**
 * `campus-agent`: the command line. Exit codes: 0 all good, 1 problems found,
 * 2 usage or config error.
 */
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { ConfigError, formatProblems, type LoadedConfig, loadConfigFile } from "../config/load.js";
import { withPolicy } from "./lifecycle/policy.js";
import { DRIVERS } from "../drivers/registry.js";
import { bundle } from "./commands/bundle.js";
import { devices } from "./commands/devices.js";
import { discover } from "./commands/discover.js";
import { outbox } from "./commands/outbox.js";
import { probe } from "./commands/probe.js";
import { report, reportUsageError } from "./commands/report.js";
import { status } from "./commands/status.js";
import { testAlarm } from "./commands/test-alarm.js";
import { watch } from "./commands/watch.js";
import { type ListedState, LISTED_STATES } from "./control/views.js";
import { MESSAGE_CLASSES, type MessageClass } from "./outbox/types.js";
import { MAX_PROBE_TIMEOUT_MS } from "./agent.js";
import { runDemo } from "./demo.js";
import { createLogger, RecentLog } from "./log.js";
import { reloader, runAgent } from "./run.js";
import { VERSION } from "./version.js";

export const DEFAULT_CONFIG = "/etc/campus-agent/config.yaml";

const HELP = `campus-agent ${VERSION} — edge agent for school-safety devices

Usage:
  campus-agent run [--config FILE]     run the agent (what the service runs)
  campus-agent demo [--broker-port N] [--data-dir DIR]
                                       run on the demo campus: embedded broker on 127.0.0.1:1883 and simulated devices
  campus-agent config check [FILE]     validate a config file without starting; every problem with its path
  campus-agent test-alarm DEVICE [--input NAME] [--timeout-s 10] [--json] [--socket PATH]
                                       end-to-end test of a panic receiver: the running agent raises a test
                                       alarm (test: true) through the receiver's path; it is awaited at the
                                       broker and the latency printed
  campus-agent status [--json] [--socket PATH]
                                       the running agent at a glance: broker, outbox, devices, last errors
  campus-agent devices [--status online|degraded|offline|unknown] [--kind K] [--building B] [--json] [--socket PATH]
                                       one row per device: state and reason, last seen, response time, firmware
  campus-agent probe DEVICE [--timeout-s S] [--raw] [--standalone] [--json] [--socket PATH]
                                       poll one device now, step by step with timings, raw answers and the
                                       decoded reading; publishes nothing (agent running or stopped)
  campus-agent discover [--standalone] [--json] [--socket PATH]
                                       what answers on the campus (ONVIF WS-Discovery, Modbus unit-id scans)
                                       against the config: unknown devices, configured devices not found
  campus-agent outbox [--export FILE|-] [--class alarm|event|telemetry] [--max-age-s 60] [--json] [--db PATH]
                                       what is waiting to be sent, read from the outbox file (agent running or not)
  campus-agent watch [--telemetry] [--count N] [--json] [--socket PATH]
                                       follow the campus live: gateway status and events, device status
                                       changes, events and alarms, as the broker delivers them
  campus-agent bundle [--output FILE] [--json] [--socket PATH] [--db PATH]
                                       one archive for support: config without secrets, status, devices,
                                       outbox, logs, versions (agent running or not)
  campus-agent report [--format text|json|csv|html] [--output FILE] [--json] [--socket PATH]
                                       asset and compliance report for auditors: readiness, every device's
                                       inventory, state and compliance, unknown and missing assets
  campus-agent COMMAND --help          more on one command
  campus-agent --version

The config file is --config, else $CAMPUS_AGENT_CONFIG, else ${DEFAULT_CONFIG}.
Signals: SIGHUP reloads the config; SIGTERM or SIGINT stops cleanly.
Exit codes: 0 all good, 1 problems found, 2 usage or config error.`;

const SOCKET_HELP = `  --socket PATH   the running agent's control socket; default: the config file's control.socket
                  (campus-agent.sock next to the outbox)
  --config FILE   the config file, to find the socket; default $CAMPUS_AGENT_CONFIG, else
                  ${DEFAULT_CONFIG}`;

/** `campus-agent COMMAND --help`. */
const COMMAND_HELP: Record<string, string> = {
  run: `Usage: campus-agent run [--config FILE]

Run the agent in the foreground (what the service runs): JSON log lines on stdout.
SIGHUP reloads the config; SIGTERM or SIGINT stops cleanly. Exit code 2 when the config is invalid.`,
  demo: `Usage: campus-agent demo [--broker-port N] [--data-dir DIR]

Run the agent on the demo campus: an embedded broker on 127.0.0.1:1883 (--broker-port 0 picks a
free port) and simulated devices. The outbox, the serial lines and the control socket
(campus-agent.sock) go into DIR (default data/ in the install folder).`,
  config: `Usage: campus-agent config check [FILE]

Validate a config file without starting anything; every problem with its path and line.
Exit codes: 0 valid; 2 invalid or unreadable.`,
  "test-alarm": `Usage: campus-agent test-alarm DEVICE [--input NAME] [--timeout-s 10] [--json] [--socket PATH] [--config FILE]

End-to-end test of a panic receiver: the running agent raises a test alarm (test: true, not to be
dispatched) through the receiver's own path, and the CLI awaits it at the broker, with the
gateway's credentials, and prints each step with its time.

  --input NAME    a panic-contacts receiver's panic input (default the first)
  --timeout-s S   how long to wait for the alarm at the broker (default 10, at most 120)
  --json          the outcome as one JSON object
${SOCKET_HELP}

Exit codes: 0 the alarm came back; 1 it did not (agent not running, path broken, broker refused,
timeout); 2 not a panic receiver, an unknown input, or a usage or config error.`,
  status: `Usage: campus-agent status [--json] [--socket PATH] [--config FILE]

The running agent at a glance, read over its control socket (nothing is changed): version, pid,
uptime, config file, campus and gateway; the broker (URL without credentials), whether it is
connected and since when, the last successful publish and the last error; the outbox (messages
waiting by class, bytes, age of the oldest, messages dropped); the devices by kind and state,
and the offline or degraded ones; the last warnings and errors the agent logged.

  --json          the agent's answer as one JSON object, with "ok" and "problems"
${SOCKET_HELP}

Exit codes: 0 nothing wrong; 1 a problem found: the agent is not running or does not answer, the
broker is not connected, the publisher reports an error, messages were dropped, a device is
offline; 2 usage or config error.`,
  devices: `Usage: campus-agent devices [--status online|degraded|offline|unknown] [--kind K] [--building B]
                            [--json] [--socket PATH] [--config FILE]

One row per device, read from the running agent over its control socket (nothing is changed):
id, kind, building / room, state, reason code, last seen (last poll it answered), response time
of the last poll, firmware (as the device last reported it); the reason in words under a device
that is not online and well. "unknown": not polled yet.

  --status S      only devices in state S
  --kind K        only devices of kind K: ${DRIVERS.map((d) => d.kind).join(", ")}
  --building B    only devices in building B (any case)
  --json          the agent's answer as one JSON object, with "ok"
${SOCKET_HELP}

Exit codes: 0 no listed device is offline or degraded; 1 one is, or the agent is not running or
does not answer; 2 usage or config error (an unknown state or kind).`,
  watch: `Usage: campus-agent watch [--telemetry] [--count N] [--json] [--socket PATH] [--config FILE]

Follow the campus live, as the district sees it: the gateway's status and events, every device's
status changes, events and alarms (test alarms marked TEST), one line each, as they arrive at
the broker the running agent publishes to (with the gateway's credentials). When the agent does
not answer, the broker named in the config is watched instead. Retained messages delivered on
subscribing are the current state, not news: only the gateway's status is shown from them.

  --telemetry     every poll's telemetry too (busy)
  --count N       stop after N lines
  --json          one JSON object per message: topic, retained, received_at, payload
${SOCKET_HELP}

Runs until Ctrl-C (or --count). Exit codes: 0 stopped; 1 the broker cannot be reached, refuses
the subscription or drops the connection; 2 usage or config error.`,
  probe: `Usage: campus-agent probe DEVICE [--timeout-s S] [--raw] [--standalone] [--json] [--socket PATH] [--config FILE]

Poll one device now, step by step: each step (connect, authenticate, each call or register read)
with its time, whether it worked, the raw answer and what it means; then the decoded reading
(health, metrics, identity) and, for kinds that read identity separately, the identity read.
Nothing is published or stored: events and alarms it finds are shown, marked "not published".
When the agent runs, the probe goes through it (its driver: a serial bus stays serialised; what it
remembers of the device); when it does not answer on its socket, the CLI probes with a driver of
its own, built from the config file.

  --timeout-s S   deadline of the poll, and of the identity read (default: the device's poll
                  timeout; at most 60)
  --raw           show every raw answer in full (SOAP bodies too); without it, only short ones
                  (register words, status lines) are shown
  --standalone    do not ask the agent, even when it runs (not for serial devices the agent holds)
  --json          the outcome as one JSON object, with "ok" (raw answers up to 4096 characters each)
${SOCKET_HELP}

Exit codes: 0 the device answered and is well; 1 it failed or is degraded, or the agent could not
be asked (permission); 2 unknown device, or a usage or config error.`,
  discover: `Usage: campus-agent discover [--standalone] [--json] [--socket PATH] [--config FILE]

What answers on the campus, against the config (the config's discovery: section says where to look):
- ONVIF cameras: a WS-Discovery Probe by multicast, and by unicast to discovery.onvif.targets and to
  every configured camera's address (multicast rarely crosses VLANs); with discovery.onvif.identify
  credentials, each camera found is asked its make, model, serial and firmware.
- Modbus: every endpoint the config names (door controllers, I/O modules), each unit id of
  discovery.modbus.units (default 1-247) read once, briefly; on a serial line one at a time,
  between the agent's polls. A device answering every unit id is one device that ignores it.
Then: devices found and configured; unknown devices (found, not in the config); configured devices
not found, with why and their state as the agent polls them. Nothing is published.
When the agent runs, discovery goes through it (its drivers: a serial line stays its own);
when it does not answer on its socket, the CLI scans with drivers of its own.

  --standalone    do not ask the agent, even when it runs (not for serial lines the agent holds)
  --json          the outcome as one JSON object, with "ok"
${SOCKET_HELP}

Exit codes: 0 everything found is configured and everything configured was found; 1 an unknown
device, a configured one not found, or a scan that failed; 2 usage or config error.`,
  outbox: `Usage: campus-agent outbox [--export FILE|-] [--class alarm|event|telemetry] [--max-age-s 60] [--json]
                            [--config FILE] [--db PATH]

What is waiting to be sent, read from the outbox file itself (read-only: it never writes to it, and
works whether the agent runs or not): messages waiting by class, bytes, the oldest message (class,
device or stream, topic, age), messages dropped because the outbox was full, the file and its size.
Telemetry the agent has not flushed yet (outbox.flush_interval_ms) is not in the file yet.

  --export FILE   every waiting message as JSON Lines, in sending order (alarms, events, telemetry;
                  oldest first): id, stream, class, seq, topic, retain, created_at, format, payload
                  (parsed when format is "json", the stored text when "text"); "-" for stdout.
                  The file is created mode 0600.
  --class C       with --export: only class C
  --max-age-s S   a message waiting longer than S seconds is a backlog (default 60)
  --json          the summary as one JSON object, with "ok" and "problems"
  --db PATH       the outbox file; default: the config file's outbox.path
  --config FILE   the config file, to find the outbox; default $CAMPUS_AGENT_CONFIG, else
                  ${DEFAULT_CONFIG}

Exit codes: 0 nothing has waited longer than --max-age-s and nothing was dropped (an export: written);
1 an older backlog or drops (listed), or the file cannot be read (missing, permission); 2 usage or
config error.`,
  bundle: `Usage: campus-agent bundle [--output FILE] [--json] [--socket PATH] [--db PATH] [--config FILE]

Write one archive (.tar.gz, mode 0600) for support, without disturbing the agent (its control
socket, and the outbox file read-only): README.txt (what each file is, when and where it was
made, what could not be gathered), config.yaml (the config file with every secret replaced by
[REDACTED]), config-check.txt (the config and its lifecycle policy checked), policy.yaml (the
lifecycle policy the config names), status.json, devices.json and report.json (as --json prints
them), outbox.json, logs/ (the agent's last warnings and errors; journalctl -u campus-agent -n 2000
where there is a journal), versions.json (agent, Node.js, OS, kernel, SQLite, dependencies; the
config's and the policy's hashes).
Secrets: values under a key that names one (password, key, token…) and URL passwords are replaced
in config.yaml, keeping *_env and *_file (they name where the secret is); then every secret the
config holds or names (read from its variables and files) is removed from every file.

  --output FILE   the archive, or a folder to put it in; default
                  campus-agent-bundle-<gateway>-<UTC time>.tar.gz in the current folder
  --json          a summary of what was written as one JSON object: path, files, problems
  --socket PATH   the running agent's control socket; default: the config file's control.socket
  --db PATH       the outbox file; default: the config file's outbox.path
  --config FILE   the config file; default $CAMPUS_AGENT_CONFIG, else ${DEFAULT_CONFIG}

Exit codes: 0 written, everything gathered; 1 written but something could not be gathered (the
agent not answering, the outbox or journal unreadable: listed), or not written; 2 usage error, or
the config or its lifecycle policy cannot be read or is invalid (still bundled, the problems in
config-check.txt).`,
  report: `Usage: campus-agent report [--format text|json|csv|html] [--output FILE] [--json] [--socket PATH] [--config FILE]

The campus's asset register and compliance for auditors, from the running agent over its control
socket (nothing is changed; the agent must be running: the state is its own). The campus readiness
(safety-critical devices online, compliant and both, as shares; devices by category and state;
the oldest heartbeat; open alarms; unknown, missing and pending assets; the uplink); every
configured device with its inventory (location, owner, make, model, serial, firmware, lifecycle
dates, asset tag), state and compliance against the lifecycle policy (docs/lifecycle.md), with
the text of every failing rule; the unknown assets discovery found; the missing devices.

  --format F      text (default: for a terminal, about 120 columns); json (the agent's answer,
                  schema campus-edge/asset-report/v1); csv (RFC 4180, CRLF line ends, one row per
                  configured device with every inventory and compliance column, one column per
                  rule (rule_firmware_outdated…): fail, pass, unchecked, or empty when not
                  evaluated; a cell starting with = + - @ gets a leading ' so spreadsheets do not
                  run it); html (one self-contained page, no script and nothing external, to open
                  or print)
  --output FILE   write the report to FILE (whole or not at all: a temporary file renamed over it)
                  and say what was written; "-" for stdout (the default)
  --json          the same as --format json
${SOCKET_HELP}

Exit codes: 0 the report was produced, every safety-critical device is online and compliant, and
no asset is missing or unknown; 1 the report was produced but something is not ready (a
safety-critical device offline, not polled yet or not compliant; a missing or unknown asset),
or the agent is not running or does not answer, or FILE cannot be written; 2 usage or config error.`,
};

/** Options each of the read-only commands accepts, besides --help, --config, --socket and --json. */
const COMMAND_OPTIONS: Record<string, readonly string[]> = {
  status: [],
  devices: ["status", "kind", "building"],
};

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: "string", short: "c" },
      help: { type: "boolean", short: "h" },
      version: { type: "boolean" },
      "broker-port": { type: "string" },
      "data-dir": { type: "string" },
      input: { type: "string" },
      "timeout-s": { type: "string" },
      json: { type: "boolean" },
      socket: { type: "string" },
      status: { type: "string" },
      kind: { type: "string" },
      building: { type: "string" },
      telemetry: { type: "boolean" },
      count: { type: "string" },
      export: { type: "string" },
      class: { type: "string" },
      db: { type: "string" },
      "max-age-s": { type: "string" },
      output: { type: "string" },
      standalone: { type: "boolean" },
      raw: { type: "boolean" },
      format: { type: "string" },
    },
  });
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const [command, sub, arg] = positionals;
  if (values.help && command !== undefined && COMMAND_HELP[command] !== undefined) {
    process.stdout.write(`${COMMAND_HELP[command]}\n`);
    return 0;
  }
  if (values.help || command === undefined || command === "help") {
    process.stdout.write(`${HELP}\n`);
    return command === undefined && !values.help ? 2 : 0;
  }
  const configFile = values.config ?? (command === "config" ? arg : undefined) ?? process.env.CAMPUS_AGENT_CONFIG ?? DEFAULT_CONFIG;
  switch (command) {
    case "run":
      return run(configFile);
    case "demo": {
      const port = values["broker-port"];
      if (port !== undefined && !/^\d+$/.test(port)) return usage(`--broker-port expects a port number, got ${JSON.stringify(port)}`);
      return runDemo({
        ...(port !== undefined ? { brokerPort: Number(port) } : {}),
        ...(values["data-dir"] !== undefined ? { dataDir: values["data-dir"] } : {}),
      });
    }
    case "config":
      if (sub !== "check") return usage(`unknown config subcommand ${JSON.stringify(sub ?? "")}; try: campus-agent config check FILE`);
      return configCheck(configFile);
    case "test-alarm": {
      if (sub === undefined) return usage("test-alarm needs the id of a panic receiver (a panic-dc09 or panic-contacts device)");
      const timeout = values["timeout-s"] ?? "10";
      if (!/^\d+(\.\d+)?$/.test(timeout) || Number(timeout) <= 0 || Number(timeout) > 120) {
        return usage(`--timeout-s expects seconds (up to 120), got ${JSON.stringify(timeout)}`);
      }
      const loaded = load(configFile);
      if (typeof loaded === "number") return loaded;
      const socket = values.socket ?? loaded.config.control.socket;
      if (socket === undefined || !loaded.config.control.enabled) {
        return usage(`${configFile} has no control socket (control.enabled is false or the outbox is in memory); give --socket PATH`);
      }
      return testAlarm(loaded, { device: sub, input: values.input, timeoutMs: Number(timeout) * 1000, socket, json: values.json === true }, process.stdout);
    }
    case "status":
    case "devices": {
      const foreign = foreignOptions(values, ["socket", ...(COMMAND_OPTIONS[command] ?? [])]);
      if (foreign.length > 0) return usage(`${command} takes no ${foreign.map((o) => `--${o}`).join(", ")}; see campus-agent ${command} --help`);
      if (sub !== undefined) return usage(`${command} takes no argument, got ${JSON.stringify(sub)}; see campus-agent ${command} --help`);
      const state = values.status;
      if (state !== undefined && !(LISTED_STATES as readonly string[]).includes(state)) {
        return usage(`--status expects one of ${LISTED_STATES.join(", ")}, got ${JSON.stringify(state)}`);
      }
      const socket = socketOf(values.socket, configFile);
      if (typeof socket === "number") return socket;
      const json = values.json === true;
      if (command === "status") return status({ socket, json }, process.stdout, process.stderr);
      const filter = {
        ...(state !== undefined ? { status: state as ListedState } : {}),
        ...(values.kind !== undefined ? { kind: values.kind } : {}),
        ...(values.building !== undefined ? { building: values.building } : {}),
      };
      return devices({ socket, json, filter }, process.stdout, process.stderr);
    }
    case "probe": {
      const foreign = foreignOptions(values, ["socket", "timeout-s", "standalone", "raw"]);
      if (foreign.length > 0) return usage(`probe takes no ${foreign.map((o) => `--${o}`).join(", ")}; see campus-agent probe --help`);
      if (sub === undefined) return usage("probe needs the id of a device (campus-agent devices lists them)");
      if (arg !== undefined) return usage(`probe takes one device, got ${JSON.stringify(arg)} too`);
      const timeout = values["timeout-s"];
      if (timeout !== undefined && (!/^\d+(\.\d+)?$/.test(timeout) || Number(timeout) <= 0 || Number(timeout) > MAX_PROBE_TIMEOUT_MS / 1000)) {
        return usage(`--timeout-s expects seconds (up to ${MAX_PROBE_TIMEOUT_MS / 1000}), got ${JSON.stringify(timeout)}`);
      }
      const loaded = load(configFile);
      if (typeof loaded === "number") return loaded;
      const socket = values.socket ?? (loaded.config.control.enabled ? loaded.config.control.socket : undefined);
      return probe(
        {
          device: sub,
          json: values.json === true,
          timeoutMs: timeout === undefined ? undefined : Math.round(Number(timeout) * 1000),
          socket,
          standalone: values.standalone === true,
          raw: values.raw === true,
          loaded,
          drivers: DRIVERS,
        },
        process.stdout,
        process.stderr,
      );
    }
    case "discover": {
      const foreign = foreignOptions(values, ["socket", "standalone"]);
      if (foreign.length > 0) return usage(`discover takes no ${foreign.map((o) => `--${o}`).join(", ")}; see campus-agent discover --help`);
      if (sub !== undefined) return usage(`discover takes no argument, got ${JSON.stringify(sub)}; see campus-agent discover --help`);
      const loaded = load(configFile);
      if (typeof loaded === "number") return loaded;
      const socket = values.socket ?? (loaded.config.control.enabled ? loaded.config.control.socket : undefined);
      return discover({ json: values.json === true, socket, standalone: values.standalone === true, loaded, drivers: DRIVERS }, process.stdout, process.stderr);
    }
    case "watch": {
      if (sub !== undefined) return usage(`watch takes no argument, got ${JSON.stringify(sub)}; see campus-agent watch --help`);
      const count = values.count;
      if (count !== undefined && !/^[1-9]\d*$/.test(count)) return usage(`--count expects a positive number of lines, got ${JSON.stringify(count)}`);
      const loaded = load(configFile);
      if (typeof loaded === "number") return loaded;
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      try {
        return await watch(
          loaded,
          {
            socket: values.socket ?? (loaded.config.control.enabled ? loaded.config.control.socket : undefined),
            json: values.json === true,
            telemetry: values.telemetry === true,
            count: count === undefined ? undefined : Number(count),
            signal: stop.signal,
          },
          process.stdout,
          process.stderr,
        );
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
    }
    case "outbox": {
      const foreign = foreignOptions(values, ["export", "class", "db", "max-age-s"]);
      if (foreign.length > 0) return usage(`outbox takes no ${foreign.map((o) => `--${o}`).join(", ")}; see campus-agent outbox --help`);
      if (sub !== undefined) return usage(`outbox takes no argument, got ${JSON.stringify(sub)}; see campus-agent outbox --help`);
      const klass = values.class;
      if (klass !== undefined && !(MESSAGE_CLASSES as readonly string[]).includes(klass)) {
        return usage(`--class expects one of ${MESSAGE_CLASSES.join(", ")}, got ${JSON.stringify(klass)}`);
      }
      if (klass !== undefined && values.export === undefined) return usage("--class goes with --export (the summary shows every class)");
      if (values.export !== undefined && values.json === true) return usage("--export writes JSON Lines already; --json is for the summary");
      if (values.export === "") return usage("--export expects a file, or - for stdout");
      const maxAge = values["max-age-s"];
      if (maxAge !== undefined && !/^\d+(\.\d+)?$/.test(maxAge)) return usage(`--max-age-s expects seconds, got ${JSON.stringify(maxAge)}`);
      let path = values.db;
      if (path === undefined) {
        const loaded = load(configFile);
        if (typeof loaded === "number") return loaded;
        path = loaded.config.outbox.path;
        if (path === ":memory:") return usage(`${configFile} keeps the outbox in memory (outbox.path is :memory:): there is no file to read`);
      }
      const options = {
        ...(values.export !== undefined ? { export: values.export } : {}),
        ...(klass !== undefined ? { klass: klass as MessageClass } : {}),
        ...(maxAge !== undefined ? { maxAgeS: Number(maxAge) } : {}),
      };
      return outbox(
        { path, json: values.json === true, ...options },
        process.stdout,
        process.stderr,
      );
    }
    case "bundle": {
      const foreign = foreignOptions(values, ["output", "socket", "db"]);
      if (foreign.length > 0) return usage(`bundle takes no ${foreign.map((o) => `--${o}`).join(", ")}; see campus-agent bundle --help`);
      if (sub !== undefined) return usage(`bundle takes no argument, got ${JSON.stringify(sub)}; see campus-agent bundle --help`);
      for (const o of ["output", "socket", "db"] as const) if (values[o] === "") return usage(`--${o} expects a path`);
      const paths = {
        ...(values.output !== undefined ? { output: values.output } : {}),
        ...(values.socket !== undefined ? { socket: values.socket } : {}),
        ...(values.db !== undefined ? { db: values.db } : {}),
      };
      return bundle({ configFile, json: values.json === true, drivers: DRIVERS, ...paths }, process.stdout, process.stderr);
    }
    case "report": {
      const foreign = foreignOptions(values, ["socket", "format", "output"]);
      if (foreign.length > 0) return usage(`report takes no ${foreign.map((o) => `--${o}`).join(", ")}; see campus-agent report --help`);
      if (sub !== undefined) return usage(`report takes no argument, got ${JSON.stringify(sub)}; see campus-agent report --help`);
      const options = { format: values.format, json: values.json === true, output: values.output };
      const problem = reportUsageError(options);
      if (problem !== undefined) return usage(problem);
      const socket = socketOf(values.socket, configFile);
      if (typeof socket === "number") return socket;
      return report({ socket, ...options }, process.stdout, process.stderr);
    }
    default:
      return usage(`unknown command ${JSON.stringify(command)}`);
  }
}

/** Options given that a command does not take: every one set, but --help, --config, --json and `allowed`. */
function foreignOptions(values: Record<string, unknown>, allowed: readonly string[]): string[] {
  const always = ["help", "config", "json"];
  return Object.keys(values).filter((o) => values[o] !== undefined && !always.includes(o) && !allowed.includes(o));
}

/** The control socket: --socket, else the config file's (an exit code when it has none or cannot be read). */
function socketOf(given: string | undefined, configFile: string): string | number {
  if (given !== undefined) return given;
  const loaded = load(configFile);
  if (typeof loaded === "number") return loaded;
  const socket = loaded.config.control.socket;
  if (socket === undefined || !loaded.config.control.enabled) {
    return usage(`${configFile} has no control socket (control.enabled is false or the outbox is in memory); give --socket PATH`);
  }
  return socket;
}

function usage(message: string): number {
  process.stderr.write(`campus-agent: ${message}\n\n${HELP}\n`);
  return 2;
}

/** The config (and with `policy`, the lifecycle policy it names), or the exit code after saying what is wrong. */
function load(file: string, opts: { policy?: boolean } = {}): LoadedConfig | number {
  if (!existsSync(file)) {
    process.stderr.write(`campus-agent: no config file at ${file} (use --config FILE; or try the demo: campus-agent demo)\n`);
    return 2;
  }
  try {
    const loaded = loadConfigFile(file, { drivers: DRIVERS });
    return opts.policy === true ? withPolicy(loaded) : loaded;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${formatProblems(err)}\n`);
      return 2;
    }
    throw err;
  }
}

function configCheck(file: string): number {
  const loaded = load(file, { policy: true });
  if (typeof loaded === "number") return loaded;
  const policy = loaded.policy === undefined ? "" : `; lifecycle policy ${loaded.policy.file}: OK`;
  process.stdout.write(
    `${file}: OK (campus ${loaded.config.campus.id}, gateway ${loaded.config.gateway.id}, ${loaded.config.devices.length} devices)${policy}\n`,
  );
  return 0;
}

async function run(file: string): Promise<number> {
  const loaded = load(file, { policy: true });
  if (typeof loaded === "number") return loaded;
  const recentLog = new RecentLog();
  const log = createLogger({ level: loaded.config.log.level, recent: recentLog });
  return runAgent(loaded, log, reloader(file), { recentLog });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Once the agent has stopped, a library handle left open must not keep the service from exiting.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (err: unknown) => {
    if (err instanceof TypeError && (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      process.exitCode = usage(err.message);
      return;
    }
    process.stderr.write(`campus-agent: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
