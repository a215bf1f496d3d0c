/**
 * Time, injected. Scheduling uses the monotonic clock so that a wall-clock
 * jump (NTP step, RTC reset on a Raspberry Pi without a battery) neither
 * stalls nor bursts the schedule; timestamps in messages use wall time.
 */
export interface Clock {
  /** Wall-clock time, milliseconds since the Unix epoch. */
  now(): number;
  /** Monotonic milliseconds from an arbitrary origin; never goes back. */
  monotonic(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
};
