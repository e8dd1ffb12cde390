/**
 * Frequency helpers as pure functions: each takes a five-field cron string and returns a new one, changing
 * only the fields it names (Laravel's ManagesFrequencies, same names and same strings). They know nothing
 * about time; ./due.ts decides whether an expression is due at an instant.
 */
import { CronSyntaxError, spliceIntoPosition as splice, splitCron } from './cron-fields.js';

export type DayOfWeek = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7;
export const SUNDAY = 0, MONDAY = 1, TUESDAY = 2, WEDNESDAY = 3, THURSDAY = 4, FRIDAY = 5, SATURDAY = 6;

/** Parse "13:00" / "9:05" / "7" into [hour, minute], or throw a message naming the bad value. */
export function parseTime(time: string): [number, number] {
  const m = /^(\d{1,2})(?::(\d{1,2}))?$/.exec(time.trim());
  const hour = m ? Number(m[1]) : NaN;
  const minute = m?.[2] === undefined ? 0 : Number(m[2]);
  if (!m || hour > 23 || minute > 59) throw new CronSyntaxError(time, 'a time must look like "13:00" (hours 0-23, minutes 0-59)');
  return [hour, minute];
}

function list(values: Array<number | string>): string {
  if (values.length === 0) throw new CronSyntaxError('', 'an empty list of values');
  return values.join(',');
}

/** Validate and normalise a raw five-field expression (single spaces). */
export function cron(_current: string, expression: string): string {
  return splitCron(expression).join(' ');
}

export const everyMinute = (e: string) => splice(e, 1, '*');
export const everyTwoMinutes = (e: string) => splice(e, 1, '*/2');
export const everyThreeMinutes = (e: string) => splice(e, 1, '*/3');
export const everyFourMinutes = (e: string) => splice(e, 1, '*/4');
export const everyFiveMinutes = (e: string) => splice(e, 1, '*/5');
export const everyTenMinutes = (e: string) => splice(e, 1, '*/10');
export const everyFifteenMinutes = (e: string) => splice(e, 1, '*/15');
export const everyThirtyMinutes = (e: string) => splice(e, 1, '0,30');

export const hourly = (e: string) => splice(e, 1, 0);
export const hourlyAt = (e: string, minutes: number | number[]) => splice(e, 1, list(([] as number[]).concat(minutes).map(checkMinute)));
const hourStep = (step: string) => (e: string, minute = 0) => splice(splice(e, 1, checkMinute(minute)), 2, step);
export const everyOddHour = hourStep('1-23/2');
export const everyTwoHours = hourStep('*/2');
export const everyThreeHours = hourStep('*/3');
export const everyFourHours = hourStep('*/4');
export const everySixHours = hourStep('*/6');

function checkMinute(m: number): number {
  if (!Number.isInteger(m) || m < 0 || m > 59) throw new CronSyntaxError(String(m), 'a minute must be 0-59');
  return m;
}

function hourBased(e: string, minute: number | string, hours: number | string): string {
  return splice(splice(e, 1, minute), 2, hours);
}

export const daily = (e: string) => hourBased(e, 0, 0);
export const dailyAt = (e: string, time: string) => {
  const [h, m] = parseTime(time);
  return hourBased(e, m, h);
};
export const at = dailyAt;
export const twiceDaily = (e: string, first = 1, second = 13) => twiceDailyAt(e, first, second, 0);
export const twiceDailyAt = (e: string, first = 1, second = 13, minute = 0) => {
  parseTime(`${first}:${minute}`);
  parseTime(`${second}:${minute}`);
  return hourBased(e, minute, `${first},${second}`);
};

export const days = (e: string, d: number | string | Array<number | string>) => splice(e, 5, list(([] as Array<number | string>).concat(d)));
export const weekdays = (e: string) => days(e, '1-5');
export const weekends = (e: string) => days(e, '6,0');
export const sundays = (e: string) => days(e, SUNDAY);
export const mondays = (e: string) => days(e, MONDAY);
export const tuesdays = (e: string) => days(e, TUESDAY);
export const wednesdays = (e: string) => days(e, WEDNESDAY);
export const thursdays = (e: string) => days(e, THURSDAY);
export const fridays = (e: string) => days(e, FRIDAY);
export const saturdays = (e: string) => days(e, SATURDAY);

export const weekly = (e: string) => splice(hourBased(e, 0, 0), 5, 0);
export const weeklyOn = (e: string, dayOfWeek: number | number[], time = '0:0') => days(dailyAt(e, time), dayOfWeek);

export const monthly = (e: string) => splice(hourBased(e, 0, 0), 3, 1);
export const monthlyOn = (e: string, dayOfMonth = 1, time = '0:0') => splice(dailyAt(e, time), 3, dayOfMonth);
export const twiceMonthly = (e: string, first = 1, second = 16, time = '0:0') => splice(dailyAt(e, time), 3, `${first},${second}`);
/** cron-parser understands "L" (the last day of the month), so the expression stays one string. */
export const lastDayOfMonth = (e: string, time = '0:0') => splice(dailyAt(e, time), 3, 'L');
export const daysOfMonth = (e: string, d: number | number[]) => splice(e, 3, list(([] as number[]).concat(d)));

export const quarterly = (e: string) => splice(splice(hourBased(e, 0, 0), 3, 1), 4, '1-12/3');
export const quarterlyOn = (e: string, dayOfQuarter = 1, time = '0:0') => splice(splice(dailyAt(e, time), 3, dayOfQuarter), 4, '1-12/3');
export const yearly = (e: string) => splice(splice(hourBased(e, 0, 0), 3, 1), 4, 1);
export const yearlyOn = (e: string, month = 1, dayOfMonth = 1, time = '0:0') => splice(splice(dailyAt(e, time), 3, dayOfMonth), 4, month);

/**
 * Sub-minute tasks run every minute and repeat inside it every `seconds`, which must divide 60 so the
 * firings line up with the minute (1, 2, 3, 4, 5, 6, 10, 12, 15, 20 or 30). Returns the seconds.
 */
export function repeatSeconds(seconds: number): number {
  if (!Number.isInteger(seconds) || seconds < 1 || seconds >= 60 || 60 % seconds !== 0) {
    throw new CronSyntaxError(`${seconds}s`, 'sub-minute tasks repeat every 1, 2, 3, 4, 5, 6, 10, 12, 15, 20 or 30 seconds');
  }
  return seconds;
}
