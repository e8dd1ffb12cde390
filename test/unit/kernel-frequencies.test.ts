import { describe, expect, it } from 'vitest';
import * as f from '../../src/kernel/frequencies.js';
import { fieldValues, isFixedTime, spliceIntoPosition, splitCron } from '../../src/kernel/cron-fields.js';
import { Schedule } from '../../src/kernel/schedule.js';
import { splitArgs, Task } from '../../src/kernel/task.js';

const E = '* * * * *';

describe('frequency helpers (pure string rewrites)', () => {
  it('produce the expected cron strings', () => {
    const cases: Array<[string, string]> = [
      [f.everyMinute(E), '* * * * *'],
      [f.everyTwoMinutes(E), '*/2 * * * *'],
      [f.everyThreeMinutes(E), '*/3 * * * *'],
      [f.everyFourMinutes(E), '*/4 * * * *'],
      [f.everyFiveMinutes(E), '*/5 * * * *'],
      [f.everyTenMinutes(E), '*/10 * * * *'],
      [f.everyFifteenMinutes(E), '*/15 * * * *'],
      [f.everyThirtyMinutes(E), '0,30 * * * *'],
      [f.hourly(E), '0 * * * *'],
      [f.hourlyAt(E, 15), '15 * * * *'],
      [f.hourlyAt(E, [5, 35]), '5,35 * * * *'],
      [f.everyOddHour(E), '0 1-23/2 * * *'],
      [f.everyTwoHours(E, 7), '7 */2 * * *'],
      [f.everyThreeHours(E), '0 */3 * * *'],
      [f.everyFourHours(E), '0 */4 * * *'],
      [f.everySixHours(E, 15), '15 */6 * * *'],
      [f.daily(E), '0 0 * * *'],
      [f.dailyAt(E, '13:00'), '0 13 * * *'],
      [f.dailyAt(E, '4:05'), '5 4 * * *'],
      [f.dailyAt(E, '9'), '0 9 * * *'],
      [f.twiceDaily(E), '0 1,13 * * *'],
      [f.twiceDaily(E, 3, 15), '0 3,15 * * *'],
      [f.twiceDailyAt(E, 3, 15, 5), '5 3,15 * * *'],
      [f.weekly(E), '0 0 * * 0'],
      [f.weeklyOn(E, 1, '8:00'), '0 8 * * 1'],
      [f.weeklyOn(E, [1, 4], '8:30'), '30 8 * * 1,4'],
      [f.monthly(E), '0 0 1 * *'],
      [f.monthlyOn(E, 4, '15:00'), '0 15 4 * *'],
      [f.twiceMonthly(E, 1, 16, '13:00'), '0 13 1,16 * *'],
      [f.lastDayOfMonth(E, '15:00'), '0 15 L * *'],
      [f.daysOfMonth(E, [1, 10, 20]), '* * 1,10,20 * *'],
      [f.quarterly(E), '0 0 1 1-12/3 *'],
      [f.quarterlyOn(E, 4, '14:00'), '0 14 4 1-12/3 *'],
      [f.yearly(E), '0 0 1 1 *'],
      [f.yearlyOn(E, 6, 1, '17:00'), '0 17 1 6 *'],
      [f.weekdays(E), '* * * * 1-5'],
      [f.weekends(E), '* * * * 6,0'],
      [f.mondays(E), '* * * * 1'],
      [f.tuesdays(E), '* * * * 2'],
      [f.wednesdays(E), '* * * * 3'],
      [f.thursdays(E), '* * * * 4'],
      [f.fridays(E), '* * * * 5'],
      [f.saturdays(E), '* * * * 6'],
      [f.sundays(E), '* * * * 0'],
      [f.days(E, [0, 3]), '* * * * 0,3'],
      [f.cron(E, '  */7   * * *  * '), '*/7 * * * *'],
    ];
    for (const [got, want] of cases) expect(got).toBe(want);
  });

  it('compose through the fluent task API, only touching their own fields', () => {
    const t = () => new Task({ kind: 'command', target: 'x' });
    expect(t().weekdays().hourly().expression).toBe('0 * * * 1-5');
    expect(t().dailyAt('04:30').sundays().expression).toBe('30 4 * * 0');
    expect(t().everyFiveMinutes().weekends().expression).toBe('*/5 * * * 6,0');
    expect(t().cron('15 1-5,7-11 * * *').expression).toBe('15 1-5,7-11 * * *');
    expect(t().at('13:00').expression).toBe('0 13 * * *');
    const s = t().weekdays().everyFiveSeconds();
    expect([s.expression, s.repeatSeconds]).toEqual(['* * * * 1-5', 5]);
    const secs = ['everySecond', 'everyTwoSeconds', 'everyFiveSeconds', 'everyTenSeconds', 'everyFifteenSeconds', 'everyTwentySeconds', 'everyThirtySeconds'] as const;
    expect(secs.map((m) => t()[m]().repeatSeconds)).toEqual([1, 2, 5, 10, 15, 20, 30]);
    expect(t().everyTenSeconds().everyFiveMinutes().cron('*/5 * * * *').repeatSeconds).toBeNull();
  });

  it('reject malformed input with a message naming the problem', () => {
    expect(() => f.dailyAt(E, '25:00')).toThrow(/hours 0-23/);
    expect(() => f.dailyAt(E, 'noon')).toThrow(/"13:00"/);
    expect(() => f.hourlyAt(E, 60)).toThrow(/0-59/);
    expect(() => f.cron(E, '* * * *')).toThrow(/expected 5 fields/);
    expect(() => f.cron(E, '* * * * * *')).toThrow(/expected 5 fields/);
    expect(() => f.cron(E, '* * * * mon;rm')).toThrow(/day of week/);
    expect(() => f.repeatSeconds(7)).toThrow(/1, 2, 3/);
    expect(f.repeatSeconds(12)).toBe(12);
  });
});

describe('cron fields', () => {
  it('splits, splices and reads minute/hour sets', () => {
    expect(splitCron('0 4 * * 1')).toEqual(['0', '4', '*', '*', '1']);
    expect(spliceIntoPosition('* * * * *', 3, 'L')).toBe('* * L * *');
    expect([...fieldValues('*/15', 59)!]).toEqual([0, 15, 30, 45]);
    expect([...fieldValues('5/20', 59)!]).toEqual([5, 25, 45]);
    expect([...fieldValues('1-5,7-11/2', 23)!]).toEqual([1, 2, 3, 4, 5, 7, 9, 11]);
    expect(fieldValues('H', 59)).toBeNull();
    expect(fieldValues('70', 59)).toBeNull();
    expect(isFixedTime('30 2 * * *')).toBe(true);
    expect(isFixedTime('15 1-5,7-11 * * *')).toBe(true);
    expect(isFixedTime('0 * * * *')).toBe(false);
    expect(isFixedTime('*/5 3 * * *')).toBe(false);
  });

  it('splits command lines with quotes', () => {
    expect(splitArgs(`steps:purge --days=5 --note="two words" 'x y'`)).toEqual(['steps:purge', '--days=5', '--note=two words', 'x y']);
  });
});

describe('task ids and the schedule registry', () => {
  it('derives stable ids from the command and its arguments, or the name', () => {
    const s = new Schedule();
    expect(s.command('steps:purge --only-archive --days=5').id).toBe('steps:purge --only-archive --days=5');
    expect(s.command('steps:archive', ['--prefix=trading', '--note=a b']).id).toBe("steps:archive --prefix=trading '--note=a b'");
    expect(s.exec('/usr/bin/backup', ['--db']).id).toBe('exec /usr/bin/backup --db');
    expect(s.job('RefreshPrices', { all: true }, { queue: 'priority' }).id).toBe('job RefreshPrices');
    expect(s.call('prune', () => undefined).id).toBe('prune');
    expect(s.command('kraite:fleet-report').name('fleet').id).toBe('fleet');
    expect(() => s.validate()).not.toThrow();
  });

  it('refuses to load when two tasks share an id', () => {
    const s = new Schedule();
    s.command('kraite:cron-sync-orders').everyFiveMinutes();
    s.command('kraite:cron-sync-orders').hourly();
    s.call('a', () => undefined);
    s.call('a', () => undefined);
    expect(() => s.validate()).toThrow(/share the id "kraite:cron-sync-orders", "a".*->name/);
  });

  it('requires an expiry for withoutOverlapping and a function for call', () => {
    const s = new Schedule();
    expect(() => s.command('x').withoutOverlapping(undefined as unknown as number)).toThrow(/expiry in minutes/);
    expect(() => s.command('y').withoutOverlapping(0)).toThrow(/no default/);
    expect(() => s.call('z', 'nope' as unknown as () => void)).toThrow(/needs a function/);
    expect(() => s.call('w', () => undefined).inChildProcess()).toThrow(/command tasks/);
    expect(() => s.command('v').timezone('Not a zone!')).toThrow(/timezone name/);
  });

  it('applies group attributes first, then the task own calls', () => {
    const s = new Schedule();
    s.group((t) => t.dailyAt('03:00').onOneServer().withoutOverlapping(60), () => {
      s.command('a');
      s.command('b').dailyAt('03:30');
    });
    s.command('c');
    const [a, b, c] = s.tasks;
    expect([a!.expression, a!.oneServer, a!.overlapMinutes]).toEqual(['0 3 * * *', true, 60]);
    expect([b!.expression, b!.oneServer]).toEqual(['30 3 * * *', true]);
    expect([c!.expression, c!.oneServer, c!.overlapMinutes]).toEqual(['* * * * *', false, null]);
  });

  it('asks a registration gate lazily, once, and only for the tasks under it', async () => {
    const s = new Schedule();
    let asked = 0;
    const gate = { name: 'g', isOpen: async () => (asked++, false) };
    s.command('always');
    s.registeredWhen(gate, () => {
      s.command('gated-1');
      s.command('gated-2');
    });
    expect(asked).toBe(0);
    expect(await s.isRegistered(s.tasks[0]!)).toBe(true);
    expect(asked).toBe(0);
    expect((await s.registered()).map((t) => t.id)).toEqual(['always']);
    expect(await s.isRegistered(s.tasks[2]!)).toBe(false);
    expect(asked).toBe(1);
    expect(s.tasks.map((t) => t.gate)).toEqual([null, 'g', 'g']);
  });
});
