/**
 * What the agent must remember across restarts besides the messages
 * themselves: each device's last status (so a restart does not report a
 * change that did not happen) and last identity (so a firmware update made
 * while the agent was down is still an event). Kept in the outbox's SQLite
 * file, in its own table, on a second connection: written only on change.
 * Inside batch(), writes wait for its end and go in one transaction (one sync).
 */
import Database from "better-sqlite3";
import type { Identity } from "../drivers/contract.js";
import type { DeviceStatus } from "./status.js";

export interface DeviceMemory {
  status?: DeviceStatus;
  identity?: Identity;
}

export class StateStore {
  private readonly db: Database.Database;
  private readonly getStmt: Database.Statement<[string], { status: string | null; identity: string | null }>;
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
    this.getStmt = this.db.prepare("SELECT status, identity FROM device_memory WHERE device = ?");
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
    };
  }

  setStatus(device: string, status: DeviceStatus): void {
    const json = JSON.stringify(status);
    this.write(() => this.putStatus.run(device, json));
  }

  setIdentity(device: string, identity: Identity): void {
    const json = JSON.stringify(identity);
    this.write(() => this.putIdentity.run(device, json));
  }

  forget(device: string): void {
    this.write(() => this.deleteStmt.run(device));
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
