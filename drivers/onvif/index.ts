/**
 * ONVIF cameras: is it alive, is it really a working camera, who made it,
 * what firmware it runs, and is its clock right — on every poll.
 *
 * The onvif library (0.8) sends the SOAP requests; this driver owns their
 * transport (deadlines, size caps, connections: session.ts), reads the
 * answers itself (steps.ts), and turns a poll into a Reading (poll.ts).
 * Discovery is WS-Discovery over our own UDP socket (discovery.ts).
 *
 * identify() (the inventory's identity read) is GetSystemDateAndTime,
 * GetDeviceInformation and, for the MAC address only it reads,
 * GetNetworkInterfaces.
 *
 * Camera sessions are kept between polls, per device id and keyed on its
 * options and credentials, so the Media service address and the camera's
 * clock offset are learned once; a session is dropped after any failed call
 * and rebuilt on the next poll.
 */
import type { Logger } from "pino";
import type { Clock } from "../../agent/clock.js";
import { type DeviceRef, type Driver, DriverError, defineDriver, type Identity, type PollContext } from "../contract.js";
import { discover } from "./discovery.js";
import { CallFailure } from "./errors.js";
import { type Credentials, endpoint, type OnvifOptions, onvifOptionsSchema, resolvePassword, sessionKey } from "./options.js";
import { authenticate, pollCamera } from "./poll.js";
import { CameraSession } from "./session.js";
import { networkInterfaces, readClock } from "./steps.js";

export { type OnvifOptions, type OnvifOptionsInput, onvifOptionsSchema } from "./options.js";

/** Keeps one session per device; replaces it when the device's options or credentials change. */
export class Sessions {
  private readonly byId = new Map<string, CameraSession>();
  constructor(private readonly clock: Clock) {}

  get(id: string, o: OnvifOptions, creds: Credentials | undefined): CameraSession {
    const key = sessionKey(o, creds);
    const existing = this.byId.get(id);
    if (existing && existing.key === key && !existing.isClosed) return existing;
    existing?.close();
    const s = new CameraSession(
      key,
      { endpoint: endpoint(o), creds, timeoutMs: o.timeout_ms, maxResponseBytes: o.max_response_bytes },
      this.clock,
    );
    this.byId.set(id, s);
    return s;
  }

  drop(id: string, s: CameraSession): void {
    if (this.byId.get(id) === s) this.byId.delete(id);
    s.close();
  }

  forget(id: string): void {
    this.byId.get(id)?.close();
    this.byId.delete(id);
  }

  closeAll(): void {
    for (const s of this.byId.values()) s.close();
    this.byId.clear();
  }

  get size(): number {
    return this.byId.size;
  }
}

/**
 * Run fn on the device's session, with the camera to itself. A session closed
 * while we waited for our turn (the call before ours failed) is replaced once.
 */
async function withSession<T>(
  sessions: Sessions,
  device: DeviceRef<OnvifOptions>,
  creds: Credentials | undefined,
  signal: AbortSignal,
  fn: (s: CameraSession) => Promise<{ value: T; clean: boolean }>,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const s = sessions.get(device.id, device.options, creds);
    const out = await s.exclusive(signal, async () => {
      if (s.isClosed) return undefined;
      try {
        const r = await fn(s);
        if (!r.clean) sessions.drop(device.id, s);
        return r;
      } catch (e) {
        sessions.drop(device.id, s);
        throw e;
      }
    });
    if (out !== undefined) return out.value;
    if (attempt > 0) throw new DriverError("internal", "the camera session kept closing under us");
  }
}

/** Time identify() keeps for itself after GetNetworkInterfaces: returning the identity it already has. */
const IDENTIFY_RESERVE_MS = 200;
/** Less than this left before the reserve: GetNetworkInterfaces is not sent at all. */
const MIN_MAC_BUDGET_MS = 100;

/**
 * The camera's MAC address (GetNetworkInterfaces), for identify(). Optional:
 * a camera that does not implement it, refuses it, answers garbage or stays
 * silent still gives its identity, without the MAC (the failed call is
 * traced, and drops the session like any failed call). Only the caller's own
 * deadline fails identify(), as it does during any call; the call's deadline
 * is cut short so that this one is not reached while waiting for the MAC.
 */
async function readMac(s: CameraSession, ctx: PollContext, leftMs: number): Promise<{ mac?: string; clean: boolean }> {
  const budget = Math.floor(leftMs - IDENTIFY_RESERVE_MS);
  if (budget < MIN_MAC_BUDGET_MS) {
    ctx.trace?.({ step: "GetNetworkInterfaces", ms: 0, ok: false, detail: `not sent: ${Math.max(0, Math.floor(leftMs))} ms of the deadline left` });
    return { clean: true };
  }
  try {
    const { mac } = (await networkInterfaces(s, ctx.signal, budget, ctx.trace)).value;
    // A value without a MAC is a failed step (steps.ts); undefined here only satisfies the type.
    return mac === undefined ? { clean: false } : { mac, clean: true };
  } catch (e) {
    if (!(e instanceof CallFailure) || ctx.signal.aborted) throw e;
    ctx.log.debug({ err: e }, "onvif identify: no MAC address");
    return { clean: false };
  }
}

/** Anything but a DriverError out of a driver is a bug; say so with the cause kept. */
function asDriverError(e: unknown, log: Logger, deviceId: string): DriverError {
  if (e instanceof DriverError) return e;
  log.error({ err: e, device: deviceId }, "onvif driver: unexpected error");
  return new DriverError("internal", `unexpected error: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}

export const onvifDriver = defineDriver({
  kind: "onvif",
  description:
    "ONVIF camera: reachability levels (TCP, ONVIF, authenticated), identity, clock drift, media profiles and stream URI, optional snapshot; WS-Discovery.",
  optionsSchema: onvifOptionsSchema,
  create({ clock, log }): Driver<OnvifOptions> {
    const sessions = new Sessions(clock);
    const started = (ctx: PollContext) => {
      if (ctx.signal.aborted) throw new DriverError("timeout", "deadline reached before the poll started", { cause: ctx.signal.reason });
    };
    return {
      poll: async (device, ctx) => {
        try {
          started(ctx);
          const creds = await resolvePassword(device.options);
          return await withSession(sessions, device, creds, ctx.signal, async (s) => {
            const r = await pollCamera(s, device.options, creds, ctx.signal, clock, ctx.trace);
            return { value: r.reading, clean: r.clean };
          });
        } catch (e) {
          throw asDriverError(e, log, device.id);
        }
      },

      identify: async (device, ctx): Promise<Identity> => {
        // The caller's deadline (DeviceRef.timeoutMs, from now): the MAC is read only in what it leaves.
        const deadlineAt = clock.monotonic() + device.timeoutMs;
        try {
          started(ctx);
          const creds = await resolvePassword(device.options);
          return await withSession(sessions, device, creds, ctx.signal, async (s) => {
            // Read the clock first, every time: the token is signed with the
            // camera's current time, and a shift learned hours ago is stale
            // if the camera's clock has since been changed or jumped.
            const driftMs = (await readClock(s, ctx.signal, ctx.trace)).value.driftMs;
            s.noteDrift(driftMs);
            const step = await authenticate(s, ctx.signal, driftMs, device.options, ctx.trace);
            const { mac, clean } = await readMac(s, ctx, deadlineAt - clock.monotonic());
            return { value: mac === undefined ? step.value : { ...step.value, mac }, clean };
          });
        } catch (e) {
          throw asDriverError(e, log, device.id);
        }
      },

      discover: (ctx, params) => discover(ctx, params, { clock, log }),

      forget: (id) => sessions.forget(id),

      close: async () => sessions.closeAll(),
    };
  },
});
