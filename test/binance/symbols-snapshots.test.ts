/**
 * The symbol catalogue refresh (upsert, price rows, delisting marked never deleted) and the account
 * snapshots for the drift view, against the simulator.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { refreshExchangeSymbols } from '../../src/binance/symbols.js';
import { snapshotAccounts } from '../../src/binance/snapshots.js';
import { createAccount } from '../../src/db/repositories/accounts.js';
import { latestSnapshot } from '../../src/db/repositories/api-snapshots.js';
import { demoCredentials } from '../../src/db/seed/demo-data.js';
import { toDate, toDecimalString } from '../../src/support/sql-values.js';
import { harness, type Harness } from './helpers.js';

let ctx: TestContext;
let h: Harness;

beforeAll(async () => {
  ctx = await createTestContext('binance-symbols');
  h = await harness(ctx, { symbols: 40 });
});

afterAll(async () => {
  await h?.close();
  await ctx?.cleanup();
});

describe('kraite:cron-refresh-exchange-symbols', () => {
  it('inserts every symbol with its filters and a price row, then changes nothing on a second run', async () => {
    expect(await refreshExchangeSymbols(h.deps)).toMatchObject({ listed: 40, inserted: 40, updated: 0, price_rows_created: 40 });
    const sol = await ctx.db('exchange_symbols').where({ symbol: 'SOLUSDT' }).first();
    expect(sol).toMatchObject({ base_asset: 'SOL', quote_asset: 'USDT', contract_type: 'PERPETUAL', status: 'TRADING' });
    expect(toDecimalString(sol.tick_size)).toBe('0.01000000');
    expect(toDecimalString(sol.step_size)).toBe('0.10000000');
    expect(await ctx.db('exchange_symbol_prices').count({ n: '*' })).toEqual([{ n: 40 }]);
    expect(await refreshExchangeSymbols(h.deps)).toMatchObject({ inserted: 0, updated: 0, unchanged: 40, price_rows_created: 0 });
  });

  it('marks delisted symbols (gone, or settling) and never deletes them; a returning symbol is cleared', async () => {
    const gone = h.sim.market.symbols[12]!.symbol;
    h.sim.market.setStatus(gone, null);
    h.sim.market.setStatus('DOGEUSDT', 'SETTLING');
    await h.clock.advance(3_600_000);
    expect(await refreshExchangeSymbols(h.deps)).toMatchObject({ listed: 39, delisted: 2, updated: 1, delisted_symbols: ['DOGEUSDT', gone] });
    expect(await ctx.db('notifications').where({ canonical: 'binance_symbols_delisted' })).toHaveLength(1);
    const rows = await ctx.db('exchange_symbols').whereIn('symbol', [gone, 'DOGEUSDT']);
    expect(rows).toHaveLength(2);
    for (const r of rows) expect(toDate(r.delisted_at)?.getTime()).toBe(h.clock.now());
    expect(await ctx.db('exchange_symbols').count({ n: '*' })).toEqual([{ n: 40 }]);
    h.sim.market.setStatus('DOGEUSDT', 'TRADING');
    expect(await refreshExchangeSymbols(h.deps)).toMatchObject({ relisted: 1 });
    expect((await ctx.db('exchange_symbols').where({ symbol: 'DOGEUSDT' }).first()).delisted_at).toBeNull();
  });
});

describe('kraite:cron-snapshot-accounts', () => {
  it('stores positions and open orders per account; one account failing does not stop the others', async () => {
    const c = demoCredentials(500);
    const good = await createAccount(ctx.db, ctx.config.appKey!, { name: 'Snap', apiKey: c.apiKey, apiSecret: c.apiSecret });
    h.sim.registerAccount({ ...c, label: good });
    const bad = await createAccount(ctx.db, ctx.config.appKey!, { name: 'Unknown to Binance', apiKey: 'u'.repeat(64), apiSecret: 'v'.repeat(64) });
    await h.sim.scenarios.playLifecycle(good, { symbol: 'ETHUSDT', qty: '2', outcome: 'fill' });
    const open = h.sim.scenarios.upsertOrder(good, { symbol: 'ETHUSDT', price: '3000', origQty: '1', status: 'NEW' });
    const r = await snapshotAccounts(h.deps);
    expect(r.accounts).toEqual([
      { account_id: good, positions: 1, open_orders: 1 },
      expect.objectContaining({ account_id: bad, error: expect.stringContaining('-2015') }),
    ]);
    const snap = await latestSnapshot(ctx.db, good);
    expect(snap).toMatchObject({ accountId: good, canonical: 'binance' });
    expect(snap!.takenAt.getTime()).toBe(h.clock.now());
    expect(snap!.payload.positions[0]).toMatchObject({ symbol: 'ETHUSDT', positionAmt: '2.00000000', positionSide: 'BOTH' });
    expect(snap!.payload.open_orders[0]).toMatchObject({ orderId: open.orderId, status: 'NEW' });
    expect(await latestSnapshot(ctx.db, bad)).toBeNull();
    expect(await ctx.db('notifications').where({ canonical: 'binance_account_snapshot_failed', dedupe_key: String(bad) })).toHaveLength(1);
    // Old snapshots are pruned.
    await h.clock.advance(49 * 3_600_000);
    const later = await snapshotAccounts(h.deps, { accountId: good });
    expect(later.pruned).toBe(1);
    expect(await ctx.db('api_snapshots').count({ n: '*' })).toEqual([{ n: 1 }]);
  });
});
