import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { migrateLatest, migrateRollback, migrationStatus } from '../../src/db/migrator.js';
import { migrations } from '../../src/db/migrations/index.js';
import { dialect } from '../../src/db/connection.js';
import { insertId, isUniqueViolation } from '../../src/db/helpers.js';
import { normalizeDecimal } from '../../src/support/decimal.js';
import { toBool, toDate, toDecimalString } from '../../src/support/sql-values.js';

let ctx: TestContext;

beforeAll(async () => {
  ctx = await createTestContext('migrations', { migrate: false });
});
afterAll(async () => {
  await ctx?.cleanup();
});

const SHARED = ['accounts', 'exchange_symbols', 'exchange_symbol_prices', 'binance_listen_keys', 'positions', 'orders', 'api_data_stream', 'notifications', 'kraite'];

describe(`migrations on ${process.env.DATABASE_URL?.split(':')[0] ?? 'sqlite'}`, () => {
  it('runs every migration, then nothing on a second run', async () => {
    const ran = await migrateLatest(ctx.db);
    expect(ran).toEqual(migrations.map((m) => m.name));
    expect(await migrateLatest(ctx.db)).toEqual([]);
    for (const t of SHARED) expect(await ctx.db.schema.hasTable(t), t).toBe(true);
    expect((await migrationStatus(ctx.db)).every((m) => m.ran)).toBe(true);
  });

  it('round-trips decimals, timestamps, booleans and ids identically on every database', async () => {
    const now = new Date('2026-11-27T10:11:12.345Z');
    const symbolId = await insertId(ctx.db, 'exchange_symbols', { symbol: 'SOLUSDT', tick_size: normalizeDecimal('0.001'), created_at: now, updated_at: now });
    expect(typeof symbolId).toBe('number');
    await ctx.db('exchange_symbol_prices').insert({ exchange_symbol_id: symbolId, mark_price: normalizeDecimal('142.3087'), mark_price_synced_at: now });
    const row = await ctx.db('exchange_symbol_prices').where({ exchange_symbol_id: symbolId }).first();
    expect(toDecimalString(row.mark_price)).toBe('142.30870000');
    expect(typeof row.mark_price).toBe('string');
    expect(toDate(row.mark_price_synced_at)?.toISOString()).toBe('2026-11-27T10:11:12.345Z');
    // a timestamp comparison bound from JS works on every dialect
    const fresh = await ctx.db('exchange_symbol_prices').where('mark_price_synced_at', '>', new Date(now.getTime() - 1)).count({ n: '*' });
    expect(Number(fresh[0]!.n)).toBe(1);
    const k = await ctx.db('kraite').where({ id: 1 }).first();
    expect(toBool(k.is_cooling_down)).toBe(false);
    const count = await ctx.db('orders').count({ n: '*' });
    expect(typeof count[0]!.n === 'number' || typeof count[0]!.n === 'string').toBe(true);
  });

  it('enforces the unique idempotency key of api_data_stream', async () => {
    const acc = await insertId(ctx.db, 'accounts', { name: 'u', created_at: new Date(), updated_at: new Date() });
    const row = { account_id: acc, raw_event_type: 'X', event_type: 'other', received_at: new Date(), raw_payload: '{}', idempotency_key: 'k1' };
    await ctx.db('api_data_stream').insert(row);
    const err = await ctx.db('api_data_stream').insert(row).catch((e: unknown) => e);
    expect(isUniqueViolation(err)).toBe(true);
  });

  it('rolls everything back and migrates again', async () => {
    const rolled = await migrateRollback(ctx.db, true);
    expect(rolled.length).toBe(migrations.length);
    for (const t of SHARED) expect(await ctx.db.schema.hasTable(t), t).toBe(false);
    await migrateLatest(ctx.db);
    expect(await ctx.db.schema.hasTable('accounts')).toBe(true);
    expect(['sqlite', 'pg', 'mysql']).toContain(dialect(ctx.db));
  });
});
