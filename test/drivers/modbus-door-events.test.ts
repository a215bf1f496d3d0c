/**
 * Door events from successive polls (drivers/modbus/door-events.ts): pure,
 * so time is a number the test moves. Each poll's memory goes through JSON,
 * as it does through the outbox between two polls and across restarts.
 */
import { describe, expect, it } from "vitest";
import type { DeviceEvent } from "../../drivers/contract.js";
import {
  DOOR_EVENT_TYPES,
  type DoorEventOptions,
  type DoorMemory,
  type DoorSnapshot,
  doorEventOptionsSchema,
  doorSnapshot,
  evaluateDoor,
  parseDoorMemory,
} from "../../drivers/modbus/door-events.js";
import { DOOR_EVENT_TYPES as CONTRACT_DOOR_EVENT_TYPES } from "../../agent/mqtt/contract.js";

const T0 = Date.UTC(2026, 10, 23, 8, 0, 0);
const NORMAL: DoorSnapshot = { door: "closed", lock: "locked", requestToExit: false, tamper: false, mains: true, batteryLow: false, batteryVoltage: 13.6 };

/** A controller polled at chosen times; remembers like the agent does (JSON in between). */
function controller(opts: Partial<DoorEventOptions> = {}) {
  const options = doorEventOptionsSchema.parse({ ...opts });
  let memory: unknown;
  const all: DeviceEvent[] = [];
  return {
    all,
    poll(atMs: number, snapshot: DoorSnapshot): DeviceEvent[] {
      const r = evaluateDoor(parseDoorMemory(memory), snapshot, T0 + atMs, options);
      memory = JSON.parse(JSON.stringify(r.memory)) as unknown;
      all.push(...r.events);
      return r.events;
    },
    get memory(): unknown {
      return memory;
    },
    set memory(m: unknown) {
      memory = m;
    },
  };
}
const types = (events: DeviceEvent[]) => events.map((e) => e.type);

describe("door events", () => {
  it("a controller first found in its normal state gives no event", () => {
    const c = controller();
    expect(c.poll(0, NORMAL)).toEqual([]);
    expect(c.poll(1000, NORMAL)).toEqual([]);
  });

  it("a controller first found open and tampered gives door_opened and tamper, marked initial, and no forced-open", () => {
    const c = controller();
    const events = c.poll(0, { ...NORMAL, door: "open", tamper: true });
    expect(types(events)).toEqual(["door_opened", "tamper"]);
    for (const e of events) expect(e.details).toMatchObject({ initial: true, suppressed_changes: 0 });
    expect(c.poll(1000, { ...NORMAL, door: "open", tamper: true })).toEqual([]);
  });

  it("reports a door opening at the poll that sees it, and its closing with how long it was open", () => {
    const c = controller();
    c.poll(0, NORMAL);
    const opened = c.poll(1000, { ...NORMAL, door: "open", lock: "unlocked" });
    expect(types(opened)).toEqual(["door_opened"]);
    expect(opened[0]).toMatchObject({ at: T0 + 1000, details: { initial: false, door: { position: "open", lock: "unlocked", request_to_exit: false } } });
    const closed = c.poll(9000, NORMAL);
    expect(types(closed)).toEqual(["door_closed"]);
    expect(closed[0]?.details).toMatchObject({ open_for_s: 8 });
  });

  it("holds back a change that follows an event within debounce_ms, and reports the settled state once the window has passed", () => {
    const c = controller({ debounce_ms: 2000 });
    c.poll(0, NORMAL);
    expect(types(c.poll(1000, { ...NORMAL, door: "open", lock: "unlocked" }))).toEqual(["door_opened"]);
    expect(c.poll(2000, NORMAL)).toEqual([]);
    const late = c.poll(3000, NORMAL);
    expect(types(late)).toEqual(["door_closed"]);
    expect(late[0]?.details).toMatchObject({ suppressed_changes: 0 });
  });

  it("a flapping door contact costs at most one event per debounce window, counts what it held back, and ends in the true state", () => {
    const c = controller({ debounce_ms: 5000 });
    c.poll(0, NORMAL);
    // Toggles at every poll for 20 s, then settles open and is polled on past the window.
    const samples: [number, "open" | "closed"][] = Array.from({ length: 40 }, (_, i) => [(i + 1) * 500, i % 2 === 0 ? "open" : "closed"]);
    samples.push([21_000, "open"], [30_000, "open"]);
    let rawChanges = 0;
    let last = "closed";
    for (const [t, door] of samples) {
      if (door !== last) rawChanges++;
      last = door;
      c.poll(t, { ...NORMAL, door, lock: "unlocked" });
    }
    const doorEvents = c.all.filter((e) => e.type === "door_opened" || e.type === "door_closed");
    for (let i = 1; i < doorEvents.length; i++) expect((doorEvents[i]?.at ?? 0) - (doorEvents[i - 1]?.at ?? 0)).toBeGreaterThanOrEqual(5000);
    expect(doorEvents.at(-1)?.type).toBe("door_opened");
    const reported = doorEvents.length + doorEvents.reduce((n, e) => n + (e.details.suppressed_changes as number), 0);
    // Every raw change was either reported or counted; changes that ended where they started are counted in the next event.
    expect(reported).toBeLessThanOrEqual(rawChanges);
    expect(reported).toBeGreaterThanOrEqual(rawChanges - 1);
    expect(doorEvents.length).toBeLessThanOrEqual(Math.ceil(30_000 / 5000) + 1);
  });

  it("a door opened while locked, without request-to-exit, is forced open (the agent's finding) until it closes", () => {
    const c = controller();
    c.poll(0, NORMAL);
    const events = c.poll(1000, { ...NORMAL, door: "open" });
    expect(types(events)).toEqual(["door_opened", "door_forced_open"]);
    expect(events[1]?.details).toMatchObject({ source: "agent", door: { position: "open", lock: "locked", request_to_exit: false } });
    expect(c.poll(2000, { ...NORMAL, door: "open" })).toEqual([]);
    expect(types(c.poll(4000, NORMAL))).toEqual(["door_closed", "door_forced_cleared"]);
  });

  it("a door opened with request-to-exit, or after an unlock, is not forced", () => {
    const rex = controller();
    rex.poll(0, NORMAL);
    expect(types(rex.poll(1000, { ...NORMAL, door: "open", requestToExit: true }))).toEqual(["door_opened"]);
    const granted = controller();
    granted.poll(0, NORMAL);
    granted.poll(500, { ...NORMAL, lock: "unlocked" });
    // Relocked on opening (common): the lock was unlocked at the previous poll, so this is an access grant.
    expect(types(granted.poll(1000, { ...NORMAL, door: "open" }))).toEqual(["door_opened"]);
  });

  it("uses the controller's own forced-open alarm when the profile maps it, instead of the agent's finding", () => {
    const c = controller();
    c.poll(0, { ...NORMAL, forcedAlarm: false });
    // Locked, no REX, but the controller (which saw the access grant) raises no alarm.
    expect(types(c.poll(1000, { ...NORMAL, door: "open", forcedAlarm: false }))).toEqual(["door_opened"]);
    const forced = c.poll(4000, { ...NORMAL, door: "open", forcedAlarm: true });
    expect(types(forced)).toEqual(["door_forced_open"]);
    expect(forced[0]?.details).toMatchObject({ source: "controller" });
  });

  it("a door open for held_open_s is held open once, cleared when it closes", () => {
    const c = controller({ held_open_s: 30 });
    c.poll(0, NORMAL);
    c.poll(1000, { ...NORMAL, door: "open", lock: "unlocked" });
    expect(c.poll(30_000, { ...NORMAL, door: "open", lock: "unlocked" })).toEqual([]);
    const held = c.poll(31_000, { ...NORMAL, door: "open", lock: "unlocked" });
    expect(types(held)).toEqual(["door_held_open"]);
    expect(held[0]?.details).toMatchObject({ source: "agent", open_for_s: 30, held_open_s: 30 });
    expect(c.poll(40_000, { ...NORMAL, door: "open", lock: "unlocked" })).toEqual([]);
    expect(types(c.poll(45_000, NORMAL))).toEqual(["door_closed", "door_held_cleared"]);
  });

  it("the controller's held-open alarm counts when it comes before the agent's timer", () => {
    const c = controller({ held_open_s: 60 });
    c.poll(0, { ...NORMAL, heldAlarm: false });
    c.poll(1000, { ...NORMAL, door: "open", lock: "unlocked", heldAlarm: false });
    const held = c.poll(20_000, { ...NORMAL, door: "open", lock: "unlocked", heldAlarm: true });
    expect(types(held)).toEqual(["door_held_open"]);
    expect(held[0]?.details).toMatchObject({ source: "controller" });
  });

  it("reports mains lost and restored, and battery low with its voltage", () => {
    const c = controller();
    c.poll(0, NORMAL);
    expect(types(c.poll(1000, { ...NORMAL, mains: false }))).toEqual(["mains_lost"]);
    const low = c.poll(60_000, { ...NORMAL, mains: false, batteryLow: true, batteryVoltage: 11.2 });
    expect(types(low)).toEqual(["battery_low"]);
    expect(low[0]?.details).toMatchObject({ battery_voltage: 11.2 });
    expect(types(c.poll(70_000, NORMAL))).toEqual(["mains_restored", "battery_ok"]);
  });

  it("an input not read this poll (read failed, not in the profile) keeps its state and gives no event", () => {
    const c = controller();
    c.poll(0, { ...NORMAL, tamper: true });
    const { tamper: _gone, ...withoutTamper } = NORMAL;
    expect(c.poll(1000, withoutTamper)).toEqual([]);
    expect(types(c.poll(2000, NORMAL))).toEqual(["tamper_cleared"]);
  });

  it("the same state read again with the stored memory gives no event: one change, one event, across restarts", () => {
    const c = controller();
    c.poll(0, NORMAL);
    c.poll(1000, { ...NORMAL, door: "open", mains: false });
    const stored = JSON.stringify(c.memory);
    const restarted = controller();
    restarted.memory = JSON.parse(stored) as unknown;
    expect(restarted.poll(20_000, { ...NORMAL, door: "open", mains: false })).toEqual([]);
    // Closed while the agent was down: one door_closed (and the agent's forced finding cleared), once.
    expect(types(restarted.poll(25_000, { ...NORMAL, mains: false }))).toEqual(["door_closed", "door_forced_cleared"]);
    expect(restarted.poll(26_000, { ...NORMAL, mains: false })).toEqual([]);
  });

  it("a wall clock set back does not freeze the debounce window", () => {
    const c = controller({ debounce_ms: 2000 });
    c.poll(10_000, NORMAL);
    c.poll(11_000, { ...NORMAL, door: "open", lock: "unlocked" });
    expect(types(c.poll(5_000, NORMAL))).toEqual(["door_closed"]);
  });

  it("memory that is not what this driver wrote is ignored: the controller is read afresh", () => {
    for (const bad of [null, 42, "x", { v: 2, conditions: {} }, { v: 1 }, { v: 1, conditions: { door: { active: "yes" } } }]) {
      expect(parseDoorMemory(bad)).toEqual(bad !== null && typeof bad === "object" && "conditions" in bad && bad.v === 1 ? { v: 1, conditions: {} } : undefined);
    }
    const good: DoorMemory = { v: 1, conditions: { door: { active: true, at: T0, sample: true, changes: 0 } }, openSince: T0, lock: "locked" };
    expect(parseDoorMemory(JSON.parse(JSON.stringify(good)))).toEqual(good);
  });

  it("reads the semantic points of a profile into a snapshot, ignoring values of the wrong type", () => {
    const points: Record<string, unknown> = { door_position: "open", lock_state: "locked", tamper: true, mains_power: "yes", battery_voltage: 12.5, battery_low: null };
    expect(doorSnapshot((n) => points[n] as never)).toEqual({ door: "open", lock: "locked", tamper: true, batteryVoltage: 12.5 });
  });

  it("every event type the driver can produce is one the MQTT contract documents", () => {
    expect([...DOOR_EVENT_TYPES].sort()).toEqual([...CONTRACT_DOOR_EVENT_TYPES].sort());
  });
});
