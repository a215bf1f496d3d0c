/**
 * Panic-receiver contacts: what the relay outputs of a panic-button receiver,
 * wired to the inputs of a Modbus I/O module, say from one poll to the next.
 * Pure: the previous memory, the inputs just read and the time in; alarms,
 * events and the new memory out (stored together by the agent, so a restart
 * neither repeats nor loses one).
 *
 * Each input has a meaning:
 * - `panic` (with an alarm type: panic, duress, holdup, medical, fire,
 *   emergency): the contact closing is an alarm, reported at the poll that
 *   sees it (never delayed: no debounce on the way in). Its opening again
 *   is the alarm's restore, reported once the input has stayed open for
 *   `restore_after_ms`: a bouncing contact is one alarm, not several. A
 *   contact that closes again after its restore was reported is a new alarm.
 * - `trouble`, `tamper`, `supervision` (the receiver's own trouble, tamper
 *   and supervision-fault outputs): device events `receiver_trouble`,
 *   `receiver_tamper`, `supervision_fault` and their `_cleared`, and the
 *   receiver shown degraded while one is active.
 *
 * The first poll ever (no memory) compares with all contacts open: a panic
 * contact found closed is an alarm (someone may be holding the button),
 * marked `initial` in its source.
 */
import type { DeviceAlarm, DeviceEvent, Location } from "../contract.js";

export const CONTACT_MEANINGS = ["panic", "trouble", "tamper", "supervision"] as const;
export type ContactMeaning = (typeof CONTACT_MEANINGS)[number];

export const ALARM_TYPES = ["panic", "duress", "holdup", "medical", "fire", "emergency"] as const;
export type AlarmType = (typeof ALARM_TYPES)[number];

export interface ContactInput {
  meaning: ContactMeaning;
  /** For `panic`: which alarm the contact raises. Default panic. */
  alarm?: AlarmType;
  /** The zone the receiver reports this contact as, e.g. "15". Default: the input's name. */
  zone?: string;
  /** What is wired to it, for people: "Room 114 pendant". */
  name?: string;
  location?: Location;
}

export interface ContactOptions {
  /** Input name (a point of the I/O module's profile) → what it means. */
  inputs: Record<string, ContactInput>;
  restore_after_ms: number;
}

/** Event types per non-panic meaning: [became active, back to normal]. */
export const CONTACT_EVENT_NAMES: Record<Exclude<ContactMeaning, "panic">, readonly [string, string]> = {
  trouble: ["receiver_trouble", "receiver_trouble_cleared"],
  tamper: ["receiver_tamper", "receiver_tamper_cleared"],
  supervision: ["supervision_fault", "supervision_fault_cleared"],
};
export const CONTACT_EVENT_TYPES = Object.values(CONTACT_EVENT_NAMES).flat();

interface InputMemory {
  /** The state last acted on: closed (active) or open. */
  active: boolean;
  /** Panic: the open alarm's id, until its restore is reported. */
  alarmId?: string;
  /** Panic: since when the contact has been open again, while its restore waits. */
  openSince?: number;
}

export interface ContactMemory {
  v: 1;
  inputs: Record<string, InputMemory>;
}

/** Stored memory is untrusted: anything unexpected starts afresh for that input. */
export function parseContactMemory(raw: unknown): ContactMemory | undefined {
  if (typeof raw !== "object" || raw === null || (raw as { v?: unknown }).v !== 1) return undefined;
  const inputs = (raw as { inputs?: unknown }).inputs;
  if (typeof inputs !== "object" || inputs === null) return undefined;
  const out: ContactMemory = { v: 1, inputs: {} };
  for (const [name, m] of Object.entries(inputs as Record<string, Partial<InputMemory>>)) {
    if (typeof m.active !== "boolean") continue;
    const kept: InputMemory = { active: m.active };
    if (typeof m.alarmId === "string") kept.alarmId = m.alarmId;
    if (typeof m.openSince === "number") kept.openSince = m.openSince;
    out.inputs[name] = kept;
  }
  return out;
}

export interface ContactEvaluation {
  alarms: DeviceAlarm[];
  events: DeviceEvent[];
  memory: ContactMemory;
  /** Non-panic inputs active now (the receiver's status shows them). */
  active: { input: string; meaning: Exclude<ContactMeaning, "panic"> }[];
}

/**
 * Compare one poll's inputs (true: contact closed / active; undefined: not
 * read this poll, left as it was) with the memory of the previous ones.
 */
export function evaluateContacts(
  previous: ContactMemory | undefined,
  values: Readonly<Record<string, boolean | undefined>>,
  now: number,
  opts: ContactOptions,
  newId: () => string,
): ContactEvaluation {
  const mem: ContactMemory = previous ? structuredClone(previous) : { v: 1, inputs: {} };
  const initial = previous === undefined;
  const out: ContactEvaluation = { alarms: [], events: [], memory: mem, active: [] };
  for (const [input, cfg] of Object.entries(opts.inputs)) {
    const value = values[input];
    const m = mem.inputs[input] ?? { active: false };
    mem.inputs[input] = m;
    const zone = {
      id: cfg.zone ?? input,
      ...(cfg.name !== undefined ? { name: cfg.name } : {}),
      ...(cfg.location !== undefined ? { location: cfg.location } : {}),
    };
    const source = { protocol: "modbus-contact", input, ...(initial ? { initial: true } : {}) };
    if (cfg.meaning === "panic") {
      if (value === true) {
        delete m.openSince;
        if (m.alarmId === undefined) {
          const type = cfg.alarm ?? "panic";
          m.alarmId = newId();
          out.alarms.push({
            id: m.alarmId,
            phase: "alarm",
            type,
            test: false,
            at: now,
            text: `${type} alarm: ${cfg.name ?? `input ${input}`} (zone ${zone.id})`,
            zone,
            source,
          });
        }
        m.active = true;
      } else if (value === false) {
        m.active = false;
        if (m.alarmId !== undefined) {
          m.openSince ??= now;
          // A clock set back counts as the wait being over: a restore must not hang.
          const waited = now - m.openSince;
          if (waited >= opts.restore_after_ms || waited < 0) {
            const type = cfg.alarm ?? "panic";
            out.alarms.push({
              id: newId(),
              phase: "restore",
              type,
              test: false,
              at: now,
              text: `${type} alarm restored: ${cfg.name ?? `input ${input}`} (zone ${zone.id})`,
              ends: m.alarmId,
              zone,
              source,
            });
            delete m.alarmId;
            delete m.openSince;
          }
        }
      }
      continue;
    }
    if (value !== undefined && value !== m.active) {
      const type = CONTACT_EVENT_NAMES[cfg.meaning][value ? 0 : 1];
      out.events.push({
        type,
        at: now,
        text: `${type.replaceAll("_", " ")}: ${cfg.name ?? `input ${input}`}`,
        details: { input, zone, initial },
      });
      m.active = value;
    }
    if (m.active) out.active.push({ input, meaning: cfg.meaning });
  }
  return out;
}

/**
 * The test alarm of `campus-agent test-alarm` for one panic input (the first
 * panic input when none is named): what the input closing would raise, with
 * `test: true`, not kept open (a test has no restore). Throws an Error that
 * names the panic inputs when `input` is not one.
 */
export function testAlarmOf(opts: Pick<ContactOptions, "inputs">, input: string | undefined, now: number, newId: () => string): DeviceAlarm {
  const panics = Object.entries(opts.inputs).filter(([, c]) => c.meaning === "panic");
  const pick = input === undefined ? panics[0] : panics.find(([name]) => name === input);
  if (pick === undefined) {
    const names = panics.map(([name]) => name);
    throw new Error(
      names.length === 0
        ? "this receiver has no panic input to test"
        : `${input === undefined ? "no input named" : `input ${JSON.stringify(input)} is not a panic input`}: expected one of ${names.join(", ")}`,
    );
  }
  const [name, cfg] = pick;
  const type = cfg.alarm ?? "panic";
  const zone = {
    id: cfg.zone ?? name,
    ...(cfg.name !== undefined ? { name: cfg.name } : {}),
    ...(cfg.location !== undefined ? { location: cfg.location } : {}),
  };
  return {
    id: newId(),
    phase: "alarm",
    type,
    test: true,
    at: now,
    text: `test ${type} alarm: ${cfg.name ?? `input ${name}`} (zone ${zone.id}), simulated input; do not dispatch`,
    zone,
    source: { protocol: "modbus-contact", input: name, simulated: true, requested_by: "campus-agent test-alarm" },
  };
}
