/**
 * Accounts drift: the pure comparison rules, then the whole read against seeded api_snapshots rows on the
 * real database (the snapshot table belongs to issue 5; the fixture creates it when it is absent).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { FakeClock } from '../../src/support/clock.js';
import { createLogger } from '../../src/support/log.js';
import { QueueFactory } from '../../src/queue/queues.js';
import { seedDemo } from '../../src/db/seed/demo.js';
import { requireKey } from '../../src/crypto/secrets.js';
import { createDataContext } from '../../src/web/data/context.js';
import { computeDrift, readDrift, typesMatch, statusesMatch, type LocalPosition } from '../../src/web/data/drift.js';
import { seedDriftSnapshots } from './support/fixtures.js';

const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);
const ago = (s: number) => new Date(NOW - s * 1000);

function position(over: Partial<LocalPosition> = {}): LocalPosition {
  return {
    id: 1,
    symbol: 'BTCUSDT',
    direction: 'LONG',
    status: 'active',
    quantity: '0.50000000',
    entryPrice: '96000.00000000',
    createdAt: ago(3600),
    orders: [
      { id: 10, clientOrderId: 'c-10', exchangeOrderId: '9001', type: 'LIMIT', side: 'BUY', status: 'NEW', price: '94560.00000000', quantity: '0.50000000', isAlgo: false, updatedAt: ago(3600) },
      { id: 11, clientOrderId: 'c-11', exchangeOrderId: '9002', type: 'PROFIT-LIMIT', side: 'SELL', status: 'NEW', price: '97150.00000000', quantity: '0.50000000', isAlgo: false, updatedAt: ago(3600) },
    ],
    ...over,
  };
}

const exPositions = [{ symbol: 'BTCUSDT', positionAmt: '0.500', entryPrice: '96050.0', positionSide: 'BOTH' }];
const exOrders = [
  { orderId: 9001, clientOrderId: 'c-10', symbol: 'BTCUSDT', status: 'NEW', type: 'LIMIT', side: 'BUY', price: '94560', stopPrice: '0', origQty: '0.500' },
  { orderId: 9002, clientOrderId: 'c-11', symbol: 'BTCUSDT', status: 'NEW', type: 'LIMIT', side: 'SELL', price: '97150', stopPrice: '0', origQty: '0.500' },
];

function run(positions: LocalPosition[], pos: unknown = exPositions, ord: unknown = exOrders, takenAt = ago(30)) {
  return computeDrift({ now: NOW, positions, snapshots: { positions: pos === null ? null : { takenAt, payload: pos }, orders: ord === null ? null : { takenAt, payload: ord }, algo: null } });
}

describe('drift rules', () => {
  it('is synced when quantities match exactly and prices within 0.1 %', () => {
    const r = run([position()]);
    expect(r.positions[0]).toMatchObject({ status: 'synced', diffs: [] });
    expect(r.positions[0]!.orders.map((o) => o.status)).toEqual(['synced', 'synced']);
    expect(r.outOfSync).toBe(0);
  });

  it('names the drifting fields: entry price beyond 0.1 %, quantity, status, side, type', () => {
    const r = run(
      [position()],
      [{ ...exPositions[0], entryPrice: '96200', positionAmt: '0.6' }],
      [
        { ...exOrders[0], origQty: '0.4', status: 'PARTIALLY_FILLED' },
        { ...exOrders[1], side: 'BUY', type: 'STOP_MARKET' },
      ],
    );
    expect(r.positions[0]!.status).toBe('drift');
    expect(r.positions[0]!.diffs).toEqual([
      { field: 'quantity', local: '0.50000000', exchange: '0.6' },
      { field: 'entry_price', local: '96000.00000000', exchange: '96200' },
    ]);
    expect(r.positions[0]!.orders[0]!.diffs.map((d) => d.field)).toEqual(['status', 'quantity']);
    expect(r.positions[0]!.orders[1]!.diffs.map((d) => d.field)).toEqual(['side', 'type']);
    expect(r.outOfSync).toBe(3);
  });

  it('reports local-only and exchange-only positions and orders', () => {
    const r = run([position()], [...exPositions, { symbol: 'ETHUSDT', positionAmt: '-2', entryPrice: '3400', positionSide: 'BOTH' }], [exOrders[0], { ...exOrders[0], orderId: 7, clientOrderId: 'manual' }]);
    expect(r.positions.map((p) => [p.key, p.status])).toEqual([
      ['BTCUSDT:LONG', 'synced'],
      ['ETHUSDT:SHORT', 'exchange-only'],
    ]);
    expect(r.positions[0]!.orders.map((o) => [o.key, o.status])).toEqual([
      ['c-10', 'synced'],
      ['c-11', 'local-only'],
    ]);
    expect(r.orphanOrders.map((o) => [o.key, o.status])).toEqual([['manual', 'exchange-only']]);
    expect(r.counts).toEqual({ synced: 2, drift: 0, 'local-only': 1, 'exchange-only': 2, unverified: 0 });
  });

  it('matches orders by exchange id when the client id is unknown, and aliases types and statuses', () => {
    const p = position();
    p.orders[0]!.clientOrderId = null;
    const r = run([p], exPositions, [{ ...exOrders[0], clientOrderId: 'exchange-side-id' }, exOrders[1]]);
    expect(r.positions[0]!.orders.map((o) => o.status)).toEqual(['synced', 'synced']);
    expect(typesMatch('PROFIT-MARKET', 'TAKE_PROFIT_MARKET')).toBe(true);
    expect(typesMatch('STOP-MARKET', 'STOP')).toBe(false);
    expect(statusesMatch('NEW', 'LIVE')).toBe(true);
    expect(statusesMatch('FILLED', 'NEW')).toBe(false);
  });

  it('compares trigger-priced orders with stopPrice and ignores quantity on close-position orders', () => {
    const p = position({ orders: [{ id: 12, clientOrderId: 'sl', exchangeOrderId: null, type: 'STOP-MARKET', side: 'SELL', status: 'NEW', price: '90000', quantity: '0.5', isAlgo: false, updatedAt: ago(3600) }] });
    const r = run([p], exPositions, [{ orderId: 1, clientOrderId: 'sl', symbol: 'BTCUSDT', status: 'NEW', type: 'STOP_MARKET', side: 'SELL', price: '0', stopPrice: '90050', origQty: '0', closePosition: true }]);
    expect(r.positions[0]!.orders[0]).toMatchObject({ status: 'synced', diffs: [] });
  });

  it('is unverified without a snapshot, with a stale snapshot, mid-flight, or when the row is newer than the snapshot', () => {
    expect(run([position()], null, null).positions[0]).toMatchObject({ status: 'unverified', reason: 'no positions snapshot yet' });
    expect(run([position()], exPositions, exOrders, ago(3600)).positions[0]).toMatchObject({ status: 'unverified', reason: 'positions snapshot is 3600 s old' });
    const mid = run([position({ status: 'closing' })]);
    expect(mid.positions[0]).toMatchObject({ status: 'unverified', reason: 'position is closing (mid-flight)' });
    expect(mid.positions[0]!.orders.map((o) => o.status)).toEqual(['unverified', 'unverified']);
    expect(run([position({ createdAt: ago(40) })]).positions[0]!.reason).toBe('position opened less than 60 s before the snapshot');
    const p = position();
    p.orders[1]!.updatedAt = ago(0);
    expect(run([p], exPositions, exOrders, ago(30)).positions[0]!.orders[1]!.status).toBe('synced'); // within the 60 s grace
    expect(run([p], exPositions, exOrders, ago(90)).positions[0]!.orders[1]).toMatchObject({ status: 'unverified', reason: 'order changed after the snapshot was taken' });
    const algo = position();
    algo.orders[1]!.isAlgo = true;
    expect(run([algo]).positions[0]!.orders[1]).toMatchObject({ status: 'unverified', reason: 'algo order, no algo-orders snapshot to check against' });
    expect(run([position()]).outOfSync).toBe(0);
  });

  it('accepts wrapped payloads and hedge-mode position sides', () => {
    const r = run([position({ direction: 'SHORT' })], { positions: [{ symbol: 'BTCUSDT', positionAmt: '0.5', positionSide: 'SHORT', entryPrice: '96000' }] }, { orders: [] });
    expect(r.positions[0]!.status).toBe('synced');
  });
});

describe('drift on seeded snapshots', () => {
  let ctx: TestContext;
  let queues: QueueFactory;

  beforeAll(async () => {
    ctx = await createTestContext('web-drift');
    queues = new QueueFactory({ prefix: ctx.prefix, connection: ctx.redis });
  });

  afterAll(async () => {
    await queues?.close();
    await ctx?.cleanup();
  });

  it('finds the seeded entry-price and quantity drift and the orphan order, and leaves other accounts unverified', async () => {
    const clock = new FakeClock(Date.now());
    await seedDemo(ctx.db, requireKey(ctx.config.appKey), { now: new Date(clock.now() - 7200_000) });
    const data = createDataContext({ db: ctx.db, redis: ctx.redis, prefix: ctx.prefix, clock, log: createLogger('test'), config: ctx.config, queues });
    const before = await readDrift(data);
    // no snapshot taken yet: nothing can be proven either way
    expect(before.snapshotsInstalled).toBe(true);
    expect(before.accounts[0]!.outOfSync).toBe(0);
    expect(before.accounts[0]!.positions.every((p) => p.status === 'unverified' && p.reason === 'no positions snapshot yet')).toBe(true);

    const { driftSymbol } = await seedDriftSnapshots(ctx.db, 1, new Date(clock.now()));
    data.probe.forget();
    const d = await readDrift(data);
    const a1 = d.accounts.find((a) => a.accountId === 1)!;
    expect(a1.snapshots.positions?.stale).toBe(false);
    const drifted = a1.positions.find((p) => p.symbol === driftSymbol)!;
    expect(drifted.status).toBe('drift');
    expect(drifted.diffs.map((x) => x.field)).toEqual(['entry_price']);
    const other = a1.positions.find((p) => p.symbol !== driftSymbol)!;
    expect(other.status).toBe('synced');
    expect(other.orders[0]!.status).toBe('drift');
    expect(other.orders[0]!.diffs.map((x) => x.field)).toEqual(['quantity']);
    expect(a1.orphanOrders.map((o) => [o.key, o.status])).toEqual([['manual-web-order', 'exchange-only']]);
    expect(a1.outOfSync).toBe(3);
    const a2 = d.accounts.find((a) => a.accountId === 2)!;
    expect(a2.outOfSync).toBe(0);
    expect(a2.positions.every((p) => p.status === 'unverified' && p.reason === 'no positions snapshot yet')).toBe(true);
  });
});
