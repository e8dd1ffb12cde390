import { describe, expect, it } from 'vitest';
import { isDue, nextDue, offsetAt, wallOf } from '../../src/kernel/due.js';
import { mayBeDue } from '../../src/kernel/prefilter.js';

const at = (iso: string) => Date.parse(iso);
const MIN = 60_000;
const due = (expr: string, iso: string, tz = 'UTC') => isDue(expr, at(iso), tz);
const next = (expr: string, iso: string, tz = 'UTC') => {
  const n = nextDue(expr, at(iso), tz);
  return n === null ? null : new Date(n).toISOString();
};

describe('due-ness in UTC', () => {
  it('matches the five fields at the given instant', () => {
    expect(due('* * * * *', '2026-11-27T10:37:00Z')).toBe(true);
    expect(due('0 * * * *', '2026-11-27T10:37:00Z')).toBe(false);
    expect(due('0 * * * *', '2026-11-27T10:00:00Z')).toBe(true);
    expect(due('*/7 * * * *', '2026-11-27T10:35:00Z')).toBe(true);
    expect(due('*/7 * * * *', '2026-11-27T10:36:00Z')).toBe(false);
    expect(due('0 4 * * *', '2026-11-27T04:00:00Z')).toBe(true);
    expect(due('* * * * 1-5', '2026-11-28T10:00:00Z')).toBe(false); // a Saturday
    expect(due('* * * * 7', '2026-11-29T10:00:00Z')).toBe(true); // 7 is Sunday too
    expect(due('0 15 L * *', '2026-02-28T15:00:00Z')).toBe(true);
    expect(due('0 0 1 1-12/3 *', '2026-04-01T00:00:00Z')).toBe(true);
    expect(due('0 0 1 1-12/3 *', '2026-05-01T00:00:00Z')).toBe(false);
  });

  it('finds the next due instant', () => {
    expect(next('*/5 * * * *', '2026-11-27T10:37:12Z')).toBe('2026-11-27T10:40:00.000Z');
    expect(next('15 * * * *', '2026-11-27T10:15:00Z')).toBe('2026-11-27T11:15:00.000Z');
    expect(next('0 0 1 1 *', '2026-11-27T10:00:00Z')).toBe('2027-01-01T00:00:00.000Z');
    expect(next('0 0 30 2 *', '2026-11-27T10:00:00Z')).toBeNull();
  });
});

describe('due-ness in another timezone', () => {
  it('reads the expression on the local wall clock', () => {
    // 09:00 in New York is 13:00 UTC in summer (EDT) and 14:00 UTC in winter (EST).
    expect(due('0 9 * * *', '2026-07-01T13:00:00Z', 'America/New_York')).toBe(true);
    expect(due('0 9 * * *', '2026-07-01T09:00:00Z', 'America/New_York')).toBe(false);
    expect(due('0 9 * * *', '2026-01-15T14:00:00Z', 'America/New_York')).toBe(true);
    // Kathmandu is UTC+05:45.
    expect(due('0 9 * * *', '2026-01-15T03:15:00Z', 'Asia/Kathmandu')).toBe(true);
    // Day of week is the local one: Monday 00:30 in Tokyo is Sunday 15:30 UTC.
    expect(due('30 0 * * 1', '2026-11-29T15:30:00Z', 'Asia/Tokyo')).toBe(true);
    expect(next('0 9 * * *', '2026-07-01T13:00:00Z', 'America/New_York')).toBe('2026-07-02T13:00:00.000Z');
  });
});

describe('daylight saving time', () => {
  // Europe/London 2026: clocks go 01:00 GMT → 02:00 BST on 29 March (01:00 UTC), 02:00 BST → 01:00 GMT on 25 October (01:00 UTC).
  const L = 'Europe/London';
  // America/New_York 2026: 02:00 EST → 03:00 EDT on 8 March (07:00 UTC), 02:00 EDT → 01:00 EST on 1 November (06:00 UTC).
  const NY = 'America/New_York';

  it('spring forward: a fixed time inside the gap runs once, at the first minute after it', () => {
    expect(due('30 1 * * *', '2026-03-29T01:00:00Z', L)).toBe(true); // 02:00 BST, the first minute after 01:00-02:00
    expect(due('30 1 * * *', '2026-03-29T00:30:00Z', L)).toBe(false); // 00:30 GMT
    expect(due('30 1 * * *', '2026-03-29T01:30:00Z', L)).toBe(false); // 02:30 BST
    expect(next('30 1 * * *', '2026-03-28T12:00:00Z', L)).toBe('2026-03-29T01:00:00.000Z');
    expect(next('30 1 * * *', '2026-03-29T01:00:00Z', L)).toBe('2026-03-30T00:30:00.000Z'); // 01:30 BST next day
    expect(due('30 2 * * *', '2026-03-08T07:00:00Z', NY)).toBe(true); // 03:00 EDT
    expect(due('0 2 * * *', '2026-03-29T01:00:00Z', L)).toBe(true); // 02:00 BST exists: it simply matches
    // Several fixed times inside the gap still run once.
    expect(due('0,15,30,45 1 * * *', '2026-03-29T01:00:00Z', L)).toBe(true);
    expect(due('0,15,30,45 1 * * *', '2026-03-29T01:15:00Z', L)).toBe(false);
  });

  it('spring forward: interval tasks follow real time (skipped wall minutes do not run)', () => {
    expect(due('30 * * * *', '2026-03-29T00:30:00Z', L)).toBe(true); // 00:30 GMT
    expect(due('30 * * * *', '2026-03-29T01:00:00Z', L)).toBe(false); // 02:00 BST
    expect(due('30 * * * *', '2026-03-29T01:30:00Z', L)).toBe(true); // 02:30 BST, one real hour later
    expect(next('30 * * * *', '2026-03-29T00:30:00Z', L)).toBe('2026-03-29T01:30:00.000Z');
  });

  it('fall back: a fixed time in the repeated hour runs only the first time', () => {
    expect(due('30 1 * * *', '2026-10-25T00:30:00Z', L)).toBe(true); // 01:30 BST
    expect(due('30 1 * * *', '2026-10-25T01:30:00Z', L)).toBe(false); // 01:30 GMT, the second time
    expect(next('30 1 * * *', '2026-10-24T12:00:00Z', L)).toBe('2026-10-25T00:30:00.000Z');
    expect(next('30 1 * * *', '2026-10-25T00:30:00Z', L)).toBe('2026-10-26T01:30:00.000Z');
    expect(due('30 1 * * *', '2026-11-01T05:30:00Z', NY)).toBe(true); // 01:30 EDT
    expect(due('30 1 * * *', '2026-11-01T06:30:00Z', NY)).toBe(false); // 01:30 EST
  });

  it('fall back: interval tasks run in both passes (an hour really passed)', () => {
    expect(due('30 * * * *', '2026-10-25T00:30:00Z', L)).toBe(true);
    expect(due('30 * * * *', '2026-10-25T01:30:00Z', L)).toBe(true);
    expect(due('*/15 * * * *', '2026-11-01T06:15:00Z', NY)).toBe(true);
    expect(next('30 * * * *', '2026-10-25T00:30:00Z', L)).toBe('2026-10-25T01:30:00.000Z');
  });

  it('agrees with itself: stepping nextDue visits exactly the minutes isDue accepts, around every transition', () => {
    const windows: Array<[string, string]> = [
      [L, '2026-03-29T01:00:00Z'],
      [L, '2026-10-25T01:00:00Z'],
      [NY, '2026-03-08T07:00:00Z'],
      [NY, '2026-11-01T06:00:00Z'],
      ['Australia/Lord_Howe', '2026-04-04T15:00:00Z'], // a 30-minute shift
      ['Australia/Lord_Howe', '2026-10-03T15:30:00Z'],
    ];
    const exprs = ['30 1 * * *', '30 2 * * *', '15 2 * * *', '45 1-3 * * *', '*/15 * * * *', '30 * * * *', '0 * * * *', '0 0 * * *', '*/7 * * * *'];
    for (const [tz, pivot] of windows) {
      const from = at(pivot) - 3 * 60 * MIN;
      const to = at(pivot) + 3 * 60 * MIN;
      for (const expr of exprs) {
        const brute: number[] = [];
        for (let t = from + MIN; t <= to; t += MIN) if (isDue(expr, t, tz)) brute.push(t);
        const stepped: number[] = [];
        for (let t = nextDue(expr, from, tz); t !== null && t <= to; t = nextDue(expr, t, tz)) stepped.push(t);
        expect(stepped, `${expr} in ${tz} around ${pivot}`).toEqual(brute);
        for (const t of brute) expect(mayBeDue({ expression: expr, zone: tz }, t), `prefilter ${expr} ${tz} ${new Date(t).toISOString()}`).toBe(true);
      }
    }
  });
});

describe('the start-up prefilter', () => {
  it('rules out hourly tasks at minute :37 without cron-parser, in UTC and other zones', () => {
    const slot = at('2026-11-27T10:37:00Z');
    expect(mayBeDue({ expression: '0 * * * *', zone: 'UTC' }, slot)).toBe(false);
    expect(mayBeDue({ expression: '15 */6 * * *', zone: 'UTC' }, slot)).toBe(false);
    expect(mayBeDue({ expression: '0 * * * *', zone: 'Europe/London' }, slot)).toBe(false);
    expect(mayBeDue({ expression: '7,27,47 * * * *', zone: 'UTC' }, slot)).toBe(false);
    expect(mayBeDue({ expression: '37 3 * * *', zone: 'UTC' }, slot)).toBe(false); // the hour is checked in UTC
    expect(mayBeDue({ expression: '37 3 * * *', zone: 'Asia/Kolkata' }, slot)).toBe(true); // not in other zones
    expect(mayBeDue({ expression: '52 * * * *', zone: 'Asia/Kathmandu' }, slot)).toBe(true); // 37 ≡ 52 (mod 15)
    expect(mayBeDue({ expression: '* * * * *', zone: 'UTC' }, slot)).toBe(true);
    expect(mayBeDue({ expression: 'H * * * *', zone: 'UTC' }, slot)).toBe(true); // unknown syntax: maybe
  });

  it('never rules out a task that is due (random expressions, zones and instants)', () => {
    const zones = ['UTC', 'Europe/London', 'America/New_York', 'Asia/Kolkata', 'Asia/Kathmandu', 'Australia/Lord_Howe', 'Pacific/Chatham', 'America/St_Johns'];
    const exprs = ['0 * * * *', '30 1 * * *', '*/5 * * * *', '15 1-5,7-11 * * *', '45 */6 * * *', '0 0 * * 0', '5/20 3 * * *', '0,30 * * * *', '*/7 2 * * *', '59 23 L * *'];
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let dueSeen = 0;
    for (let i = 0; i < 2000; i++) {
      const tz = zones[Math.floor(rand() * zones.length)]!;
      const expr = exprs[Math.floor(rand() * exprs.length)]!;
      const start = at('2026-01-01T00:00:00Z') + Math.floor(rand() * 365 * 24 * 60) * MIN;
      const t = nextDue(expr, start, tz)!; // a due instant, so the prefilter must let it through
      expect(isDue(expr, t, tz)).toBe(true);
      expect(mayBeDue({ expression: expr, zone: tz }, t), `${expr} ${tz} ${new Date(t).toISOString()}`).toBe(true);
      dueSeen++;
    }
    expect(dueSeen).toBe(2000);
  });

  it('rests on every IANA offset and transition being on a UTC quarter hour (2025-2030)', () => {
    const zones = Intl.supportedValuesOf('timeZone');
    expect(zones.length).toBeGreaterThan(300);
    const week = 7 * 24 * 60 * MIN;
    const problems: string[] = [];
    for (const tz of zones) {
      let t = at('2025-01-01T00:00:00Z');
      let prev = offsetAt(t, tz);
      for (t += week; t <= at('2031-01-01T00:00:00Z'); t += week) {
        const o = offsetAt(t, tz);
        if (o % (15 * MIN)) problems.push(`${tz} offset ${o / MIN} min`);
        if (o !== prev) {
          let lo = t - week;
          let hi = t;
          while (hi - lo > MIN) {
            const mid = lo + Math.floor((hi - lo) / 2 / MIN) * MIN;
            if (offsetAt(mid, tz) === prev) lo = mid;
            else hi = mid;
          }
          if (hi % (15 * MIN)) problems.push(`${tz} changes offset at ${new Date(hi).toISOString()}`);
        }
        prev = o;
      }
    }
    expect(problems).toEqual([]);
    expect(wallOf(at('2026-07-01T12:00:00Z'), 'Asia/Kathmandu')).toBe(at('2026-07-01T17:45:00Z'));
  });
});
