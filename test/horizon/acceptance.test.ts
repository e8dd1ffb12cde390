/**
 * Issue 6's acceptance run: `horizon` with 5 processes drains 50,000 user-data frames from 100 accounts with
 * the real ProcessUserDataEvent batch processor (ACCEPTANCE_FRAMES overrides the count).
 *  - every account's frames are applied in order: api_data_stream ids (the order of application) follow each
 *    account's event times, and every order ends FILLED at the price of its last frame;
 *  - the api_data_stream row count equals the number of distinct frames (1 in 50 is sent twice, as a
 *    make-before-break socket rotation does);
 *  - replaying the same 50,000 frames changes nothing.
 */
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { insertId } from '../../src/db/helpers.js';
import { normalizeDecimal } from '../../src/support/decimal.js';
import { allUserDataQueues, USER_DATA_JOB, userDataQueueFor } from '../../src/queue/user-data.js';
import type { QueueFactory } from '../../src/queue/queues.js';
import { otu } from '../user-data-job/helpers.js';
import { count, queueFactory, startHorizon, until, writeHorizonConfig, type RunningHorizon } from './helpers.js';

const FRAMES = Number(process.env.ACCEPTANCE_FRAMES ?? 50_000);
const ACCOUNTS = 100;
/** Frames per order: an amendment, two partial fills, the fill. */
const PER_ORDER = 4;

let ctx: TestContext;
let queues: QueueFactory;
let horizon: RunningHorizon | null = null;

beforeAll(async () => {
  ctx = await createTestContext('horizon-acceptance');
  queues = queueFactory(ctx);
});
afterAll(async () => {
  if (horizon) await horizon.stop();
  await queues?.close();
  await ctx?.cleanup();
});

interface Frame {
  accountId: number;
  payload: Record<string, unknown>;
}

/** 100 accounts, each with enough orders; frames interleaved across accounts; 1 in 50 sent twice. */
async function fixtures(): Promise<{ frames: Frame[]; distinct: number; lastPrice: Map<string, string> }> {
  const now = new Date();
  const distinctTarget = Math.round(FRAMES / 1.02);
  const perAccount = Math.ceil(distinctTarget / ACCOUNTS);
  const ordersPerAccount = Math.ceil(perAccount / PER_ORDER);
  const accounts: Array<{ id: number; orders: Array<{ ex: string; c: string }> }> = [];
  for (let a = 0; a < ACCOUNTS; a++) {
    const id = await insertId(ctx.db, 'accounts', { name: `acceptance-${a}`, is_active: true, on_hedge_mode: false, created_at: now, updated_at: now });
    const positionId = await insertId(ctx.db, 'positions', { account_id: id, parsed_trading_pair: 'SOLUSDT', direction: 'LONG', status: 'active', quantity: normalizeDecimal('10'), created_at: now, updated_at: now });
    const orders = Array.from({ length: ordersPerAccount }, (_, k) => ({ ex: String(7_000_000 + id * 1000 + k), c: `acc-${id}-${k}` }));
    for (let i = 0; i < orders.length; i += 100) {
      await ctx.db('orders').insert(
        orders.slice(i, i + 100).map((o) => ({ position_id: positionId, uuid: crypto.randomUUID(), client_order_id: o.c, exchange_order_id: o.ex, type: 'LIMIT', side: 'BUY', position_side: 'BOTH', status: 'NEW', reference_status: 'NEW', price: normalizeDecimal('100'), quantity: normalizeDecimal('12.5'), reference_price: normalizeDecimal('100'), reference_quantity: normalizeDecimal('12.5'), reduce_only: false, created_at: now, updated_at: now })),
      );
    }
    accounts.push({ id, orders });
  }
  // Each account's own sequence: per order AMENDMENT (NEW) → PARTIALLY_FILLED ×2 → FILLED, prices moving.
  let E = Date.UTC(2026, 5, 1);
  const sequences = accounts.map((a) => {
    const seq: Frame[] = [];
    for (const [k, o] of a.orders.entries()) {
      const p = (n: number) => `${100 + ((k + n) % 50)}.${n}5`;
      const steps: Array<[string, string, string, string]> = [
        ['AMENDMENT', 'NEW', p(1), '0'],
        ['TRADE', 'PARTIALLY_FILLED', p(2), '1'],
        ['TRADE', 'PARTIALLY_FILLED', p(3), '2'],
        ['TRADE', 'FILLED', p(4), '12.5'],
      ];
      for (const [x, X, price, z] of steps) seq.push({ accountId: a.id, payload: otu({ i: Number(o.ex), c: o.c, x, X, p: price, ap: price, z, E: ++E }) });
    }
    return seq.slice(0, perAccount);
  });
  const frames: Frame[] = [];
  let distinct = 0;
  for (let round = 0; frames.length < FRAMES; round++) {
    for (const seq of sequences) {
      const f = seq[round];
      if (!f || frames.length >= FRAMES) continue;
      frames.push(f);
      distinct++;
      if (distinct % 50 === 0 && frames.length < FRAMES) frames.push(f); // the same frame again
    }
    if (sequences.every((s) => round >= s.length)) break;
  }
  // The price each order must end with: that of its last applied frame.
  const lastPrice = new Map<string, string>();
  for (const f of frames) {
    const o = f.payload.o as { i: number; p: string; X: string };
    lastPrice.set(String(o.i), o.p);
  }
  return { frames, distinct, lastPrice };
}

async function enqueue(frames: Frame[]): Promise<void> {
  const byQueue = new Map<string, Array<{ name: string; data: unknown; opts: Record<string, unknown> }>>();
  for (const f of frames) {
    const q = userDataQueueFor(f.accountId, ctx.config.userDataShards);
    if (!byQueue.has(q)) byQueue.set(q, []);
    byQueue.get(q)!.push({ name: USER_DATA_JOB, data: { accountId: f.accountId, payload: f.payload, receivedAt: Date.now(), apiSystem: 'binance' }, opts: { attempts: 5, backoff: { type: 'fixed', delay: 10_000 } } });
  }
  for (const [q, jobs] of byQueue) for (let i = 0; i < jobs.length; i += 1000) await (await queues.queue(q)).addBulk(jobs.slice(i, i + 1000));
}

async function backlog(): Promise<number> {
  let n = 0;
  for (const q of allUserDataQueues(ctx.config.userDataShards)) {
    const c = await (await queues.queue(q)).getJobCounts('wait', 'active', 'delayed');
    n += (c.wait ?? 0) + (c.active ?? 0) + (c.delayed ?? 0);
  }
  return n;
}

async function orderState(): Promise<string> {
  const rows = await ctx.db('orders').orderBy('id').select('id', 'status', 'price', 'updated_at');
  return JSON.stringify(rows.map((r) => [r.id, r.status, normalizeDecimal(String(r.price)), new Date(r.updated_at).getTime()]));
}

describe('horizon acceptance', () => {
  it(`drains ${FRAMES} frames of ${ACCOUNTS} accounts with 5 processes: in order per account, one row per distinct frame, and a replay changes nothing`, async () => {
    const { frames, distinct, lastPrice } = await fixtures();
    expect(frames).toHaveLength(FRAMES);
    expect(distinct).toBeLessThan(FRAMES);
    const cfg = writeHorizonConfig(ctx, 'acceptance', [{ name: 'user-data', only: true, processes: 5 }]);
    // A worker that does not stop within 10 s is killed by the master (it exits 0 all the same); the test's own
    // grace (60 s) is above that, so a slow stop shows in the output below instead of as a signal exit.
    horizon = startHorizon(ctx, { HORIZON_CONFIG: cfg, HORIZON_PROCESSOR_MODULE: '', LOG_LEVEL: 'info', HORIZON_TERMINATE_WAIT_SECONDS: '10' });
    await enqueue(frames);
    await until(`${distinct} distinct frames stored`, async () => (await count(ctx.db, 'api_data_stream')) >= distinct, 600_000, 500);
    await until('the shards drained', async () => (await backlog()) === 0, 120_000, 250);
    expect(await count(ctx.db, 'api_data_stream')).toBe(distinct);
    expect(await count(ctx.db, 'failed_jobs')).toBe(0);

    // In order per account: application order (row id) follows each account's event times.
    const rows = (await ctx.db('api_data_stream').orderBy('id').select('account_id', 'event_time')) as Array<{ account_id: number; event_time: unknown }>;
    const last = new Map<number, number>();
    let outOfOrder = 0;
    for (const r of rows) {
      const t = new Date(r.event_time as string).getTime();
      const prev = last.get(Number(r.account_id)) ?? -Infinity;
      if (t <= prev) outOfOrder++;
      last.set(Number(r.account_id), t);
    }
    expect(outOfOrder).toBe(0);
    expect(last.size).toBe(ACCOUNTS);
    // Every order that got its FILLED frame is FILLED at the price of its last frame; the others are where their last frame left them.
    const orders = (await ctx.db('orders').select('exchange_order_id', 'status', 'price')) as Array<{ exchange_order_id: string; status: string; price: unknown }>;
    const wrong = orders.filter((o) => lastPrice.has(String(o.exchange_order_id)) && normalizeDecimal(String(o.price)) !== normalizeDecimal(lastPrice.get(String(o.exchange_order_id))!));
    expect(wrong).toEqual([]);
    const filled = orders.filter((o) => o.status === 'FILLED').length;
    expect(filled).toBeGreaterThan(orders.length * 0.9);

    // Replay: the same frames again change nothing.
    const before = await orderState();
    await enqueue(frames);
    await until('the replay drained', async () => (await backlog()) === 0, 600_000, 500);
    expect(await count(ctx.db, 'api_data_stream')).toBe(distinct);
    expect(await orderState()).toBe(before);
    expect(await count(ctx.db, 'failed_jobs')).toBe(0);
    const stopAt = Date.now();
    const code = await horizon.stop(60_000);
    const stopMs = Date.now() - stopAt;
    process.stderr.write(`[acceptance] horizon stopped in ${stopMs} ms with ${code}\n`);
    if (code !== 0 || stopMs > 5000) process.stderr.write(`--- horizon output (tail)\n${horizon.output().slice(-5000)}\n`);
    expect(code).toBe(0);
    horizon = null;
  }, 900_000);
});
