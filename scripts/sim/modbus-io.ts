/**
 * A dry-contact input module (the io-8di layout: inputs 1-8 are discrete
 * inputs 0-7) on one unit's register bank: what a panic-button receiver's
 * relay outputs close. Tests and the demo press and release its contacts.
 *
 * Node builtins only.
 */
import type { RegisterBank } from "./modbus-pdu.js";

export class ContactModuleSim {
  /** Defines inputs 1..count as discrete inputs 0..count-1, all open. */
  constructor(
    readonly bank: RegisterBank,
    readonly count = 8,
  ) {
    bank.define("discreteInputs", 0, Array.from({ length: count }, () => 0));
  }

  /** Close contact n (1-based, as on the module's label). */
  close(n: number): void {
    this.bank.set("discreteInputs", this.address(n), 1);
  }

  /** Open contact n again. */
  open(n: number): void {
    this.bank.set("discreteInputs", this.address(n), 0);
  }

  private address(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > this.count) throw new Error(`input ${n}: the module has inputs 1-${this.count}`);
    return n - 1;
  }
}
