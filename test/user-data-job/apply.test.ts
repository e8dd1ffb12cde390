/**
 * The ProcessUserDataEvent job's rules on the real database (SQLite, PostgreSQL or MariaDB by
 * DATABASE_URL): persistence and replay, normalisation, the order mirror (rank, price, quantity,
 * client-id race, allow-list), flat positions, external closes, liquidation/ADL, hedge mode, malformed
 * input, the one-transaction guarantee, and batching equal to frame-by-frame application.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { applyUserDataFrames, idempotencyKey, type UserDataFrame } from '../../src/queue/user-data/apply.js';
import { canonicalJson, normalizeFrame } from '../../src/queue/user-data/normalise.js';
import { normalizeDecimal } from '../../src/support/decimal.js';
import { updateMirroredOrders } from '../../src/db/repositories/user-data-stream.js';
import { account, accountUpdate, algoUpdate, deps, frameCount, order, orderRow, otu, position, snapshot, stepsOf, T0 } from './helpers.js';

let ctx: TestContext;

beforeAll(async () => {
  ctx = await createTestContext('user-data-job');
});

afterAll(async () => {
  await ctx?.cleanup();
});

const fr = (accountId: number, payload: unknown, receivedAt = T0): UserDataFrame => ({ accountId, payload, receivedAt, apiSystem: 'binance' });
const d = (n: string) => normalizeDecimal(n);

async function apply(accountId: number, payloads: unknown[], over: Parameters<typeof deps>[0] = {}) {
  return applyUserDataFrames(ctx.db, payloads.map((p) => fr(accountId, p)), deps(over));
}

/** Apply frames one job at a time, as the BullMQ processor does. */
async function applyEach(accountId: number, payloads: unknown[], over: Parameters<typeof deps>[0] = {}) {
  const out = [];
  for (const p of payloads) out.push(...(await apply(accountId, [p], over)));
  return out;
}

describe('persistence and normalisation', () => {
  it('stores every frame with its normalised columns and a key over account + canonical frame', async () => {
    const acc = await account(ctx.db, 'persist');
    const frame = otu({ i: 1001, c: 'k-persist', x: 'TRADE', X: 'PARTIALLY_FILLED', p: '142.310', ap: '142.305', q: '12.5', z: '4.0', l: '4.0', L: '142.300' });
    const [r] = await apply(acc, [frame]);
    expect(r).toMatchObject({ recorded: true, eventType: 'order_update', rawEventType: 'ORDER_TRADE_UPDATE', executionType: 'TRADE', order: 'not-found' });
    const row = await ctx.db('api_data_stream').where('account_id', acc).first();
    expect(row.idempotency_key).toBe(idempotencyKey(acc, frame));
    expect(row.idempotency_key).toMatch(/^[0-9a-f]{64}$/);
    expect({ ...row, price: d(String(row.price)), filled: d(String(row.filled_quantity)) }).toMatchObject({
      api_system: 'binance',
      event_type: 'order_update',
      execution_type: 'TRADE',
      exchange_order_id: '1001',
      client_order_id: 'k-persist',
      symbol: 'SOLUSDT',
      status: 'PARTIALLY_FILLED',
      normalized_status: 'PARTIALLY_FILLED',
      price: d('142.31'),
      filled: d('4'),
    });
    expect(JSON.parse(row.raw_payload)).toEqual(frame);
    // the same frame with its keys in another order is the same frame
    const shuffled = Object.fromEntries(Object.entries(frame).reverse());
    expect(canonicalJson(shuffled)).toBe(canonicalJson(frame));
    expect(idempotencyKey(acc, shuffled)).toBe(idempotencyKey(acc, frame));
    expect(idempotencyKey(acc + 1, frame)).not.toBe(idempotencyKey(acc, frame));
    const [again] = await apply(acc, [shuffled]);
    expect(again!.recorded).toBe(false);
    expect(await frameCount(ctx.db, acc)).toBe(1);
  });

  it('normalises every event type; unknown ones become other', async () => {
    const acc = await account(ctx.db, 'types');
    const E = T0 + 500;
    const frames = [
      algoUpdate({ aid: 4000001, caid: 'k-sl', X: 'NEW' }),
      accountUpdate([{ s: 'SOLUSDT', pa: '1.5', ps: 'LONG' }]),
      { e: 'TRADE_LITE', E, T: E, s: 'SOLUSDT', q: '12.5', p: '142.310', m: true, c: 'k-lite', S: 'BUY', L: '142.310', l: '4.0', t: 1203344556, i: 88123456789 },
      { e: 'ACCOUNT_CONFIG_UPDATE', E, T: E, ac: { s: 'SOLUSDT', l: 10 } },
      { e: 'MARGIN_CALL', E, cw: '3.16812045', p: [{ s: 'ETHUSDT', ps: 'LONG', pa: '1.327', mt: 'CROSSED', iw: '0', mp: '187.17127', up: '-1.166074', mm: '1.614445' }] },
      { e: 'listenKeyExpired', E, listenKey: 'abc' },
      { e: 'STRATEGY_UPDATE', E, su: { si: 1 } },
      { e: 'SOMETHING_NEW', E },
    ];
    const res = await apply(acc, frames);
    expect(res.map((r) => [r.rawEventType, r.eventType, r.recorded])).toEqual([
      ['ALGO_UPDATE', 'order_update', true],
      ['ACCOUNT_UPDATE', 'account_update', true],
      ['TRADE_LITE', 'trade_lite', true],
      ['ACCOUNT_CONFIG_UPDATE', 'account_config', true],
      ['MARGIN_CALL', 'margin_call', true],
      ['listenKeyExpired', 'listen_key_expired', true],
      ['STRATEGY_UPDATE', 'other', true],
      ['SOMETHING_NEW', 'other', true],
    ]);
    expect(res[0]!.executionType).toBe('ALGO_NEW');
    const rows = await ctx.db('api_data_stream').where('account_id', acc).orderBy('id');
    expect(rows.map((r) => r.event_type)).toEqual(['order_update', 'account_update', 'trade_lite', 'account_config', 'margin_call', 'listen_key_expired', 'other', 'other']);
    expect(rows[0].exchange_order_id).toBe('4000001');
    expect(d(String(rows[0].price))).toBe(d('131.2'));
    expect(rows[2].exchange_order_id).toBe('88123456789');
    expect(normalizeFrame({ e: 'ORDER_TRADE_UPDATE', E, o: { i: 1, X: 'CANCELED', x: 'CANCELED' } }).normalizedStatus).toBe('CANCELLED');
    expect(normalizeFrame({ e: 'ORDER_TRADE_UPDATE', E, o: { i: 1, X: 'WEIRD', x: 'NEW' } }).normalizedStatus).toBe('UNKNOWN');
  });

  it('records malformed payloads with a reason, rejects a job without an account, and never throws', async () => {
    const acc = await account(ctx.db, 'malformed');
    const payloads: unknown[] = ['just a string', 42, null, [1, 2], {}, { e: 'ORDER_TRADE_UPDATE', E: T0 }, { e: 'ORDER_TRADE_UPDATE', E: T0 + 1, o: { s: 'SOLUSDT', X: 'NEW' } }, { e: 'ACCOUNT_UPDATE', E: T0, a: 'x' }, { e: 'ORDER_TRADE_UPDATE', E: T0 + 2, o: { i: 5, x: 'TRADE', X: 'FILLED', p: 'abc', ap: '1e400', q: '999999999999999999' } }];
    const res = await apply(acc, payloads);
    expect(res.every((r) => r.recorded)).toBe(true);
    expect(res.slice(0, 8).map((r) => r.eventType)).toEqual(Array(8).fill('malformed'));
    expect(res[0]!.problem).toMatch(/not a JSON object/);
    expect(res[4]!.problem).toMatch(/no event type/);
    expect(res[5]!.problem).toMatch(/no order object/);
    expect(res[6]!.problem).toMatch(/neither an order id/);
    // numbers that are not decimals, or too large for DECIMAL(20,8), are stored as null; the frame is kept
    expect(res[8]).toMatchObject({ eventType: 'order_update', problem: null });
    const last = await ctx.db('api_data_stream').where('account_id', acc).orderBy('id', 'desc').first();
    expect([last.price, last.average_price, last.original_quantity]).toEqual([null, null, null]);
    expect(JSON.parse(last.raw_payload).o.ap).toBe('1e400');
    expect(await frameCount(ctx.db, acc)).toBe(payloads.length);
    expect((await ctx.db('api_data_stream').where('account_id', acc).orderBy('id').first()).raw_payload).toBe('"just a string"');

    const bad = await applyUserDataFrames(ctx.db, [{ accountId: 'abc', payload: otu({}) }, { accountId: -1, payload: {} }, { accountId: undefined, payload: {} }], deps());
    expect(bad.map((r) => r.recorded)).toEqual([false, false, false]);
    expect(bad[0]!.rejected).toMatch(/no valid accountId/);
  });
});

describe('order mirror', () => {
  it('out of order: FILLED then PARTIALLY_FILLED leaves the order FILLED', async () => {
    const acc = await account(ctx.db, 'ooo');
    const pos = await position(ctx.db, acc);
    const id = await order(ctx.db, { positionId: pos, exchangeId: '2001', clientId: 'k-ooo', price: '142.31', qty: '12.5' });
    const res = await applyEach(acc, [
      otu({ i: 2001, c: 'k-ooo', x: 'TRADE', X: 'FILLED', p: '142.31', ap: '142.295', z: '12.5', l: '8.5' }),
      otu({ i: 2001, c: 'k-ooo', x: 'TRADE', X: 'PARTIALLY_FILLED', p: '142.31', ap: '142.30', z: '4.0', l: '4.0' }),
      otu({ i: 2001, c: 'k-ooo', x: 'NEW', X: 'NEW', p: '142.31' }),
    ]);
    expect(res.map((r) => r.order)).toEqual(['updated', 'stale', 'not-applied']);
    expect(await orderRow(ctx.db, id)).toMatchObject({ status: 'FILLED', price: d('142.295'), quantity: d('12.5'), reference_quantity: d('12.5'), reference_price: d('142.31') });
    // every frame is still recorded
    expect(await frameCount(ctx.db, acc)).toBe(3);
  });

  it('the rank only moves forward; terminal to terminal and price amendments are applied', async () => {
    const acc = await account(ctx.db, 'rank');
    const pos = await position(ctx.db, acc);
    const id = await order(ctx.db, { positionId: pos, exchangeId: '2101', price: '100' });
    await apply(acc, [otu({ i: 2101, x: 'AMENDMENT', X: 'NEW', p: '101.5' })]);
    expect(await orderRow(ctx.db, id)).toMatchObject({ status: 'NEW', price: d('101.5') });
    await apply(acc, [otu({ i: 2101, x: 'TRADE', X: 'PARTIALLY_FILLED', p: '101.5', ap: '101.4', z: '2' })]);
    // a working frame states its limit price, not the average of the partial fill
    expect(await orderRow(ctx.db, id)).toMatchObject({ status: 'PARTIALLY_FILLED', price: d('101.5') });
    await apply(acc, [otu({ i: 2101, x: 'EXPIRED', X: 'EXPIRED', p: '101.5', ap: '101.4' })]);
    expect((await orderRow(ctx.db, id)).status).toBe('EXPIRED');
    await apply(acc, [otu({ i: 2101, x: 'CANCELED', X: 'CANCELED', p: '101.5', ap: '0' })]);
    expect(await orderRow(ctx.db, id)).toMatchObject({ status: 'CANCELLED', price: d('101.5') });
  });

  it('MARKET frames with a zero price never overwrite a known price, and quantity is never written', async () => {
    const acc = await account(ctx.db, 'market');
    const pos = await position(ctx.db, acc);
    const known = await order(ctx.db, { positionId: pos, exchangeId: '3001', type: 'MARKET', price: '142.31', qty: '12.5' });
    const unknown = await order(ctx.db, { positionId: pos, exchangeId: '3002', type: 'MARKET', price: null, qty: '3' });
    const res = await applyEach(acc, [
      otu({ i: 3001, o: 'MARKET', x: 'TRADE', X: 'PARTIALLY_FILLED', p: '0', ap: '142.50', z: '5', l: '5', q: '12.5' }),
      otu({ i: 3001, o: 'MARKET', x: 'TRADE', X: 'FILLED', p: '0', ap: '0', z: '12.5', l: '7.5', q: '12.5' }),
      otu({ i: 3002, o: 'MARKET', x: 'TRADE', X: 'FILLED', p: '0', ap: '0', z: '3', q: '3' }),
    ]);
    expect(res.map((r) => r.order)).toEqual(['updated', 'updated', 'updated']);
    expect(await orderRow(ctx.db, known)).toMatchObject({ status: 'FILLED', price: d('142.31'), quantity: d('12.5') });
    expect(await orderRow(ctx.db, unknown)).toMatchObject({ status: 'FILLED', price: null, quantity: d('3') });
    await apply(acc, [otu({ i: 3002, o: 'MARKET', x: 'TRADE', X: 'FILLED', p: '0', ap: '143.10', z: '3', q: '3', E: T0 + 999_999 })]);
    expect(await orderRow(ctx.db, unknown)).toMatchObject({ status: 'FILLED', price: d('143.1'), quantity: d('3') });
  });

  it('race: a frame that arrives before the exchange id is stored finds the order by client id', async () => {
    const acc = await account(ctx.db, 'race');
    const pos = await position(ctx.db, acc);
    const id = await order(ctx.db, { positionId: pos, exchangeId: null, clientId: 'k-race-1', price: '50' });
    // another order that reuses the client id but has a different exchange id is not taken
    const other = await order(ctx.db, { positionId: pos, exchangeId: '999', clientId: 'k-race-2', price: '60' });
    const [r] = await apply(acc, [otu({ i: 4001, c: 'k-race-1', x: 'TRADE', X: 'PARTIALLY_FILLED', p: '50', ap: '50', z: '1' })]);
    expect(r).toMatchObject({ order: 'updated', orderId: id });
    expect(await orderRow(ctx.db, id)).toMatchObject({ status: 'PARTIALLY_FILLED', exchange_order_id: '4001', price: d('50') });
    // now found by exchange id
    const [r2] = await apply(acc, [otu({ i: 4001, c: 'k-race-1', x: 'TRADE', X: 'FILLED', p: '50', ap: '50.1', z: '12.5' })]);
    expect(r2).toMatchObject({ order: 'updated', orderId: id });
    const [r3] = await apply(acc, [otu({ i: 4002, c: 'k-race-2', x: 'CANCELED', X: 'CANCELED' })]);
    expect(r3!.order).toBe('not-found');
    expect((await orderRow(ctx.db, other)).status).toBe('NEW');
    // another account's frame never touches this account's order
    const acc2 = await account(ctx.db, 'race-other');
    const [r4] = await apply(acc2, [otu({ i: 4001, c: 'k-race-1', x: 'CANCELED', X: 'CANCELED' })]);
    expect(r4!.order).toBe('not-found');
    expect((await orderRow(ctx.db, id)).status).toBe('FILLED');
  });

  it('algo frames mirror by algo id with their trigger price; an unknown algo status moves nothing', async () => {
    const acc = await account(ctx.db, 'algo');
    const pos = await position(ctx.db, acc);
    const id = await order(ctx.db, { positionId: pos, exchangeId: '4000009', clientId: 'k-sl-9', type: 'STOP-MARKET', price: '130' });
    const res = await applyEach(acc, [algoUpdate({ aid: 4000009, caid: 'k-sl-9', X: 'TRIGGERED', tp: '131' }), algoUpdate({ aid: 4000009, caid: 'k-sl-9', X: 'CANCELED', tp: '131.2' })]);
    expect(res.map((r) => r.order)).toEqual(['not-applied', 'updated']);
    expect(await orderRow(ctx.db, id)).toMatchObject({ status: 'CANCELLED', price: d('131.2') });
  });

  it('only execution types on the allow-list move orders; an empty allow-list is record-only', async () => {
    const acc = await account(ctx.db, 'allow');
    const pos = await position(ctx.db, acc);
    const id = await order(ctx.db, { positionId: pos, exchangeId: '5001', price: '10' });
    const [r1] = await apply(acc, [otu({ i: 5001, x: 'TRADE', X: 'FILLED', ap: '10.5' })], { applyExecutionTypes: ['CANCELED'] });
    expect(r1).toMatchObject({ recorded: true, order: 'not-applied' });
    expect((await orderRow(ctx.db, id)).status).toBe('NEW');

    const before = await snapshot(ctx.db);
    const recordOnly = await apply(
      acc,
      [
        otu({ i: 5001, x: 'CANCELED', X: 'CANCELED' }),
        accountUpdate([{ s: 'SOLUSDT', pa: '0' }]),
        otu({ i: 5999, c: 'k-manual', S: 'SELL', o: 'MARKET', x: 'TRADE', X: 'FILLED', R: true, ap: '9' }),
      ],
      { applyExecutionTypes: [] },
    );
    expect(recordOnly.map((r) => [r.recorded, r.order, r.openingOrdersCancelSteps.length, r.manualCloseDetected])).toEqual([
      [true, null, 0, false],
      [true, null, 0, false],
      [true, null, 0, false],
    ]);
    const after = (await snapshot(ctx.db)) as Record<string, unknown[]>;
    const b = before as Record<string, unknown[]>;
    expect(after.orders).toEqual(b.orders);
    expect(after.trading_steps).toEqual(b.trading_steps);
    expect(after.api_data_stream!.length).toBe(b.api_data_stream!.length + 3);
  });
});

describe('flat positions', () => {
  it('an ACCOUNT_UPDATE at zero creates one high-priority cancel-opening-orders step, deduplicated', async () => {
    const acc = await account(ctx.db, 'flat');
    const pos = await position(ctx.db, acc, { symbol: 'SOLUSDT', direction: 'LONG' });
    const other = await position(ctx.db, acc, { symbol: 'BTCUSDT', direction: 'SHORT' });
    await position(ctx.db, acc, { symbol: 'ETHUSDT', direction: 'LONG', status: 'closed' });
    const opening = await position(ctx.db, acc, { symbol: 'XRPUSDT', direction: 'LONG', status: 'opening' });
    const res = await applyEach(acc, [
      accountUpdate([{ s: 'SOLUSDT', pa: '0' }, { s: 'BTCUSDT', pa: '-0.5' }, { s: 'ETHUSDT', pa: '0' }, { s: 'XRPUSDT', pa: '0' }]),
      // a different frame showing the same flat position: deduplicated while the step is live
      accountUpdate([{ s: 'SOLUSDT', pa: '0.000' }]),
    ]);
    expect(res[0]!.openingOrdersCancelSteps).toHaveLength(1);
    expect(res[1]!.openingOrdersCancelSteps).toHaveLength(0);
    expect(res[1]!.openingOrdersCancelDeduped).toEqual([pos]);
    const steps = (await stepsOf(ctx.db, 'cancel-opening-orders')).filter((s) => s.arguments.accountId === acc);
    expect(steps).toHaveLength(1);
    expect(steps[0]).toMatchObject({ relatable_id: pos, priority: 'high', queue: 'priority', state: 'pending' });
    expect(steps[0]!.arguments).toMatchObject({ positionId: pos, openingOrdersOnly: true, symbol: 'SOLUSDT' });
    expect(steps.some((s) => s.relatable_id === other || s.relatable_id === opening)).toBe(false);
    // once that step is over, a new flat frame creates a new one
    await ctx.db('trading_steps').where('id', steps[0]!.id).update({ state: 'completed', dedupe_key: null });
    const [r3] = await apply(acc, [accountUpdate([{ s: 'SOLUSDT', pa: '0' }])]);
    expect(r3!.openingOrdersCancelSteps).toHaveLength(1);
  });

  it('hedge mode: a flat LONG selects the LONG position only; BOTH needs exactly one position', async () => {
    const acc = await account(ctx.db, 'flat-hedge', true);
    const long = await position(ctx.db, acc, { symbol: 'SOLUSDT', direction: 'LONG' });
    const short = await position(ctx.db, acc, { symbol: 'SOLUSDT', direction: 'SHORT' });
    const [r] = await apply(acc, [accountUpdate([{ s: 'SOLUSDT', pa: '0', ps: 'LONG' }, { s: 'SOLUSDT', pa: '-2', ps: 'SHORT' }])]);
    expect(r!.openingOrdersCancelSteps).toHaveLength(1);
    const steps = (await stepsOf(ctx.db, 'cancel-opening-orders')).filter((s) => s.arguments.accountId === acc);
    expect(steps.map((s) => s.relatable_id)).toEqual([long]);
    const d2 = deps();
    const [r2] = await applyUserDataFrames(ctx.db, [fr(acc, accountUpdate([{ s: 'SOLUSDT', pa: '0', ps: 'BOTH' }]))], d2);
    expect(r2!.openingOrdersCancelSteps).toHaveLength(0);
    expect(d2.logs.lines.some((l) => /several open positions/.test(JSON.stringify(l)))).toBe(true);
    expect(steps.some((s) => s.relatable_id === short)).toBe(false);
  });
});

describe('external closes', () => {
  it('a reduce-only FILLED order with no local order on an open position creates one replacement step', async () => {
    const acc = await account(ctx.db, 'manual');
    const pos = await position(ctx.db, acc, { symbol: 'SOLUSDT', direction: 'LONG' });
    const res = await applyEach(acc, [
      otu({ i: 6001, c: 'web_manual_1', S: 'SELL', o: 'MARKET', x: 'TRADE', X: 'FILLED', R: true, ap: '140', p: '0' }),
      otu({ i: 6002, c: 'web_manual_2', S: 'SELL', o: 'MARKET', x: 'TRADE', X: 'FILLED', cp: true, ap: '140', p: '0' }),
    ]);
    expect(res.map((r) => r.manualCloseDetected)).toEqual([true, true]);
    expect(res[0]!.replacementStepId).not.toBeNull();
    expect(res[1]!.replacementStepId).toBeNull();
    const steps = (await stepsOf(ctx.db, 'position-replacement')).filter((s) => s.arguments.accountId === acc);
    expect(steps).toHaveLength(1);
    expect(steps[0]).toMatchObject({ relatable_id: pos, priority: 'high', queue: 'priority' });
    expect(steps[0]!.arguments).toMatchObject({ positionId: pos, triggerStatus: 'EXTERNAL_FILL', manualCloseDetected: true });
  });

  it('no step for: a local order, a non-reduce-only fill, a partial fill, a side that does not close, no open position', async () => {
    const acc = await account(ctx.db, 'manual-neg');
    const pos = await position(ctx.db, acc, { symbol: 'SOLUSDT', direction: 'LONG' });
    await order(ctx.db, { positionId: pos, exchangeId: '7001', side: 'SELL', type: 'PROFIT-LIMIT', reduceOnly: true });
    const res = await applyEach(acc, [
      otu({ i: 7001, S: 'SELL', x: 'TRADE', X: 'FILLED', R: true, ap: '150' }),
      otu({ i: 7002, S: 'SELL', x: 'TRADE', X: 'FILLED', R: false, ap: '150' }),
      otu({ i: 7003, S: 'SELL', x: 'TRADE', X: 'PARTIALLY_FILLED', R: true, ap: '150' }),
      otu({ i: 7004, S: 'BUY', x: 'TRADE', X: 'FILLED', R: true, ap: '150' }),
      otu({ i: 7005, s: 'DOGEUSDT', S: 'SELL', x: 'TRADE', X: 'FILLED', R: true, ap: '0.2' }),
    ]);
    expect(res.map((r) => r.manualCloseDetected)).toEqual([false, false, false, false, false]);
    expect(res[0]!.order).toBe('updated');
    expect((await stepsOf(ctx.db, 'position-replacement')).filter((s) => s.arguments.accountId === acc)).toHaveLength(0);
  });

  it('liquidation and ADL frames are recorded but never treated as manual closes', async () => {
    const acc = await account(ctx.db, 'liquidation');
    await position(ctx.db, acc, { symbol: 'SOLUSDT', direction: 'LONG' });
    await position(ctx.db, acc, { symbol: 'BTCUSDT', direction: 'LONG' });
    const res = await applyEach(acc, [
      otu({ i: 8001, c: 'autoclose-1785000000123', o: 'LIQUIDATION', S: 'SELL', x: 'CALCULATED', X: 'FILLED', R: true, ap: '120' }),
      otu({ i: 8002, c: 'adl_autoclose', o: 'LIMIT', s: 'BTCUSDT', S: 'SELL', x: 'TRADE', X: 'FILLED', R: true, ap: '90000' }),
      otu({ i: 8003, c: 'settlement_autoclose-SOLUSDT', o: 'MARKET', S: 'SELL', x: 'TRADE', X: 'FILLED', R: true, ap: '121' }),
    ]);
    expect(res.map((r) => [r.recorded, r.exchangeClose, r.manualCloseDetected, r.replacementStepId])).toEqual([
      [true, true, false, null],
      [true, true, false, null],
      [true, true, false, null],
    ]);
    expect((await stepsOf(ctx.db, 'position-replacement')).filter((s) => s.arguments.accountId === acc)).toHaveLength(0);
    const rows = await ctx.db('api_data_stream').where('account_id', acc).orderBy('id');
    expect(rows.map((r) => [r.execution_type, r.client_order_id, r.normalized_status])).toEqual([
      ['CALCULATED', 'autoclose-1785000000123', 'FILLED'],
      ['TRADE', 'adl_autoclose', 'FILLED'],
      ['TRADE', 'settlement_autoclose-SOLUSDT', 'FILLED'],
    ]);
  });

  it('hedge mode: LONG/SHORT select the position, the side must close it, BOTH is refused on a hedge account', async () => {
    const acc = await account(ctx.db, 'hedge', true);
    const long = await position(ctx.db, acc, { symbol: 'SOLUSDT', direction: 'LONG' });
    const short = await position(ctx.db, acc, { symbol: 'SOLUSDT', direction: 'SHORT' });
    const res = await applyEach(acc, [
      otu({ i: 9001, S: 'SELL', ps: 'SHORT', x: 'TRADE', X: 'FILLED', R: true, ap: '140' }), // SELL does not close a SHORT
      otu({ i: 9002, S: 'SELL', ps: 'BOTH', x: 'TRADE', X: 'FILLED', R: true, ap: '140' }), // one-way tag on a hedge account
      otu({ i: 9003, S: 'BUY', ps: 'SHORT', x: 'TRADE', X: 'FILLED', cp: true, ap: '140' }),
      otu({ i: 9004, S: 'SELL', ps: 'LONG', x: 'TRADE', X: 'FILLED', R: true, ap: '140' }),
    ]);
    expect(res.map((r) => r.manualCloseDetected)).toEqual([false, false, true, true]);
    const steps = (await stepsOf(ctx.db, 'position-replacement')).filter((s) => s.arguments.accountId === acc);
    expect(steps.map((s) => s.relatable_id)).toEqual([short, long]);

    // one-way account: BOTH closes the single open position when the side closes its direction
    const oneWay = await account(ctx.db, 'one-way');
    const p = await position(ctx.db, oneWay, { symbol: 'SOLUSDT', direction: 'SHORT' });
    const r = await applyEach(oneWay, [otu({ i: 9101, S: 'SELL', ps: 'BOTH', x: 'TRADE', X: 'FILLED', R: true, ap: '1' }), otu({ i: 9102, S: 'BUY', ps: 'BOTH', x: 'TRADE', X: 'FILLED', R: true, ap: '1' })]);
    expect(r.map((x) => x.manualCloseDetected)).toEqual([false, true]);
    expect((await stepsOf(ctx.db, 'position-replacement')).filter((s) => s.arguments.accountId === oneWay).map((s) => s.relatable_id)).toEqual([p]);
  });
});

describe('replays, batches and atomicity', () => {
  function scenario(): unknown[] {
    return [
      otu({ i: 10001, c: 'k-r1', x: 'TRADE', X: 'PARTIALLY_FILLED', p: '20', ap: '20', z: '1' }),
      otu({ i: 10001, c: 'k-r1', x: 'TRADE', X: 'FILLED', p: '20', ap: '20.5', z: '12.5' }),
      otu({ i: 10002, c: 'k-r2', x: 'CANCELED', X: 'CANCELED', p: '19' }),
      otu({ i: 10003, c: 'k-r3', x: 'TRADE', X: 'FILLED', p: '0', ap: '21', o: 'MARKET' }),
      otu({ i: 10004, c: 'manual-x', S: 'SELL', x: 'TRADE', X: 'FILLED', R: true, ap: '22', o: 'MARKET' }),
      accountUpdate([{ s: 'SOLUSDT', pa: '0' }]),
      { e: 'TRADE_LITE', E: T0 + 77, s: 'SOLUSDT', i: 10001, t: 5 },
      'garbage',
      { e: 'NEW_THING', E: T0 + 78 },
    ];
  }

  async function fixture(name: string) {
    const acc = await account(ctx.db, name);
    const pos = await position(ctx.db, acc, { symbol: 'SOLUSDT', direction: 'LONG' });
    const ids = [await order(ctx.db, { positionId: pos, exchangeId: '10001', clientId: 'k-r1', price: '20' }), await order(ctx.db, { positionId: pos, exchangeId: null, clientId: 'k-r2', price: '19' }), await order(ctx.db, { positionId: pos, exchangeId: '10003', clientId: 'k-r3', price: '21.5', type: 'MARKET' })];
    return { acc, pos, ids };
  }

  it('replaying the same frames inserts nothing and changes nothing (one by one and batched)', async () => {
    const { acc } = await fixture('replay');
    const frames = scenario();
    const first = await applyEach(acc, frames);
    expect(first.every((r) => r.recorded)).toBe(true);
    const before = await snapshot(ctx.db);
    const replayEach = await applyEach(acc, frames);
    const replayBatch = await apply(acc, [...frames, ...frames]);
    expect([...replayEach, ...replayBatch].every((r) => !r.recorded && r.openingOrdersCancelSteps.length === 0 && r.replacementStepId === null)).toBe(true);
    expect(await snapshot(ctx.db)).toEqual(before);
    expect(await frameCount(ctx.db, acc)).toBe(frames.length);
  });

  it('a batch gives the same rows and results as the frames one by one; duplicates within a batch count once', async () => {
    const a = await fixture('batch-a');
    const b = await fixture('batch-b');
    const frames = scenario();
    const single = await applyEach(a.acc, frames);
    const batched = await apply(b.acc, [...frames, frames[0], frames[5]]);
    expect(batched).toHaveLength(frames.length + 2);
    expect(batched.slice(-2).map((r) => r.recorded)).toEqual([false, false]);
    const shape = (r: (typeof single)[number]) => [r.recorded, r.eventType, r.order, r.openingOrdersCancelSteps.length, r.openingOrdersCancelDeduped.length, r.manualCloseDetected, r.replacementStepId !== null, r.exchangeClose, r.problem];
    expect(batched.slice(0, frames.length).map(shape)).toEqual(single.map(shape));
    const ordersOf = async (ids: number[]) => Promise.all(ids.map((id) => orderRow(ctx.db, id)));
    const oa = await ordersOf(a.ids);
    const ob = await ordersOf(b.ids);
    expect(ob).toEqual(oa);
    expect(oa.map((o) => [o.status, o.price])).toEqual([
      ['FILLED', d('20.5')],
      ['CANCELLED', d('19')],
      ['FILLED', d('21')],
    ]);
    expect(oa[1]!.exchange_order_id).toBe('10002');
    const cols = (rows: Array<Record<string, unknown>>) => rows.map((r) => [r.raw_event_type, r.event_type, r.execution_type, r.normalized_status, r.exchange_order_id, r.client_order_id]);
    expect(cols(await ctx.db('api_data_stream').where('account_id', b.acc).orderBy('id'))).toEqual(cols(await ctx.db('api_data_stream').where('account_id', a.acc).orderBy('id')));
  });

  it('a failure after the insert rolls the frame back, so the retry applies it exactly once', async () => {
    const acc = await account(ctx.db, 'atomic');
    await position(ctx.db, acc, { symbol: 'SOLUSDT', direction: 'LONG' });
    const pos = await position(ctx.db, acc, { symbol: 'XRPUSDT', direction: 'LONG' });
    const id = await order(ctx.db, { positionId: pos, exchangeId: '11001', price: '1' });
    const frames = [otu({ i: 11001, s: 'XRPUSDT', x: 'TRADE', X: 'FILLED', ap: '1.1' }), accountUpdate([{ s: 'SOLUSDT', pa: '0' }])];
    // the step set "missing_" has no tables: creating the flat-position step fails inside the transaction
    await expect(apply(acc, frames, { stepPrefix: 'missing_' })).rejects.toThrow();
    expect(await frameCount(ctx.db, acc)).toBe(0);
    expect((await orderRow(ctx.db, id)).status).toBe('NEW');
    const retry = await apply(acc, frames);
    expect(retry.map((r) => r.recorded)).toEqual([true, true]);
    expect(retry[1]!.openingOrdersCancelSteps).toHaveLength(1);
    expect((await orderRow(ctx.db, id)).status).toBe('FILLED');
    const again = await apply(acc, frames);
    expect(again.map((r) => r.recorded)).toEqual([false, false]);
    expect(await frameCount(ctx.db, acc)).toBe(2);
  });
});

describe('the batched order write', () => {
  it('writes many orders in one statement, each under its own rank guard; a row another writer moved further is left alone and reported', async () => {
    const acc = await account(ctx.db, 'batched-write');
    const pos = await position(ctx.db, acc, { symbol: 'SOLUSDT', direction: 'LONG' });
    const a = await order(ctx.db, { positionId: pos, exchangeId: '12001', price: '10' });
    const b = await order(ctx.db, { positionId: pos, exchangeId: null, clientId: 'k-batched-b', price: '11' });
    const c = await order(ctx.db, { positionId: pos, exchangeId: '12003', price: '12', status: 'FILLED' }); // moved further by "another writer"
    const at = new Date(T0 + 60_000);
    const upTo = (...s: string[]) => s;
    const changed = await updateMirroredOrders(ctx.db, [
      { orderId: a, overwritable: upTo('NEW', 'PARTIALLY_FILLED'), status: 'PARTIALLY_FILLED', price: d('10.5'), exchangeOrderId: null },
      { orderId: b, overwritable: upTo('NEW', 'PARTIALLY_FILLED'), status: 'PARTIALLY_FILLED', price: null, exchangeOrderId: '12002' },
      { orderId: c, overwritable: upTo('NEW', 'PARTIALLY_FILLED'), status: 'PARTIALLY_FILLED', price: d('99'), exchangeOrderId: null },
    ], at);
    expect([...changed].sort()).toEqual([a, b].sort());
    expect(await orderRow(ctx.db, a)).toMatchObject({ status: 'PARTIALLY_FILLED', price: d('10.5'), exchange_order_id: '12001', quantity: d('12.5') });
    expect(await orderRow(ctx.db, b)).toMatchObject({ status: 'PARTIALLY_FILLED', price: d('11'), exchange_order_id: '12002' });
    expect(await orderRow(ctx.db, c)).toMatchObject({ status: 'FILLED', price: d('12'), exchange_order_id: '12003' });
    // a known exchange id is never replaced
    await updateMirroredOrders(ctx.db, [{ orderId: a, overwritable: upTo('NEW', 'PARTIALLY_FILLED', 'FILLED'), status: 'FILLED', price: null, exchangeOrderId: '99999' }], at);
    expect(await orderRow(ctx.db, a)).toMatchObject({ status: 'FILLED', exchange_order_id: '12001' });
    // more orders than one statement holds (chunks of 200)
    const many: number[] = [];
    for (let i = 0; i < 230; i++) many.push(await order(ctx.db, { positionId: pos, exchangeId: String(13000 + i), price: '1' }));
    const all = await updateMirroredOrders(ctx.db, many.map((id, i) => ({ orderId: id, overwritable: upTo('NEW', 'PARTIALLY_FILLED', 'FILLED'), status: 'FILLED', price: d(`${i + 1}.25`), exchangeOrderId: null })), at);
    expect(all.size).toBe(230);
    const rows = await ctx.db('orders').whereIn('id', many).orderBy('id').select('status', 'price');
    expect(rows.map((r) => [r.status, normalizeDecimal(String(r.price))])).toEqual(many.map((_, i) => ['FILLED', d(`${i + 1}.25`)]));
  });
});
