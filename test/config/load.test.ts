import { describe, expect, test } from "vitest";
import { ConfigError, formatProblems } from "../../config/load.js";
import { BASE, CONFIG_FILE, errorOf, linesOf, parse, problemsOf } from "./helpers.js";

/** A valid device of the test "tcp" kind, as YAML list item lines; `extra` lines are indented under it. */
function device(id: string, ...extra: string[]): string {
  return [
    `  - id: ${id}`,
    "    kind: tcp",
    "    category: safety-critical",
    "    options: {host: 10.0.0.5, port: 554}",
    ...extra.map((l) => `    ${l}`),
  ]
    .map((l) => `${l}\n`)
    .join("");
}

describe("YAML errors", () => {
  test("a YAML syntax error is reported with its line and column", () => {
    const [p, ...rest] = problemsOf("campus:\n  id: [a, b\ngateway:\n  id: g\n");
    expect(rest).toEqual([]);
    expect(p).toMatchObject({ path: "", line: 3, column: 1 });
    expect(p.message).toMatch(/Flow sequence/);
  });

  test("every YAML error in the file is reported, not just the first", () => {
    const problems = problemsOf("campus: {id: a\ngateway:\n  - x\n  y: 1\n");
    expect(problems.map((p) => p.line)).toEqual([2, 4]);
  });

  test("a duplicate key is an error at the second occurrence, naming the line of the first", () => {
    const [p, ...rest] = problemsOf("campus:\n  id: a\n  id: b\ngateway:\n  id: g\n");
    expect(rest).toEqual([]);
    expect(p).toEqual({ path: "campus.id", message: "duplicate key (first at line 2)", line: 3, column: 3 });
  });

  test("an empty file, or one with only comments, is reported as empty", () => {
    for (const text of ["", "# nothing yet\n"]) {
      expect(linesOf(text)).toEqual([": the file is empty: expected a mapping with at least campus.id and gateway.id"]);
    }
  });

  test("a file whose top level is not a mapping is reported as such", () => {
    expect(linesOf("- campus\n")).toEqual([": expected a mapping (key: value) at the top level, got a list"]);
    expect(linesOf("hello\n")).toEqual([': expected a mapping (key: value) at the top level, got "hello"']);
  });
});

describe("schema messages", () => {
  test("a value of the wrong type says what was expected and what was found", () => {
    expect(linesOf(`${BASE}devices:\n${device("d1", "poll: {interval_ms: fast}")}`)).toEqual([
      'devices[0].poll.interval_ms: expected a positive integer, got "fast"',
    ]);
  });

  test("a long wrong value is cut to about 40 characters", () => {
    const [line] = linesOf(`${BASE}heartbeat: {interval_s: "${"x".repeat(100)}"}\n`);
    expect(line).toBe(`heartbeat.interval_s: expected a positive integer, got "${"x".repeat(38)}…`);
  });

  test("a missing required field is reported as required at its own path", () => {
    expect(linesOf("campus: {name: Lincoln}\ngateway:\n  id: g\n")).toEqual(["campus.id: required"]);
    expect(linesOf("gateway:\n  id: g\n")).toEqual(["campus: required"]);
  });

  test("an unknown key suggests the closest allowed key when one is close", () => {
    expect(linesOf(`${BASE}devices:\n${device("d1", "optons: {}")}`)).toEqual(['devices[0].optons: unknown key (did you mean "options"?)']);
    expect(linesOf(`${BASE}polling: {intervall_ms: 1000}\n`)).toEqual(['polling.intervall_ms: unknown key (did you mean "interval_ms"?)']);
  });

  test("an unknown key far from every allowed key lists the allowed keys", () => {
    expect(linesOf(`${BASE}heartbeat: {every: 5}\n`)).toEqual(["heartbeat.every: unknown key (allowed: interval_s)"]);
  });

  test("an unknown key inside a driver's options suggests from that kind's options", () => {
    const yaml = `${BASE}devices:\n  - {id: d1, kind: tcp, category: operational, options: {host: h, prot: 1}}\n`;
    expect(linesOf(yaml)).toEqual(["devices[0].options.port: required", 'devices[0].options.prot: unknown key (did you mean "port"?)']);
  });

  test("a value outside an enum lists the allowed values", () => {
    expect(linesOf(`${BASE}log: {level: loud}\n`)).toEqual([
      'log.level: expected one of fatal, error, warn, info, debug, trace, got "loud"',
    ]);
    expect(linesOf(`${BASE}devices:\n  - {id: d1, kind: tcp, category: critical, options: {host: h, port: 1}}\n`)).toEqual([
      'devices[0].category: expected one of safety-critical, operational, got "critical"',
    ]);
  });

  test("an unknown device kind is reported at .kind with the known kinds", () => {
    const yaml = `${BASE}devices:\n${device("d1")}  - id: d2\n    kind: foo\n    category: operational\n  - {id: d3, category: operational}\n`;
    expect(linesOf(yaml)).toEqual([
      'devices[1].kind: unknown device kind "foo"; known kinds: tcp, web',
      "devices[2].kind: required; known kinds: tcp, web",
    ]);
  });

  test("invalid options of a driver are reported with the driver's own rules", () => {
    const yaml = `${BASE}devices:\n  - {id: d1, kind: web, category: operational, options: {url: 5, expect_status: true}}\n`;
    expect(linesOf(yaml)).toEqual([
      "devices[0].options.url: expected a string, got 5",
      "devices[0].options.expect_status: expected a number or a list, got true",
    ]);
  });

  test("a device id used twice names both places", () => {
    expect(linesOf(`${BASE}devices:\n${device("door-1")}${device("door-1")}`)).toEqual([
      'devices[1].id: duplicate id "door-1" (also devices[0].id)',
    ]);
  });

  test.each(["door+1", "door#1", "door/1", "door 1", "$SYS"])("the id %j is rejected as not topic-safe", (id) => {
    const lines = linesOf(`campus:\n  id: ${JSON.stringify(id)}\ngateway:\n  id: g\ndevices:\n${device(JSON.stringify(id))}`);
    const rule = "expected a topic-safe id: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit";
    expect(lines).toEqual([`campus.id: ${rule}, got ${JSON.stringify(id)}`, `devices[0].id: ${rule}, got ${JSON.stringify(id)}`]);
  });

  test("a device timeout not shorter than its interval is reported on the device", () => {
    expect(linesOf(`${BASE}devices:\n${device("d1", "poll: {interval_ms: 1000, timeout_ms: 1000}")}`)).toEqual([
      "devices[0].poll.timeout_ms: timeout (1000 ms) must be shorter than the poll interval (1000 ms)",
    ]);
    expect(linesOf(`${BASE}devices:\n${device("d1", "poll: {interval_ms: 2000}")}`)).toEqual([
      "devices[0].poll.interval_ms: timeout (5000 ms) must be shorter than the poll interval (2000 ms)",
    ]);
  });

  test("default polling values in conflict are reported once, not on every device", () => {
    expect(linesOf(`${BASE}polling: {timeout_ms: 40000}\ndevices:\n${device("d1")}${device("d2")}`)).toEqual([
      "polling.timeout_ms: timeout (40000 ms) must be shorter than the poll interval (30000 ms)",
    ]);
  });

  test("an inline broker password is refused without echoing it", () => {
    const err = errorOf(`${BASE}broker:\n  username: u\n  password: hunter2\n`);
    expect(err.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      "broker.password: inline passwords are not accepted: put it in a file (password_file) or an environment variable (password_env)",
    ]);
    expect(err.message).not.toContain("hunter2");
  });

  test("setting both password_file and password_env is refused", () => {
    const yaml = `${BASE}broker:\n  username: u\n  password_file: /run/pw\n  password_env: MQTT_PASSWORD\n`;
    const opts = { readFile: () => "pw", env: { MQTT_PASSWORD: "pw" } };
    expect(linesOf(yaml, opts)).toEqual(["broker.password_env: set password_file or password_env, not both"]);
  });

  test("a client certificate without its key is refused", () => {
    expect(linesOf(`${BASE}broker:\n  tls: {cert_file: /etc/ssl/gw.crt}\n`, { readFile: () => "PEM" })).toEqual([
      "broker.tls: cert_file and key_file go together",
    ]);
  });

  test("an invalid cron expression is reported with the value", () => {
    expect(linesOf(`${BASE}inventory: {cron: every day}\n`)).toEqual([
      'inventory.cron: expected a cron expression (5 or 6 fields), got "every day"',
    ]);
  });

  test("a number out of range says the bound", () => {
    expect(linesOf(`${BASE}polling: {jitter_ratio: 0.9}\n`)).toEqual(["polling.jitter_ratio: expected a number <= 0.5, got 0.9"]);
  });
});

describe("reporting", () => {
  test("every problem of a config is listed at once", () => {
    const yaml = [
      BASE,
      "log: {level: loud}\n",
      "broker: {username: u, password_env: MQTT_PASSWORD}\n",
      "devices:\n",
      device("d1", "optons: {}"),
      device("d1", "poll: {interval_ms: fast}"),
    ].join("");
    expect(problemsOf(yaml).map((p) => p.path)).toEqual([
      "log.level",
      "broker.password_env",
      "devices[0].optons",
      "devices[1].id",
      "devices[1].poll.interval_ms",
    ]);
  });

  test("problems point at the value, the key of an unknown key, or the parent of a missing key", () => {
    const yaml = "campus:\n  name: Lincoln\ngateway:\n  id: g\nlog:\n  level: loud\n  colour: red\n";
    expect(problemsOf(yaml)).toEqual([
      { path: "campus.id", message: "required", line: 1, column: 1 },
      { path: "log.level", message: expect.stringMatching(/^expected one of/), line: 6, column: 10 },
      { path: "log.colour", message: "unknown key (allowed: level)", line: 7, column: 3 },
    ]);
  });

  test("the error message has one line per problem as <file>:<line>:<col> <path>: <message>", () => {
    const err = errorOf("campus:\n  name: Lincoln\ngateway:\n  id: g\nlog:\n  level: loud\n");
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.file).toBe(CONFIG_FILE);
    expect(err.message.split("\n")).toEqual([
      `${CONFIG_FILE}:1:1 campus.id: required`,
      `${CONFIG_FILE}:6:10 log.level: expected one of fatal, error, warn, info, debug, trace, got "loud"`,
    ]);
  });

  test("formatProblems puts a header with the count above the problem lines", () => {
    const err = errorOf(`${BASE}log: {level: loud}\n`);
    expect(formatProblems(err).split("\n")).toEqual([
      `Invalid configuration in ${CONFIG_FILE} (1 problem):`,
      `${CONFIG_FILE}:5:14 log.level: expected one of fatal, error, warn, info, debug, trace, got "loud"`,
    ]);
  });
});

describe("a valid config", () => {
  test("gets the documented defaults", () => {
    const { config } = parse(`${BASE}devices:\n${device("d1")}`);
    expect(config.broker.url).toBeUndefined();
    expect(config.broker).toMatchObject({ protocol: "mqtt5", keepalive_s: 30, max_in_flight: 64, embedded: { port: 1883 } });
    expect(config.polling).toEqual({
      interval_ms: 30_000,
      timeout_ms: 5_000,
      jitter_ratio: 0.1,
      offline_after_failures: 3,
      max_backoff_ms: 300_000,
      max_concurrency: 32,
    });
    expect(config.heartbeat.interval_s).toBe(30);
    expect(config.inventory.cron).toBe("0 15 */6 * * *");
    expect(config.log.level).toBe("info");
    expect(config.devices[0]).toMatchObject({ id: "d1", location: {}, poll: {}, options: { host: "10.0.0.5", port: 554 } });
  });

  test("relative paths are resolved against the config file's folder", () => {
    const yaml = `${BASE}outbox: {path: data/outbox.db}\nbroker:\n  username: u\n  password_file: secrets/mqtt.pass\n  tls: {ca_file: ca.pem, cert_file: /etc/ssl/gw.crt, key_file: ../gw.key}\n`;
    const loaded = parse(yaml, { readFile: () => "content\n" });
    expect(loaded.file).toBe(CONFIG_FILE);
    expect(loaded.dir).toBe("/etc/campus-agent");
    expect(loaded.config.outbox.path).toBe("/etc/campus-agent/data/outbox.db");
    expect(loaded.config.broker.password_file).toBe("/etc/campus-agent/secrets/mqtt.pass");
    expect(loaded.config.broker.tls).toMatchObject({
      ca_file: "/etc/campus-agent/ca.pem",
      cert_file: "/etc/ssl/gw.crt",
      key_file: "/etc/gw.key",
    });
  });

  test("the default outbox lands next to the config file, and :memory: is left alone", () => {
    expect(parse(BASE).config.outbox.path).toBe("/etc/campus-agent/outbox.db");
    expect(parse(`${BASE}outbox: {path: ":memory:"}\n`).config.outbox.path).toBe(":memory:");
  });

  test("the control socket defaults to campus-agent.sock next to the outbox; a named one is resolved like other paths", () => {
    expect(parse(`${BASE}outbox: {path: /var/lib/campus-agent/outbox.db}\n`).config.control).toEqual({ enabled: true, socket: "/var/lib/campus-agent/campus-agent.sock" });
    expect(parse(`${BASE}control: {socket: run/agent.sock}\n`).config.control.socket).toBe("/etc/campus-agent/run/agent.sock");
    // An in-memory outbox (tests) has no folder: no socket unless one is named.
    expect(parse(`${BASE}outbox: {path: ":memory:"}\n`).config.control.socket).toBeUndefined();
  });

  test("a control socket path too long for a Unix socket is refused by its path, before the agent starts", () => {
    const long = `/var/lib/${"x".repeat(100)}/agent.sock`;
    expect(problemsOf(`${BASE}control: {socket: ${long}}\n`)).toEqual([
      expect.objectContaining({ path: "control.socket", message: `${long} is ${long.length} bytes; a Unix socket path has at most 107: choose a shorter one` }),
    ]);
    expect(parse(`${BASE}control: {enabled: false, socket: ${long}}\n`).config.control.enabled).toBe(false);
  });
});

describe("asset register settings", () => {
  test("a device's lifecycle dates must be real dates, and its keys known; every problem is listed", () => {
    const bad = device("d1", "lifecycle: {install_date: 2024-13-01, warranty_end: 2025-02-30, asset_tag: ''}");
    const text = `${BASE}devices:\n${bad}${device("d2", "lifecycle: {warrantee_end: 2030-01-01}")}`;
    expect(linesOf(text)).toEqual([
      'devices[0].lifecycle.install_date: expected a real date (YYYY-MM-DD), got "2024-13-01"',
      'devices[0].lifecycle.warranty_end: expected a real date (YYYY-MM-DD), got "2025-02-30"',
      'devices[0].lifecycle.asset_tag: expected a non-empty string, got ""',
      'devices[1].lifecycle.warrantee_end: unknown key (did you mean "warranty_end"?)',
    ]);
  });

  test("the policy file is resolved against the config's folder, and discovery.cron takes a cron expression or off", () => {
    const loaded = parse(`${BASE}policy: {file: policy.yaml}\ndiscovery: {cron: "off"}\n`);
    expect(loaded.config.policy?.file).toBe(CONFIG_FILE.replace(/config\.yaml$/, "policy.yaml"));
    expect(loaded.config.discovery.cron).toBe("off");
    expect(parse(BASE).config.discovery.cron).toBe("0 45 */6 * * *");
    expect(linesOf(`${BASE}discovery: {cron: "every 6 hours"}\n`)).toEqual([
      'discovery.cron: expected a cron expression (5 or 6 fields), or "off", got "every 6 hours"',
    ]);
  });
});
