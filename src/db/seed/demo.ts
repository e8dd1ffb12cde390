/**
 * `db:seed`: demo data for local use. A few accounts with fake credentials, the demo symbol catalogue
 * with mark prices, and open positions with working orders. Idempotent: a second run adds nothing.
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { createAccount } from '../repositories/accounts.js';
import { insertId } from '../helpers.js';
import { normalizeDecimal, fromScaled, toScaled } from '../../support/decimal.js';
import { DEMO_ACCOUNTS, DEMO_SYMBOLS, demoCredentials } from './demo-data.js';

export interface SeedSummary {
  accounts: number;
  symbols: number;
  positions: number;
  orders: number;
  skipped: boolean;
}

/** price × (1 + bp/10000), rounded to the symbol's tick precision, as a decimal string. */
function offsetPrice(price: string, bp: number, decimals: number): string {
  const scaled = toScaled(price, 8);
  const moved = (scaled * BigInt(10000 + bp)) / 10000n;
  const step = 10n ** BigInt(8 - decimals);
  return normalizeDecimal(fromScaled((moved / step) * step, 8))!;
}

export async function seedDemo(db: Knex, appKey: Buffer, opts: { now?: Date } = {}): Promise<SeedSummary> {
  const now = opts.now ?? new Date();
  const existing = await db('accounts').where({ name: DEMO_ACCOUNTS[0]!.name }).first();
  if (existing) return { accounts: 0, symbols: 0, positions: 0, orders: 0, skipped: true };

  const symbolIds = new Map<string, number>();
  for (const s of DEMO_SYMBOLS) {
    const found = await db('exchange_symbols').where({ symbol: s.symbol }).first('id');
    const id =
      found?.id ??
      (await insertId(db, 'exchange_symbols', {
        symbol: s.symbol,
        pair: s.symbol,
        base_asset: s.base,
        quote_asset: 'USDT',
        margin_asset: 'USDT',
        contract_type: 'PERPETUAL',
        status: 'TRADING',
        price_precision: s.pricePrecision,
        quantity_precision: s.quantityPrecision,
        tick_size: normalizeDecimal(s.tickSize),
        step_size: normalizeDecimal(s.stepSize),
        created_at: now,
        updated_at: now,
      }));
    symbolIds.set(s.symbol, Number(id));
    const hasPrice = await db('exchange_symbol_prices').where({ exchange_symbol_id: id }).first('id');
    if (!hasPrice) {
      await db('exchange_symbol_prices').insert({ exchange_symbol_id: id, mark_price: normalizeDecimal(s.price), mark_price_synced_at: now, created_at: now, updated_at: now });
    }
  }

  let positions = 0;
  let orders = 0;
  for (const [i, a] of DEMO_ACCOUNTS.entries()) {
    const creds = demoCredentials(i + 1);
    const accountId = await createAccount(db, appKey, { name: a.name, apiKey: creds.apiKey, apiSecret: creds.apiSecret, hedgeMode: a.hedge }, now);
    // Two open positions per account, each with a ladder of working limit orders and a take-profit.
    for (const [j, s] of DEMO_SYMBOLS.slice(i * 2, i * 2 + 2).entries()) {
      const direction = j % 2 === 0 ? 'LONG' : 'SHORT';
      const qty = s.quantityPrecision >= 2 ? '0.50' : s.quantityPrecision === 1 ? '25.0' : '500';
      const positionId = await insertId(db, 'positions', {
        account_id: accountId,
        exchange_symbol_id: symbolIds.get(s.symbol),
        parsed_trading_pair: s.symbol,
        direction,
        status: 'active',
        quantity: normalizeDecimal(qty),
        opening_price: normalizeDecimal(s.price),
        total_limit_orders: 3,
        created_at: now,
        updated_at: now,
      });
      positions++;
      const sign = direction === 'LONG' ? -1 : 1;
      const rows = [
        { type: 'MARKET', side: direction === 'LONG' ? 'BUY' : 'SELL', status: 'FILLED', price: s.price },
        ...[1, 2, 3].map((k) => ({ type: 'LIMIT', side: direction === 'LONG' ? 'BUY' : 'SELL', status: 'NEW', price: offsetPrice(s.price, sign * 150 * k, s.pricePrecision) })),
        { type: 'PROFIT-LIMIT', side: direction === 'LONG' ? 'SELL' : 'BUY', status: 'NEW', price: offsetPrice(s.price, -sign * 120, s.pricePrecision) },
      ];
      for (const o of rows) {
        const exchangeOrderId = String(8_000_000_000 + accountId * 100_000 + positionId * 100 + orders);
        await db('orders').insert({
          position_id: positionId,
          uuid: crypto.randomUUID(),
          client_order_id: `demo-${accountId}-${positionId}-${orders}`,
          exchange_order_id: exchangeOrderId,
          type: o.type,
          side: o.side,
          position_side: a.hedge ? direction : 'BOTH',
          status: o.status,
          reference_status: o.status,
          price: normalizeDecimal(o.price),
          quantity: normalizeDecimal(qty),
          reference_price: normalizeDecimal(o.price),
          reference_quantity: normalizeDecimal(qty),
          original_price: normalizeDecimal(o.price),
          is_algo: false,
          reduce_only: o.type === 'PROFIT-LIMIT',
          created_at: now,
          updated_at: now,
        });
        orders++;
      }
    }
  }
  return { accounts: DEMO_ACCOUNTS.length, symbols: DEMO_SYMBOLS.length, positions, orders, skipped: false };
}
