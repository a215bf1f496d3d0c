import v8 from "node:v8";
import vm from "node:vm";
import { describe, expect, it } from "vitest";
import { onvifOptionsSchema } from "../../drivers/onvif/index.js";
import type { CameraFault } from "../../scripts/sim/camera.js";
import { Cameras, handles, log, newDriver, optionsFor, settle } from "./onvif-helpers.js";

// A real collection before each heap reading; vitest does not pass --expose-gc.
v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

/**
 * Sockets back to the baseline exactly; timers no more than it (the runner's
 * own may expire meanwhile, and the driver's per-call timers must be gone).
 */
function released(before: ReturnType<typeof handles>): boolean {
  const now = handles();
  return now.tcp === before.tcp && now.udp === before.udp && now.timers <= before.timers;
}

describe("onvif driver: no leaks", () => {
  it("releases every connection and timer when a poll times out and the device is forgotten", async () => {
    await settle(() => handles().tcp === 0);
    const before = handles();
    const cameras = new Cameras();
    const cam = await cameras.start({ fault: { kind: "hang" } });
    const d = newDriver();
    const options = onvifOptionsSchema.parse(optionsFor(cam, { timeout_ms: 100 }));
    const signal = new AbortController().signal;
    await expect(d.poll({ id: "res", timeoutMs: 5000, options }, { signal, log })).rejects.toMatchObject({ code: "timeout" });
    d.forget?.("res");
    await d.close?.();
    await cameras.closeAll();
    await settle(() => released(before));
    expect(handles()).toMatchObject({ tcp: before.tcp, udp: before.udp });
    expect(handles().timers).toBeLessThanOrEqual(before.timers);
  });

  it("polls a flapping camera 1,000 times with handles back to baseline exactly and a flat heap", { timeout: 120_000 }, async () => {
    await settle(() => handles().tcp === 0);
    const before = handles();
    const cameras = new Cameras();
    const cam = await cameras.start();
    const d = newDriver();
    const options = onvifOptionsSchema.parse(optionsFor(cam, { timeout_ms: 40, max_response_bytes: 65536 }));
    // No timer of the test's own: only the driver's would show.
    const signal = new AbortController().signal;
    const cycle: (CameraFault | null)[] = [
      null,
      { kind: "http500" },
      { kind: "hang" },
      { kind: "malformed-xml" },
      { kind: "reboot", downMs: 600_000 },
      null,
    ];
    const outcomes: Record<string, number> = {};
    const round = async (i: number) => {
      const fault = cycle[i % cycle.length] ?? null;
      await cam.setFault(fault);
      const r = await d.poll({ id: "flap", timeoutMs: 5000, options }, { signal, log }).then(
        (reading) => reading.reason ?? reading.health,
        (e: { code?: string }) => `error:${e.code}`,
      );
      outcomes[r] = (outcomes[r] ?? 0) + 1;
      // Back up after a reboot: the next round's fault is set on a listening camera.
      if (fault?.kind === "reboot") await cam.setFault(null);
    };

    for (let i = 0; i < 120; i++) await round(i);
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1000; i++) await round(i);
    gc();
    const heapGrowth = process.memoryUsage().heapUsed - heapBefore;

    expect(outcomes).toMatchObject({
      ok: expect.any(Number),
      "error:http_status": expect.any(Number),
      "error:timeout": expect.any(Number),
    });
    expect(outcomes["error:protocol"]).toBeGreaterThan(0);
    expect(outcomes["error:refused"]).toBeGreaterThan(0);
    // Between polls the driver holds no connection: only the camera's listening socket remains.
    await settle(() => handles().tcp === before.tcp + 1);
    expect(handles().tcp).toBe(before.tcp + 1);
    expect(heapGrowth).toBeLessThan(4 * 1024 * 1024);

    await d.close?.();
    await cameras.closeAll();
    await settle(() => released(before));
    expect(handles()).toMatchObject({ tcp: before.tcp, udp: before.udp });
    expect(handles().timers).toBeLessThanOrEqual(before.timers);
  });
});
