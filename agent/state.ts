/**
 * What the agent must remember across restarts besides the messages
 * themselves: each device's last status (so a restart does not report a
 * change that did not happen) and last identity (so a firmware update made
 * while the agent was down is still an event). Kept in the outbox's SQLite
 * file, in its own table, on a second connection: written only on change.
 * Inside batch(), writes wait for its end and go in one transaction (one sync).
 */
import Database from "better-sqlite3";
import type { Identity, Location } from "../drivers/contract.js";
import type { ComplianceRule } from "./lifecycle/evaluate.js";
import type { DeviceStatus } from "./status.js";

export interface DeviceMemory {
  status?: DeviceStatus;
  identity?: Identity;
  /** The asset register's memory of the device (agent/assets/register.ts). */
  asset?: AssetMemory;
}

/** What the asset register must remember across restarts so that it reports only real changes. */
export interface AssetMemory {
  /** The compliance rules failing when it was last published, in order; null when no policy was loaded. */
  failing: ComplianceRule[] | null;
  /** Wall ms since when exactly those rules fail. */
  since: number;
}

/** A row of the unknown-asset table: what discovery found that the config does not name. */
export interface UnknownAssetMemory {
  key: string;
  /** The asset as last published (without the envelope). */
  asset: Record<string, unknown>;
  firstSeen: number;
  lastSeen: number;
  /** Discovery runs in a row that did not find it. */
  missed: number;
}

/** An alarm raised and not yet restored or cancelled, for the campus readiness. */
export interface OpenAlarmMemory {
  alarmId: string;
  device: string;
  type: string;
  since: number;
  message: string;
  zone: { id: string; name?: string | undefined; location?: Location | undefined } | null;
}

export class StateStore {
  private readonly db: Database.Database;
  private readonly getStmt: Database.Statement<[string], { status: string | null; identity: string | null; asset: string | null }>;
  private readonly putAsset: Database.Statement<[string, string]>;
  private readonly unknownRows: Database.Statement<[], { row: string }>;
  private readonly putUnknown: Database.Statement<[string, string]>;
  private readonly deleteUnknown: Database.Statement<[string]>;
  private readonly openAlarmRows: Database.Statement<[], { row: string }>;
  private readonly putOpenAlarm: Database.Statement<[string, string, string]>;
  private readonly deleteOpenAlarm: Database.Statement<[string]>;
  private readonly deleteDeviceAlarms: Database.Statement<[string]>;
  private readonly putStatus: Database.Statement<[string, string]>;
  private readonly putIdentity: Database.Statement<[string, string]>;
  private readonly deleteStmt: Database.Statement<[string]>;
  /** Inside batch(): the writes it asked for, in order. */
  private pending: (() => void)[] | null = null;

  private constructor(path: string) {
    this.db = new Database(path, { timeout: 5000 });
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = FULL");
    this.db.exec("CREATE TABLE IF NOT EXISTS device_memory (device TEXT PRIMARY KEY, status TEXT, identity TEXT)");
    // Added with the asset register: a file of an older agent gets the column.
    const columns = this.db.prepare<[], { name: string }>("PRAGMA table_info(device_memory)").all();
    if (!columns.some((c) => c.name === "asset")) this.db.exec("ALTER TABLE device_memory ADD COLUMN asset TEXT");
    this.db.exec("CREATE TABLE IF NOT EXISTS unknown_asset (key TEXT PRIMARY KEY, row TEXT NOT NULL)");
    this.db.exec("CREATE TABLE IF NOT EXISTS open_alarm (alarm_id TEXT PRIMARY KEY, device TEXT NOT NULL, row TEXT NOT NULL)");
    this.getStmt = this.db.prepare("SELECT status, identity, asset FROM device_memory WHERE device = ?");
    this.putAsset = this.db.prepare(
      "INSERT INTO device_memory (device, asset) VALUES (?, ?) ON CONFLICT(device) DO UPDATE SET asset = excluded.asset",
    );
    this.unknownRows = this.db.prepare("SELECT row FROM unknown_asset ORDER BY key");
    this.putUnknown = this.db.prepare("INSERT INTO unknown_asset (key, row) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET row = excluded.row");
    this.deleteUnknown = this.db.prepare("DELETE FROM unknown_asset WHERE key = ?");
    this.openAlarmRows = this.db.prepare("SELECT row FROM open_alarm ORDER BY rowid");
    this.putOpenAlarm = this.db.prepare("INSERT OR REPLACE INTO open_alarm (alarm_id, device, row) VALUES (?, ?, ?)");
    this.deleteOpenAlarm = this.db.prepare("DELETE FROM open_alarm WHERE alarm_id = ?");
    this.deleteDeviceAlarms = this.db.prepare("DELETE FROM open_alarm WHERE device = ?");
    this.putStatus = this.db.prepare(
      "INSERT INTO device_memory (device, status) VALUES (?, ?) ON CONFLICT(device) DO UPDATE SET status = excluded.status",
    );
    this.putIdentity = this.db.prepare(
      "INSERT INTO device_memory (device, identity) VALUES (?, ?) ON CONFLICT(device) DO UPDATE SET identity = excluded.identity",
    );
    this.deleteStmt = this.db.prepare("DELETE FROM device_memory WHERE device = ?");
  }

  static open(path: string): StateStore {
    return new StateStore(path);
  }

  get(device: string): DeviceMemory {
    const row = this.getStmt.get(device);
    if (!row) return {};
    return {
      ...(row.status ? { status: JSON.parse(row.status) as DeviceStatus } : {}),
      ...(row.identity ? { identity: JSON.parse(row.identity) as Identity } : {}),
      ...(row.asset ? { asset: JSON.parse(row.asset) as AssetMemory } : {}),
    };
  }

  setAsset(device: string, asset: AssetMemory): void {
    const json = JSON.stringify(asset);
    this.write(() => this.putAsset.run(device, json));
  }

  unknownAssets(): UnknownAssetMemory[] {
    return this.unknownRows.all().map((r) => JSON.parse(r.row) as UnknownAssetMemory);
  }

  setUnknownAsset(asset: UnknownAssetMemory): void {
    const json = JSON.stringify(asset);
    this.write(() => this.putUnknown.run(asset.key, json));
  }

  forgetUnknownAsset(key: string): void {
    this.write(() => this.deleteUnknown.run(key));
  }

  openAlarms(): OpenAlarmMemory[] {
    return this.openAlarmRows.all().map((r) => JSON.parse(r.row) as OpenAlarmMemory);
  }

  setOpenAlarm(alarm: OpenAlarmMemory): void {
    const json = JSON.stringify(alarm);
    this.write(() => this.putOpenAlarm.run(alarm.alarmId, alarm.device, json));
  }

  closeAlarm(alarmId: string): void {
    this.write(() => this.deleteOpenAlarm.run(alarmId));
  }

  setStatus(device: string, status: DeviceStatus): void {
    const json = JSON.stringify(status);
    this.write(() => this.putStatus.run(device, json));
  }

  setIdentity(device: string, identity: Identity): void {
    const json = JSON.stringify(identity);
    this.write(() => this.putIdentity.run(device, json));
  }

  /** A device removed from the config: its memory and its open alarms. */
  forget(device: string): void {
    this.write(() => {
      this.deleteStmt.run(device);
      this.deleteDeviceAlarms.run(device);
    });
  }

  /**
   * Run `fn`, then make the writes it asked for in one transaction, after it
   * returned: wrapped around an outbox batch, the state follows the events
   * that announce it (a crash in between repeats an event, never loses one).
   * When `fn` throws, none of them is written (state saved without its
   * events would hide them after a restart). get() does not see them before.
   * A batch inside a batch joins it.
   */
  batch<T>(fn: () => T): T {
    if (this.pending !== null) return fn();
    const ops: (() => void)[] = [];
    this.pending = ops;
    let result: T;
    try {
      result = fn();
    } finally {
      this.pending = null;
    }
    if (ops.length > 0) {
      this.db.transaction(() => {
        for (const op of ops) op();
      })();
    }
    return result;
  }

  private write(op: () => void): void {
    if (this.pending !== null) this.pending.push(op);
    else op();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

const IDENTITY_FIELDS = ["manufacturer", "model", "serial", "firmware", "hardware_id", "mac"] as const;

/** Identity fields that changed; a field a driver did not report this time is not a change. */
export function identityChanges(before: Identity | undefined, after: Identity): (keyof Identity)[] {
  if (!before) return IDENTITY_FIELDS.filter((f) => after[f] !== undefined);
  return IDENTITY_FIELDS.filter((f) => after[f] !== undefined && after[f] !== before[f]);
}

/** The new identity: what was known, updated with what was just reported. */
export function mergeIdentity(before: Identity | undefined, after: Identity): Identity {
  const out: Identity = { ...before };
  for (const f of IDENTITY_FIELDS) if (after[f] !== undefined) out[f] = after[f];
  return out;
}
