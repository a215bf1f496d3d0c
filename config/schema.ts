/**
 * The one source of truth for configuration: this zod schema produces the
 * TypeScript types, the defaults, the validation (with every problem by its
 * path) and config/config.schema.json for editors (scripts/gen-schemas.ts).
 *
 * Units live in names (`interval_ms`, `max_size_mb`). Device options are
 * validated by each driver's own schema, joined here by `kind`.
 *
 * Modbus register-map profiles are the one thing devices share: defined once
 * under `modbus_profiles`, used by name from the options of any kind whose
 * factory declares `modbusProfileOption`. The schema checks those names and
 * puts each user profile itself in the options of the devices naming it.
 */
import { validate as validateCron } from "node-cron";
import { z } from "zod";
import { isIsoDate } from "./dates.js";
import type { DriverFactory } from "../drivers/contract.js";
import { parseUnitList } from "../drivers/modbus/discover.js";
import { PROFILE_NAME, type Profile, profileSchema } from "../drivers/modbus/profile.js";
import { discoverParamsSchema } from "../drivers/onvif/discovery.js";
import { BUILTIN_PROFILE_NAMES, unknownProfileMessage } from "../drivers/modbus/profiles/index.js";

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Ids appear in MQTT topics, so they must be topic-safe: no `+`, `#`, `/`,
 * spaces or a leading `$` ([MQTT-4.7.1] wildcards, [MQTT-4.7.2] `$` topics).
 */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const ID_RULE = "a topic-safe id: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit";

export const topicSafeId = z.string({ error: "expected a string id" }).regex(ID_PATTERN, { error: `expected ${ID_RULE}` });

const posInt = (what = "a positive integer") => z.int({ error: `expected ${what}` }).positive({ error: `expected ${what}` });
const nonEmpty = z.string().min(1, { error: "expected a non-empty string" });

export const pollDefaultsSchema = z.strictObject({
  interval_ms: posInt().default(30_000).describe("Time between two polls of a device."),
  timeout_ms: posInt().default(5_000).describe("Deadline of one poll; must be shorter than the interval."),
  jitter_ratio: z.number().min(0).max(0.5).default(0.1).describe("Random spread of each interval, as a fraction of it (0 to 0.5)."),
  offline_after_failures: posInt().default(3).describe("Consecutive failed polls before a device is offline."),
  max_backoff_ms: posInt()
    .default(300_000)
    .describe("A device that keeps failing is polled less often, up to this interval, so recovery is seen within it."),
  max_concurrency: posInt().default(32).describe("Polls running at once, across all devices."),
});

/** Per-device overrides of the polling defaults. */
export const pollOverridesSchema = z.strictObject({
  interval_ms: posInt().optional(),
  timeout_ms: posInt().optional(),
  jitter_ratio: z.number().min(0).max(0.5).optional(),
  offline_after_failures: posInt().optional(),
  max_backoff_ms: posInt().optional(),
});

export const CATEGORIES = ["safety-critical", "operational"] as const;

const isoDate = z.string({ error: "expected a date (YYYY-MM-DD)" }).refine(isIsoDate, { error: "expected a real date (YYYY-MM-DD)" });

export const locationSchema = z.strictObject({
  building: nonEmpty.optional(),
  floor: nonEmpty.optional(),
  room: nonEmpty.optional(),
});

/** Fields every device has, whatever its kind. */
export const deviceBaseShape = {
  id: topicSafeId.describe("Unique on the campus; appears in topics."),
  name: nonEmpty.optional().describe("Human name, e.g. 'Main entrance intercom'."),
  location: locationSchema.default({}),
  owner: nonEmpty.optional().describe("Team or person responsible for the device."),
  lifecycle: z
    .strictObject({
      install_date: isoDate.optional().describe("When the device was installed."),
      warranty_end: isoDate.optional().describe("The last day under warranty; warranty_expired fails from the day after."),
      end_of_support: isoDate
        .optional()
        .describe("This device's last day of vendor support, over the lifecycle policy's date for its model; end_of_support fails from the day after."),
      asset_tag: nonEmpty.optional().describe("The district's asset tag."),
    })
    .default({})
    .describe("Lifecycle data for the asset register and the compliance checks (docs/lifecycle.md)."),
  category: z.enum(CATEGORIES, { error: `expected one of ${CATEGORIES.join(", ")}` }),
  poll: pollOverridesSchema.default({}),
};

export const brokerSchema = z
  .strictObject({
    url: z
      .string()
      .regex(/^(mqtts?|wss?):\/\/[^\s]+$/, { error: "expected an mqtt://, mqtts://, ws:// or wss:// URL" })
      .optional()
      .describe("Central broker. Omit to run the embedded broker (demo, or a gateway that is its own broker)."),
    client_id: nonEmpty.optional().describe("Defaults to campus-agent-<campus>-<gateway>."),
    protocol: z.enum(["mqtt5", "mqtt3.1.1"]).default("mqtt5").describe("mqtt5 reports ACL denials as reason codes."),
    username: nonEmpty.optional(),
    password_file: nonEmpty.optional().describe("File whose content (trailing newline trimmed) is the password."),
    password_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "expected an environment variable name" })
      .optional()
      .describe("Environment variable holding the password."),
    password: z.unknown().optional().describe("Not accepted: use password_file or password_env."),
    tls: z
      .strictObject({
        ca_file: nonEmpty.optional().describe("CA bundle that signed the broker's certificate; system CAs when omitted."),
        cert_file: nonEmpty.optional().describe("Client certificate (mutual TLS)."),
        key_file: nonEmpty.optional().describe("Client private key (mutual TLS)."),
        server_name: nonEmpty.optional().describe("Name to verify in the broker's certificate, when it differs from the URL host."),
        verify: z.enum(["full", "insecure-skip-verify"]).default("full"),
      })
      .optional(),
    keepalive_s: posInt().default(30),
    connect_timeout_ms: posInt().default(10_000),
    publish_timeout_ms: posInt().default(10_000).describe("A publish not acknowledged by then is retried on a new connection."),
    max_in_flight: posInt().max(1000).default(64).describe("QoS 1 messages awaiting PUBACK at once."),
    reconnect_min_ms: posInt().default(1_000),
    reconnect_max_ms: posInt().default(30_000),
    embedded: z
      .strictObject({
        host: nonEmpty.default("127.0.0.1").describe("Listen address; loopback unless you mean to expose it."),
        port: z.int().min(0).max(65535).default(1883).describe("0 picks a free port."),
      })
      .default({ host: "127.0.0.1", port: 1883 }),
  })
  // `when`: run even when a field above failed, so a config with an inline
  // password and a bad URL gets both problems in one go. The callback then sees
  // raw values, hence the typeof guards.
  .superRefine(
    (b, ctx) => {
      if (b.password !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["password"],
          message: "inline passwords are not accepted: put it in a file (password_file) or an environment variable (password_env)",
        });
      }
      if (b.password_file !== undefined && b.password_env !== undefined) {
        ctx.addIssue({ code: "custom", path: ["password_env"], message: "set password_file or password_env, not both" });
      }
      if ((b.password_file !== undefined || b.password_env !== undefined) && b.username === undefined) {
        ctx.addIssue({ code: "custom", path: ["username"], message: "a password needs a username" });
      }
      if (isObject(b.tls) && (b.tls.cert_file === undefined) !== (b.tls.key_file === undefined)) {
        ctx.addIssue({ code: "custom", path: ["tls"], message: "cert_file and key_file go together" });
      }
      if (typeof b.reconnect_max_ms === "number" && typeof b.reconnect_min_ms === "number" && b.reconnect_max_ms < b.reconnect_min_ms) {
        ctx.addIssue({ code: "custom", path: ["reconnect_max_ms"], message: "must be at least reconnect_min_ms" });
      }
    },
    { when: (payload) => isObject(payload.value) },
  );

export const outboxSchema = z.strictObject({
  path: nonEmpty.default("outbox.db").describe("SQLite file; relative paths are resolved against the config file's folder."),
  max_size_mb: z
    .number()
    .positive()
    .default(256)
    .describe("Past this, the oldest telemetry is dropped (and counted); events and alarms never are."),
  flush_interval_ms: posInt().default(200).describe("Telemetry is committed in batches at least this often; events and alarms at once."),
  batch_size: posInt().default(500).describe("Telemetry is committed when this many messages are buffered."),
});

export const controlSchema = z.strictObject({
  enabled: z.boolean().default(true).describe("false: no control socket (then the CLI cannot ask the running agent anything, e.g. test-alarm)."),
  socket: nonEmpty
    .optional()
    .describe(
      "Unix socket on which the CLI reaches the running agent (mode 0660: the service's user and group). " +
      "Default campus-agent.sock next to the outbox; relative paths are resolved against the config file's folder.",
    ),
});

/** Every 6 hours, 30 minutes after the inventory run, so the two do not load the campus network at once. */
export const DISCOVERY_CRON = "0 45 */6 * * *";

/**
 * `campus-agent discover` and the agent's reconciliation on `cron` (unknown
 * and missing assets): where to look for devices, against the configured ones.
 */
export const discoverySchema = z.strictObject({
  cron: z
    .string()
    .refine((s) => s === "off" || validateCron(s), { error: 'expected a cron expression (5 or 6 fields), or "off"' })
    .default(DISCOVERY_CRON)
    .describe('When the agent reconciles the campus against the config (unknown and missing assets): node-cron, seconds field allowed; "off" only on demand (campus-agent discover).'),
  onvif: discoverParamsSchema
    .extend({ enabled: z.boolean().default(true).describe("Look for ONVIF cameras (WS-Discovery).") })
    .default(discoverParamsSchema.extend({ enabled: z.boolean().default(true) }).parse({}))
    .describe("ONVIF WS-Discovery: the multicast Probe, and a unicast Probe to `targets` and to every configured camera's address."),
  modbus: z
    .strictObject({
      enabled: z.boolean().default(true).describe("Scan the unit ids of every Modbus endpoint the config names (door controllers, I/O modules)."),
      units: z
        .string()
        .default("1-247")
        .superRefine((spec, ctx) => {
          const r = parseUnitList(spec);
          if (!r.ok) ctx.addIssue({ code: "custom", message: r.problem });
        })
        .describe('Unit ids to try on each endpoint: "1-247", "1-16,100". One short read each; on a serial line one at a time, between polls.'),
      timeout_ms: z.int().min(20).max(5000).default(300).describe("How long each unit id may take to answer."),
    })
    .default({ enabled: true, units: "1-247", timeout_ms: 300 }),
});
export type DiscoveryConfig = z.output<typeof discoverySchema>;

const cronExpr = z.string().refine((s) => validateCron(s), { error: "expected a cron expression (5 or 6 fields)" });

export function buildConfigSchema(drivers: readonly DriverFactory[]) {
  if (drivers.length === 0) throw new Error("no drivers registered");
  const variants = drivers.map((d) =>
    z.strictObject({
      ...deviceBaseShape,
      kind: z.literal(d.kind).describe(d.description),
      options: d.optionsSchema,
    }),
  );
  const kinds = drivers.map((d) => d.kind);
  // Kind → its polling defaults (DriverFactory.pollDefaults).
  const kindPoll = new Map(drivers.flatMap((d) => (d.pollDefaults === undefined ? [] : [[d.kind, d.pollDefaults] as const])));
  // Kind → the option that names or holds its Modbus profile.
  const profileOptions = new Map(drivers.flatMap((d) => (d.modbusProfileOption === undefined ? [] : [[d.kind, d.modbusProfileOption] as const])));
  const device = z.discriminatedUnion("kind", variants as unknown as [(typeof variants)[0], ...(typeof variants)[number][]], {
    error: (iss) => {
      if (iss.code !== "invalid_union") return undefined;
      const kind = (iss.input as { kind?: unknown } | undefined)?.kind;
      // The issue's path ends in "kind": a missing kind reads "devices[2].kind: required; …".
      return kind === undefined
        ? `required; known kinds: ${kinds.join(", ")}`
        : `unknown device kind ${JSON.stringify(kind)}; known kinds: ${kinds.join(", ")}`;
    },
  });

  // The superRefine's `when`: run even when some field failed, so duplicate ids
  // are listed with the other problems instead of after they are fixed. The
  // callback then may see raw values (a device that is a string, an interval
  // that is "fast"): each check only looks at values of the right type.
  return z
    .strictObject({
      campus: z.strictObject({ id: topicSafeId, name: nonEmpty.optional() }),
      gateway: z.strictObject({ id: topicSafeId, name: nonEmpty.optional() }),
      broker: brokerSchema.default(brokerSchema.parse({})),
      outbox: outboxSchema.default(outboxSchema.parse({})),
      control: controlSchema.default(controlSchema.parse({})),
      polling: pollDefaultsSchema.default(pollDefaultsSchema.parse({})),
      heartbeat: z.strictObject({ interval_s: posInt().default(30) }).default({ interval_s: 30 }),
      inventory: z
        .strictObject({
          cron: cronExpr.default("0 15 */6 * * *").describe("When drivers re-read device identity (node-cron, seconds field allowed)."),
        })
        .default({ cron: "0 15 */6 * * *" }),
      discovery: discoverySchema.default(discoverySchema.parse({})),
      policy: z
        .strictObject({
          file: nonEmpty.describe(
            "The lifecycle policy (YAML: firmware baselines, end-of-support dates, clock and not-seen limits; docs/lifecycle.md). Relative paths are resolved against the config file's folder. Re-read on SIGHUP.",
          ),
        })
        .optional()
        .describe("Without it, devices are inventoried but not checked for compliance."),
      log: z
        .strictObject({ level: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info") })
        .default({ level: "info" }),
      modbus_profiles: z
        .array(profileSchema)
        .default([])
        .describe(
          `Register maps of your own Modbus devices, each used by name (options.profile: <name>) by any number of devices. Names must differ from each other and from the built-in profiles (${BUILTIN_PROFILE_NAMES.join(", ")}).`,
        ),
      devices: z.array(device).default([]),
    })
    .superRefine(
      (cfg, ctx) => {
        const polling: Partial<Record<string, unknown>> = isObject(cfg.polling) ? cfg.polling : {};
        const defInterval = typeof polling.interval_ms === "number" ? polling.interval_ms : undefined;
        const defTimeout = typeof polling.timeout_ms === "number" ? polling.timeout_ms : undefined;
        // Reported once here rather than on every device that inherits both values.
        if (defInterval !== undefined && defTimeout !== undefined && defTimeout >= defInterval) {
          ctx.addIssue({
            code: "custom",
            path: ["polling", "timeout_ms"],
            message: `timeout (${defTimeout} ms) must be shorter than the poll interval (${defInterval} ms)`,
          });
        }
        const seen = new Map<string, number>();
        const devices: unknown[] = Array.isArray(cfg.devices) ? cfg.devices : [];
        checkModbusProfiles(cfg.modbus_profiles, devices, profileOptions, ctx);
        devices.forEach((d, i) => {
          if (!isObject(d)) return;
          if (typeof d.id === "string") {
            const first = seen.get(d.id);
            if (first !== undefined) {
              ctx.addIssue({ code: "custom", path: ["devices", i, "id"], message: `duplicate id "${d.id}" (also devices[${first}].id)` });
            } else seen.set(d.id, i);
          }
          const poll = isObject(d.poll) ? d.poll : {};
          if (poll.interval_ms === undefined && poll.timeout_ms === undefined) return;
          const kind = typeof d.kind === "string" ? kindPoll.get(d.kind) : undefined;
          const interval = poll.interval_ms ?? kind?.interval_ms ?? defInterval;
          const timeout = poll.timeout_ms ?? kind?.timeout_ms ?? defTimeout;
          if (typeof interval === "number" && typeof timeout === "number" && timeout >= interval) {
            ctx.addIssue({
              code: "custom",
              path: ["devices", i, "poll", poll.timeout_ms !== undefined ? "timeout_ms" : "interval_ms"],
              message: `timeout (${timeout} ms) must be shorter than the poll interval (${interval} ms)`,
            });
          }
        });
      },
      { when: (payload) => isObject(payload.value) },
    )
    .transform((cfg) => resolveModbusProfiles(cfg, profileOptions));
}

/**
 * Names under `modbus_profiles` are unique and none is a built-in's; every
 * profile name a device gives is a user or built-in profile. Runs on raw
 * values too (see the superRefine's `when`): only strings are looked at.
 */
function checkModbusProfiles(
  profiles: unknown,
  devices: readonly unknown[],
  profileOptions: ReadonlyMap<string, string>,
  ctx: z.RefinementCtx,
): void {
  const userProfiles = new Map<string, number>();
  (Array.isArray(profiles) ? (profiles as unknown[]) : []).forEach((p, i) => {
    if (!isObject(p) || typeof p.name !== "string") return;
    const first = userProfiles.get(p.name);
    const path = ["modbus_profiles", i, "name"];
    if (BUILTIN_PROFILE_NAMES.includes(p.name)) {
      ctx.addIssue({ code: "custom", path, message: `"${p.name}" is the name of a built-in profile: give yours another name` });
    } else if (first !== undefined) {
      ctx.addIssue({ code: "custom", path, message: `duplicate profile name "${p.name}" (also modbus_profiles[${first}].name)` });
    } else userProfiles.set(p.name, i);
  });
  devices.forEach((d, i) => {
    const key = isObject(d) && typeof d.kind === "string" ? profileOptions.get(d.kind) : undefined;
    const name = key !== undefined && isObject(d) && isObject(d.options) ? d.options[key] : undefined;
    // A malformed name is already reported by the driver's options schema.
    if (key === undefined || typeof name !== "string" || !PROFILE_NAME.test(name)) return;
    if (userProfiles.has(name) || BUILTIN_PROFILE_NAMES.includes(name)) return;
    ctx.addIssue({ code: "custom", path: ["devices", i, "options", key], message: unknownProfileMessage(name, [...userProfiles.keys()]) });
  });
}

/**
 * The valid config with each device's name of a user profile replaced by
 * that profile, so the driver gets the map itself and a change to a user
 * profile is a change to every device using it (a reload compares devices
 * whole). Built-in names stay names: the driver resolves them. Devices
 * naming one profile share its object, which nothing modifies.
 */
function resolveModbusProfiles<C extends { modbus_profiles: Profile[]; devices: { kind: string; options: unknown }[] }>(
  cfg: C,
  profileOptions: ReadonlyMap<string, string>,
): C {
  const byName = new Map(cfg.modbus_profiles.map((p) => [p.name, p]));
  for (const d of cfg.devices) {
    const key = profileOptions.get(d.kind);
    if (key === undefined || !isObject(d.options)) continue;
    const name = d.options[key];
    const profile = typeof name === "string" ? byName.get(name) : undefined;
    if (profile !== undefined) d.options[key] = profile;
  }
  return cfg;
}

export type ConfigSchema = ReturnType<typeof buildConfigSchema>;
export type Config = z.output<ConfigSchema>;
export type DeviceConfig = Config["devices"][number];
export type BrokerConfig = z.output<typeof brokerSchema>;
export type OutboxConfig = z.output<typeof outboxSchema>;
export type PollDefaults = z.output<typeof pollDefaultsSchema>;

/** A device's effective polling parameters: its overrides, over its kind's defaults, over the config's. */
export interface EffectivePoll {
  interval_ms: number;
  timeout_ms: number;
  jitter_ratio: number;
  offline_after_failures: number;
  max_backoff_ms: number;
}

export function effectivePoll(
  device: Pick<DeviceConfig, "poll">,
  defaults: PollDefaults,
  kind?: { interval_ms: number; timeout_ms: number },
): EffectivePoll {
  return {
    interval_ms: device.poll.interval_ms ?? kind?.interval_ms ?? defaults.interval_ms,
    timeout_ms: device.poll.timeout_ms ?? kind?.timeout_ms ?? defaults.timeout_ms,
    jitter_ratio: device.poll.jitter_ratio ?? defaults.jitter_ratio,
    offline_after_failures: device.poll.offline_after_failures ?? defaults.offline_after_failures,
    max_backoff_ms: device.poll.max_backoff_ms ?? defaults.max_backoff_ms,
  };
}
