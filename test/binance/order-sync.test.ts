/**
 * REST order sync and the gap reconciliation: drifted local orders are re-anchored from the exchange,
 * -2013 is recorded and alerted without touching the order, one failure never stops the others, a ban
 * stops the run, and the ReconcileAccount job runs through a real BullMQ Worker.
 */
import crypto from 'node:crypto';
import { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { OrderSync } from '../../src/binance/order-sync.js';
import { enqueueReconcile, processReconcileJob, RECONCILE_JOB, RECONCILE_QUEUE, type ReconcileJobData } from '../../src/binance/reconcile.js';
import { createAccount } from '../../src/db/repositories/accounts.js';
import { insertId } from '../../src/db/helpers.js';
import { demoCredentials } from '../../src/db/seed/demo-data.js';
import { normalizeDecimal } from '../../src/support/decimal.js';
import { parseJson, toDecimalString } from '../../src/support/sql-values.js';
import { harness, T0, waitFor, type Harness } from './helpers.js';

let ctx: TestContext;
let h: Harness;
let accountId: number;
let positionId: number;

async function order(o: { type?: string; status?: string; price: string; qty: string; exchangeId: string | null; position?: number; side?: string }): Promise<number> {
  return insertId(ctx.db, 'orders', {
    position_id: o.position ?? positionId,
    uuid: crypto.randomUUID(),
    client_order_id: `c-${o.exchangeId}`,
    exchange_order_id: o.exchangeId,
    type: o.type ?? 'LIMIT',
    side: o.side ?? 'BUY',
    position_side: 'BOTH',
    status: o.status ?? 'NEW',
    reference_status: o.status ?? 'NEW',
    price: normalizeDecimal(o.price),
    quantity: normalizeDecimal(o.qty),
    reference_price: normalizeDecimal(o.price),
    reference_quantity: normalizeDecimal(o.qty),
    created_at: new Date(T0),
    updated_at: new Date(T0),
  });
}

async function orderRow(id: number) {
  const r = await ctx.db('orders').where({ id }).first();
  return { status: r.status, price: toDecimalString(r.price), quantity: toDecimalString(r.quantity), reference_price: toDecimalString(r.reference_price), api_result: parseJson<Record<string, unknown>>(r.api_result) };
}

async function position(status: string): Promise<number> {
  return insertId(ctx.db, 'positions', { account_id: accountId, parsed_trading_pair: 'SOLUSDT', direction: 'LONG', status, created_at: new Date(T0), updated_at: new Date(T0) });
}

beforeAll(async () => {
  ctx = await createTestContext('binance-order-sync');
  h = await harness(ctx);
  const c = demoCredentials(400);
  accountId = await createAccount(ctx.db, ctx.config.appKey!, { name: 'Sync', apiKey: c.apiKey, apiSecret: c.apiSecret });
  h.sim.registerAccount({ ...c, label: accountId });
  positionId = await position('active');
});

afterAll(async () => {
  await h?.close();
  await ctx?.cleanup();
});

describe('kraite:cron-sync-orders', () => {
  it('re-anchors drifted orders, records -2013 without touching the order, and carries on', async () => {
    const sim = h.sim.scenarios;
    const partial = await order({ price: '140', qty: '10', exchangeId: '5001' });
    sim.upsertOrder(accountId, { orderId: 5001, symbol: 'SOLUSDT', price: '140', origQty: '10', executedQty: '4', avgPrice: '139.95', cumQuote: '559.8', status: 'PARTIALLY_FILLED' });
    const cancelled = await order({ price: '138', qty: '10', exchangeId: '5002' });
    sim.upsertOrder(accountId, { orderId: 5002, symbol: 'SOLUSDT', price: '138', origQty: '10', status: 'CANCELED' });
    const missing = await order({ price: '137', qty: '10', exchangeId: '5003' });
    const stop = await order({ type: 'STOP-MARKET', side: 'SELL', price: '130', qty: '30', exchangeId: '5004' });
    sim.upsertOrder(accountId, { orderId: 5004, symbol: 'SOLUSDT', type: 'STOP_MARKET', side: 'SELL', price: '0', stopPrice: '131.5', origQty: '30', status: 'NEW' });
    const same = await order({ price: '136', qty: '10', exchangeId: '5005' });
    sim.upsertOrder(accountId, { orderId: 5005, symbol: 'SOLUSDT', price: '136', origQty: '10', status: 'NEW' });
    const market = await order({ type: 'MARKET', status: 'NEW', price: '0', qty: '1', exchangeId: '5006' });
    const closedPos = await position('closed');
    const inClosed = await order({ price: '1', qty: '1', exchangeId: '5007', position: closedPos });
    const noExchangeId = await order({ price: '1', qty: '1', exchangeId: null });

    const summary = await new OrderSync(h.deps).syncOrders();
    expect(summary).toMatchObject({ orders: 5, reanchored: 3, unchanged: 1, missing: 1, errors: 0 });
    expect(summary.results.map((r) => r.order_id).sort((a, b) => a - b)).toEqual([partial, cancelled, missing, stop, same]);
    expect(await orderRow(partial)).toMatchObject({ status: 'PARTIALLY_FILLED', price: '139.95000000', quantity: '4.00000000', reference_price: '140.00000000' });
    expect(await orderRow(cancelled)).toMatchObject({ status: 'CANCELLED', price: '138.00000000', quantity: '10.00000000' });
    expect(await orderRow(stop)).toMatchObject({ status: 'NEW', price: '131.50000000', quantity: '30.00000000', reference_price: '130.00000000' });
    const m = await orderRow(missing);
    expect(m).toMatchObject({ status: 'NEW', price: '137.00000000' });
    expect(m.api_result).toMatchObject({ error: { code: -2013 } });
    expect(await ctx.db('notifications').where({ canonical: 'binance_order_missing_on_exchange', dedupe_key: String(missing) })).toHaveLength(1);
    for (const id of [market, inClosed, noExchangeId]) expect((await orderRow(id)).api_result).toBeNull();
    expect(h.sim.requestLog.filter((r) => r.endpoint === 'GET /fapi/v1/order')).toHaveLength(5);
  });

  it('--order-id syncs one order whatever its status', async () => {
    const id = await order({ status: 'FILLED', price: '150', qty: '2', exchangeId: '5010' });
    h.sim.scenarios.upsertOrder(accountId, { orderId: 5010, symbol: 'SOLUSDT', price: '150', origQty: '2', executedQty: '2', avgPrice: '149.9', status: 'FILLED' });
    const s = await new OrderSync(h.deps).syncOrders({ orderId: id });
    expect(s).toMatchObject({ orders: 1, reanchored: 1 });
    expect(await orderRow(id)).toMatchObject({ status: 'FILLED', price: '149.90000000' });
  });

  it('a 418 ban stops the run: the remaining orders are skipped, not hammered', async () => {
    await ctx.db('orders').update({ status: 'CANCELLED' });
    for (let i = 0; i < 3; i++) await order({ price: '1', qty: '1', exchangeId: String(5100 + i) });
    h.sim.limits.setMode('418', 60);
    const before = h.sim.counters.restRequests;
    const s = await new OrderSync(h.deps).syncOrders();
    expect(s).toMatchObject({ orders: 3, skipped: 3 });
    expect(h.sim.counters.restRequests - before).toBe(1);
    h.sim.limits.setMode('off');
    await h.clock.advance(60_001);
  });
});

describe('ReconcileAccount', () => {
  it('runs through a BullMQ Worker: openOrders first, GET /order only for orders no longer open', async () => {
    await ctx.db('orders').update({ status: 'CANCELLED' });
    const open = await order({ price: '120', qty: '5', exchangeId: '6001' });
    h.sim.scenarios.upsertOrder(accountId, { orderId: 6001, symbol: 'SOLUSDT', price: '121', origQty: '5', status: 'NEW' }); // amended on the exchange
    const filled = await order({ price: '119', qty: '5', exchangeId: '6002' });
    h.sim.scenarios.upsertOrder(accountId, { orderId: 6002, symbol: 'SOLUSDT', price: '119', origQty: '5', executedQty: '5', avgPrice: '118.9', status: 'FILLED' });

    const data = (reason: ReconcileJobData['reason']): ReconcileJobData => ({ accountId, reason, requestedAt: h.clock.now() });
    await enqueueReconcile(h.queues, data('reconnect'));
    await enqueueReconcile(h.queues, data('key-change')); // deduplicated while the first one waits
    const q = await h.queues.queue(RECONCILE_QUEUE);
    expect(await q.getJobCountByTypes('waiting')).toBe(1);

    const log = h.sim.requestLog.length;
    const results: unknown[] = [];
    const worker = new Worker<ReconcileJobData>(RECONCILE_QUEUE, async (job) => processReconcileJob(job, h.deps), { ...h.queues.baseOptions(), connection: ctx.redis.duplicate({ maxRetriesPerRequest: null }) });
    worker.on('completed', (_job, r) => results.push(r));
    worker.on('failed', (_job, err) => results.push(err));
    worker.on('error', (err) => results.push(err));
    try {
      await waitFor(() => results.length === 1, 'reconcile job done');
    } finally {
      await worker.close();
    }
    expect(results[0]).toMatchObject({ orders: 2, reanchored: 2 });
    expect(await orderRow(open)).toMatchObject({ status: 'NEW', price: '121.00000000' });
    expect(await orderRow(filled)).toMatchObject({ status: 'FILLED', price: '118.90000000' });
    expect(h.sim.requestLog.slice(log).map((r) => r.endpoint)).toEqual(['GET /fapi/v1/openOrders', 'GET /fapi/v1/order']);
  });

  it('rejects a malformed job so it lands in failed jobs instead of doing something', async () => {
    await expect(processReconcileJob({ name: RECONCILE_JOB, data: { accountId: 0 } as ReconcileJobData }, h.deps)).rejects.toThrow(/positive accountId/);
    await expect(processReconcileJob({ name: 'Other', data: { accountId } as ReconcileJobData }, h.deps)).rejects.toThrow(/unexpected job/);
  });
});
