/**
 * The registered BullMQ processor end to end: jobs put on a user-data shard with the daemon's job options
 * are drained by a real QueueWorker (which finds the processor through PROCESSOR_MODULES), frames are
 * applied in order, duplicates collapse, a malformed payload is stored, and a job without an account id
 * fails at once with a clear reason (kept by BullMQ as a failed job, not retried five times).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createTestContext, type TestContext } from '../support/context.js';
import { QueueFactory } from '../../src/queue/queues.js';
import { QueueWorker } from '../../src/queue/worker.js';
import { resolveProcessor } from '../../src/queue/processors.js';
import { USER_DATA_JOB, userDataQueueFor } from '../../src/queue/user-data.js';
import { USER_DATA_JOB_OPTIONS } from '../../src/binance/user-data/frame-sink.js';
import { connectRedis, closeRedis } from '../../src/redis/connection.js';
import { FakeClock } from '../../src/support/clock.js';
import { createLogger } from '../../src/support/log.js';
import { normalizeDecimal } from '../../src/support/decimal.js';
import { account, accountUpdate, frameCount, order, orderRow, otu, position, stepsOf, T0 } from './helpers.js';

let ctx: TestContext;
let redis: Redis;
let queues: QueueFactory;

beforeAll(async () => {
  ctx = await createTestContext('user-data-processor');
  redis = await connectRedis(ctx.config.redis, 'daemon');
  queues = new QueueFactory({ prefix: ctx.prefix, connection: redis });
});

afterAll(async () => {
  await queues?.close();
  if (redis) await closeRedis(redis);
  await ctx?.cleanup();
});

describe('ProcessUserDataEvent processor', () => {
  it('is the processor of user-data-stream and of every shard', async () => {
    const { processUserDataJob } = await import('../../src/queue/user-data/processor.js');
    for (const q of ['user-data-stream', 'user-data-stream-0', 'user-data-stream-17']) expect(await resolveProcessor(q)).toBe(processUserDataJob);
    expect(await resolveProcessor('user-data-streamer')).not.toBe(processUserDataJob);
  });

  it('drains a shard through a real worker: in order, deduplicated, malformed kept, bad jobs failed with a reason', async () => {
    const acc = await account(ctx.db, 'proc');
    const pos = await position(ctx.db, acc, { symbol: 'SOLUSDT', direction: 'LONG' });
    const id = await order(ctx.db, { positionId: pos, exchangeId: '1', clientId: 'k-proc', price: '10' });
    const filled = otu({ i: 1, c: 'k-proc', x: 'TRADE', X: 'FILLED', p: '10', ap: '10.25', z: '12.5' });
    const frames = [otu({ i: 1, c: 'k-proc', x: 'TRADE', X: 'PARTIALLY_FILLED', p: '10', ap: '10.2', z: '2' }), filled, otu({ i: 1, c: 'k-proc', x: 'TRADE', X: 'PARTIALLY_FILLED', p: '10', ap: '10.2', z: '3' }), filled, 'not json object', accountUpdate([{ s: 'SOLUSDT', pa: '0' }])];
    const queueName = userDataQueueFor(acc, ctx.config.userDataShards);
    const q = await queues.queue(queueName);
    await q.addBulk(frames.map((payload, n) => ({ name: USER_DATA_JOB, data: { accountId: acc, payload, receivedAt: T0 + n, apiSystem: 'binance' }, opts: USER_DATA_JOB_OPTIONS })));
    const bad = await q.add(USER_DATA_JOB, { accountId: null, payload: otu({}), receivedAt: T0, apiSystem: 'binance' }, USER_DATA_JOB_OPTIONS);

    const workerRedis = redis.duplicate();
    const log = createLogger('test', {}, { write: () => undefined });
    const worker = new QueueWorker({ config: ctx.config, db: ctx.db, redis: workerRedis, clock: new FakeClock(T0), log }, { queue: queueName, stopWhenEmpty: true });
    const summary = await worker.run();
    workerRedis.disconnect();

    expect(summary).toMatchObject({ processed: frames.length, failed: 1 });
    expect(await orderRow(ctx.db, id)).toMatchObject({ status: 'FILLED', price: normalizeDecimal('10.25'), quantity: normalizeDecimal('12.5') });
    expect(await frameCount(ctx.db, acc)).toBe(frames.length - 1);
    const types = (await ctx.db('api_data_stream').where('account_id', acc).orderBy('id')).map((r) => r.event_type);
    expect(types).toEqual(['order_update', 'order_update', 'order_update', 'malformed', 'account_update']);
    expect((await stepsOf(ctx.db, 'cancel-opening-orders')).filter((s) => s.relatable_id === pos)).toHaveLength(1);

    const failed = await q.getJob(bad.id!);
    expect(failed?.failedReason).toMatch(/no valid accountId/);
    expect(failed?.attemptsMade).toBe(1);
    const done = await q.getJobs(['completed']);
    const results = done.map((j) => j.returnvalue as { recorded: boolean });
    expect(results.filter((r) => r.recorded)).toHaveLength(frames.length - 1);
  });
});
