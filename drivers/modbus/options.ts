/**
 * Options of one Modbus device (a unit id behind an endpoint), and the pure
 * helpers that interpret them. No I/O: this is what the config loader runs.
 * `modbusUnitShape` and `checkEndpoint` are what every Modbus-based kind
 * shares (door controllers here, panic-receiver contacts in
 * drivers/panic-contacts); `modbusOptionsSchema` is the door controller's.
 */
import { z } from "zod";
import { DriverError } from "../contract.js";
import { doorEventOptionsSchema } from "./door-events.js";
import type { Endpoint } from "./transport.js";
import { PROFILE_NAME, PROFILE_NAME_RULE, type Profile, profileSchema } from "./profile.js";
import { BUILTIN_PROFILE_NAMES, builtinProfile, unknownProfileMessage } from "./profiles/index.js";

const ms = (what: string) => z.int({ error: `expected ${what}` }).positive({ error: `expected ${what}` });

/** The fields of one unit behind an endpoint, its profile and its transport settings. */
export const modbusUnitShape = {
  transport: z.enum(["tcp", "rtu", "rtu_over_tcp"]).describe("tcp: Modbus TCP; rtu: RTU on a serial port (RS-485); rtu_over_tcp: RTU frames through a serial gateway."),
  host: z.string().regex(/^[A-Za-z0-9.:_-]+$/, { error: "expected a hostname or an IP address" }).optional().describe("For tcp and rtu_over_tcp."),
  port: z.int().min(1).max(65535).optional().describe("For tcp and rtu_over_tcp. Default 502."),
  path: z.string().startsWith("/", { error: "expected a device path such as /dev/ttyUSB0" }).optional().describe("For rtu: the serial device."),
  baud_rate: z.int().positive().optional().describe("For rtu. Default 9600."),
  parity: z.enum(["none", "even", "odd"]).optional().describe("For rtu. Default none (the spec's default is even: check the device)."),
  data_bits: z.union([z.literal(7), z.literal(8)]).optional().describe("For rtu. Default 8."),
  stop_bits: z.union([z.literal(1), z.literal(2)]).optional().describe("For rtu. Default 1."),
  unit_id: z.int().min(0).max(255).default(1).describe("Unit id (slave address) of the device: 1-247 on a serial line; 1 or 255 for most TCP devices."),
  // A name is checked by the config (config/schema.ts), which alone knows
  // the profiles under `modbus_profiles` and replaces their names by them.
  profile: z
    .union([z.string().regex(PROFILE_NAME, { error: `expected ${PROFILE_NAME_RULE}` }), profileSchema])
    .describe(
      `Register map: the name of a built-in profile (${BUILTIN_PROFILE_NAMES.join(", ")}) or of one under modbus_profiles, or a profile given inline.`,
    ),
  request_timeout_ms: ms("a positive number of milliseconds").default(1000).describe("Deadline of one Modbus request."),
  max_in_flight: z.int().min(1).max(256).default(16).describe("Requests pipelined at once on Modbus TCP; RTU always sends one at a time."),
  close_after_poll: z.boolean().default(false).describe("Close the connection after each poll, for devices that accept a single client."),
  busy_retries: z.int().min(0).max(10).default(2).describe("Retries of a read answered 'server busy' (exception 06), with backoff."),
};

/** The fields that name an endpoint (a serial line, a gateway, a TCP device), without the unit behind it. */
export const modbusEndpointShape = {
  transport: modbusUnitShape.transport,
  host: modbusUnitShape.host,
  port: modbusUnitShape.port,
  path: modbusUnitShape.path,
  baud_rate: modbusUnitShape.baud_rate,
  parity: modbusUnitShape.parity,
  data_bits: modbusUnitShape.data_bits,
  stop_bits: modbusUnitShape.stop_bits,
};

/** The options every Modbus-based kind has (modbusUnitShape, validated). */
export type ModbusUnitOptions = z.output<z.ZodObject<typeof modbusUnitShape>>;

type EndpointFields = Pick<ModbusUnitOptions, keyof typeof modbusEndpointShape>;

/** The endpoint fields fit the transport: a path for rtu, a host for the others, nothing of the other kind. */
export function checkEndpoint(o: EndpointFields, ctx: z.RefinementCtx): void {
  const problem = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
  if (o.transport === "rtu") {
    if (o.path === undefined) problem("path", "rtu needs the serial device path");
    for (const k of ["host", "port"] as const) if (o[k] !== undefined) problem(k, `${k} is for tcp and rtu_over_tcp, not rtu`);
  } else {
    if (o.host === undefined) problem("host", `${o.transport} needs a host`);
    for (const k of ["path", "baud_rate", "parity", "data_bits", "stop_bits"] as const) {
      if (o[k] !== undefined) problem(k, `${k} is for rtu (a serial port), not ${o.transport}`);
    }
  }
}

export const modbusOptionsSchema = z
  .strictObject({
    ...modbusUnitShape,
    door_events: doorEventOptionsSchema.describe("How door events are found: debounce of flapping inputs, held-open time."),
  })
  .superRefine(checkEndpoint);
export type ModbusOptions = z.output<typeof modbusOptionsSchema>;

export function endpointOf(o: EndpointFields): Endpoint {
  if (o.transport === "rtu") {
    return { transport: "rtu", path: o.path ?? "", baud_rate: o.baud_rate ?? 9600, parity: o.parity ?? "none", data_bits: o.data_bits ?? 8, stop_bits: o.stop_bits ?? 1 };
  }
  return { transport: o.transport, host: o.host ?? "", port: o.port ?? 502 };
}

/**
 * The profile the options hold or name. Options loaded through the config
 * hold a user profile itself and name only built-in ones (the config checked
 * the name); any other name is a config error, not worth retrying.
 */
export function profileOf(o: { profile: string | Profile }): Profile {
  if (typeof o.profile !== "string") return o.profile;
  const p = builtinProfile(o.profile);
  if (p === undefined) throw new DriverError("config", unknownProfileMessage(o.profile, []), { retryable: false });
  return p;
}
