/**
 * Which reads fetch a profile's points in as few requests as the map allows.
 * Pure. Points of one table are joined into one read when they are adjacent
 * (or at most `maxGap` unmapped items apart) and the read stays within the
 * protocol's limits: FC 3/4 read at most 125 registers and FC 1/2 at most 2000
 * bits (Modbus Application Protocol v1.1b3 §6.1-6.4, "Quantity of ...").
 */
import { BIT_TABLES, type Profile, pointWidth, type Table } from "./profile.js";

/** Function code reading each table (§6.1 FC 1, §6.2 FC 2, §6.3 FC 3, §6.4 FC 4). */
export const READ_FUNCTION: Readonly<Record<Table, 1 | 2 | 3 | 4>> = { coil: 1, discrete_input: 2, holding: 3, input: 4 };

export interface ReadGroup {
  table: Table;
  functionCode: 1 | 2 | 3 | 4;
  /** 0-based address of the first register or bit read. */
  address: number;
  /** Registers or bits read. */
  count: number;
  /** Points wholly inside this read. */
  points: string[];
}

export interface PlanLimits {
  /** Most registers per FC 3/4 read: 1-125. Default: the profile's max_read_registers. */
  maxRegisters?: number;
  /** Most bits per FC 1/2 read: 1-2000. Default: the profile's max_read_bits. */
  maxBits?: number;
  /** Unmapped items one read may span. Default: the profile's max_gap. */
  maxGap?: number;
}

export function planReads(profile: Profile, limits: PlanLimits = {}): ReadGroup[] {
  const maxRegisters = Math.min(125, limits.maxRegisters ?? profile.max_read_registers);
  const maxBits = Math.min(2000, limits.maxBits ?? profile.max_read_bits);
  const maxGap = limits.maxGap ?? profile.max_gap;

  const spans = Object.entries(profile.points)
    .map(([name, p]) => ({ name, table: p.table, start: p.address, end: p.address + pointWidth(p) - 1 }))
    .sort((a, b) => TABLE_ORDER[a.table] - TABLE_ORDER[b.table] || a.start - b.start || a.end - b.end);

  const groups: ReadGroup[] = [];
  let cur: ReadGroup | undefined;
  for (const s of spans) {
    const limit = BIT_TABLES.has(s.table) ? maxBits : maxRegisters;
    if (cur !== undefined && cur.table === s.table) {
      const curEnd = cur.address + cur.count - 1;
      const newEnd = Math.max(curEnd, s.end);
      if (s.start <= curEnd + 1 + maxGap && newEnd - cur.address + 1 <= limit) {
        cur.count = newEnd - cur.address + 1;
        cur.points.push(s.name);
        continue;
      }
    }
    cur = { table: s.table, functionCode: READ_FUNCTION[s.table], address: s.start, count: s.end - s.start + 1, points: [s.name] };
    groups.push(cur);
  }
  return groups;
}

const TABLE_ORDER: Readonly<Record<Table, number>> = { coil: 0, discrete_input: 1, holding: 2, input: 3 };
