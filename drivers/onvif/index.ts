/**
 * ONVIF cameras: is it alive, is it really a working camera, who made it,
 * what firmware it runs, and is its clock right — on every poll.
 *
 * The onvif library (0.8) sends the SOAP requests; this driver owns their
 * transport (deadlines, size caps, connections: session.ts), reads the
 * answers itself (steps.ts), and turns a poll into a Reading (poll.ts).
 * Discovery is WS-Discovery over our own UDP socket (discovery.ts).
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
import { type Credentials, endpoint, type OnvifOptions, onvifOptionsSchema, resolvePassword, sessionKey } from "./options.js";
import { authenticate, pollCamera } from "./poll.js";
import { CameraSession } from "./session.js";
import { readClock } from "./steps.js";

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
            return { value: step.value, clean: true };
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
