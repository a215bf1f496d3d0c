/**
 * The alarms raised and not yet restored or cancelled, for the campus
 * readiness: kept in memory, remembered in the state file across restarts.
 */
import type { Logger } from "pino";
import type { DeviceAlarm } from "../../drivers/contract.js";
import type { OpenAlarm } from "../mqtt/asset-contract.js";
import { stripUndefined } from "../messages.js";
import { isoTime } from "../mqtt/contract-fields.js";
import type { OpenAlarmMemory, StateStore } from "../state.js";

export class OpenAlarms {
  private readonly alarms = new Map<string, OpenAlarmMemory>();
  /** Writes to the state file, made together on the next turn (see note()). */
  private writes: (() => void)[] = [];

  constructor(private readonly deps: { state: StateStore; log: Logger }) {
    for (const a of deps.state.openAlarms()) this.alarms.set(a.alarmId, a);
  }

  /**
   * A device's alarms as they are stored: an alarm opens, a restore or
   * cancel closes the alarm it names (or, naming none, the device's open
   * alarms of the same type and zone). Test alarms never stay open. Returns
   * whether the open alarms changed.
   *
   * Called on the alarm's own path (a DC-09 ACK waits for it): the open
   * alarms are written to the state file a turn later, in one transaction,
   * not before the ACK. A crash in between loses only the readiness's note
   * of an open alarm; the alarm itself is in the outbox already.
   */
  note(device: string, alarms: readonly DeviceAlarm[]): boolean {
    let changed = false;
    for (const a of alarms) {
      if (a.test) continue;
      if (a.phase === "alarm") {
        const open: OpenAlarmMemory = { alarmId: a.id, device, type: a.type, since: a.at, message: a.text, zone: a.zone ?? null };
        this.alarms.set(a.id, open);
        this.persistSoon(() => this.deps.state.setOpenAlarm(open));
        changed = true;
        continue;
      }
      const sameKind = (o: OpenAlarmMemory) => o.device === device && o.type === a.type && o.zone?.id === a.zone?.id;
      const ends = a.ends !== undefined ? [a.ends] : [...this.alarms.values()].filter(sameKind).map((o) => o.alarmId);
      for (const id of ends) {
        if (!this.alarms.delete(id)) continue;
        this.persistSoon(() => this.deps.state.closeAlarm(id));
        changed = true;
      }
    }
    return changed;
  }

  /** A device removed from the config (the state file forgets its alarms with the device). */
  forgetDevice(device: string): void {
    for (const [alarmId, a] of this.alarms) if (a.device === device) this.alarms.delete(alarmId);
  }

  /** Oldest first. */
  list(): OpenAlarm[] {
    return [...this.alarms.values()]
      .sort((a, b) => a.since - b.since)
      .map((a) => ({ device: a.device, alarm_id: a.alarmId, type: a.type, since: isoTime(a.since), message: a.message, zone: zoneOf(a.zone) }));
  }

  /** Store the changes not yet stored (also when the agent stops). */
  flush(): void {
    const writes = this.writes.splice(0);
    if (writes.length === 0) return;
    try {
      this.deps.state.batch(() => {
        for (const w of writes) w();
      });
    } catch (err) {
      this.deps.log.warn({ err }, "open alarms not stored; the readiness after a restart may miss them");
    }
  }

  private persistSoon(write: () => void): void {
    this.writes.push(write);
    if (this.writes.length > 1) return;
    setImmediate(() => this.flush());
  }
}

function zoneOf(z: OpenAlarmMemory["zone"]): OpenAlarm["zone"] {
  if (z === null) return null;
  return { id: z.id, ...(z.name !== undefined ? { name: z.name } : {}), ...(z.location !== undefined ? { location: stripUndefined({ ...z.location }) } : {}) };
}
