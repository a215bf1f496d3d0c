/**
 * A door controller modelled on one unit's register bank, with the register
 * layout the generic door profile (drivers/modbus/) is made to match. The
 * layout is data: GENERIC_DOOR_LAYOUT below is the single source of truth.
 * Addresses are PDU addresses (0-based, as on the wire; mbpoll needs -0).
 *
 * Discrete inputs (FC 02, read-only)
 *   0 door_open        1 = door open (door position switch)
 *   1 request_to_exit  1 = REX button pressed / motion sensor active
 *   2 tamper           1 = enclosure open
 *   3 mains_ok         1 = mains present (0: running on battery)
 *   4 forced_alarm     1 = door forced open (opened while locked, no REX); clears on close
 *   5 held_alarm       1 = door held open past held_open_limit_s; clears on close
 *   6 battery_low      1 = battery_v_x100 below battery_low_x100
 * Coils (FC 01 read, FC 05/15 write)
 *   0 lock             1 = locked (relay energised); writing 0 unlocks (access granted)
 * Input registers (FC 04, read-only)
 *   0   battery_v_x100   u16, volts × 100 (1365 = 13.65 V)
 *   1   firmware         u16, major << 8 | minor (0x0203 = "2.3")
 *   2-3 serial           u32, word order per `wordOrder` (default high word first)
 *   4-5 uptime_s         u32, seconds since (simulated) power-up, same word order
 *   6   door_state       u16 enum: 0 closed, 1 open, 2 held open, 3 forced open
 *   7   temperature_x10  i16, °C × 10 (two's complement)
 *   8   status_bits      u16 bitfield: bit n = discrete input n (0..6), bit 7 = lock
 * Holding registers (FC 03 read, FC 06/16 write)
 *   0   held_open_limit_s   u16, default 30 (the controller's own held-open timer)
 *   1   battery_low_x100    u16, default 1150 (11.50 V)
 *
 * Node builtins only.
 */
import type { RegisterBank } from "./modbus-pdu.js";

export const GENERIC_DOOR_LAYOUT = {
  discreteInputs: { door_open: 0, request_to_exit: 1, tamper: 2, mains_ok: 3, forced_alarm: 4, held_alarm: 5, battery_low: 6 },
  coils: { lock: 0 },
  inputRegisters: { battery_v_x100: 0, firmware: 1, serial: 2, uptime_s: 4, door_state: 6, temperature_x10: 7, status_bits: 8 },
  holdingRegisters: { held_open_limit_s: 0, battery_low_x100: 1 },
  /** Bit of status_bits for the lock coil (bits 0..6 mirror the discrete inputs). */
  statusLockBit: 7,
  doorStates: { closed: 0, open: 1, held_open: 2, forced_open: 3 },
} as const;

export type WordOrder = "high-first" | "low-first";
export type DoorState = keyof typeof GENERIC_DOOR_LAYOUT.doorStates;

export interface DoorControllerOptions {
  serial?: number;
  /** [major, minor] */
  firmware?: [number, number];
  wordOrder?: WordOrder;
  batteryVx100?: number;
  temperatureX10?: number;
  /** Source of "now" for uptime (tests pass a fake). */
  now?: () => number;
}

const L = GENERIC_DOOR_LAYOUT;
const DI = L.discreteInputs;
const IR = L.inputRegisters;
const HR = L.holdingRegisters;

/** Scenario actions, each one named operation of DoorControllerSim. */
export const DOOR_ACTIONS = [
  "open", "close", "force", "hold", "lock", "unlock", "rex", "rex_release", "tamper", "tamper_clear",
  "power_loss", "power_restore", "battery_drain", "battery_set", "reboot",
] as const;
export type DoorAction = (typeof DOOR_ACTIONS)[number];

export class DoorControllerSim {
  private poweredUpAt: number;
  private readonly now: () => number;
  private readonly wordOrder: WordOrder;

  /** Defines every address of the layout in the bank, in a closed and locked state. */
  constructor(readonly bank: RegisterBank, opts: DoorControllerOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.poweredUpAt = this.now();
    this.wordOrder = opts.wordOrder ?? "high-first";
    const [major, minor] = opts.firmware ?? [2, 3];
    bank.define("discreteInputs", 0, [0, 0, 0, 1, 0, 0, 0]);
    bank.define("coils", L.coils.lock, 1);
    bank.define("inputRegisters", 0, 0, 9);
    bank.define("holdingRegisters", HR.held_open_limit_s, [30, 1150]);
    bank.set("inputRegisters", IR.firmware, ((major & 0xff) << 8) | (minor & 0xff));
    bank.set("inputRegisters", IR.serial, this.words(opts.serial ?? 100001));
    bank.set("inputRegisters", IR.battery_v_x100, opts.batteryVx100 ?? 1365);
    bank.set("inputRegisters", IR.temperature_x10, opts.temperatureX10 ?? 215);
    // Uptime is live: refreshed before every read a client makes.
    bank.beforeRead = () => this.refreshUptime();
    // A client writing the lock coil or the thresholds changes what follows from them.
    bank.afterWrite = () => this.derive();
    this.derive();
  }

  // --- named operations (each is also a scenario action) ---

  /** Access granted: the controller unlocks, the door opens. */
  open(): void {
    this.setCoil(L.coils.lock, 0);
    this.setDi(DI.door_open, 1);
  }

  /** Door closes: alarms clear, REX releases, the controller relocks. */
  close(): void {
    this.setDi(DI.door_open, 0);
    this.setDi(DI.forced_alarm, 0);
    this.setDi(DI.held_alarm, 0);
    this.setDi(DI.request_to_exit, 0);
    this.setCoil(L.coils.lock, 1);
  }

  /** Opened while locked and without REX: the forced-open alarm latches (lock stays on). */
  force(): void {
    this.setCoil(L.coils.lock, 1);
    this.setDi(DI.request_to_exit, 0);
    this.setDi(DI.door_open, 1);
    this.setDi(DI.forced_alarm, 1);
  }

  /** Door left open past the controller's held-open time (opening it first if needed). */
  hold(): void {
    if (!this.bank.get("discreteInputs", DI.door_open)) this.open();
    this.setDi(DI.held_alarm, 1);
  }

  lock(): void {
    this.setCoil(L.coils.lock, 1);
  }

  unlock(): void {
    this.setCoil(L.coils.lock, 0);
  }

  rex(): void {
    this.setDi(DI.request_to_exit, 1);
  }

  rexRelease(): void {
    this.setDi(DI.request_to_exit, 0);
  }

  tamper(on = true): void {
    this.setDi(DI.tamper, on ? 1 : 0);
  }

  powerLoss(): void {
    this.setDi(DI.mains_ok, 0);
  }

  powerRestore(): void {
    this.setDi(DI.mains_ok, 1);
  }

  /** Battery to `vx100` (default: 0.5 V under the low threshold). */
  batteryDrain(vx100?: number): void {
    this.batterySet(vx100 ?? this.bank.get("holdingRegisters", HR.battery_low_x100) - 50);
  }

  batterySet(vx100: number): void {
    this.bank.set("inputRegisters", IR.battery_v_x100, vx100);
    this.derive();
  }

  /** Restart: uptime starts again from 0. */
  reboot(): void {
    this.poweredUpAt = this.now();
    this.refreshUptime();
  }

  /** Run one scenario action (value: battery_drain/battery_set volts × 100). */
  apply(action: DoorAction, value?: number): void {
    switch (action) {
      case "open": return this.open();
      case "close": return this.close();
      case "force": return this.force();
      case "hold": return this.hold();
      case "lock": return this.lock();
      case "unlock": return this.unlock();
      case "rex": return this.rex();
      case "rex_release": return this.rexRelease();
      case "tamper": return this.tamper(true);
      case "tamper_clear": return this.tamper(false);
      case "power_loss": return this.powerLoss();
      case "power_restore": return this.powerRestore();
      case "battery_drain": return this.batteryDrain(value);
      case "battery_set":
        if (value === undefined) throw new Error("battery_set needs a value (volts × 100)");
        return this.batterySet(value);
      case "reboot": return this.reboot();
    }
  }

  /** The state as a person would read it off the registers. */
  state(): DoorState {
    const v = this.bank.get("inputRegisters", IR.door_state);
    return (Object.keys(L.doorStates) as DoorState[]).find((k) => L.doorStates[k] === v) ?? "closed";
  }

  // --- derived registers ---

  private setDi(address: number, v: number): void {
    this.bank.set("discreteInputs", address, v);
    this.derive();
  }

  private setCoil(address: number, v: number): void {
    this.bank.set("coils", address, v);
    this.derive();
  }

  /** door_state, battery_low and status_bits follow from the inputs. */
  private derive(): void {
    const b = this.bank;
    const low = b.get("inputRegisters", IR.battery_v_x100) < b.get("holdingRegisters", HR.battery_low_x100);
    b.set("discreteInputs", DI.battery_low, low ? 1 : 0);
    const state = !b.get("discreteInputs", DI.door_open)
      ? L.doorStates.closed
      : b.get("discreteInputs", DI.forced_alarm)
        ? L.doorStates.forced_open
        : b.get("discreteInputs", DI.held_alarm) ? L.doorStates.held_open : L.doorStates.open;
    b.set("inputRegisters", IR.door_state, state);
    let bits = b.get("coils", L.coils.lock) << L.statusLockBit;
    for (let i = 0; i <= DI.battery_low; i++) bits |= b.get("discreteInputs", i) << i;
    b.set("inputRegisters", IR.status_bits, bits);
  }

  private refreshUptime(): void {
    const s = Math.max(0, Math.floor((this.now() - this.poweredUpAt) / 1000));
    this.bank.set("inputRegisters", IR.uptime_s, this.words(s >>> 0));
  }

  private words(u32: number): [number, number] {
    const hi = (u32 >>> 16) & 0xffff;
    const lo = u32 & 0xffff;
    return this.wordOrder === "high-first" ? [hi, lo] : [lo, hi];
  }
}
