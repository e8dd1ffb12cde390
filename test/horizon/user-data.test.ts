/**
 * The real ProcessUserDataEvent processor (src/queue/user-data/) run by `horizon` with 5 processes:
 * frames from 100 accounts drain into api_data_stream (one row per distinct frame) and the orders end in
 * their last state; replaying every frame changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { readMasters } from '../../src/horizon/control.js';
import type { QueueFactory } from '../../src/queue/queues.js';
import { userDataQueueFor } from '../../src/queue/user-data.js';
import { account, frameCount, order, otu, position, snapshot, T0, accountUpdate } from '../user-data-job/helpers.js';
import { queueFactory, startHorizon, until, writeHorizonConfig, type RunningHorizon } from './helpers.js';

let ctx: TestContext;
let queues: QueueFactory;
let horizon: RunningHorizon | null = null;

beforeAll(async () => {
  ctx = await createTestContext('horizon-userdata');
  queues = queueFactory(ctx);
});
afterAll(async () => {
  if (horizon) await horizon.stop();
  await queues?.close();
  await ctx?.cleanup();
});

const ACCOUNTS = 100;
const ORDERS = 3;

async function enqueue(frames: Array<{ accountId: number; payload: unknown }>): Promise<void> {
  const byQueue = new Map<string, typeof frames>();
  for (const f of frames) {
    const q = userDataQueueFor(f.accountId, 5);
    byQueue.set(q, [...(byQueue.get(q) ?? []), f]);
  }
  for (const [q, list] of byQueue) {
    const queue = await queues.queue(q);
    for (let i = 0; i < list.length; i += 500) {
      await queue.addBulk(list.slice(i, i + 500).map((f) => ({ name: 'ProcessUserDataEvent', data: { accountId: f.accountId, payload: f.payload, receivedAt: T0, apiSystem: 'binance' }, opts: { attempts: 5, backoff: { type: 'fixed', delay: 10_000 } } })));
    }
  }
}

describe('horizon with the user-data processor', () => {
  it('drains frames from 100 accounts with 5 processes; every order ends FILLED; a replay changes nothing', async () => {
    const frames: Array<{ accountId: number; payload: unknown }> = [];
    const orderIds: number[] = [];
    for (let a = 0; a < ACCOUNTS; a++) {
      const acc = await account(ctx.db, `hz-${a}`);
      const pos = await position(ctx.db, acc);
      for (let k = 0; k < ORDERS; k++) {
        const ex = `${acc}00${k}`;
        const c = `k-hz-${acc}-${k}`;
        orderIds.push(await order(ctx.db, { positionId: pos, exchangeId: ex, clientId: c, price: '100' }));
        // In order: NEW → PARTIALLY_FILLED → FILLED (the monotonic rank would hide a reorder of these, so the
        // prices differ: the last applied price is the FILLED frame's).
        frames.push({ accountId: acc, payload: otu({ i: ex, c, x: 'AMENDMENT', X: 'NEW', p: '101' }) });
        frames.push({ accountId: acc, payload: otu({ i: ex, c, x: 'TRADE', X: 'PARTIALLY_FILLED', p: '102', ap: '102', z: '1' }) });
        frames.push({ accountId: acc, payload: otu({ i: ex, c, x: 'TRADE', X: 'FILLED', p: '103', ap: '103.5', z: '12.5' }) });
      }
      frames.push({ accountId: acc, payload: accountUpdate([{ s: 'SOLUSDT', pa: '3' }]) });
    }
    const cfg = writeHorizonConfig(ctx, 'ud', [{ name: 'user-data', only: true, processes: 5 }]);
    horizon = startHorizon(ctx, { HORIZON_CONFIG: cfg, HORIZON_PROCESSOR_MODULE: '' });
    await until('5 shard processes', async () => ((await readMasters(ctx.redis, ctx.prefix))[0]?.supervisors[0]?.processes ?? []).filter((p) => (p.queues ?? []).length).length === 5, 90_000);
    await enqueue(frames);
    await until('every frame stored', async () => (await frameCount(ctx.db)) >= frames.length, 180_000, 250);
    expect(await frameCount(ctx.db)).toBe(frames.length);
    const rows = (await ctx.db('orders').whereIn('id', orderIds).select('status')) as Array<{ status: string }>;
    expect(rows.every((r) => r.status === 'FILLED')).toBe(true);
    expect(JSON.parse((await (await import('../support/artisan.js')).artisan(['queue:failed', '--json'], ctx.env)).stdout).total).toBe(0);

    const before = await snapshot(ctx.db);
    await enqueue(frames);
    await until('the replay drained', async () => {
      let n = 0;
      for (let s = 0; s < 5; s++) {
        const c = await (await queues.queue(`user-data-stream-${s}`)).getJobCounts('wait', 'active', 'completed');
        n += (c.wait ?? 0) + (c.active ?? 0);
      }
      return n === 0;
    }, 180_000, 250);
    expect(await snapshot(ctx.db)).toEqual(before);
    expect(await horizon.stop()).toBe(0);
    horizon = null;
  }, 400_000);
});
