/**
 * A cheap, sound "cannot be due" test, so that `schedule:run` can answer "nothing due" without loading
 * cron-parser, luxon or Intl (together ~50 ms, more than Node's own start-up). It only ever rules a task
 * OUT; whatever it cannot rule out goes to ./due.ts, which decides.
 *
 * Why it is sound:
 *  - In UTC the wall clock is the instant: the minute and hour fields must contain the slot's minute and
 *    hour, or the task is not due.
 *  - In any other timezone, every UTC offset in use is a whole multiple of 15 minutes (a unit test checks
 *    every IANA zone Intl knows, for every month of 2020-2035). So the local minute is congruent to the
 *    UTC minute modulo 15: a minute field with no value in that class cannot match. The hour is not used.
 *  - The DST catch-up of fixed-time tasks (see due.ts) fires at a transition instant; transitions happen on
 *    a quarter hour of UTC for the same reason, so at other minutes the catch-up cannot fire.
 * Fields written with syntax this reader does not model (H, names, L in the minute/hour field) are
 * treated as "may match".
 */
import { fieldValues, isFixedTime, splitCron } from './cron-fields.js';

export interface PrefilterInput {
  expression: string;
  /** IANA timezone the expression is read in. */
  zone: string;
}

interface Compiled {
  minutes: Set<number> | null;
  hours: Set<number> | null;
  fixed: boolean;
}

const compiled = new Map<string, Compiled>();

function compile(expression: string): Compiled {
  let c = compiled.get(expression);
  if (!c) {
    const [minute, hour] = splitCron(expression);
    c = { minutes: fieldValues(minute, 59), hours: fieldValues(hour, 23), fixed: isFixedTime(expression) };
    compiled.set(expression, c);
  }
  return c;
}

/** False only when the task certainly is not due at the minute-aligned instant `slot`. */
export function mayBeDue(task: PrefilterInput, slot: number): boolean {
  const c = compile(task.expression);
  const date = new Date(slot);
  const minute = date.getUTCMinutes();
  if (task.zone === 'UTC') {
    return (c.minutes === null || c.minutes.has(minute)) && (c.hours === null || c.hours.has(date.getUTCHours()));
  }
  if (c.fixed && minute % 15 === 0) return true; // a DST transition (and its catch-up) may fall here
  if (c.minutes === null) return true;
  for (const m of c.minutes) if (m % 15 === minute % 15) return true;
  return false;
}
