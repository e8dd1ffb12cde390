/**
 * The five-field cron string as plain data: split, splice, and a cheap reading of the minute and hour
 * fields. Nothing here decides due-ness (that is ./due.ts, with cron-parser as the authority); this file
 * only serves the fluent helpers and the start-up prefilter, so it imports nothing.
 *
 *   ┌ minute (0-59) ┌ hour (0-23) ┌ day of month (1-31) ┌ month (1-12) ┌ day of week (0-7, 0 and 7 = Sunday)
 *   *               *             *                     *              *
 */

export const EVERY_MINUTE = '* * * * *';

/** 1 = minute, 2 = hour, 3 = day of month, 4 = month, 5 = day of week (Laravel's numbering). */
export type CronPosition = 1 | 2 | 3 | 4 | 5;

const FIELD_NAMES = ['minute', 'hour', 'day of month', 'month', 'day of week'] as const;
// Characters cron-parser accepts in a field: digits, ranges, steps, lists, names, L, W, #, ?, H and H(a-b).
const FIELD_SYNTAX = /^[0-9A-Za-z*?,/#()-]+$/;

export class CronSyntaxError extends Error {
  constructor(expression: string, problem: string) {
    super(`Invalid cron expression "${expression}": ${problem}`);
    this.name = 'CronSyntaxError';
  }
}

/** Split an expression into its five fields, or throw a CronSyntaxError saying what is wrong. */
export function splitCron(expression: string): [string, string, string, string, string] {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) throw new CronSyntaxError(expression, `expected 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}`);
  fields.forEach((f, i) => {
    if (!FIELD_SYNTAX.test(f)) throw new CronSyntaxError(expression, `the ${FIELD_NAMES[i]} field "${f}" has characters cron does not use`);
  });
  return fields as [string, string, string, string, string];
}

/** Replace one field; the other four are kept as they are. */
export function spliceIntoPosition(expression: string, position: CronPosition, value: string | number): string {
  const fields = splitCron(expression);
  fields[position - 1] = String(value);
  return fields.join(' ');
}

/**
 * A fixed-time expression names its minutes and hours without a wildcard ("30 2 * * *", "15 1-5 * * *").
 * An interval expression has "*" in its minute or hour field ("*\/5 * * * *", "0 * * * *"). The DST
 * policy treats them differently (see due.ts), the way Vixie cron does.
 */
export function isFixedTime(expression: string): boolean {
  const [minute, hour] = splitCron(expression);
  return !minute.includes('*') && !hour.includes('*') && !minute.includes('?') && !hour.includes('?');
}

/**
 * The values a minute (max 59) or hour (max 23) field can take, or null when the field uses syntax this
 * cheap reader does not model (H, names, L…): callers must then assume "any value".
 */
export function fieldValues(field: string, max: number): Set<number> | null {
  const out = new Set<number>();
  for (const part of field.split(',')) {
    const m = /^(\*|\d+|\d+-\d+)(?:\/(\d+))?$/.exec(part);
    if (!m) return null;
    const [, range, stepText] = m;
    const step = stepText === undefined ? 1 : Number(stepText);
    if (step < 1) return null;
    let lo: number;
    let hi: number;
    if (range === '*') [lo, hi] = [0, max];
    else if (range!.includes('-')) [lo, hi] = range!.split('-').map(Number) as [number, number];
    else {
      lo = Number(range);
      // "5/15" means 5, 20, 35, 50 in cron-parser (start at 5, up to the maximum).
      hi = stepText === undefined ? lo : max;
    }
    if (lo > max || hi > max || lo > hi) return null;
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}
