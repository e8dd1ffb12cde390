/**
 * "Is this expression due at instant T in timezone Z?" and "when is it next due?".
 *
 * cron-parser is the authority on the fields: every match is asked of it. It is asked in *wall-clock
 * space*: the local date and time of T in Z (from Intl) are written as a UTC instant and matched with
 * cron-parser in UTC. That keeps the daylight-saving policy in one place, here, instead of in whatever a
 * library does with a local time that does not exist or exists twice.
 *
 * The DST policy (Vixie cron's, documented in docs/scheduler.md):
 *  - Interval tasks (a "*" in the minute or hour field: every minute, every five minutes, hourly…) follow
 *    real time. Skipped wall minutes do not run; repeated wall minutes run again (an hour really passed).
 *  - Fixed-time tasks (minute and hour both named: "30 2 * * *", "15 1-5 * * *") run once per wall time:
 *    a time skipped by the spring-forward gap runs at the first minute after the gap (once, however many
 *    of its times fell in the gap), and a time repeated by the fall-back runs only the first time.
 *
 * This module imports cron-parser (with luxon) and touches Intl, together ~50 ms at first use; the
 * start-up path only loads it when ./prefilter.ts cannot rule every task out.
 */
import { CronExpressionParser, type CronExpression } from 'cron-parser';
import { isFixedTime, splitCron } from './cron-fields.js';

export const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** DST shifts are at most 2 hours; looking 3 hours around an instant always sees the other side. */
const DST_REACH = 3 * HOUR;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formatters.set(tz, f);
  }
  return f;
}

/** Throw a clear error for a timezone name Intl does not know. */
export function assertTimezone(tz: string): void {
  try {
    formatter(tz);
  } catch {
    throw new RangeError(`Unknown timezone "${tz}" (use an IANA name such as "Europe/London" or "UTC")`);
  }
}

function intlWall(instant: number, tz: string): number {
  const parts = formatter(tz).formatToParts(new Date(instant));
  const n = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return Date.UTC(n('year'), n('month') - 1, n('day'), n('hour'), n('minute'), n('second'));
}

const QUARTER = 15 * MINUTE;
const offsets = new Map<string, number>();

/**
 * The UTC offset of `tz` at `instant`, in milliseconds (wall − instant). Every offset and every change of
 * offset in the IANA database falls on a quarter hour of UTC (a unit test checks all zones), so one Intl
 * lookup per zone and quarter hour is exact; the cache keeps nextDue() and schedule:list cheap.
 */
export function offsetAt(instant: number, tz: string): number {
  if (tz === 'UTC') return 0;
  const quarter = Math.floor(instant / QUARTER) * QUARTER;
  const key = `${tz}@${quarter}`;
  let off = offsets.get(key);
  if (off === undefined) {
    off = intlWall(quarter, tz) - quarter;
    if (offsets.size > 50_000) offsets.clear();
    offsets.set(key, off);
  }
  return off;
}

/** The wall-clock time of `instant` in `tz`, written as if it were a UTC instant (milliseconds). */
export function wallOf(instant: number, tz: string): number {
  return instant + offsetAt(instant, tz);
}

const parsed = new Map<string, CronExpression>();

function expressionOf(expr: string): CronExpression {
  let e = parsed.get(expr);
  if (!e) {
    splitCron(expr); // our own five-field check first: cron-parser would also accept six fields
    e = CronExpressionParser.parse(expr, { tz: 'UTC', currentDate: new Date(0) });
    parsed.set(expr, e);
  }
  return e;
}

/** Throw cron-parser's message when it rejects the expression (for load-time and list-time checks). */
export function assertExpression(expr: string): void {
  expressionOf(expr);
}

/** Does the wall-clock time `wall` (minute-aligned, UTC-encoded) match the expression? */
export function matchesWall(expr: string, wall: number): boolean {
  return expressionOf(expr).includesDate(new Date(wall));
}

/** The first wall-clock time strictly after `wall` that matches. */
export function nextWallMatch(expr: string, wall: number): number {
  const e = expressionOf(expr);
  e.reset(new Date(wall));
  return e.next().getTime();
}

/** True when `t` is the second occurrence of its wall time (inside the repeated hour of a fall-back). */
function isRepeatedWall(t: number, wall: number, tz: string): boolean {
  const before = t - DST_REACH;
  const shift = offsetAt(before, tz) - (wall - t);
  return shift > 0 && wallOf(t - shift, tz) === wall;
}

/** Is the task due at the minute-aligned instant `t` in timezone `tz` (DST policy above)? */
export function isDue(expr: string, t: number, tz = 'UTC'): boolean {
  if (tz === 'UTC') return matchesWall(expr, t);
  const wall = wallOf(t, tz);
  const fixed = isFixedTime(expr);
  if (matchesWall(expr, wall)) return !fixed || !isRepeatedWall(t, wall, tz);
  if (!fixed) return false;
  const previous = wallOf(t - MINUTE, tz);
  if (wall - previous <= MINUTE) return false; // no spring-forward gap ends at t
  return nextWallMatch(expr, previous) < wall; // a wall time inside the gap matched: run it now, once
}

/** The instants whose wall time is `wall` (0, 1 or 2 of them), earliest first. */
function instantsOfWall(wall: number, tz: string): number[] {
  const offsets = new Set([offsetAt(wall - DAY, tz), offsetAt(wall, tz), offsetAt(wall + DAY, tz)]);
  return [...new Set([...offsets].map((o) => wall - o))].filter((t) => wallOf(t, tz) === wall).sort((a, b) => a - b);
}

/** For a wall time inside a spring-forward gap: the first instant after the gap (the transition). */
function gapEnd(wall: number, tz: string): number {
  let hi = wall - offsetAt(wall - DAY, tz); // read with the offset before the gap: lands after it
  let lo = hi - DST_REACH;
  while (hi - lo > MINUTE) {
    const mid = lo + Math.floor((hi - lo) / 2 / MINUTE) * MINUTE;
    if (wallOf(mid, tz) > wall) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * The first minute-aligned instant strictly after `after` at which the task is due, or null when the
 * expression never matches again (cron-parser gives up on dates such as 30 February).
 */
export function nextDue(expr: string, after: number, tz = 'UTC'): number | null {
  try {
    if (tz === 'UTC') return nextWallMatch(expr, after);
    const fixed = isFixedTime(expr);
    // Wall-clock order equals instant order except within a few hours of a transition: only there must
    // the search start earlier (a repeated hour may still be ahead) and look past the first candidate.
    const calm = (t: number) => offsetAt(t - DST_REACH, tz) === offsetAt(t + DST_REACH, tz);
    let best = Infinity;
    let cursor = wallOf(after, tz) - (calm(after) ? 0 : DST_REACH);
    for (let i = 0; i < 2000; i++) {
      const wall = nextWallMatch(expr, cursor);
      if (best !== Infinity && (wall > wallOf(best, tz) + DST_REACH || calm(best))) break;
      const instants = instantsOfWall(wall, tz);
      const candidates = instants.length > 0 ? instants : fixed ? [gapEnd(wall, tz)] : [];
      for (const t of candidates) if (t > after && t < best && isDue(expr, t, tz)) best = t;
      cursor = wall;
    }
    return best === Infinity ? null : best;
  } catch (err) {
    // cron-parser throws when it runs out of matches (e.g. "0 0 30 2 *"); anything else is a real error.
    if (/Invalid explicit day of month|Out of the time span|exceeded|no match/i.test((err as Error).message)) return null;
    throw err;
  }
}

/** Minutes since local midnight of `instant` in `tz` (for between / unlessBetween). */
export function minuteOfDay(instant: number, tz: string): number {
  const wall = wallOf(instant, tz);
  return Math.floor((((wall % DAY) + DAY) % DAY) / MINUTE);
}
