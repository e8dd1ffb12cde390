/**
 * The mark-price daemon against the simulator's !markPrice@arr@1s feed with 500 known symbols: batched
 * flushes, skipped zero/garbage prices, ignored unknown symbols, the symbol-map refresh, and the no-data
 * self-exit. Flushes are driven by hand (flush()) or by run() on a FakeClock.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import { createTestContext, ROOT, type TestContext } from '../support/context.js';
import { MarkPriceDaemon } from '../../src/binance/prices/daemon.js';
import { applySymbolCatalogue } from '../../src/db/repositories/exchange-symbols.js';
import { toUpsert } from '../../src/binance/symbols.js';
import { readHeartbeats } from '../../src/support/heartbeat.js';
import { toDate, toDecimalString } from '../../src/support/sql-values.js';
import { normalizeDecimal } from '../../src/support/decimal.js';
import { advanceUntil, harness, T0, waitFor, type Harness } from './helpers.js';

let ctx: TestContext;
let h: Harness;
let daemon: MarkPriceDaemon;

async function prices(db: Knex): Promise<Map<string, { price: string | null; at: number | null }>> {
  const rows = await db('exchange_symbols as s').join('exchange_symbol_prices as p', 'p.exchange_symbol_id', 's.id').select('s.symbol', 'p.mark_price', 'p.mark_price_synced_at');
  return new Map(rows.map((r: { symbol: string; mark_price: unknown; mark_price_synced_at: unknown }) => [r.symbol, { price: toDecimalString(r.mark_price), at: toDate(r.mark_price_synced_at)?.getTime() ?? null }]));
}

function simPrices(): Map<string, string> {
  return new Map(h.sim.market.symbols.map((s) => [s.symbol, normalizeDecimal(h.sim.market.markPrice(s))!]));
}

beforeAll(async () => {
  ctx = await createTestContext('binance-prices');
  h = await harness(ctx, { symbols: 520, markIntervalMs: 3_600_000 }); // frames only when the test ticks
  const info = h.sim.market.symbols.map((s) => toUpsert(h.sim.market.info(s)));
  await applySymbolCatalogue(ctx.db, info.slice(0, 500), new Date(T0)); // the last 20 stay unknown to the DB
  daemon = new MarkPriceDaemon({ deps: h.deps, redis: ctx.redis, prefix: ctx.prefix, hostname: 'test-host', random: () => 0.5 });
  await daemon.start();
  await waitFor(() => daemon.connected && h.sim.openSockets().some((s) => s.kind === 'market'), 'mark socket open');
});

afterAll(async () => {
  await daemon?.close();
  await h?.close();
  await ctx?.cleanup();
});

describe('kraite:stream-binance-prices', () => {
  it('writes every known symbol of a frame in one batched UPDATE per 500 rows', async () => {
    const statements: string[] = [];
    const onQuery = (q: { sql: string }) => statements.push(q.sql);
    ctx.db.on('query', onQuery);
    try {
      h.sim.tickMark();
      await waitFor(() => daemon.stats.frames === 1, 'first frame');
      const r = await daemon.flush();
      expect(r).toMatchObject({ written: 500, statements: 1 });
    } finally {
      ctx.db.off('query', onQuery);
    }
    const updates = statements.filter((s) => /update/i.test(s));
    expect(updates).toHaveLength(1);
    expect(updates[0]).toMatch(/^UPDATE exchange_symbol_prices /);
    const db = await prices(ctx.db);
    const sim = simPrices();
    for (const s of h.sim.market.symbols.slice(0, 500)) expect(db.get(s.symbol)).toEqual({ price: sim.get(s.symbol), at: T0 });
    expect(db.has(h.sim.market.symbols[510]!.symbol)).toBe(false);
  });

  it('updates the table at every flush: changed prices now, unchanged ones once they are 30 s old', async () => {
    for (let k = 1; k <= 3; k++) {
      const before = await prices(ctx.db);
      await h.clock.advance(1000);
      h.sim.tickMark();
      await waitFor(() => daemon.stats.frames === 1 + k, `frame ${k + 1}`);
      const r = await daemon.flush();
      const after = await prices(ctx.db);
      const sim = simPrices();
      let changed = 0;
      for (const s of h.sim.market.symbols.slice(0, 500)) {
        const want = sim.get(s.symbol)!;
        expect(after.get(s.symbol)!.price).toBe(want);
        if (before.get(s.symbol)!.price !== want) {
          changed++;
          expect(after.get(s.symbol)!.at).toBe(h.clock.now());
        }
      }
      expect(r.written).toBe(changed);
      expect(changed).toBeGreaterThan(0);
    }
    // Unchanged prices are rewritten once their timestamp is 30 s old, so synced_at stays truthful.
    h.sim.market.stalled = false;
    await h.clock.advance(30_000);
    h.sim.tickMark();
    await waitFor(() => daemon.stats.frames === 5, 'frame 5');
    expect((await daemon.flush()).written).toBe(500);
  });

  it('skips null, zero, negative and non-numeric prices (value and timestamp stay) and ignores unknown symbols', async () => {
    const before = await prices(ctx.db);
    const unknownBefore = daemon.stats.unknownSymbols;
    h.sim.market.inject([
      { s: 'BTCUSDT', p: '0' },
      { s: 'ETHUSDT', p: 'abc' },
      { s: 'SOLUSDT', p: null },
      { s: 'BNBUSDT', p: '-5.0' },
      { s: 'XRPUSDT', p: '' },
      { s: 'DOGEUSDT', p: 12 },
      { s: 'NOPEUSDT', p: '1.5' },
    ]);
    await h.clock.advance(1000);
    h.sim.tickMark();
    await waitFor(() => daemon.stats.frames === 6, 'frame with garbage');
    await daemon.flush();
    const after = await prices(ctx.db);
    for (const s of ['BTCUSDT', 'ETHUSDT', 'SOLUSDT', 'BNBUSDT', 'XRPUSDT', 'DOGEUSDT']) expect(after.get(s), s).toEqual(before.get(s));
    expect(after.get('ADAUSDT')!.price).toBe(simPrices().get('ADAUSDT'));
    expect(after.has('NOPEUSDT')).toBe(false);
    expect(daemon.stats.unknownSymbols - unknownBefore).toBe(21); // 20 listed but unknown to the DB, plus NOPEUSDT
    expect(await ctx.db('exchange_symbols').where({ symbol: 'NOPEUSDT' })).toHaveLength(0);
  });

  it('picks up symbols added to the database at the next symbol-map refresh', async () => {
    const extra = h.sim.market.symbols[505]!;
    await applySymbolCatalogue(ctx.db, h.sim.market.symbols.slice(0, 506).map((s) => toUpsert(h.sim.market.info(s))), new Date(h.clock.now()));
    await h.clock.advance(300_000);
    h.sim.tickMark();
    await waitFor(() => daemon.stats.frames === 7, 'frame after refresh');
    await daemon.flush(); // the flush reloads the map first (5 min passed), but this frame arrived before it
    h.sim.tickMark();
    await waitFor(() => daemon.stats.frames === 8, 'next frame');
    await daemon.flush();
    expect((await prices(ctx.db)).get(extra.symbol)!.price).toBe(simPrices().get(extra.symbol));
  });

  it('writes the stream-prices heartbeat', async () => {
    await daemon.healthTick();
    const [beat] = await readHeartbeats(ctx.redis, ctx.prefix, 'stream-prices');
    expect(beat).toMatchObject({ daemon: 'stream-prices', connected: true, symbols_known: 506 });
    expect(beat!.flushes).toBeGreaterThan(0);
  });

  it('a stalled feed leads to a reconnect and then to self-exit after the configured time', async () => {
    const stalled = new MarkPriceDaemon({ deps: h.deps, redis: ctx.redis, prefix: ctx.prefix, hostname: 'test-host', random: () => 0.5, timings: { noDataExitMs: 120_000, idleTimeoutMs: 30_000 } });
    const run = stalled.run();
    let reason: string | null = null;
    void run.then((r) => (reason = r));
    await waitFor(() => stalled.connected, 'second price socket open');
    h.sim.market.stalled = true;
    await advanceUntil(h.clock, () => reason !== null, 'no-data exit', 5000);
    expect(reason).toBe('no-data');
    expect(await ctx.db('notifications').where({ canonical: 'binance_prices_no_data_exit' })).toHaveLength(1);
    await waitFor(async () => (await ctx.db('notifications').where({ canonical: 'websocket_reconnect_triggered' })).length > 0, 'idle reconnect alert');
    h.sim.market.stalled = false;
  });

  it('never writes mark prices into exchange_symbols (the sidecar table takes the 1 Hz updates)', () => {
    const src = fs.readFileSync(path.join(ROOT, 'src/db/repositories/mark-prices.ts'), 'utf8');
    expect(src).toContain('UPDATE exchange_symbol_prices SET mark_price = v.value');
    for (const f of ['src/db/repositories/mark-prices.ts', 'src/binance/prices/daemon.ts']) expect(fs.readFileSync(path.join(ROOT, f), 'utf8')).not.toMatch(/UPDATE exchange_symbols SET mark_price/i);
  });
});
