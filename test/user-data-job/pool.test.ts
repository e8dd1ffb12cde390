/**
 * The real ProcessUserDataEvent processor under the real pool: `bin/artisan horizon` with 5 worker
 * processes on the user-data shards drains Binance-shaped frames from 50 accounts. Each account's order
 * frames carry successive price amendments, so a frame applied out of order would leave a wrong final
 * price. Then the same frames are enqueued again: nothing is inserted and nothing changes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { queueFactory, startHorizon, until, writeHorizonConfig, type RunningHorizon } from '../horizon/helpers.js';
import { readMasters } from '../../src/horizon/control.js';
import type { QueueFactory } from '../../src/queue/queues.js';
import { USER_DATA_JOB, userDataQueueFor } from '../../src/queue/user-data.js';
import { USER_DATA_JOB_OPTIONS } from '../../src/binance/user-data/frame-sink.js';
import { normalizeDecimal } from '../../src/support/decimal.js';
import { account, accountUpdate, frameCount, order, orderRow, otu, position, snapshot, T0 } from './helpers.js';

let ctx: TestContext;
let queues: QueueFactory;
let horizon: RunningHorizon | null = null;

const SHARDS = 5;
const ACCOUNTS = 50;
const ORDERS = 4;
const AMENDMENTS = 5;

beforeAll(async () => {
  ctx = await createTestContext('user-data-pool', { env: { USER_DATA_SHARDS: String(SHARDS) } });
  queues = queueFactory(ctx);
});

afterAll(async () => {
  if (horizon) await horizon.stop();
  await queues?.close();
  await ctx?.cleanup();
});

interface Expected {
  orderId: number;
  status: string;
  price: string;
}

describe('the user-data job in the horizon pool', () => {
  it('5 processes apply 50 accounts in per-account order; a replay of every frame changes nothing', async () => {
    const perAccount: Array<{ accountId: number; frames: unknown[] }> = [];
    const expected: Expected[] = [];
    let E = T0;
    for (let a = 0; a < ACCOUNTS; a++) {
      const accountId = await account(ctx.db, `pool-${a}`);
      const pos = await position(ctx.db, accountId, { symbol: 'SOLUSDT', direction: 'LONG' });
      const frames: unknown[] = [];
      for (let k = 0; k < ORDERS; k++) {
        const exchangeId = `${accountId}0${k}`;
        const orderId = await order(ctx.db, { positionId: pos, exchangeId, clientId: `k-${accountId}-${k}`, price: '100' });
        // successive amendments: only in-order application leaves the last price
        for (let m = 1; m <= AMENDMENTS; m++) frames.push(otu({ i: exchangeId, c: `k-${accountId}-${k}`, x: 'AMENDMENT', X: 'NEW', p: `${100 + m}.${k}`, E: ++E }));
        if (k % 2 === 0) {
          // filled, then a late partial fill that must not move it back
          frames.push(otu({ i: exchangeId, c: `k-${accountId}-${k}`, x: 'TRADE', X: 'FILLED', p: `${100 + AMENDMENTS}.${k}`, ap: `${200 + k}`, z: '12.5', E: ++E }));
          frames.push(otu({ i: exchangeId, c: `k-${accountId}-${k}`, x: 'TRADE', X: 'PARTIALLY_FILLED', p: `${100 + AMENDMENTS}.${k}`, ap: '1', z: '1', E: ++E }));
          expected.push({ orderId, status: 'FILLED', price: normalizeDecimal(`${200 + k}`)! });
        } else {
          expected.push({ orderId, status: 'NEW', price: normalizeDecimal(`${100 + AMENDMENTS}.${k}`)! });
        }
      }
      frames.push(accountUpdate([{ s: 'SOLUSDT', pa: '3' }], ++E));
      frames.push({ e: 'TRADE_LITE', E: ++E, s: 'SOLUSDT', i: 1, t: a });
      frames.push(frames[0]); // a duplicate (e.g. from a socket rotation)
      perAccount.push({ accountId, frames });
    }
    const distinct = perAccount.reduce((n, p) => n + p.frames.length - 1, 0);
    const total = perAccount.reduce((n, p) => n + p.frames.length, 0);

    /** Enqueue every account's frames in order, interleaving accounts within each shard. */
    const enqueue = async () => {
      const byQueue = new Map<string, Array<{ name: string; data: unknown; opts: typeof USER_DATA_JOB_OPTIONS }>>();
      const longest = Math.max(...perAccount.map((p) => p.frames.length));
      for (let i = 0; i < longest; i++) {
        for (const p of perAccount) {
          if (i >= p.frames.length) continue;
          const q = userDataQueueFor(p.accountId, SHARDS);
          const list = byQueue.get(q) ?? [];
          list.push({ name: USER_DATA_JOB, data: { accountId: p.accountId, payload: p.frames[i], receivedAt: T0, apiSystem: 'binance' }, opts: USER_DATA_JOB_OPTIONS });
          byQueue.set(q, list);
        }
      }
      for (const [q, jobs] of byQueue) {
        const queue = await queues.queue(q);
        for (let i = 0; i < jobs.length; i += 500) await queue.addBulk(jobs.slice(i, i + 500) as never);
      }
    };
    const drained = async () => {
      for (let s = 0; s < SHARDS; s++) {
        const counts = await (await queues.queue(`user-data-stream-${s}`)).getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        if (Object.values(counts).some((n) => n > 0)) return false;
      }
      return true;
    };

    const configFile = writeHorizonConfig(ctx, 'udjob', [{ name: 'user-data', only: true, processes: SHARDS }]);
    horizon = startHorizon(ctx, { HORIZON_CONFIG: configFile, HORIZON_PROCESSOR_MODULE: '', LOG_LEVEL: 'warn' });
    await until('5 processes holding a shard each', async () => {
      const procs = (await readMasters(ctx.redis, ctx.prefix))[0]?.supervisors.find((s) => s.name === 'user-data')?.processes ?? [];
      return procs.length === SHARDS && procs.every((p) => (p.queues ?? []).length === 1);
    }, 120_000);
    const started = Date.now();
    await enqueue();
    await until('every frame stored', async () => (await frameCount(ctx.db)) >= distinct, 240_000, 200);
    await until('the shards drained', drained, 60_000, 100);
    const seconds = (Date.now() - started) / 1000;
    console.log(`[user-data pool] db=${String(ctx.db.client.config.client)} ${total} jobs (${distinct} distinct frames) drained by 5 processes in ${seconds.toFixed(1)} s (${Math.round(total / seconds)} jobs/s)`);

    expect(await frameCount(ctx.db)).toBe(distinct);
    for (const e of expected) expect(await orderRow(ctx.db, e.orderId), `order ${e.orderId}`).toMatchObject({ status: e.status, price: e.price, quantity: normalizeDecimal('12.5') });
    const failed = await Promise.all(Array.from({ length: SHARDS }, async (_, s) => (await queues.queue(`user-data-stream-${s}`)).getJobCountByTypes('failed')));
    expect(failed.reduce((a, b) => a + b, 0)).toBe(0);

    // Replay: the same frames again, through the same pool.
    const before = await snapshot(ctx.db);
    await enqueue();
    await until('the replay drained', drained, 240_000, 200);
    expect(await frameCount(ctx.db)).toBe(distinct);
    expect(await snapshot(ctx.db)).toEqual(before);

    expect(await horizon.stop()).toBe(0);
    horizon = null;
  }, 400_000);
});
