/**
 * Process care with real worker processes: kill -9 of a busy child (restart, in-flight job retried first,
 * nothing lost or applied twice), pause/continue through the Redis command list, a failing job through
 * failed_jobs and queue:retry, terminate while busy, and recycling after maxJobs and past the memory limit.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { artisan } from '../support/artisan.js';
import { readMasters, type MasterState } from '../../src/horizon/control.js';
import type { QueueFactory } from '../../src/queue/queues.js';
import { count, createRecorderTables, enqueueFrames, queueFactory, resetRecorder, startHorizon, troubles, until, writeHorizonConfig, type RunningHorizon } from './helpers.js';

let ctx: TestContext;
let queues: QueueFactory;
let horizon: RunningHorizon | null = null;

beforeAll(async () => {
  ctx = await createTestContext('horizon-care');
  await createRecorderTables(ctx.db);
  queues = queueFactory(ctx);
});
afterEach(async (t) => {
  if (t.task.result?.state === 'fail' && horizon) process.stderr.write(`--- horizon output (tail)\n${horizon.output().slice(-6000)}\n`);
  // A test that failed half-way must not leave the "broken" cause behind for the next one.
  await ctx.redis.del(`${ctx.prefix}:hztest:broken`);
});
afterAll(async () => {
  if (horizon) await horizon.stop();
  await queues?.close();
  await ctx?.cleanup();
});

const explain = async () => `applied ${await count(ctx.db, 'hz_log')}\n${troubles(horizon?.output() ?? '')}`;
const master = async (): Promise<MasterState | null> => (await readMasters(ctx.redis, ctx.prefix))[0] ?? null;
const sup = (m: MasterState | null, name: string) => m?.supervisors.find((s) => s.name === name) ?? null;

async function waitingTotal(names: string[]): Promise<{ wait: number; active: number }> {
  let wait = 0;
  let active = 0;
  for (const n of names) {
    const c = await (await queues.queue(n)).getJobCounts('wait', 'active', 'delayed');
    wait += (c.wait ?? 0) + (c.delayed ?? 0);
    active += c.active ?? 0;
  }
  return { wait, active };
}

const SHARDS = ['user-data-stream-0', 'user-data-stream-1', 'user-data-stream-2', 'user-data-stream-3', 'user-data-stream-4'];

async function fiveShardsHeld(): Promise<void> {
  await until('5 processes holding a shard each', async () => {
    const procs = sup(await master(), 'user-data')?.processes ?? [];
    return procs.length === 5 && procs.every((p) => (p.queues ?? []).length === 1);
  }, 90_000);
}

describe('horizon process care', () => {
  it('pause stops pickups, continue resumes; kill -9 of a busy child restarts it and retries its in-flight job first', async () => {
    const cfg = writeHorizonConfig(ctx, 'care', [{ name: 'user-data', only: true, processes: 5, retryAttempts: 2, retryBackoffMs: 50 }]);
    horizon = startHorizon(ctx, { HORIZON_CONFIG: cfg });
    await fiveShardsHeld();

    // --- pause / continue
    const total1 = await enqueueFrames(queues, 5, 50, 12, 1, { sleepMs: 25 });
    await until('some frames applied', async () => (await count(ctx.db, 'hz_log')) > 50);
    const paused = await artisan(['horizon:pause', '--json'], ctx.env);
    expect(paused.exitCode).toBe(0);
    expect(JSON.parse(paused.stdout)).toEqual({ sent: 'pause', host: '*' });
    // The master reads commands every 250 ms and tells its workers at once; wait (generously, the box is
    // shared) until every worker reports paused, then let the jobs in hand (25 ms) finish.
    await until('every worker paused', async () => {
      const procs = sup(await master(), 'user-data')?.processes ?? [];
      return procs.length === 5 && procs.every((p) => p.status === 'paused');
    }, 30_000);
    await new Promise((r) => setTimeout(r, 1000));
    const atPause = await count(ctx.db, 'hz_log');
    await new Promise((r) => setTimeout(r, 2500));
    expect(await count(ctx.db, 'hz_log')).toBe(atPause);
    expect(atPause).toBeLessThan(total1);
    await until('the state says paused', async () => (await master())?.status === 'paused', 5000);
    const st = await artisan(['horizon:status', '--json'], ctx.env);
    expect(JSON.parse(st.stdout).status).toBe('paused');
    expect((await artisan(['horizon:continue'], ctx.env)).exitCode).toBe(0);
    await until('running again', async () => (await count(ctx.db, 'hz_log')) > atPause, 10_000);
    await until('the state says running', async () => (await master())?.status === 'running', 5000);

    // --- kill -9 a busy child
    const before = sup(await master(), 'user-data')!;
    const victim = before.processes.find((p) => p.status === 'working') ?? before.processes[0]!;
    process.kill(victim.pid!, 'SIGKILL');
    await until('every frame applied', async () => (await count(ctx.db, 'hz_log')) >= total1, 120_000, 200, explain);
    await until('the killed child replaced', async () => {
      const s = sup(await master(), 'user-data');
      return !!s && s.processes.length === 5 && !s.processes.some((p) => p.pid === victim.pid) && (s.restarts ?? 0) >= 1;
    });
    expect(await count(ctx.db, 'hz_log')).toBe(total1);
    expect(await count(ctx.db, 'hz_violations')).toBe(0);
    // The in-flight job may have committed before the kill: then its retry is a no-op (idempotent), at most one.
    expect(await count(ctx.db, 'hz_dups')).toBeLessThanOrEqual(1);
    expect((await waitingTotal(SHARDS)).wait).toBe(0);
  }, 240_000);

  it('a job that fails every in-place attempt lands in queue:failed and succeeds through queue:retry once fixed', async () => {
    await resetRecorder(ctx.db);
    await ctx.redis.set(`${ctx.prefix}:hztest:broken`, '1');
    await (await queues.queue('user-data-stream-2')).add('ProcessUserDataEvent', { accountId: 7, seq: 1, payload: {}, receivedAt: Date.now(), apiSystem: 'binance' }, { attempts: 5, backoff: { type: 'fixed', delay: 10_000 } });
    let failed: { total: number; jobs: Array<{ uuid: string; queue: string; name: string; exception: string; payload: { accountId: number } }> } = { total: 0, jobs: [] };
    await until('the failure recorded', async () => {
      const r = await artisan(['queue:failed', '--json'], ctx.env);
      failed = JSON.parse(r.stdout);
      return failed.total === 1;
    }, 30_000, 300);
    expect(failed.jobs[0]).toMatchObject({ queue: 'user-data-stream-2', name: 'ProcessUserDataEvent', payload: { accountId: 7 } });
    expect(failed.jobs[0]!.exception).toContain('broken on purpose');
    // Later frames of the shard were not blocked forever: the failure was final after the in-place retries.
    const bad = await artisan(['queue:retry', 'not-an-id'], ctx.env);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('is not a failed job id');
    const missing = await artisan(['queue:retry', '00000000-0000-4000-8000-000000000000'], ctx.env);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain('No failed job');

    await ctx.redis.del(`${ctx.prefix}:hztest:broken`);
    const retry = await artisan(['queue:retry', failed.jobs[0]!.uuid, '--json'], ctx.env);
    expect(retry.exitCode).toBe(0);
    expect(JSON.parse(retry.stdout).retried[0]).toMatchObject({ uuid: failed.jobs[0]!.uuid, queue: 'user-data-stream-2' });
    await until('the retried job applied', async () => (await count(ctx.db, 'hz_log')) === 1, 30_000);
    expect(JSON.parse((await artisan(['queue:failed', '--json'], ctx.env)).stdout).total).toBe(0);
  }, 120_000);

  it('horizon:terminate --wait while busy: workers finish their job, the master exits 0, no job is lost', async () => {
    await resetRecorder(ctx.db);
    const total = await enqueueFrames(queues, 5, 20, 20, 1, { sleepMs: 100 });
    await until('some frames applied', async () => (await count(ctx.db, 'hz_log')) > 10);
    const t = await artisan(['horizon:terminate', '--wait', '--json'], ctx.env);
    expect(t.exitCode).toBe(0);
    expect(JSON.parse(t.stdout)).toMatchObject({ sent: 'terminate', waited: true });
    // The master exits by itself (supervisor then starts the new code); no signal from us.
    expect(await horizon!.exited()).toBe(0);
    horizon = null;
    const applied = await count(ctx.db, 'hz_log');
    const left = await waitingTotal(SHARDS);
    expect(left.active).toBe(0);
    expect(applied + left.wait).toBe(total);
    expect(left.wait).toBeGreaterThan(0);
    // The next horizon (the new code) drains the rest, in order.
    const cfg = writeHorizonConfig(ctx, 'care2', [{ name: 'user-data', only: true, processes: 5 }]);
    horizon = startHorizon(ctx, { HORIZON_CONFIG: cfg });
    await until('the rest applied', async () => (await count(ctx.db, 'hz_log')) >= total, 120_000, 200, explain);
    expect(await count(ctx.db, 'hz_log')).toBe(total);
    expect(await count(ctx.db, 'hz_violations')).toBe(0);
    expect(await horizon.stop()).toBe(0);
    horizon = null;
  }, 240_000);

  it('recycles workers after maxJobs and past the memory limit, and still drains everything', async () => {
    await resetRecorder(ctx.db);
    const cfg = writeHorizonConfig(ctx, 'recycle', [
      { name: 'jobs', only: true, kind: 'queues', queues: ['hz-recycle'], processes: 1, maxJobs: 5 },
      { name: 'mem', kind: 'queues', queues: ['hz-memory'], processes: 1, memoryMb: 1 },
    ]);
    // The two queues' workers run at once, one account each. Their first frames would both INSERT into
    // hz_accounts, and on MariaDB two such inserts into one gap deadlock; a plain (non-shard) queue job has
    // one attempt, so the victim would fail for good. The accounts exist up front, as they do in production.
    await ctx.db('hz_accounts').insert([{ account_id: 1, last_seq: 0 }, { account_id: 2, last_seq: 0 }]);
    horizon = startHorizon(ctx, { HORIZON_CONFIG: cfg });
    const r = await queues.queue('hz-recycle');
    const m = await queues.queue('hz-memory');
    await r.addBulk(Array.from({ length: 20 }, (_, i) => ({ name: 'Recycle', data: { accountId: 1, seq: i + 1 } })));
    await m.addBulk(Array.from({ length: 3 }, (_, i) => ({ name: 'Memory', data: { accountId: 2, seq: i + 1 } })));
    await until('all recycled jobs applied', async () => (await count(ctx.db, 'hz_log')) === 23, 120_000, 200, explain);
    await until('restarts reported', async () => {
      const st = await master();
      return (sup(st, 'jobs')?.restarts ?? 0) >= 3 && (sup(st, 'mem')?.restarts ?? 0) >= 2;
    }, 30_000);
    const pids = (await ctx.db('hz_log').where('queue', 'hz-recycle').distinct('pid')) as unknown[];
    expect(pids.length).toBeGreaterThanOrEqual(4);
    expect(horizon.output()).toContain('horizon worker recycled');
    expect(await horizon.stop()).toBe(0);
    horizon = null;
  }, 200_000);
});
