import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestContext, deletePrefix, type TestContext } from '../support/context.js';
import { deferred, drive, runsOf, testRunner } from '../support/kernel.js';
import { FakeClock } from '../../src/support/clock.js';
import { setMaintenance } from '../../src/support/box-flags.js';
import { Schedule } from '../../src/kernel/schedule.js';
import { interruptSchedule, pauseSchedule, resumeSchedule } from '../../src/kernel/state.js';
import { lockKey } from '../../src/kernel/redis-mutex.js';
import { MemoryEventMutex } from '../../src/kernel/mutex.js';
import { LockKeeper } from '../../src/kernel/runner.js';
import { createLogger, MemorySink } from '../../src/support/log.js';

let ctx: TestContext;

beforeAll(async () => {
  ctx = await createTestContext('kernel-runner');
});
afterAll(async () => {
  await ctx?.cleanup();
});
beforeEach(async () => {
  await ctx.db('schedule_runs').delete();
  await deletePrefix(ctx.redis, ctx.prefix);
});

const MINUTE = Date.parse('2026-11-27T10:37:00Z');

describe('schedule:run engine: due tasks, order, records', () => {
  it('runs every task due this minute in definition order and records each run', async () => {
    const s = new Schedule();
    const ran: string[] = [];
    s.call('first', () => void ran.push('first')).everyMinute();
    s.call('hourly', () => void ran.push('hourly')).hourly(); // not due at :37
    s.call('second', () => void ran.push('second')).cron('37 10 * * *');
    s.call('third', () => void ran.push('third')).everyFiveMinutes(); // 37 is not a multiple of 5
    s.call('fourth', () => void ran.push('fourth')).cron('*/37 * * * *');
    const t = testRunner(ctx, s.validate());
    const summary = await drive(t.clock, t.runner.runMinute());
    expect(ran).toEqual(['first', 'second', 'fourth']);
    expect(summary).toMatchObject({ slot: '2026-11-27T10:37:00.000Z', due: 3, failed: 0, interrupted: false });
    const rows = await runsOf(ctx.db);
    expect(rows.map((r) => [r.task_id, Number(r.exit_code), r.host, Number(r.pid), r.skipped_reason])).toEqual([
      ['first', 0, 'test-host', 4242, null],
      ['second', 0, 'test-host', 4242, null],
      ['fourth', 0, 'test-host', 4242, null],
    ]);
    expect(rows.every((r) => r.finished_at !== null)).toBe(true);
    // One structured log line per run.
    const lines = t.logs.records().filter((l) => l.msg === 'task finished');
    expect(lines.map((l) => l.task)).toEqual(['first', 'second', 'fourth']);
    expect(lines[0]).toMatchObject({ slot: '2026-11-27T10:37Z', host: 'test-host', pid: 4242, exit_code: 0, status: 'ok' });
    expect(typeof lines[0]!.duration_ms).toBe('number');
    await t.close();
  });

  it('isolates failures: a throwing task, a missing command, exit codes, a bad flag, process.exit; the rest still runs', async () => {
    const s = new Schedule();
    s.call('throws', () => {
      throw new Error('boom');
    });
    s.command('kraite:does-not-exist --x');
    s.exec(process.execPath, ['-e', 'console.log("from exec"); process.exit(3)']);
    s.command('migrate:status --bogus');
    s.call('exits', () => process.exit(5));
    s.call('returns-code', () => 4);
    s.command('help schedule:run');
    s.call('last', () => console.log('still here'));
    const before = process.exitCode;
    const t = testRunner(ctx, s.validate());
    const summary = await drive(t.clock, t.runner.runMinute());
    expect(process.exitCode).toBe(before);
    expect(summary.failed).toBe(6);
    const rows = await runsOf(ctx.db);
    expect(rows.map((r) => [r.task_id, Number(r.exit_code)])).toEqual([
      ['throws', 1],
      ['kraite:does-not-exist --x', 127],
      [`exec ${process.execPath} -e 'console.log("from exec"); process.exit(3)'`, 3],
      ['migrate:status --bogus', 2],
      ['exits', 5],
      ['returns-code', 4],
      ['help schedule:run', 0],
      ['last', 0],
    ]);
    const tail = (id: string) => String(rows.find((r) => r.task_id === id)!.output_tail);
    expect(tail('throws')).toContain('Error: boom');
    expect(tail('kraite:does-not-exist --x')).toBe('Command "kraite:does-not-exist" is not defined.\n');
    expect(rows[2]!.output_tail).toContain('from exec');
    expect(tail('migrate:status --bogus')).toContain('Nonexistent flag: --bogus');
    expect(tail('exits')).toContain('process.exit(5)');
    expect(tail('help schedule:run')).toContain('USAGE');
    expect(tail('last')).toBe('still here\n');
    await t.close();
  });
});

describe('a task the libraries reject', () => {
  it('fails alone, every minute, with the reason; the others run', async () => {
    const s = new Schedule();
    s.call('bad-zone', () => undefined).timezone('Mars/Base');
    s.call('bad-minute', () => undefined).cron('61 * * * *');
    s.call('fine', () => undefined);
    const t = testRunner(ctx, s.validate());
    const summary = await drive(t.clock, t.runner.runMinute());
    expect(summary.outcomes.map((o) => [o.task, o.status])).toEqual([
      ['bad-zone', 'failed'],
      ['bad-minute', 'failed'],
      ['fine', 'ok'],
    ]);
    const rows = await runsOf(ctx.db);
    expect(String(rows[0]!.output_tail)).toMatch(/Cannot evaluate "\* \* \* \* \*" in Mars\/Base: .*Mars\/Base/);
    expect(String(rows[1]!.output_tail)).toContain('Constraint error');
    await t.close();
  });
});

describe('withoutOverlapping', () => {
  for (const locks of ['memory', 'redis'] as const) {
    it(`skips and records a run while the previous one holds the lock, then runs again (${locks} lock)`, async () => {
      const s = new Schedule();
      const gate = deferred();
      let runs = 0;
      s.call('slow', async () => {
        runs++;
        await gate.promise;
      }).withoutOverlapping(5);
      const t = testRunner(ctx, s.validate(), { locks });
      const task = s.find('slow')!;
      const first = t.runner.runTask(task, MINUTE);
      await expect.poll(() => runs).toBe(1);
      expect(await t.eventMutex.holder('slow')).toMatchObject({ host: 'test-host', pid: 4242 });
      if (locks === 'redis') expect(await ctx.redis.exists(lockKey(ctx.prefix, 'slow'))).toBe(1);
      const second = await t.runner.runTask(task, MINUTE + 60_000);
      expect(second).toMatchObject({ status: 'skipped', skipped_reason: 'overlapping' });
      gate.resolve();
      expect(await first).toMatchObject({ status: 'ok' });
      expect(await t.eventMutex.holder('slow')).toBeNull();
      expect(await t.runner.runTask(task, MINUTE + 120_000)).toMatchObject({ status: 'ok' });
      const rows = await runsOf(ctx.db, 'slow');
      expect(rows.map((r) => [r.skipped_reason, r.exit_code === null ? null : Number(r.exit_code)])).toEqual([
        [null, 0],
        ['overlapping', null],
        [null, 0],
      ]);
      await t.close();
    });
  }

  it('renews a short lease while the task runs, and stops at the task expiry so a hung run cannot hold it forever', async () => {
    const clock = new FakeClock(MINUTE);
    const mutex = new MemoryEventMutex(clock);
    const sink = new MemorySink();
    const lock = (await mutex.acquire('hung', { host: 'h', pid: 1, since: new Date(MINUTE).toISOString() }, 30_000, MINUTE + 2 * 60_000))!;
    const keeper = new LockKeeper(mutex, clock, lock, createLogger('t', {}, sink)).start();
    await clock.advance(100_000); // well past one lease: renewed every 10 s
    expect(await mutex.holder('hung')).not.toBeNull();
    await clock.advance(30_000); // 130 s: past the 2-minute expiry; the last renewal was capped at 120 s
    expect(await mutex.holder('hung')).toBeNull();
    expect(sink.records().some((r) => String(r.msg).includes('no longer renewed'))).toBe(true);
    await keeper.stop();
  });

  it('frees the lock of a crashed run within its lease (nobody renews it)', async () => {
    const clock = new FakeClock(MINUTE);
    const mutex = new MemoryEventMutex(clock);
    await mutex.acquire('crashed', { host: 'h', pid: 1, since: '' }, 30_000, MINUTE + 3_600_000);
    await clock.advance(29_999);
    expect(await mutex.holder('crashed')).not.toBeNull();
    await clock.advance(1);
    expect(await mutex.holder('crashed')).toBeNull();
  });
});

describe('sub-minute tasks', () => {
  it('fire an everyFiveSeconds task 12 times in the minute, on the right seconds, and end with the minute', async () => {
    const s = new Schedule();
    const fired: number[] = [];
    const t = testRunner(ctx, s);
    s.call('tick', () => void fired.push(t.clock.now())).everyFiveSeconds();
    s.call('quarter', () => undefined).everyFifteenSeconds();
    const summary = await drive(t.clock, t.runner.runMinute());
    expect(fired.map((ms) => (ms - MINUTE) / 1000)).toEqual([0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55]);
    expect(summary.outcomes.filter((o) => o.task === 'quarter')).toHaveLength(4);
    expect(summary.interrupted).toBe(false);
    expect(t.clock.now()).toBe(MINUTE + 59_000); // it stays until the minute ends
    const rows = await runsOf(ctx.db, 'tick');
    expect(rows).toHaveLength(12);
    expect(new Date(Number(rows[3]!.slot) || String(rows[3]!.slot)).toISOString()).toBe('2026-11-27T10:37:15.000Z');
    await t.close();
  });

  it('skip the boundaries a slow run missed instead of drifting', async () => {
    const s = new Schedule();
    const fired: number[] = [];
    const t = testRunner(ctx, s);
    s.call('slow-tick', async () => {
      fired.push((t.clock.now() - MINUTE) / 1000);
      if (fired.length === 1) await t.clock.sleep(7_000);
    }).everyFiveSeconds();
    await drive(t.clock, t.runner.runMinute());
    expect(fired).toEqual([0, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55]);
    await t.close();
  });

  it('stop when schedule:interrupt is set for this minute', async () => {
    const s = new Schedule();
    const fired: number[] = [];
    const t = testRunner(ctx, s);
    let interrupted = false;
    s.call('tick', async () => {
      fired.push((t.clock.now() - MINUTE) / 1000);
      if (fired.length === 3 && !interrupted) {
        interrupted = true;
        await interruptSchedule(ctx.redis, ctx.prefix, t.clock.now());
      }
    }).everyFiveSeconds();
    const summary = await drive(t.clock, t.runner.runMinute());
    expect(fired).toEqual([0, 5, 10]);
    expect(summary.interrupted).toBe(true);
    expect(t.clock.now()).toBe(MINUTE + 15_000);
    // An interrupt names its minute: the next minute's run is not affected.
    t.clock.set(MINUTE + 60_000);
    fired.length = 0;
    await drive(t.clock, t.runner.runMinute());
    expect(fired).toHaveLength(12);
    await t.close();
  });
});

describe('maintenance and pause', () => {
  it('while the box is down, runs only evenInMaintenanceMode tasks and records the others as skipped', async () => {
    const s = new Schedule();
    const ran: string[] = [];
    s.call('normal', () => void ran.push('normal'));
    s.call('health', () => void ran.push('health')).evenInMaintenanceMode();
    const t = testRunner(ctx, s);
    await setMaintenance(ctx.redis, ctx.prefix, { since: new Date().toISOString(), reason: 'deploy' });
    await drive(t.clock, t.runner.runMinute());
    expect(ran).toEqual(['health']);
    expect((await runsOf(ctx.db, 'normal')).map((r) => r.skipped_reason)).toEqual(['maintenance']);
    await setMaintenance(ctx.redis, ctx.prefix, null);
    t.clock.set(MINUTE + 60_000);
    await drive(t.clock, t.runner.runMinute());
    expect(ran).toEqual(['health', 'normal', 'health']);
    await t.close();
  });

  it('while paused, runs only evenWhenPaused tasks; resume brings the rest back', async () => {
    const s = new Schedule();
    const ran: string[] = [];
    s.call('normal', () => void ran.push('normal'));
    s.call('always', () => void ran.push('always')).evenWhenPaused();
    const t = testRunner(ctx, s);
    await pauseSchedule(ctx.redis, ctx.prefix, { since: new Date().toISOString(), reason: 'test', host: 'h' });
    await drive(t.clock, t.runner.runMinute());
    expect(ran).toEqual(['always']);
    expect((await runsOf(ctx.db, 'normal')).map((r) => r.skipped_reason)).toEqual(['paused']);
    expect(await resumeSchedule(ctx.redis, ctx.prefix)).toMatchObject({ reason: 'test' });
    expect(await resumeSchedule(ctx.redis, ctx.prefix)).toBeNull();
    t.clock.set(MINUTE + 60_000);
    await drive(t.clock, t.runner.runMinute());
    expect(ran).toEqual(['always', 'normal', 'always']);
    await t.close();
  });
});

describe('constraints', () => {
  it('applies when, skip, between, unlessBetween, timezone and environments', async () => {
    const s = new Schedule();
    const ran: string[] = [];
    const mark = (id: string) => s.call(id, () => void ran.push(id));
    mark('when-true').when(() => true);
    mark('when-false').when(async () => false);
    mark('skip-true').skip(true);
    mark('between-in').between('10:00', '11:00');
    mark('between-out').between('22:00', '23:00');
    mark('wrapping-window').between('23:00', '11:00'); // wraps midnight: 10:37 is inside
    mark('unless-in').unlessBetween('10:30', '10:45');
    mark('london-between').timezone('Europe/London').between('10:30', '10:40'); // 10:37 GMT in November
    mark('tokyo-between').timezone('Asia/Tokyo').between('10:30', '10:40'); // 19:37 in Tokyo
    mark('production-only').environments(['production']);
    mark('testing-only').environments(['testing']);
    const t = testRunner(ctx, s.validate());
    const summary = await drive(t.clock, t.runner.runMinute());
    expect(ran).toEqual(['when-true', 'between-in', 'wrapping-window', 'london-between', 'testing-only']);
    expect(summary.outcomes.filter((o) => o.status === 'filtered').map((o) => o.task)).toEqual(['when-false', 'skip-true', 'between-out', 'unless-in', 'tokyo-between']);
    // Filtered tasks are not recorded; environments make a task not due at all.
    expect((await runsOf(ctx.db)).map((r) => r.task_id)).toEqual(['when-true', 'between-in', 'wrapping-window', 'london-between', 'testing-only']);
    await t.close();
  });

  it('asks the cooling-down gate only when a task under it could be due', async () => {
    let asked = 0;
    const gate = { name: 'not-cooling-down', isOpen: async () => (asked++, false) };
    const s = new Schedule();
    s.call('open', () => undefined);
    s.registeredWhen(gate, () => s.call('gated-hourly', () => undefined).hourly());
    const t = testRunner(ctx, s);
    await drive(t.clock, t.runner.runMinute());
    expect(asked).toBe(0); // 10:37: the hourly task cannot be due, so the flag is never read
    const s2 = new Schedule();
    s2.registeredWhen(gate, () => s2.call('gated-minute', () => undefined));
    const t2 = testRunner(ctx, s2);
    const summary = await drive(t2.clock, t2.runner.runMinute());
    expect(asked).toBe(1);
    expect(summary.due).toBe(0);
    await t.close();
    await t2.close();
  });
});

describe('onOneServer', () => {
  it('lets the first server claim (task, minute) and records the other as skipped', async () => {
    const s = new Schedule();
    let runs = 0;
    s.call('once', () => void runs++).onOneServer();
    const a = testRunner(ctx, s, { locks: 'redis', host: 'box-a' });
    const b = testRunner(ctx, s, { locks: 'redis', host: 'box-b' });
    const [ra, rb] = await Promise.all([drive(a.clock, a.runner.runMinute()), drive(b.clock, b.runner.runMinute())]);
    expect(runs).toBe(1);
    expect([ra.outcomes[0]!.status, rb.outcomes[0]!.status].sort()).toEqual(['ok', 'skipped']);
    expect((await runsOf(ctx.db)).map((r) => r.skipped_reason ?? 'ran').sort()).toEqual(['other-server', 'ran']);
    // The next minute is a new slot.
    a.clock.set(MINUTE + 60_000);
    await drive(a.clock, a.runner.runMinute());
    expect(runs).toBe(2);
    await a.close();
    await b.close();
  });
});

describe('jobs, hooks and output files', () => {
  it('enqueues a BullMQ job through the QueueFactory', async () => {
    const s = new Schedule();
    s.job('RefreshSymbols', { full: true }, { queue: 'cronjobs' });
    const t = testRunner(ctx, s);
    const summary = await drive(t.clock, t.runner.runMinute());
    expect(summary.outcomes[0]).toMatchObject({ task: 'job RefreshSymbols', status: 'ok' });
    const { QueueFactory } = await import('../../src/queue/queues.js');
    const qf = new QueueFactory({ prefix: ctx.prefix, connection: ctx.redis });
    const jobs = await (await qf.queue('cronjobs')).getJobs(['waiting']);
    expect(jobs.map((j) => [j.name, j.data])).toEqual([['RefreshSymbols', { full: true }]]);
    await qf.close();
    await t.close();
  });

  it('runs before, after, onSuccess and onFailure hooks, survives a throwing hook, and writes output files', async () => {
    const dir = path.join(ctx.env.STORAGE_PATH!, 'out');
    const events: string[] = [];
    const s = new Schedule();
    s.call('good', () => console.log('good output'))
      .before(() => void events.push('before good'))
      .after((r) => void events.push(`after good ${r.exitCode}`))
      .onSuccess((r) => void events.push(`success good ${r.output.trim()}`))
      .onFailure(() => void events.push('failure good'))
      .after(() => {
        throw new Error('hook broke');
      })
      .sendOutputTo(path.join(dir, 'good.log'));
    s.call('bad', () => 9)
      .onSuccess(() => void events.push('success bad'))
      .onFailure((r) => void events.push(`failure bad ${r.exitCode}`))
      .appendOutputTo(path.join(dir, 'bad.log'));
    const t = testRunner(ctx, s);
    await drive(t.clock, t.runner.runMinute());
    t.clock.set(MINUTE + 60_000);
    await drive(t.clock, t.runner.runMinute());
    expect(events.slice(0, 4)).toEqual(['before good', 'after good 0', 'success good good output', 'failure bad 9']);
    expect(fs.readFileSync(path.join(dir, 'good.log'), 'utf8')).toBe('good output\n');
    expect(fs.existsSync(path.join(dir, 'bad.log'))).toBe(true);
    expect(t.logs.records().filter((r) => r.msg === 'a task hook threw')).toHaveLength(2);
    expect((await runsOf(ctx.db, 'good')).map((r) => Number(r.exit_code))).toEqual([0, 0]);
    await t.close();
  });
});
