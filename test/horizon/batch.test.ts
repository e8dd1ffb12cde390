/**
 * The batching shard consumer (src/horizon/batch-consumer.ts) inside a real HorizonChild (in process), on
 * the real Redis and database, with the real user-data processor: per-account order with many accounts in
 * one shard, an abort mid-batch (the process "dies" after its commit, before the acknowledgements) and the
 * next holder's recovery applying everything exactly once, a poison frame isolated into failed_jobs while
 * the others are applied, pause, and a graceful stop that finishes the batch in hand.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { createTestContext, type TestContext } from '../support/context.js';
import { systemClock } from '../../src/support/clock.js';
import { createLogger } from '../../src/support/log.js';
import { HorizonChild, type ChildSpec } from '../../src/horizon/child.js';
import { BatchConsumer } from '../../src/horizon/batch-consumer.js';
import { roleSupervisors } from '../../src/horizon/config.js';
import { horizonKeys } from '../../src/horizon/keys.js';
import { registerBatchProcessor, type BatchProcessor } from '../../src/queue/batch-processors.js';
import { processUserDataBatch } from '../../src/queue/user-data/batch.js';
import { allFailed } from '../../src/db/repositories/failed-jobs.js';
import type { QueueFactory } from '../../src/queue/queues.js';
import { account, frameCount, order, otu, position, accountUpdate, snapshot } from '../user-data-job/helpers.js';
import { queueFactory, until } from './helpers.js';

let ctx: TestContext;
let queues: QueueFactory;
let daemonRedis: Redis;
const log = createLogger('test', {}, { write: () => undefined });
const children: HorizonChild[] = [];

beforeAll(async () => {
  ctx = await createTestContext('horizon-batch');
  queues = queueFactory(ctx);
  daemonRedis = ctx.redis.duplicate({ maxRetriesPerRequest: null });
});
afterAll(async () => {
  for (const c of children) {
    c.stop('test-end');
    await c.close().catch(() => undefined);
  }
  await queues?.close();
  daemonRedis?.disconnect();
  await ctx?.cleanup();
});

function child(queue: string, over: Partial<ChildSpec> & { batchSize?: number } = {}): HorizonChild {
  const base = roleSupervisors({ ...ctx.config, serverRole: 'ingestion' }).find((s) => s.name === 'user-data')!;
  const spec = { ...base, queues: [queue], retryAttempts: 3, retryBackoffMs: 20, shardsPerProcess: 1, paused: false, terminateWaitMs: 10_000, livenessMs: 0, ...over } as ChildSpec;
  const c = new HorizonChild({ config: ctx.config, db: ctx.db, redis: daemonRedis, clock: systemClock, log, rssMb: () => 10, pid: 100_000 + children.length }, spec);
  children.push(c);
  return c;
}

interface Seeded {
  frames: Array<{ accountId: number; payload: Record<string, unknown> }>;
  orderIds: number[];
}

/** `accounts` accounts with `orders` orders each; every order gets NEW → PARTIALLY_FILLED → FILLED, plus one ACCOUNT_UPDATE per account; frames interleaved across accounts. */
async function seed(tag: string, accounts: number, orders: number): Promise<Seeded> {
  const perAccount: Array<Array<Record<string, unknown>>> = [];
  const accIds: number[] = [];
  const orderIds: number[] = [];
  for (let a = 0; a < accounts; a++) {
    const acc = await account(ctx.db, `${tag}-${a}`);
    accIds.push(acc);
    const pos = await position(ctx.db, acc);
    const list: Array<Record<string, unknown>> = [];
    for (let k = 0; k < orders; k++) {
      const ex = `${acc}00${k}`;
      const c = `k-${tag}-${acc}-${k}`;
      orderIds.push(await order(ctx.db, { positionId: pos, exchangeId: ex, clientId: c, price: '100' }));
      list.push(otu({ i: ex, c, x: 'AMENDMENT', X: 'NEW', p: '101' }));
      list.push(otu({ i: ex, c, x: 'TRADE', X: 'PARTIALLY_FILLED', p: '102', ap: '102', z: '1' }));
      list.push(otu({ i: ex, c, x: 'TRADE', X: 'FILLED', p: '103', ap: '103.5', z: '12.5' }));
    }
    list.push(accountUpdate([{ s: 'SOLUSDT', pa: '3' }]));
    perAccount.push(list);
  }
  const frames: Seeded['frames'] = [];
  for (let i = 0; i < Math.max(...perAccount.map((l) => l.length)); i++) {
    perAccount.forEach((l, a) => {
      if (l[i]) frames.push({ accountId: accIds[a]!, payload: l[i]! });
    });
  }
  return { frames, orderIds };
}

async function enqueue(queue: string, frames: Array<{ accountId: unknown; payload: unknown; [k: string]: unknown }>): Promise<Job[]> {
  const q = await queues.queue(queue);
  const out: Job[] = [];
  for (let i = 0; i < frames.length; i += 500) {
    out.push(...(await q.addBulk(frames.slice(i, i + 500).map((f) => ({ name: 'ProcessUserDataEvent', data: { receivedAt: Date.now(), apiSystem: 'binance', ...f }, opts: { attempts: 5, backoff: { type: 'fixed', delay: 10_000 } } })))));
  }
  return out;
}

/** Every account's stored frames, in insertion (id) order, carry increasing event times: applied in order. */
async function expectInOrder(accountIds: number[]): Promise<void> {
  const rows = (await ctx.db('api_data_stream').whereIn('account_id', accountIds).orderBy('id').select('account_id', 'event_time')) as Array<{ account_id: number; event_time: Date | string | number }>;
  const last = new Map<number, number>();
  for (const r of rows) {
    const t = new Date(r.event_time).getTime();
    const prev = last.get(Number(r.account_id)) ?? -Infinity;
    expect(t, `account ${r.account_id} out of order`).toBeGreaterThan(prev);
    last.set(Number(r.account_id), t);
  }
}

async function expectFilled(orderIds: number[]): Promise<void> {
  const rows = (await ctx.db('orders').whereIn('id', orderIds).select('status', 'price')) as Array<{ status: string; price: string | number }>;
  expect(rows).toHaveLength(orderIds.length);
  for (const r of rows) {
    expect(r.status).toBe('FILLED');
    expect(Number(r.price)).toBe(103.5); // the FILLED frame's average price
  }
}

async function counts(queue: string): Promise<{ wait: number; active: number; completed: number; failed: number }> {
  const c = await (await queues.queue(queue)).getJobCounts('wait', 'active', 'completed', 'failed');
  return { wait: c.wait ?? 0, active: c.active ?? 0, completed: c.completed ?? 0, failed: c.failed ?? 0 };
}

const accountsOf = (s: Seeded) => [...new Set(s.frames.map((f) => f.accountId))];

describe('batching shard consumer', () => {
  it('applies 40 accounts of one shard in order, in batches, with per-job metrics and heartbeat counters', async () => {
    const Q = 'user-data-stream-11';
    const s = await seed('ord', 40, 2);
    await enqueue(Q, s.frames);
    const c = child(Q, { batchSize: 50 });
    const running = c.run(200);
    await until('every frame stored', async () => (await frameCount(ctx.db)) >= s.frames.length, 60_000, 100);
    await until('every job acknowledged', async () => (await counts(Q)).completed === s.frames.length, 20_000);
    const consumer = c.consumer(Q) as BatchConsumer;
    expect(consumer).toBeInstanceOf(BatchConsumer);
    // Redis counts a job completed a moment before the consumer has counted the whole pipelined batch.
    await until('the consumer counted every job', () => consumer.stats.processed === s.frames.length, 10_000, 20);
    expect(consumer.stats).toMatchObject({ processed: s.frames.length, failed: 0, active: 0 });
    // 280 jobs already waiting, batches of ≤ 50: a handful of batch calls, not one per job.
    expect(consumer.stats.batches).toBeGreaterThanOrEqual(Math.ceil(s.frames.length / 50));
    expect(consumer.stats.batches).toBeLessThan(s.frames.length / 5);
    expect(c.stats).toEqual({ jobs: s.frames.length, failed: 0 });
    expect(await frameCount(ctx.db)).toBe(s.frames.length);
    await expectInOrder(accountsOf(s));
    await expectFilled(s.orderIds);
    await c.tick();
    const samples = await ctx.redis.lrange(horizonKeys(ctx.prefix).samples(), 0, -1);
    const mine = samples.filter((x) => x.startsWith(`${Q}|ProcessUserDataEvent|`));
    expect(mine).toHaveLength(s.frames.length);
    expect(mine.every((x) => x.endsWith('|1'))).toBe(true);
    c.stop('test');
    expect(await running).toBe('test');
    expect(await ctx.redis.get(horizonKeys(ctx.prefix).lease(Q))).toBeNull();
  }, 90_000);

  it('aborted after its commit, before acknowledging: the next holder recovers the batch and applies everything exactly once', async () => {
    const Q = 'bt-abort-0';
    let calls = 0;
    let committed!: () => void;
    const afterCommit = new Promise<void>((r) => (committed = r));
    // The first batch commits, then hangs (the process is about to "die"); later batches are plain.
    const slow: BatchProcessor = async (jobs, wctx) => {
      const out = await processUserDataBatch(jobs, wctx);
      if (++calls === 1) {
        committed();
        await new Promise((r) => setTimeout(r, 3000));
      }
      return out;
    };
    registerBatchProcessor(Q, slow);
    const s = await seed('kill', 10, 2);
    await enqueue(Q, s.frames);
    const a = child(Q, { batchSize: 25 });
    const runningA = a.run(200);
    await afterCommit;
    expect(await frameCount(ctx.db, s.frames[0]!.accountId)).toBeGreaterThan(0);
    // 25 in the batch being applied, 25 prefetched for the next one.
    await until('the next batch prefetched', async () => (await counts(Q)).active === 50, 5000, 20);
    // kill -9 as far as Redis can tell: the worker's connections close, its jobs stay active, the lease is dropped
    // (the supervisor releases a dead child's leases).
    a.stop('lease-lost', true);
    await runningA;
    await ctx.redis.del(horizonKeys(ctx.prefix).lease(Q));
    expect((await counts(Q)).active).toBe(50);
    const b = child(Q, { batchSize: 25 });
    const runningB = b.run(200);
    await until('all jobs acknowledged', async () => (await counts(Q)).completed >= s.frames.length, 60_000, 100);
    expect(await counts(Q)).toMatchObject({ wait: 0, active: 0, failed: 0 });
    expect(await frameCount(ctx.db)).toBeGreaterThanOrEqual(s.frames.length);
    const mine = (await ctx.db('api_data_stream').whereIn('account_id', accountsOf(s)).count({ n: '*' })) as Array<{ n: number | string }>;
    expect(Number(mine[0]!.n)).toBe(s.frames.length);
    await expectInOrder(accountsOf(s));
    await expectFilled(s.orderIds);
    // A replay of every frame changes nothing.
    const snap = await snapshot(ctx.db);
    await enqueue(Q, s.frames);
    await until('the replay acknowledged', async () => (await counts(Q)).completed >= 2 * s.frames.length || (await counts(Q)).wait + (await counts(Q)).active === 0, 60_000, 100);
    await until('the replay drained', async () => {
      const k = await counts(Q);
      return k.wait + k.active === 0;
    });
    expect(await snapshot(ctx.db)).toEqual(snap);
    b.stop('test');
    await runningB;
    expect(await allFailed(ctx.db)).toHaveLength(0);
  }, 90_000);

  it('a poison frame fails alone after its in-place retries (failed_jobs) while every other frame of the batch is applied', async () => {
    const Q = 'bt-poison-0';
    let calls = 0;
    const poisoned: BatchProcessor = async (jobs, wctx) => {
      calls++;
      if (jobs.some((j) => (j.data as { poison?: boolean }).poison)) throw new Error('poison frame in the batch');
      return processUserDataBatch(jobs, wctx);
    };
    registerBatchProcessor(Q, poisoned);
    const s = await seed('poison', 6, 2);
    const frames: Array<{ accountId: unknown; payload: unknown; poison?: boolean }> = [...s.frames];
    // A poison frame in the middle (a real frame, so only the injected failure keeps it out) and a frame
    // without an account id (refused by the processor itself).
    const poison = { accountId: s.frames[0]!.accountId, payload: otu({ i: 'nope-1', c: 'nope-1', X: 'NEW', x: 'TRADE' }), poison: true };
    frames.splice(20, 0, poison);
    frames.splice(30, 0, { accountId: null, payload: otu({ i: 'nope-2', c: 'nope-2' }) });
    const jobs = await enqueue(Q, frames);
    const c = child(Q, { batchSize: 100 });
    const running = c.run(200);
    await until('all jobs finished', async () => {
      const k = await counts(Q);
      return k.completed + k.failed === frames.length;
    }, 60_000, 100);
    expect(await counts(Q)).toMatchObject({ completed: frames.length - 2, failed: 2, active: 0, wait: 0 });
    await until('the child counted every job', () => c.stats.jobs === frames.length, 10_000, 20);
    const failed = await until('both failures recorded', async () => (await allFailed(ctx.db)).length === 2, 10_000).then(() => allFailed(ctx.db));
    const byJob = new Map(failed.map((f) => [f.jobId, f]));
    const poisonRow = byJob.get(String(jobs[20]!.id))!;
    expect(poisonRow).toMatchObject({ queue: Q, name: 'ProcessUserDataEvent', payload: { poison: true } });
    expect(poisonRow.exception).toContain('poison frame in the batch (failed 3 time(s) in place)');
    expect(byJob.get(String(jobs[30]!.id))!.exception).toContain('no valid accountId');
    // Isolation by halving, not one transaction per frame.
    expect(calls).toBeLessThan(40);
    const mine = (await ctx.db('api_data_stream').whereIn('account_id', accountsOf(s)).count({ n: '*' })) as Array<{ n: number | string }>;
    expect(Number(mine[0]!.n)).toBe(s.frames.length);
    await expectInOrder(accountsOf(s));
    await expectFilled(s.orderIds);
    expect(c.stats).toEqual({ jobs: frames.length, failed: 2 });
    c.stop('test');
    await running;
    await ctx.db('failed_jobs').delete();
  }, 90_000);

  it('pause stops pickups at once (even while blocked waiting), continue resumes', async () => {
    const Q = 'user-data-stream-12';
    const s = await seed('pause', 4, 1);
    const c = child(Q, { batchSize: 200 });
    const running = c.run(200);
    await until('the shard claimed', () => c.ownedQueues.includes(Q), 20_000);
    await enqueue(Q, s.frames.slice(0, 8));
    await until('the first frames applied', async () => (await counts(Q)).completed === 8, 20_000);
    // The consumer now blocks (up to 5 s) for the next job; pause must not wait for that.
    const t0 = Date.now();
    await c.pause();
    expect(Date.now() - t0).toBeLessThan(3000);
    await enqueue(Q, s.frames.slice(8));
    await new Promise((r) => setTimeout(r, 1500));
    expect(await counts(Q)).toMatchObject({ completed: 8, wait: s.frames.length - 8, active: 0 });
    await c.resume();
    await until('the rest applied', async () => (await counts(Q)).completed === s.frames.length, 20_000);
    await expectInOrder(accountsOf(s));
    await expectFilled(s.orderIds);
    c.stop('test');
    await running;
  }, 60_000);

  it('a graceful stop finishes the batch in hand, leaves the rest waiting and releases the lease', async () => {
    const Q = 'bt-stop-0';
    let entered!: () => void;
    const inBatch = new Promise<void>((r) => (entered = r));
    const sizes: number[] = [];
    registerBatchProcessor(Q, async (jobs, wctx) => {
      sizes.push(jobs.length);
      entered();
      await new Promise((r) => setTimeout(r, 1000));
      return processUserDataBatch(jobs, wctx);
    });
    const s = await seed('stop', 5, 4); // 65 frames
    await enqueue(Q, s.frames);
    const c = child(Q, { batchSize: 20 });
    const running = c.run(200);
    await inBatch;
    c.stop('terminate');
    expect(await running).toBe('terminate');
    expect(sizes).toEqual([20]);
    expect(await counts(Q)).toMatchObject({ completed: 20, active: 0, wait: s.frames.length - 20 });
    const mine = (await ctx.db('api_data_stream').whereIn('account_id', accountsOf(s)).count({ n: '*' })) as Array<{ n: number | string }>;
    expect(Number(mine[0]!.n)).toBe(20);
    expect(await ctx.redis.get(horizonKeys(ctx.prefix).lease(Q))).toBeNull();
  }, 60_000);
});
