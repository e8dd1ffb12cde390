/**
 * The pool end to end: `bin/artisan horizon` with 5 real worker processes on the user-data shards, real
 * Redis and the test database. Per-account order is checked by the recorder processor (test/horizon/
 * fixtures/recorder.mjs) inside the database, for bursts from 50 accounts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { readMasters } from '../../src/horizon/control.js';
import type { QueueFactory } from '../../src/queue/queues.js';
import { count, createRecorderTables, enqueueFrames, queueFactory, resetRecorder, startHorizon, troubles, until, writeHorizonConfig, type RunningHorizon } from './helpers.js';

let ctx: TestContext;
let queues: QueueFactory;
let horizon: RunningHorizon | null = null;
let configFile: string;

beforeAll(async () => {
  ctx = await createTestContext('horizon-pool');
  await createRecorderTables(ctx.db);
  queues = queueFactory(ctx);
  configFile = writeHorizonConfig(ctx, 'pool', [{ name: 'user-data', only: true, processes: 5 }]);
});
afterEach((t) => {
  if (t.task.result?.state === 'fail' && horizon) process.stderr.write(`--- horizon output (tail)\n${horizon.output().slice(-8000)}\n`);
});
afterAll(async () => {
  if (horizon) await horizon.stop();
  await queues?.close();
  await ctx?.cleanup();
});

const master = async () => (await readMasters(ctx.redis, ctx.prefix))[0] ?? null;

describe('horizon pool', () => {
  it('runs 5 processes, one per shard, drains bursts from 50 accounts in per-account order, and stops on SIGTERM', async () => {
    horizon = startHorizon(ctx, { HORIZON_CONFIG: configFile });
    await until('5 processes holding a shard each', async () => {
      const m = await master();
      const procs = m?.supervisors.find((s) => s.name === 'user-data')?.processes ?? [];
      return procs.length === 5 && procs.every((p) => (p.queues ?? []).length === 1);
    }, 180_000); // five Node processes booting on a shared 2-core box
    const m = await master();
    const held = m!.supervisors[0]!.processes.flatMap((p) => p.queues ?? []).sort();
    expect(held).toEqual(['user-data-stream-0', 'user-data-stream-1', 'user-data-stream-2', 'user-data-stream-3', 'user-data-stream-4']);
    expect(m!.status).toBe('running');

    // Three bursts: 50 accounts × 40 frames each, enqueued while the pool is draining.
    let total = 0;
    for (let b = 0; b < 3; b++) total += await enqueueFrames(queues, 5, 50, 40, b * 40 + 1);
    // 6,000 single-frame transactions: one loaded CI run beside other pools did not finish them in 120 s.
    await until('every frame applied', async () => (await count(ctx.db, 'hz_log')) >= total, 300_000, 200, async () => {
      const perQueue = await Promise.all([0, 1, 2, 3, 4].map(async (i) => `${i}: ${JSON.stringify(await (await queues.queue(`user-data-stream-${i}`)).getJobCounts('wait', 'active', 'failed', 'completed'))}`));
      return `applied ${await count(ctx.db, 'hz_log')} of ${total}\n${perQueue.join('\n')}\n${troubles(horizon!.output())}`;
    });
    expect(await count(ctx.db, 'hz_log')).toBe(total);
    expect(await count(ctx.db, 'hz_violations')).toBe(0);
    expect(await count(ctx.db, 'hz_dups')).toBe(0);
    const last = (await ctx.db('hz_accounts').select('account_id', 'last_seq')) as Array<{ account_id: number; last_seq: number }>;
    expect(last).toHaveLength(50);
    expect(last.every((r) => Number(r.last_seq) === 120)).toBe(true);
    // Work was spread over all five processes.
    const pids = (await ctx.db('hz_log').distinct('pid')) as Array<{ pid: number }>;
    expect(pids.length).toBe(5);

    expect(await horizon.stop()).toBe(0);
    horizon = null;
    expect(await master()).toBeNull();
    // Leases are released on a clean stop.
    expect(await ctx.redis.keys(`${ctx.prefix}:horizon:lease:*`)).toEqual([]);
    await resetRecorder(ctx.db);
  }, 600_000);
});
