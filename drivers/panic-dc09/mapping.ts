/**
 * DC-09 events (drivers/dc09 AlarmEvent) → what the agent publishes: alarms
 * (device-alarm topic) and device events `panel_event`. Pure: the previous
 * memory, the events of one message, the time and an id maker in; alarms,
 * events and the new memory out — stored together by report(), so that a
 * restart keeps the link between an alarm and its restore.
 *
 * Rules (README.md says the same for people):
 * - panic, duress, emergency, medical, fire, burglary (type "intrusion")
 *   are alarms:
 *   - qualifier new: phase "alarm", a new id, kept open (per kind + zone).
 *     A second "new" for a kind and zone already open is a new alarm too
 *     (someone pressed again: a life-safety report is never swallowed); the
 *     open entry then names the newest.
 *   - restore: phase "restore", `ends` the open alarm of that kind and zone
 *     (null when none is known), which is closed.
 *   - still_present (Contact ID 6, a status report): nothing when an alarm
 *     of that kind and zone is open; otherwise an alarm (we had not heard of
 *     it), marked `still_present` in its source.
 * - cancel (CID 406, SIA OC: a user called it off): phase "cancel", ending
 *   the most recent open alarm of the same partition (any partition when
 *   the cancel names none); its type is that alarm's, "other" when no alarm
 *   is open (ends null).
 * - A manual test (Contact ID 601 "manual trigger test", SIA RX, qualifier
 *   new: someone pressed test to check the path to the district) is an
 *   alarm with `test: true`, type "test", travelling the alarm path like a
 *   panic (that is what it tests); it is not kept open and has no restore.
 *   `campus-agent test-alarm` sends one.
 * - Everything else (periodic test reports, low battery, supervision loss,
 *   mains, communication trouble, trouble, tamper, opening/closing, other)
 *   is a device event of type `panel_event`, with `event` = the DC-09 kind
 *   and `qualifier` = new / restore / still_present. Periodic tests are link
 *   health, not alarms: they would flood the alarm topic.
 * Alarms other than manual tests are `test: false`.
 * - Troubles (supervision loss of a pendant, low battery, AC loss,
 *   communication trouble, trouble, tamper) stay open per kind and zone
 *   until their restore: the receiver shows degraded meanwhile
 *   (TROUBLE_REASONS), so a missing pendant is a status change, not only an
 *   event in a log.
 */
import type { AlarmEvent, AlarmKind, SequenceEntry } from "../dc09/index.js";
import type { DeviceAlarm, DeviceEvent, Location } from "../contract.js";

/** DC-09 kinds that are alarms, and the alarm type each is published as. */
export const ALARM_TYPE_OF: Partial<Record<AlarmKind, string>> = {
  panic: "panic",
  duress: "duress",
  emergency: "emergency",
  medical: "medical",
  fire: "fire",
  burglary: "intrusion",
};

/** Manual test reports, by format: published as test alarms. */
export const MANUAL_TEST_CODES: Readonly<Record<AlarmEvent["protocol"], readonly string[]>> = { "ADM-CID": ["601"], "SIA-DCS": ["RX"] };

/** Whether an event is a manual test report, which is published as a test alarm. */
export function isManualTest(e: Pick<AlarmEvent, "kind" | "qualifier" | "protocol" | "code">): boolean {
  return e.kind === "test" && e.qualifier === "new" && MANUAL_TEST_CODES[e.protocol].includes(e.code.toUpperCase());
}

/** DC-09 kinds published as `panel_event` device events (the `event` field). */
export const PANEL_EVENT_KINDS = [
  "test",
  "low_battery",
  "supervision_loss",
  "ac_loss",
  "comm_trouble",
  "trouble",
  "tamper",
  "opening",
  "closing",
  "other",
] as const satisfies readonly AlarmKind[];

/** Open alarms kept at most; the oldest is forgotten first (its restore then has `ends` null). */
export const MAX_OPEN_ALARMS = 64;

export interface OpenAlarm {
  id: string;
  kind: AlarmKind;
  zone: number | null;
  partition: number | null;
  at: number;
}

/**
 * Panel events that leave the receiver degraded until their restore, and the
 * status reason each gives: a pendant that stopped checking in, a battery
 * going flat, mains lost, a communication fault, trouble, tamper.
 */
export const TROUBLE_REASONS: Partial<Record<AlarmKind, string>> = {
  supervision_loss: "pendant_missing",
  tamper: "tamper",
  trouble: "receiver_trouble",
  comm_trouble: "comm_trouble",
  ac_loss: "mains_lost",
  low_battery: "battery_low",
};

/** Open troubles kept at most; the oldest is forgotten first. */
export const MAX_OPEN_TROUBLES = 64;

export interface OpenTrouble {
  kind: AlarmKind;
  zone: number | null;
  /** "Loss of supervision - RF, zone 15 (Room 114 pendant)": for the status text. */
  text: string;
  at: number;
}

export interface Dc09Memory {
  v: 1;
  /** Alarms raised and not yet restored or cancelled, oldest first. */
  open: OpenAlarm[];
  /** Troubles reported and not yet restored, oldest first (the receiver is degraded while there are any). */
  troubles: OpenTrouble[];
  /** The account's recent messages (SequenceTracker entries), so a retransmission after a restart is known. */
  seen: SequenceEntry[];
}

export interface ZoneInfo {
  name?: string | undefined;
  location?: Location | undefined;
}

export interface MappingOptions {
  zones?: Record<string, ZoneInfo> | undefined;
}

/** Stored memory is untrusted: what does not look right is dropped. */
export function parseDc09Memory(raw: unknown): Dc09Memory {
  const out: Dc09Memory = { v: 1, open: [], troubles: [], seen: [] };
  if (typeof raw !== "object" || raw === null || (raw as { v?: unknown }).v !== 1) return out;
  const r = raw as { open?: unknown; troubles?: unknown; seen?: unknown };
  if (Array.isArray(r.open)) {
    for (const o of r.open as Partial<OpenAlarm>[]) {
      if (typeof o?.id !== "string" || typeof o.kind !== "string" || typeof o.at !== "number") continue;
      const zone = typeof o.zone === "number" ? o.zone : null;
      const partition = typeof o.partition === "number" ? o.partition : null;
      out.open.push({ id: o.id, kind: o.kind, zone, partition, at: o.at });
    }
    out.open = out.open.slice(-MAX_OPEN_ALARMS);
  }
  if (Array.isArray(r.troubles)) {
    for (const t of r.troubles as Partial<OpenTrouble>[]) {
      if (typeof t?.kind !== "string" || TROUBLE_REASONS[t.kind] === undefined || typeof t.text !== "string" || typeof t.at !== "number") continue;
      out.troubles.push({ kind: t.kind, zone: typeof t.zone === "number" ? t.zone : null, text: t.text, at: t.at });
    }
    out.troubles = out.troubles.slice(-MAX_OPEN_TROUBLES);
  }
  if (Array.isArray(r.seen)) {
    for (const s of r.seen as Partial<SequenceEntry>[]) {
      if (typeof s?.sequence === "number" && typeof s.fingerprint === "string" && typeof s.atMs === "number") {
        out.seen.push({ sequence: s.sequence, fingerprint: s.fingerprint, atMs: s.atMs });
      }
    }
  }
  return out;
}

export interface Dc09Mapping {
  alarms: DeviceAlarm[];
  events: DeviceEvent[];
  /** The new memory (`seen` as it was: the caller puts the tracker's entries in). */
  memory: Dc09Memory;
}

/** One message's events → alarms, events and the new memory. `previous` is not modified. */
export function mapEvents(previous: Dc09Memory, events: readonly AlarmEvent[], now: number, opts: MappingOptions, newId: () => string): Dc09Mapping {
  const memory: Dc09Memory = { v: 1, open: previous.open.map((o) => ({ ...o })), troubles: previous.troubles.map((t) => ({ ...t })), seen: previous.seen };
  const out: Dc09Mapping = { alarms: [], events: [], memory };
  for (const e of events) {
    const zone = zoneOf(e.zone, opts);
    const occurredAt = e.timestamp === null ? undefined : Date.parse(e.timestamp);
    const base = {
      test: false,
      at: now,
      ...(occurredAt !== undefined && Number.isFinite(occurredAt) ? { occurredAt } : {}),
      ...(zone !== undefined ? { zone } : {}),
      ...(e.user !== null ? { user: String(e.user) } : {}),
    };
    const where = zone === undefined ? "" : ` zone ${zone.id}${zone.name !== undefined ? ` (${zone.name})` : ""}`;
    const type = ALARM_TYPE_OF[e.kind];
    if (type !== undefined) {
      const i = memory.open.findIndex((o) => o.kind === e.kind && o.zone === e.zone);
      if (e.qualifier === "restore") {
        const ended = i >= 0 ? memory.open.splice(i, 1)[0] : undefined;
        out.alarms.push({
          ...base,
          id: newId(),
          phase: "restore",
          type,
          text: `${type} alarm restored:${where || " no zone"}`,
          ...(ended !== undefined ? { ends: ended.id } : {}),
          source: sourceOf(e),
        });
        continue;
      }
      if (e.qualifier === "still_present" && i >= 0) continue;
      const id = newId();
      if (i >= 0) memory.open.splice(i, 1);
      memory.open.push({ id, kind: e.kind, zone: e.zone, partition: e.partition, at: now });
      if (memory.open.length > MAX_OPEN_ALARMS) memory.open.splice(0, memory.open.length - MAX_OPEN_ALARMS);
      out.alarms.push({
        ...base,
        id,
        phase: "alarm",
        type,
        text: `${type} alarm:${where || " no zone"} (${e.description})`,
        source: { ...sourceOf(e), ...(e.qualifier === "still_present" ? { still_present: true } : {}) },
      });
      continue;
    }
    if (isManualTest(e)) {
      out.alarms.push({
        ...base,
        test: true,
        id: newId(),
        phase: "alarm",
        type: "test",
        text: `test alarm (${e.description}):${where || " no zone"}; do not dispatch`,
        source: sourceOf(e),
      });
      continue;
    }
    if (e.kind === "cancel") {
      let j = -1;
      for (let k = memory.open.length - 1; k >= 0; k--) {
        const o = memory.open[k];
        if (o !== undefined && (e.partition === null || o.partition === null || o.partition === e.partition)) {
          j = k;
          break;
        }
      }
      const ended = j >= 0 ? memory.open.splice(j, 1)[0] : undefined;
      const endedType = ended === undefined ? "other" : (ALARM_TYPE_OF[ended.kind] ?? "other");
      out.alarms.push({
        ...base,
        id: newId(),
        phase: "cancel",
        type: endedType,
        text: ended === undefined ? "alarm cancelled by a user (no open alarm known)" : `${endedType} alarm cancelled by a user`,
        ...(ended !== undefined ? { ends: ended.id } : {}),
        source: sourceOf(e),
      });
      continue;
    }
    if (TROUBLE_REASONS[e.kind] !== undefined) {
      const k = memory.troubles.findIndex((t) => t.kind === e.kind && t.zone === e.zone);
      if (e.qualifier === "restore") {
        if (k >= 0) memory.troubles.splice(k, 1);
      } else if (k < 0) {
        memory.troubles.push({ kind: e.kind, zone: e.zone, text: `${e.description}${where ? `,${where}` : ""}`, at: now });
        if (memory.troubles.length > MAX_OPEN_TROUBLES) memory.troubles.splice(0, memory.troubles.length - MAX_OPEN_TROUBLES);
      }
    }
    out.events.push({
      type: "panel_event",
      at: now,
      text: `${e.description}${e.qualifier === "restore" ? " (restored)" : ""}${where ? `,${where}` : ""}`,
      details: {
        event: e.kind,
        qualifier: e.qualifier,
        code: e.code,
        description: e.description,
        protocol: e.protocol,
        account: e.account,
        zone: zone ?? null,
        user: e.user === null ? null : String(e.user),
        partition: e.partition,
        sequence: e.sequence,
        occurred_at: e.timestamp,
        encrypted: e.encrypted,
        raw: e.raw,
      },
    });
  }
  return out;
}

function zoneOf(zone: number | null, opts: MappingOptions): DeviceAlarm["zone"] {
  if (zone === null) return undefined;
  // Zone keys as written ("15" or "015") name the same zone.
  const key = Object.keys(opts.zones ?? {}).find((k) => Number.parseInt(k, 10) === zone);
  const cfg = key === undefined ? undefined : opts.zones?.[key];
  return {
    id: String(zone),
    ...(cfg?.name !== undefined ? { name: cfg.name } : {}),
    ...(cfg?.location !== undefined ? { location: cfg.location } : {}),
  };
}

function sourceOf(e: AlarmEvent): Record<string, unknown> {
  return {
    protocol: "dc09",
    format: e.protocol,
    account: e.account,
    code: e.code,
    description: e.description,
    qualifier: e.qualifier,
    sequence: e.sequence,
    partition: e.partition,
    receiver: e.receiver,
    line: e.line,
    encrypted: e.encrypted,
    raw: e.raw,
    ...(e.text !== null ? { text: e.text } : {}),
  };
}
