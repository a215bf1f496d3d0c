/**
 * Door events: what changed at a door controller between two polls. Pure: a
 * function of the previous memory, the values just read and the time; the
 * driver returns both the events and the new memory, and the agent stores
 * them in one durable step (Outbox.enqueueWithMemory), so an event is never
 * published twice for one change, nor lost, whatever the moment of a crash.
 *
 * Each watched condition is a boolean with a normal state:
 *   door     open?                      door_opened / door_closed
 *   forced   forced open?               door_forced_open / door_forced_cleared
 *   held     held open too long?        door_held_open / door_held_cleared
 *   tamper   tamper switch active?      tamper / tamper_cleared
 *   mains    mains power lost?          mains_lost / mains_restored
 *   battery  battery low?               battery_low / battery_ok
 * (A controller going offline or coming back is the agent's status_changed
 * event, common to every device kind.)
 *
 * Forced and held open come from the controller's own alarm points when the
 * profile maps them. Without a forced_open_alarm point, the agent derives it:
 * the door was seen opening while the lock was locked (before and at the
 * opening) and no request-to-exit was active. A poll only samples, so an
 * access grant that unlocks, opens and relocks between two polls looks
 * forced: prefer the controller's alarm when it has one. Held open is the
 * controller's alarm, or the door open for held_open_s, whichever comes first.
 *
 * Debounce (per condition): the first change after a quiet period is
 * reported at once (no delay for a real door event); further changes within
 * debounce_ms of an event are held back, and the state the input settles in
 * is reported when the window has passed, with the number of changes that
 * were not reported one by one. A flapping input thus costs at most one
 * event per condition per window, and the reported state always ends up the
 * true one.
 *
 * The first time a controller is read (no memory), every condition is
 * compared with its normal state: a door found open gives door_opened, a
 * tamper found active gives tamper, each marked `initial`.
 */
import { z } from "zod";
import type { DeviceEvent, MetricValue } from "../contract.js";

export const doorEventOptionsSchema = z
  .strictObject({
    debounce_ms: z
      .int()
      .min(0)
      .max(600_000)
      .default(2000)
      .describe("After an event, further changes of the same input within this window are held back and reported once it has passed, as the state the input settled in."),
    held_open_s: z
      .int()
      .positive()
      .max(86_400)
      .default(30)
      .describe("A door open this long is held open (door_held_open), unless the controller's own held-open alarm comes first."),
  })
  .default({ debounce_ms: 2000, held_open_s: 30 });
export type DoorEventOptions = z.output<typeof doorEventOptionsSchema>;

/** What one poll read, by meaning; undefined when the profile has no such point or its read failed. */
export interface DoorSnapshot {
  door?: "open" | "closed";
  lock?: "locked" | "unlocked";
  requestToExit?: boolean;
  tamper?: boolean;
  forcedAlarm?: boolean;
  heldAlarm?: boolean;
  mains?: boolean;
  batteryLow?: boolean;
  batteryVoltage?: number;
}

/** Semantic point values (the reader's decoded points, by name) → snapshot. Values of the wrong type are unknown. */
export function doorSnapshot(value: (point: string) => MetricValue | undefined): DoorSnapshot {
  const s: DoorSnapshot = {};
  const bool = (name: string) => {
    const v = value(name);
    return typeof v === "boolean" ? v : undefined;
  };
  const door = value("door_position");
  if (door === "open" || door === "closed") s.door = door;
  const lock = value("lock_state");
  if (lock === "locked" || lock === "unlocked") s.lock = lock;
  const set = <K extends keyof DoorSnapshot>(key: K, v: DoorSnapshot[K] | undefined) => {
    if (v !== undefined) s[key] = v;
  };
  set("requestToExit", bool("request_to_exit"));
  set("tamper", bool("tamper"));
  set("forcedAlarm", bool("forced_open_alarm"));
  set("heldAlarm", bool("held_open_alarm"));
  set("mains", bool("mains_power"));
  set("batteryLow", bool("battery_low"));
  const v = value("battery_voltage");
  if (typeof v === "number" && Number.isFinite(v)) s.batteryVoltage = v;
  return s;
}

export const DOOR_CONDITIONS = ["door", "forced", "held", "tamper", "mains", "battery"] as const;
export type DoorCondition = (typeof DOOR_CONDITIONS)[number];

/** Event types, [became active, became normal], per condition. */
export const DOOR_EVENT_NAMES: Record<DoorCondition, readonly [string, string]> = {
  door: ["door_opened", "door_closed"],
  forced: ["door_forced_open", "door_forced_cleared"],
  held: ["door_held_open", "door_held_cleared"],
  tamper: ["tamper", "tamper_cleared"],
  mains: ["mains_lost", "mains_restored"],
  battery: ["battery_low", "battery_ok"],
};
export const DOOR_EVENT_TYPES = DOOR_CONDITIONS.flatMap((c) => DOOR_EVENT_NAMES[c]);

const TEXT: Record<string, string> = {
  door_opened: "door opened",
  door_closed: "door closed",
  door_forced_open: "door forced open",
  door_forced_cleared: "forced-open alarm cleared",
  door_held_open: "door held open",
  door_held_cleared: "held-open alarm cleared",
  tamper: "tamper switch active",
  tamper_cleared: "tamper cleared",
  mains_lost: "mains power lost: running on battery",
  mains_restored: "mains power restored",
  battery_low: "battery low",
  battery_ok: "battery no longer low",
};

/** One condition as last reported, and what its input did since. */
interface ConditionMemory {
  /** The state last reported (an event), or the normal state before any. */
  active: boolean;
  /** When that state was reported (ms since the epoch); 0 before any event. */
  at: number;
  /** The input's last sample, and how often it changed since the last event. */
  sample: boolean;
  changes: number;
}

export interface DoorMemory {
  v: 1;
  conditions: Partial<Record<DoorCondition, ConditionMemory>>;
  /** When the door was last reported opened, while it stays open. */
  openSince?: number;
  /** Lock state of the last poll (the derived forced-open check looks at it). */
  lock?: "locked" | "unlocked";
  /** The agent's own forced-open finding, held until the door is reported closed. */
  forcedLatch?: boolean;
}

/** Memory as stored is untrusted (an older agent, a hand-edited file): anything unexpected starts afresh. */
export function parseDoorMemory(raw: unknown): DoorMemory | undefined {
  if (typeof raw !== "object" || raw === null || (raw as { v?: unknown }).v !== 1) return undefined;
  const m = raw as DoorMemory;
  if (typeof m.conditions !== "object" || m.conditions === null) return undefined;
  const conditions: DoorMemory["conditions"] = {};
  for (const c of DOOR_CONDITIONS) {
    const x = m.conditions[c] as Partial<ConditionMemory> | undefined;
    if (x && typeof x.active === "boolean" && typeof x.at === "number" && typeof x.sample === "boolean" && typeof x.changes === "number") {
      conditions[c] = { active: x.active, at: x.at, sample: x.sample, changes: x.changes };
    }
  }
  const out: DoorMemory = { v: 1, conditions };
  if (typeof m.openSince === "number") out.openSince = m.openSince;
  if (m.lock === "locked" || m.lock === "unlocked") out.lock = m.lock;
  if (m.forcedLatch === true) out.forcedLatch = true;
  return out;
}

export interface DoorEvaluation {
  events: DeviceEvent[];
  memory: DoorMemory;
}

/**
 * Compare a poll with the memory of the previous ones. Conditions whose input
 * is unknown this poll (no such point, or its read failed) are left as they were.
 */
export function evaluateDoor(previous: DoorMemory | undefined, s: DoorSnapshot, now: number, opts: DoorEventOptions): DoorEvaluation {
  const mem: DoorMemory = previous ? structuredClone(previous) : { v: 1, conditions: {} };
  const initial = previous === undefined;
  const events: DeviceEvent[] = [];
  const door = { position: s.door ?? null, lock: s.lock ?? null, request_to_exit: s.requestToExit ?? null };

  const step = (c: DoorCondition, sample: boolean | undefined, details: () => Record<string, MetricValue> = () => ({})): boolean => {
    if (sample === undefined) return false;
    const m = mem.conditions[c] ?? { active: false, at: 0, sample: false, changes: 0 };
    mem.conditions[c] = m;
    if (sample !== m.sample) {
      m.sample = sample;
      m.changes++;
    }
    // A clock set back must not freeze the window: a negative age counts as past it.
    const age = now - m.at;
    if (sample === m.active || (age >= 0 && age < opts.debounce_ms)) return false;
    const type = DOOR_EVENT_NAMES[c][sample ? 0 : 1];
    events.push({
      type,
      at: now,
      text: TEXT[type] ?? type,
      details: { ...details(), door, initial, suppressed_changes: Math.max(0, m.changes - 1) },
    });
    m.active = sample;
    m.at = now;
    m.changes = 0;
    return true;
  };

  // The door first: forced and held depend on when it was reported open.
  const wasOpen = mem.conditions.door?.active === true;
  const lockBefore = mem.lock;
  const openedFor = (): Record<string, MetricValue> =>
    mem.openSince !== undefined ? { open_for_s: Math.max(0, Math.round((now - mem.openSince) / 1000)) } : {};
  if (step("door", s.door === undefined ? undefined : s.door === "open", () => (s.door === "closed" ? openedFor() : {}))) {
    if (s.door === "open") {
      mem.openSince = now;
      // Derived only without the controller's own alarm point, and only on a seen opening.
      if (s.forcedAlarm === undefined && !wasOpen && !initial && lockBefore === "locked" && s.lock === "locked" && s.requestToExit !== true) {
        mem.forcedLatch = true;
      }
    } else {
      delete mem.openSince;
      delete mem.forcedLatch;
    }
  }
  if (s.lock !== undefined) mem.lock = s.lock;

  const open = mem.conditions.door?.active === true;

  const forcedSource = s.forcedAlarm !== undefined ? "controller" : "agent";
  step("forced", s.forcedAlarm ?? (s.door === undefined ? undefined : mem.forcedLatch === true), () => ({ source: forcedSource }));

  const timerHeld = open && mem.openSince !== undefined && now - mem.openSince >= opts.held_open_s * 1000;
  const heldSample = s.heldAlarm === undefined && s.door === undefined ? undefined : s.heldAlarm === true || timerHeld;
  step("held", heldSample, () => ({ source: s.heldAlarm === true ? "controller" : "agent", ...(open ? openedFor() : {}), held_open_s: opts.held_open_s }));

  step("tamper", s.tamper);
  step("mains", s.mains === undefined ? undefined : !s.mains);
  step("battery", s.batteryLow, (): Record<string, MetricValue> => (s.batteryVoltage !== undefined ? { battery_voltage: s.batteryVoltage } : {}));
  return { events, memory: mem };
}
