#!/usr/bin/env node
/**
 * `campus-agent`: the command line. Exit codes: 0 all good, 1 problems found,
 * 2 usage or config error.
 */
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { ConfigError, formatProblems, type LoadedConfig, loadConfigFile } from "../config/load.js";
import { DRIVERS } from "../drivers/registry.js";
import { testAlarm } from "./commands/test-alarm.js";
import { runDemo } from "./demo.js";
import { createLogger } from "./log.js";
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
  campus-agent --version

The config file is --config, else $CAMPUS_AGENT_CONFIG, else ${DEFAULT_CONFIG}.
Signals: SIGHUP reloads the config; SIGTERM or SIGINT stops cleanly.
Exit codes: 0 all good, 1 problems found, 2 usage or config error.`;

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
    },
  });
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const [command, sub, arg] = positionals;
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
    default:
      return usage(`unknown command ${JSON.stringify(command)}`);
  }
}

function usage(message: string): number {
  process.stderr.write(`campus-agent: ${message}\n\n${HELP}\n`);
  return 2;
}

function load(file: string): LoadedConfig | number {
  if (!existsSync(file)) {
    process.stderr.write(`campus-agent: no config file at ${file} (use --config FILE; or try the demo: campus-agent demo)\n`);
    return 2;
  }
  try {
    return loadConfigFile(file, { drivers: DRIVERS });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${formatProblems(err)}\n`);
      return 2;
    }
    throw err;
  }
}

function configCheck(file: string): number {
  const loaded = load(file);
  if (typeof loaded === "number") return loaded;
  process.stdout.write(
    `${file}: OK (campus ${loaded.config.campus.id}, gateway ${loaded.config.gateway.id}, ${loaded.config.devices.length} devices)\n`,
  );
  return 0;
}

async function run(file: string): Promise<number> {
  const loaded = load(file);
  if (typeof loaded === "number") return loaded;
  const log = createLogger({ level: loaded.config.log.level });
  return runAgent(loaded, log, reloader(file));
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
