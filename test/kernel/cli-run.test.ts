/**
 * schedule:run as crontab runs it: real `bin/artisan` processes against the test context's Redis and DB.
 * Each process runs "as of" a fixed instant (hidden --at flag), so concurrent processes share a slot.
 */
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ARTISAN, ROOT, createTestContext, deletePrefix, type TestContext } from '../support/context.js';
import { artisan, childEnv } from '../support/artisan.js';
import { runsOf } from '../support/kernel.js';
import { lockKey } from '../../src/kernel/redis-mutex.js';

let ctx: TestContext;
const children: ResultPromise[] = [];

beforeAll(async () => {
  ctx = await createTestContext('kernel-cli-run');
});
afterAll(async () => {
  await ctx?.cleanup();
});
beforeEach(async () => {
  await ctx.db('schedule_runs').delete();
  await deletePrefix(ctx.redis, ctx.prefix);
});
afterEach(async () => {
  for (const c of children.splice(0)) {
    c.kill('SIGKILL');
    await c.catch(() => undefined); // the kill makes it reject; we only wait for it to be gone
  }
});

const fixture = (name: string) => path.join(ROOT, 'test', 'fixtures', 'schedules', `${name}.mjs`);
const AT = '--at=2026-11-27T10:37:00Z';
const env = (extra: Record<string, string> = {}) => ({ ...ctx.env, ...extra });
const key = (...parts: string[]) => [ctx.prefix, ...parts].join(':');

function spawnRun(extra: Record<string, string>, args: string[] = [AT]): ResultPromise {
  const child = execa('node', [ARTISAN, 'schedule:run', ...args], { cwd: ROOT, env: childEnv(env(extra)), extendEnv: false, reject: false });
  children.push(child);
  return child;
}

async function heartbeat(): Promise<Record<string, unknown>> {
  const keys = await ctx.redis.keys(key('heartbeat', 'scheduler', '*'));
  expect(keys).toHaveLength(1);
  return JSON.parse((await ctx.redis.get(keys[0]!))!) as Record<string, unknown>;
}

describe('schedule:run with nothing due', () => {
  it('says so, writes the scheduler heartbeat and exits 0; --whisper is quiet; --json gives one document', async () => {
    const e = env({ SCHEDULE_MODULE: 'bench/fixtures/hourly-schedule.mjs' });
    const r = await artisan(['schedule:run', AT], e);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('No scheduled commands are ready to run.');
    expect(r.stderr).toBe('');
    const beat = await heartbeat();
    expect(beat).toMatchObject({ daemon: 'scheduler', last_slot: '2026-11-27T10:37:00.000Z', tasks_due: 0, tasks_failed: 0 });
    expect(await ctx.redis.ttl(await ctx.redis.keys(key('heartbeat', 'scheduler', '*')).then((k) => k[0]!))).toBeGreaterThan(100);
    expect((await artisan(['schedule:run', '--whisper', AT], e)).stdout).toBe('');
    const j = await artisan(['schedule:run', AT, '--json'], e);
    expect(j.exitCode).toBe(0);
    expect(JSON.parse(j.stdout)).toEqual({ slot: '2026-11-27T10:37:00.000Z', due: 0, failed: 0, interrupted: false, outcomes: [] });
    expect(await runsOf(ctx.db)).toHaveLength(0);
  });

  it('rejects a bad --at with a usage error, and a broken schedule with exit 1', async () => {
    const bad = await artisan(['schedule:run', '--at=yesterday'], env());
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('--at expects an ISO date');
    const dup = await artisan(['schedule:run', AT], env({ SCHEDULE_MODULE: fixture('duplicate') }));
    expect(dup.exitCode).toBe(1);
    expect(dup.stderr).toContain('The schedule is invalid: Two or more tasks share the id "kraite:cron-sync-orders"');
    const missing = await artisan(['schedule:run', AT], env({ SCHEDULE_MODULE: 'nope/missing.mjs' }));
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain('Cannot load the schedule module nope/missing.mjs');
  });
});

describe('failure isolation', () => {
  it('records a failing task, a missing command and an exit code, runs the later tasks, and exits 0', async () => {
    const r = await artisan(['schedule:run', AT], env({ SCHEDULE_MODULE: fixture('isolation'), LOG_LEVEL: 'info' }));
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^ {2}2026-11-27 10:37:00 Running \[fails\] \.+ \d+ ms FAIL \(exit 1\)$/);
    expect(lines[1]).toMatch(/Running \[kraite:cron-does-not-exist --prefix=trading\] \.+ .* FAIL \(exit 127\)$/);
    expect(lines[2]).toMatch(/FAIL \(exit 3\)$/);
    expect(lines[3]).toMatch(/Running \[migrate:status --json\] \.+ .* DONE$/);
    expect(lines[4]).toMatch(/Running \[last\] \.+ .* DONE$/);
    const rows = await runsOf(ctx.db);
    expect(rows.map((x) => [x.task_id, Number(x.exit_code)])).toEqual([
      ['fails', 1],
      ['kraite:cron-does-not-exist --prefix=trading', 127],
      ['exits-3', 3],
      ['migrate:status --json', 0],
      ['last', 0],
    ]);
    expect(String(rows[1]!.output_tail)).toBe('Command "kraite:cron-does-not-exist" is not defined.\n');
    expect(JSON.parse(String(rows[3]!.output_tail)).migrations.length).toBeGreaterThan(0);
    expect(await ctx.redis.get(key('probe', 'last'))).toBe('ran');
    // One structured log line per run, on stderr.
    const logs = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logs.map((l) => [l.msg, l.task, l.exit_code])).toEqual([
      ['task failed', 'fails', 1],
      ['task failed', 'kraite:cron-does-not-exist --prefix=trading', 127],
      ['task failed', 'exits-3', 3],
      ['task finished', 'migrate:status --json', 0],
      ['task finished', 'last', 0],
    ]);
    expect(await heartbeat()).toMatchObject({ tasks_due: 5, tasks_failed: 3 });
  });
});

describe('tasks that leave trouble behind', () => {
  it('a stray promise rejection is logged and the run goes on; an interval left open does not keep the process alive', async () => {
    const r = await artisan(['schedule:run', AT], env({ SCHEDULE_MODULE: fixture('stray') }));
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l.endsWith('DONE'))).toHaveLength(3);
    expect(await ctx.redis.get(key('probe', 'after-stray'))).toBe('ran');
    const logs = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as { msg: string; err?: { message: string } });
    expect(logs.find((l) => l.msg === 'a task left an unhandled promise rejection')?.err?.message).toBe('stray rejection from a task');
    expect(logs.some((l) => l.msg.startsWith('tasks left handles open; exiting'))).toBe(true);
  });
});

describe('onOneServer across processes', () => {
  it('two schedule:run processes for the same minute against one Redis run the task exactly once', async () => {
    const e = { SCHEDULE_MODULE: fixture('one-server') };
    const pa = spawnRun(e);
    const pb = spawnRun(e);
    const [a, b] = await Promise.all([pa, pb]);
    expect([a.exitCode, b.exitCode]).toEqual([0, 0]);
    expect(await ctx.redis.get(key('probe', 'runs'))).toBe('1');
    const rows = await runsOf(ctx.db, 'probe');
    expect(rows.map((r) => r.skipped_reason ?? `exit ${r.exit_code}`).sort()).toEqual(['exit 0', 'other-server']);
    const ranIn = await ctx.redis.lrange(key('probe', 'pids'), 0, -1);
    expect(ranIn).toHaveLength(1);
    expect([pa.pid, pb.pid].map(String)).toContain(ranIn[0]);
    expect(`${a.stdout}\n${b.stdout}`).toContain('Skipping [probe]: already ran on another server');
    // The next minute is a new slot: one of the next pair runs it again.
    await Promise.all([spawnRun(e, ['--at=2026-11-27T10:38:00Z']), spawnRun(e, ['--at=2026-11-27T10:38:00Z'])]);
    expect(await ctx.redis.get(key('probe', 'runs'))).toBe('2');
  });
});

describe('withoutOverlapping across processes', () => {
  const waitForLock = async () => {
    await expect.poll(() => ctx.redis.exists(lockKey(ctx.prefix, 'long-task')), { timeout: 20_000, interval: 50 }).toBe(1);
  };

  it('skips and records a second run while the lock is held; shows the holder; clear-cache frees it at once', async () => {
    const first = spawnRun({ SCHEDULE_MODULE: fixture('long-lock') });
    await waitForLock();
    const holder = await ctx.redis.get(lockKey(ctx.prefix, 'long-task'));
    expect(JSON.parse(holder!.slice(holder!.indexOf('|') + 1))).toMatchObject({ pid: first.pid });

    const second = await artisan(['schedule:run', '--at=2026-11-27T10:38:00Z'], env({ SCHEDULE_MODULE: fixture('long-lock') }));
    expect(second.exitCode).toBe(0);
    expect(second.stdout).toContain('Skipping [long-task]: overlapping');
    expect((await runsOf(ctx.db, 'long-task')).map((r) => r.skipped_reason)).toEqual([null, 'overlapping']);

    const list = await artisan(['schedule:list', '--json'], env({ SCHEDULE_MODULE: fixture('long-lock') }));
    const listed = JSON.parse(list.stdout).tasks[0];
    expect(listed).toMatchObject({ has_mutex: true, lock_holder: { pid: first.pid }, last_run: { status: 'skipped', skipped_reason: 'overlapping' } });
    const text = await artisan(['schedule:list'], env({ SCHEDULE_MODULE: fixture('long-lock') }));
    expect(text.stdout).toMatch(new RegExp(`held by [^:]+:${first.pid} since \\d\\d:\\d\\d:\\d\\d`));

    const cleared = await artisan(['schedule:clear-cache'], env());
    expect(cleared.exitCode).toBe(0);
    expect(cleared.stdout).toMatch(new RegExp(`Cleared the lock of \\[long-task\\] \\(held by .+:${first.pid} since `));
    expect(await ctx.redis.exists(lockKey(ctx.prefix, 'long-task'))).toBe(0);
    expect((await artisan(['schedule:clear-cache'], env())).stdout).toBe('No overlap locks were held.');
  });

  it('a killed run frees its lock by itself within the lease', async () => {
    const run = spawnRun({ SCHEDULE_MODULE: fixture('long-lock'), TEST_LOCK_LEASE_MS: '1000' });
    await waitForLock();
    await expect.poll(() => ctx.redis.get(key('probe', 'started')), { timeout: 20_000 }).toBe(String(run.pid));
    run.kill('SIGKILL');
    await run;
    const ttl = await ctx.redis.pttl(lockKey(ctx.prefix, 'long-task'));
    expect(ttl).toBeLessThanOrEqual(1000); // nobody renews it any more
    await expect.poll(() => ctx.redis.exists(lockKey(ctx.prefix, 'long-task')), { timeout: 10_000, interval: 50 }).toBe(0);
    // The killed run's row stays unfinished: schedule:list shows it as "running" with no holder.
    expect((await runsOf(ctx.db, 'long-task'))[0]!.finished_at).toBeNull();
  });

  it('SIGTERM and SIGINT release the lock before the process exits', async () => {
    for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
      const run = spawnRun({ SCHEDULE_MODULE: fixture('long-lock') }); // 30 s lease: only a release frees it fast
      await waitForLock();
      await expect.poll(() => ctx.redis.get(key('probe', 'started')), { timeout: 20_000 }).toBe(String(run.pid));
      run.kill(signal);
      const done = await run;
      expect(done.exitCode).toBe(code);
      expect(await ctx.redis.exists(lockKey(ctx.prefix, 'long-task'))).toBe(0);
      await ctx.redis.del(key('probe', 'started'));
    }
  });
});

describe('runInBackground', () => {
  it('starts the task detached; the child records its own result, runs its hooks and releases its lock', async () => {
    const r = await artisan(['schedule:run', AT], env({ SCHEDULE_MODULE: fixture('background') }));
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/Running \[bg\] in the background \.+ STARTED/);
    await expect.poll(async () => (await runsOf(ctx.db, 'bg'))[0]?.finished_at ?? null, { timeout: 20_000, interval: 100 }).not.toBeNull();
    const [row] = await runsOf(ctx.db, 'bg');
    expect(Number(row!.exit_code)).toBe(0);
    expect(row!.output_tail).toBe('background work done\n');
    expect([true, 1, '1']).toContain(row!.background);
    const bgPid = await ctx.redis.get(key('probe', 'bg-pid'));
    expect(bgPid).not.toBeNull();
    expect(Number(row!.pid)).not.toBe(Number(bgPid)); // the row names the scheduler that started it
    await expect.poll(() => ctx.redis.get(key('probe', 'bg-after')), { timeout: 10_000 }).toBe('0');
    await expect.poll(() => ctx.redis.exists(lockKey(ctx.prefix, 'bg')), { timeout: 10_000 }).toBe(0);
  });
});
