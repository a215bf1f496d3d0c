/** Shared setup of the ONVIF driver tests: simulated cameras, a driver, and polling helpers. */
import { pino } from "pino";
import { expect } from "vitest";
import { systemClock } from "../../agent/clock.js";
import type { DriverError, Reading } from "../../drivers/contract.js";
import { type OnvifOptionsInput, onvifDriver, onvifOptionsSchema } from "../../drivers/onvif/index.js";
import { type CameraOptions, type SimCamera, startCamera } from "../../scripts/sim/camera.js";

export const log = pino({ level: "silent" });

/** The simulator's default account; the password reaches the driver the way it does in the field, by name. */
export const PASSWORD_ENV = "ONVIF_TEST_CAMERA_PASSWORD";
process.env[PASSWORD_ENV] = "admin";
export const creds = { username: "admin", password_env: PASSWORD_ENV } as const;

export type TestDriver = ReturnType<typeof onvifDriver.create>;

export function newDriver(): TestDriver {
  return onvifDriver.create({ log, clock: systemClock });
}

/** Cameras started by a test; close them in afterEach. */
export class Cameras {
  private readonly open: SimCamera[] = [];
  async start(opts: CameraOptions = {}): Promise<SimCamera> {
    const c = await startCamera(opts);
    this.open.push(c);
    return c;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.open.splice(0).map((c) => c.close()));
  }
}

export function optionsFor(cam: SimCamera, extra: Partial<OnvifOptionsInput> = {}): OnvifOptionsInput {
  return { host: cam.host, port: cam.port, ...creds, ...extra };
}

export function poll(driver: TestDriver, id: string, input: OnvifOptionsInput, timeoutMs = 5000): Promise<Reading> {
  const options = onvifOptionsSchema.parse(input);
  return driver.poll({ id, timeoutMs, options }, { signal: AbortSignal.timeout(timeoutMs), log });
}

export async function pollError(driver: TestDriver, id: string, input: OnvifOptionsInput, timeoutMs = 5000): Promise<DriverError> {
  const err = await poll(driver, id, input, timeoutMs).then(
    (r) => {
      throw new Error(`expected a DriverError, got a reading: ${JSON.stringify(r)}`);
    },
    (e: unknown) => e,
  );
  expect(err).toMatchObject({ name: "DriverError" });
  return err as DriverError;
}

/** TCP handles and timers: what a leaking driver leaves behind. */
export function handles(): { tcp: number; udp: number; timers: number } {
  const info = process.getActiveResourcesInfo();
  return {
    tcp: info.filter((r) => r.startsWith("TCP")).length,
    udp: info.filter((r) => r.startsWith("UDP")).length,
    timers: info.filter((r) => r === "Timeout").length,
  };
}

/** Let closing handles finish closing: event-loop turns until the condition holds (no timers involved). */
export async function settle(condition: () => boolean, maxTurns = 10_000): Promise<void> {
  for (let i = 0; i < maxTurns && !condition(); i++) await new Promise((resolve) => setImmediate(resolve));
}
