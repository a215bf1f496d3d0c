import { describe, expect, it } from "vitest";
import type { Clock } from "../../agent/clock.js";
import { type DeviceStatus, StatusModel } from "../../agent/status.js";
import { DriverError, type Reading } from "../../drivers/contract.js";

const T0 = Date.UTC(2025, 0, 6, 8, 0, 0);

function setup() {
  let wall = T0;
  const clock: Clock = { now: () => wall, monotonic: () => wall - T0 };
  const model = new StatusModel({ clock });
  return {
    model,
    advance(ms: number) {
      wall += ms;
      return wall;
    },
  };
}

const ok = (responseTimeMs = 40): Reading => ({ health: "ok", responseTimeMs, metrics: {} });
const degraded = (reason: string, reasonText: string): Reading => ({
  health: "degraded",
  reason,
  reasonText,
  responseTimeMs: 900,
  metrics: {},
});
const timeout = () => new DriverError("timeout", "no answer within 5000 ms");

describe("StatusModel", () => {
  it("reports the first status ever as a change from null, online with reason ok", () => {
    const { model } = setup();
    const { status, change } = model.onReading("door-1", ok(42), 3);
    expect(status).toEqual({
      state: "online",
      reason: "ok",
      reasonText: "answering normally",
      since: T0,
      consecutiveFailures: 0,
      lastSeen: T0,
      lastPollAt: T0,
      responseTimeMs: 42,
    });
    expect(change).toEqual({ deviceId: "door-1", from: null, to: status });
    expect(model.get("door-1")).toBe(status);
  });

  it("reports a first status that is a failure as a change from null to degraded", () => {
    const { model } = setup();
    const { status, change } = model.onFailure("door-1", timeout(), 3);
    expect(status.state).toBe("degraded");
    expect(status.lastSeen).toBeNull();
    expect(change?.from).toBeNull();
  });

  it("reports no change while a device stays online, but keeps lastSeen, lastPollAt and response time current", () => {
    const { model, advance } = setup();
    model.onReading("door-1", ok(40), 3);
    const t = advance(30_000);
    const { status, change } = model.onReading("door-1", ok(55), 3);
    expect(change).toBeNull();
    expect(status).toMatchObject({ state: "online", since: T0, lastSeen: t, lastPollAt: t, responseTimeMs: 55 });
  });

  it("turns a degraded reading into state degraded with the reading's own reason and text", () => {
    const { model, advance } = setup();
    model.onReading("cam-1", ok(), 3);
    const t = advance(1000);
    const { status, change } = model.onReading("cam-1", degraded("slow", "answered in 900 ms (limit 500 ms)"), 3);
    expect(status).toMatchObject({
      state: "degraded",
      reason: "slow",
      reasonText: "answered in 900 ms (limit 500 ms)",
      since: t,
      lastSeen: t,
    });
    expect(change?.from?.state).toBe("online");
    expect(change?.to).toBe(status);
  });

  it("reports a change when a degraded device's reason changes, without moving since", () => {
    const { model, advance } = setup();
    model.onReading("cam-1", degraded("slow", "answered in 900 ms"), 3);
    advance(1000);
    const { status, change } = model.onReading("cam-1", degraded("http_status", "HTTP 503 from /onvif/device_service"), 3);
    expect(change).not.toBeNull();
    expect(change?.from?.reason).toBe("slow");
    expect(status).toMatchObject({ state: "degraded", reason: "http_status", since: T0 });
  });

  it("reports no change when a degraded device keeps the same reason", () => {
    const { model, advance } = setup();
    model.onReading("cam-1", degraded("slow", "answered in 900 ms"), 3);
    advance(1000);
    expect(model.onReading("cam-1", degraded("slow", "answered in 950 ms"), 3).change).toBeNull();
    expect(model.get("cam-1")?.reasonText).toBe("answered in 950 ms");
  });

  it("blames the driver, with reason internal, for a degraded reading that has no reason", () => {
    const { model } = setup();
    const { status } = model.onReading("cam-1", { health: "degraded", responseTimeMs: 10, metrics: {} }, 3);
    expect(status).toMatchObject({ state: "degraded", reason: "internal" });
    expect(status.reasonText).toContain("without a reason");
  });

  it("walks online → degraded → offline as failures accumulate, reporting only the two transitions", () => {
    const { model, advance } = setup();
    model.onReading("door-1", ok(), 3);

    const t1 = advance(30_000);
    const first = model.onFailure("door-1", timeout(), 3);
    expect(first.status).toMatchObject({ state: "degraded", reason: "timeout", since: t1, consecutiveFailures: 1, lastSeen: T0 });
    expect(first.status.reasonText).toBe("timeout: no answer within 5000 ms (1 of 3 failures before offline)");
    expect(first.status.responseTimeMs).toBeNull();
    expect(first.change?.from?.state).toBe("online");

    advance(30_000);
    const second = model.onFailure("door-1", timeout(), 3);
    expect(second.change).toBeNull();
    expect(second.status).toMatchObject({ state: "degraded", consecutiveFailures: 2, since: t1 });
    expect(second.status.reasonText).toBe("timeout: no answer within 5000 ms (2 of 3 failures before offline)");

    const t3 = advance(30_000);
    const third = model.onFailure("door-1", timeout(), 3);
    expect(third.status).toMatchObject({ state: "offline", reason: "timeout", since: t3, consecutiveFailures: 3, lastSeen: T0 });
    expect(third.status.reasonText).toBe("timeout: no answer within 5000 ms (3 consecutive failures)");
    expect(third.change?.from?.state).toBe("degraded");
  });

  it("reports no change while an offline device keeps failing for the same reason", () => {
    const { model } = setup();
    for (let i = 0; i < 3; i++) model.onFailure("door-1", timeout(), 3);
    const { status, change } = model.onFailure("door-1", timeout(), 3);
    expect(change).toBeNull();
    expect(status).toMatchObject({ state: "offline", consecutiveFailures: 4 });
  });

  it("reports a change when an offline device fails for a new reason, without moving since", () => {
    const { model, advance } = setup();
    model.onFailure("door-1", timeout(), 1);
    advance(60_000);
    const { status, change } = model.onFailure("door-1", new DriverError("refused", "connect ECONNREFUSED 10.20.0.5:502"), 1);
    expect(change?.from?.reason).toBe("timeout");
    expect(status).toMatchObject({ state: "offline", reason: "refused", since: T0 });
  });

  it("goes offline at the first failure when offlineAfterFailures is 1", () => {
    const { model } = setup();
    model.onReading("door-1", ok(), 1);
    const { status, change } = model.onFailure("door-1", timeout(), 1);
    expect(status.state).toBe("offline");
    expect(status.reasonText).toBe("timeout: no answer within 5000 ms (1 consecutive failure)");
    expect(change?.from?.state).toBe("online");
  });

  it("comes back online from offline at the first good reading, resetting the failure count", () => {
    const { model, advance } = setup();
    for (let i = 0; i < 3; i++) model.onFailure("door-1", timeout(), 3);
    const t = advance(5_000);
    const { status, change } = model.onReading("door-1", ok(), 3);
    expect(status).toMatchObject({ state: "online", reason: "ok", consecutiveFailures: 0, since: t, lastSeen: t });
    expect(change?.from?.state).toBe("offline");
  });

  it("moves a device degraded by its readings to a failure reason when a poll fails", () => {
    const { model } = setup();
    model.onReading("cam-1", degraded("slow", "answered in 900 ms"), 3);
    const { status, change } = model.onFailure("cam-1", timeout(), 3);
    expect(status).toMatchObject({ state: "degraded", reason: "timeout", consecutiveFailures: 1, since: T0 });
    expect(change?.from?.reason).toBe("slow");
  });

  it("includes a DriverError's cause in the text a technician reads", () => {
    const { model } = setup();
    const cause = Object.assign(new Error("connect ECONNREFUSED 10.20.0.5:502"), { code: "ECONNREFUSED" });
    const { status } = model.onFailure("door-1", new DriverError("refused", "could not open Modbus TCP connection", { cause }), 3);
    expect(status.reasonText).toBe(
      "refused: could not open Modbus TCP connection: connect ECONNREFUSED 10.20.0.5:502 (1 of 3 failures before offline)",
    );
  });

  it("turns an error that is not a DriverError into reason internal, naming the error", () => {
    const { model } = setup();
    const { status } = model.onFailure("door-1", new TypeError("Cannot read properties of undefined (reading 'coils')"), 3);
    expect(status.reason).toBe("internal");
    expect(status.reasonText).toContain("TypeError: Cannot read properties of undefined (reading 'coils')");
  });

  it("describes the plain objects some libraries throw, with their error code (modbus-serial timeouts)", () => {
    const { model } = setup();
    const { status } = model.onFailure("door-1", { name: "TransactionTimedOutError", message: "Timed out", errno: "ETIMEDOUT" }, 3);
    expect(status.reason).toBe("internal");
    expect(status.reasonText).toContain("TransactionTimedOutError ETIMEDOUT: Timed out");
  });

  it("describes thrown strings and values without a message", () => {
    const { model } = setup();
    expect(model.onFailure("a", "socket hang up", 3).status.reasonText).toContain("socket hang up");
    expect(model.onFailure("b", { status: 7 }, 3).status.reasonText).toContain('{"status":7}');
    expect(model.onFailure("c", undefined, 3).status.reasonText).toContain("unknown error");
  });

  it("treats a TimeoutError (what AbortSignal deadlines throw) as reason timeout, not internal", () => {
    const { model } = setup();
    const { status } = model.onFailure("door-1", new DOMException("no answer within 5000 ms", "TimeoutError"), 3);
    expect(status.reason).toBe("timeout");
    expect(status.reasonText).toBe("timeout: no answer within 5000 ms (1 of 3 failures before offline)");
  });

  it("keeps reason texts to one bounded line", () => {
    const { model } = setup();
    const { status } = model.onFailure("door-1", new DriverError("protocol", `bad XML:\n${"x".repeat(5000)}`), 3);
    expect(status.reasonText).not.toContain("\n");
    expect(status.reasonText.length).toBeLessThan(400);
  });

  it("after restore, reports a change only when the status really changed", () => {
    const { model, advance } = setup();
    const restored: DeviceStatus = {
      state: "offline",
      reason: "timeout",
      reasonText: "timeout: no answer within 5000 ms (7 consecutive failures)",
      since: T0 - 3_600_000,
      consecutiveFailures: 7,
      lastSeen: T0 - 3_700_000,
      lastPollAt: T0 - 30_000,
      responseTimeMs: null,
    };
    model.restore({ "door-1": restored, "door-2": { ...restored, state: "online", reason: "ok", consecutiveFailures: 0 } });

    const same = model.onFailure("door-1", timeout(), 3);
    expect(same.change).toBeNull();
    expect(same.status).toMatchObject({ consecutiveFailures: 8, since: restored.since, lastSeen: restored.lastSeen });

    const t = advance(1000);
    const back = model.onReading("door-1", ok(), 3);
    expect(back.change?.from?.state).toBe("offline");
    expect(back.status.since).toBe(t);

    expect(model.onReading("door-2", ok(), 3).change).toBeNull();
  });

  it("forgets a device, so its next status is a first status again", () => {
    const { model } = setup();
    model.onReading("door-1", ok(), 3);
    model.forget("door-1");
    expect(model.get("door-1")).toBeUndefined();
    expect(model.onReading("door-1", ok(), 3).change?.from).toBeNull();
  });

  it("hands out a copy from all(), so callers cannot change the model by accident", () => {
    const { model } = setup();
    model.onReading("door-1", ok(), 3);
    model.onFailure("door-2", timeout(), 3);
    const all = model.all();
    expect([...all.keys()].sort()).toEqual(["door-1", "door-2"]);
    all.delete("door-1");
    expect(model.get("door-1")).toBeDefined();
  });

  it("never mutates a status it already handed out, so change.from stays what it was", () => {
    const { model } = setup();
    const first = model.onReading("door-1", ok(), 3).status;
    model.onFailure("door-1", timeout(), 3);
    expect(first).toMatchObject({ state: "online", consecutiveFailures: 0 });
  });
});
