/**
 * The follow-up steps end to end: a frame creates the step, the dispatcher promotes it, a real
 * QueueWorker runs it, and the step talks signed REST to the bundled Binance simulator (in-process, on the
 * step kit's clock), which checks the API key and the HMAC signature of every request. The assertions
 * read the simulator's state after the steps ran: which orders the exchange now shows cancelled.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { stepKit, type StepKit } from '../steps/helpers.js';
import type { AppConfig } from '../../src/config/index.js';
import { BinanceSimulator, type LifecycleSpec } from '../../src/binance/simulator/index.js';
import { createAccount } from '../../src/db/repositories/accounts.js';
import { demoCredentials } from '../../src/db/seed/demo-data.js';
import { applyUserDataFrames, DEFAULT_APPLY_EXECUTION_TYPES } from '../../src/queue/user-data/apply.js';
import { QueueWorker } from '../../src/queue/worker.js';
import { GROUPS } from '../../src/steps/tables.js';
import { accountUpdate, order, orderRow, otu, position } from './helpers.js';

let ctx: TestContext;
let kit: StepKit;
let sim: BinanceSimulator;
/** The worker's configuration: the test context's, with BINANCE_REST_URL at the simulator. */
let config: AppConfig;
let nextCredentials = 100;

beforeAll(async () => {
  ctx = await createTestContext('user-data-steps');
  kit = await stepKit(ctx);
  sim = await BinanceSimulator.start({ port: 0, clock: kit.clock, demoAccounts: 0, symbols: 12 });
  config = { ...ctx.config, binance: { ...ctx.config.binance, restUrl: sim.restUrl } };
});

afterAll(async () => {
  await sim?.close();
  await kit?.close();
  await ctx?.cleanup();
});

/** An account in the database with its own credentials, registered on the simulator under its id. */
async function newAccount(name: string, hedge = false): Promise<number> {
  const creds = demoCredentials(nextCredentials++);
  const id = await createAccount(ctx.db, ctx.config.appKey!, { name, apiKey: creds.apiKey, apiSecret: creds.apiSecret, hedgeMode: hedge });
  sim.registerAccount({ ...creds, label: id });
  return id;
}

/** The exchange's status of an order (by id), as GET /fapi/v1/order would answer it. */
function exchangeStatus(accountId: number, orderId: number): string | undefined {
  return sim.account(accountId).orders.get(orderId)?.status;
}

/** Play a filled order on the exchange (moves its position), with one fill and no pause. */
async function fill(accountId: number, spec: LifecycleSpec): Promise<number> {
  return (await sim.scenarios.playLifecycle(accountId, { outcome: 'fill', fills: 1, stepMs: 0, ...spec })).orderId;
}

/** REST requests the simulator answered since `from` (an index into its request log), as [endpoint, status]. */
function requestsSince(from: number): Array<[string, number]> {
  return sim.requestLog.slice(from).map((r) => [r.endpoint, r.status]);
}

async function frames(accountId: number, payloads: unknown[]) {
  return applyUserDataFrames(
    ctx.db,
    payloads.map((payload) => ({ accountId, payload })),
    { clock: kit.clock, applyExecutionTypes: DEFAULT_APPLY_EXECUTION_TYPES, redis: kit.redis, redisPrefix: ctx.prefix },
  );
}

/** Dispatch every pending trading_ step and run the priority queue until it is empty. */
async function runSteps(): Promise<void> {
  const d = kit.dispatcher('trading_');
  for (const g of GROUPS) await d.tick(g);
  const redis = kit.redis.duplicate();
  const worker = new QueueWorker({ config, db: ctx.db, redis, clock: kit.clock, log: kit.log }, { queue: 'priority', stopWhenEmpty: true });
  await worker.run();
  redis.disconnect();
}

async function step(id: number) {
  const r = await ctx.db('trading_steps').where('id', id).first();
  return { state: String(r.state), response: r.response ? JSON.parse(String(r.response)) : null, class: r.class };
}

describe('follow-up steps', () => {
  it('cancel-opening-orders cancels the entry-side working orders of a flat position on the exchange', async () => {
    const acc = await newAccount('flat-steps');
    const pos = await position(ctx.db, acc, { symbol: 'SOLUSDT', direction: 'LONG' });
    // The exchange: 501 working, 502 (known locally by its client id only) partly filled, 503 already
    // cancelled outside Athena, 504 the take profit, 505 filled.
    const onExchange = (o: Parameters<typeof sim.scenarios.upsertOrder>[1]) => sim.scenarios.upsertOrder(acc, { side: 'BUY', ...o });
    onExchange({ orderId: 501, symbol: 'SOLUSDT' });
    onExchange({ orderId: 502, symbol: 'SOLUSDT', clientOrderId: 'k-open-2', status: 'PARTIALLY_FILLED', executedQty: '2' });
    onExchange({ orderId: 503, symbol: 'SOLUSDT', status: 'CANCELED' });
    onExchange({ orderId: 504, symbol: 'SOLUSDT', side: 'SELL', type: 'LIMIT', reduceOnly: true });
    onExchange({ orderId: 505, symbol: 'SOLUSDT', status: 'FILLED', executedQty: '12.5', origQty: '12.5' });
    const opening = await order(ctx.db, { positionId: pos, exchangeId: '501', side: 'BUY', type: 'LIMIT' });
    const byClient = await order(ctx.db, { positionId: pos, exchangeId: null, clientId: 'k-open-2', side: 'BUY', type: 'LIMIT', status: 'PARTIALLY_FILLED' });
    const alreadyGone = await order(ctx.db, { positionId: pos, exchangeId: '503', side: 'BUY', type: 'LIMIT' });
    const takeProfit = await order(ctx.db, { positionId: pos, exchangeId: '504', side: 'SELL', type: 'PROFIT-LIMIT', reduceOnly: true });
    const filled = await order(ctx.db, { positionId: pos, exchangeId: '505', side: 'BUY', status: 'FILLED' });
    const [r] = await frames(acc, [accountUpdate([{ s: 'SOLUSDT', pa: '0' }])]);
    const stepId = r!.openingOrdersCancelSteps[0]!;
    expect(stepId).toBeGreaterThan(0);
    const from = sim.requestLog.length;
    await runSteps();
    const s = await step(stepId);
    expect(s).toMatchObject({ state: 'completed', class: 'cancel-opening-orders' });
    expect(s.response).toMatchObject({ positionId: pos, cancelled: [opening, byClient], gone: [alreadyGone] });
    // Three signed cancels, all accepted by the simulator's signature check; 503 answered -2011.
    expect(requestsSince(from)).toEqual([
      ['DELETE /fapi/v1/order', 200],
      ['DELETE /fapi/v1/order', 200],
      ['DELETE /fapi/v1/order', 400],
    ]);
    expect([501, 502, 503, 504, 505].map((id) => exchangeStatus(acc, id))).toEqual(['CANCELED', 'CANCELED', 'CANCELED', 'NEW', 'FILLED']);
    expect(sim.account(acc).orders.get(502)!.executedQty).toBe('2.00000000');
    expect((await Promise.all([opening, byClient, alreadyGone, takeProfit, filled].map((id) => orderRow(ctx.db, id)))).map((o) => o.status)).toEqual(['CANCELLED', 'CANCELLED', 'CANCELLED', 'NEW', 'FILLED']);
  });

  it('position-replacement closes a position the exchange shows flat and cancels its leftovers; a partial close changes nothing', async () => {
    const acc = await newAccount('replacement-steps', true);
    const pos = await position(ctx.db, acc, { symbol: 'ETHUSDT', direction: 'LONG' });
    const tp = await order(ctx.db, { positionId: pos, exchangeId: '601', side: 'SELL', type: 'PROFIT-LIMIT', reduceOnly: true });
    const partial = await position(ctx.db, acc, { symbol: 'BNBUSDT', direction: 'SHORT' });
    // The exchange: ETHUSDT LONG opened and closed from the web (the SHORT side keeps 1), BNBUSDT SHORT
    // 3.5 of which 1 was bought back; the LONG's take profit 601 still works.
    await fill(acc, { symbol: 'ETHUSDT', side: 'BUY', positionSide: 'LONG', qty: '1', price: '3000' });
    const ethClose = await fill(acc, { symbol: 'ETHUSDT', side: 'SELL', positionSide: 'LONG', qty: '1', price: '3000', clientOrderId: 'web_close' });
    await fill(acc, { symbol: 'ETHUSDT', side: 'SELL', positionSide: 'SHORT', qty: '1', price: '3000' });
    await fill(acc, { symbol: 'BNBUSDT', side: 'SELL', positionSide: 'SHORT', qty: '3.5', price: '600' });
    const bnbClose = await fill(acc, { symbol: 'BNBUSDT', side: 'BUY', positionSide: 'SHORT', qty: '1', price: '600', clientOrderId: 'web_close_2' });
    sim.scenarios.upsertOrder(acc, { orderId: 601, symbol: 'ETHUSDT', side: 'SELL', positionSide: 'LONG', price: '3300', origQty: '1' });
    const res = await frames(acc, [
      otu({ i: ethClose, c: 'web_close', s: 'ETHUSDT', S: 'SELL', ps: 'LONG', o: 'MARKET', x: 'TRADE', X: 'FILLED', R: true, ap: '3000' }),
      otu({ i: bnbClose, c: 'web_close_2', s: 'BNBUSDT', S: 'BUY', ps: 'SHORT', o: 'MARKET', x: 'TRADE', X: 'FILLED', R: true, ap: '600' }),
    ]);
    const [closeStep, partialStep] = res.map((r) => r.replacementStepId!);
    const from = sim.requestLog.length;
    await runSteps();
    expect(await step(closeStep!)).toMatchObject({ state: 'completed', response: { positionId: pos, closed: true, cancelled: [tp], trigger: 'EXTERNAL_FILL' } });
    expect(await step(partialStep!)).toMatchObject({ state: 'completed', response: { positionId: partial, closed: false, positionAmt: '-2.50000000' } });
    expect((await orderRow(ctx.db, tp)).status).toBe('CANCELLED');
    const rows = await ctx.db('positions').whereIn('id', [pos, partial]).orderBy('id');
    expect(rows.map((p) => [p.status, p.manually_closed_at !== null])).toEqual([
      ['closed', true],
      ['active', false],
    ]);
    // One cancel on the exchange: the take profit of the flat side. The SHORT side's position is untouched.
    expect(requestsSince(from).filter(([e]) => e.startsWith('DELETE'))).toEqual([['DELETE /fapi/v1/order', 200]]);
    expect(requestsSince(from).filter(([e]) => e === 'GET /fapi/v3/positionRisk')).toHaveLength(2);
    expect(exchangeStatus(acc, 601)).toBe('CANCELED');
    expect(sim.positionRisk(sim.account(acc), null).map((p) => [p.symbol, p.positionSide, p.positionAmt])).toEqual([
      ['ETHUSDT', 'SHORT', '-1.00000000'],
      ['BNBUSDT', 'SHORT', '-2.50000000'],
    ]);
  });

  it('a step for an account without credentials fails with a clear reason, and calls nothing', async () => {
    const acc = await createAccount(ctx.db, ctx.config.appKey!, { name: 'no-keys' });
    const pos = await position(ctx.db, acc, { symbol: 'XRPUSDT', direction: 'LONG' });
    await order(ctx.db, { positionId: pos, exchangeId: '801', side: 'BUY' });
    const [r] = await frames(acc, [accountUpdate([{ s: 'XRPUSDT', pa: '0' }])]);
    const from = sim.requestLog.length;
    await runSteps();
    const row = await ctx.db('trading_steps').where('id', r!.openingOrdersCancelSteps[0]!).first();
    expect(row.state).toBe('failed');
    expect(String(row.error_message ?? row.response ?? '')).toMatch(/no Binance API key/);
    expect(requestsSince(from)).toEqual([]);
  });
});
