/** Clocks for `schedule:run --at=<ISO>` (tests and benchmarks only): real time, shifted. */
import { systemClock, type Clock } from '../support/clock.js';

/** A clock that reads `at` now and then runs at real speed (its sleeps are real). */
export function shiftedClock(offsetMs: number): Clock {
  if (offsetMs === 0) return systemClock;
  return { now: () => Date.now() + offsetMs, sleep: (ms, signal) => systemClock.sleep(ms, signal) };
}

/** Parse the --at value; null when it is not a date. */
export function parseAt(value: string): number | null {
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}
