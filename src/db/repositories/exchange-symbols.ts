/**
 * exchange_symbols from Binance's exchangeInfo: upserted by symbol, never deleted. A symbol that left the
 * catalogue (or is settling/closed) gets delisted_at; one that comes back is cleared. Every symbol gets an
 * exchange_symbol_prices row (mark_price NULL until the price stream writes it).
 */
import type { Knex } from 'knex';
import { normalizeDecimal } from '../../support/decimal.js';
import { toDate, toDecimalString } from '../../support/sql-values.js';

export interface SymbolUpsert {
  symbol: string;
  pair: string | null;
  base_asset: string | null;
  quote_asset: string | null;
  margin_asset: string | null;
  contract_type: string | null;
  status: string | null;
  price_precision: number | null;
  quantity_precision: number | null;
  tick_size: string | null;
  step_size: string | null;
  /** True when the exchange lists it but it no longer trades for good (SETTLING, CLOSE, DELIVERED…). */
  delisted: boolean;
}

export interface SymbolRefreshCounts {
  listed: number;
  inserted: number;
  updated: number;
  unchanged: number;
  delisted: number;
  relisted: number;
  price_rows_created: number;
  /** The symbols marked delisted by this run. */
  delisted_symbols: string[];
}

const FIELDS = ['pair', 'base_asset', 'quote_asset', 'margin_asset', 'contract_type', 'status', 'price_precision', 'quantity_precision', 'tick_size', 'step_size'] as const;

function same(field: string, a: unknown, b: unknown): boolean {
  if (field === 'tick_size' || field === 'step_size') return toDecimalString(a) === toDecimalString(b);
  if (field === 'price_precision' || field === 'quantity_precision') return (a === null ? null : Number(a)) === (b === null ? null : Number(b));
  return (a ?? null) === (b ?? null);
}

export async function applySymbolCatalogue(db: Knex, listed: SymbolUpsert[], now: Date): Promise<SymbolRefreshCounts> {
  const counts: SymbolRefreshCounts = { listed: listed.length, inserted: 0, updated: 0, unchanged: 0, delisted: 0, relisted: 0, price_rows_created: 0, delisted_symbols: [] };
  const existing = new Map<string, Record<string, unknown>>(((await db('exchange_symbols').select('*')) as Array<Record<string, unknown>>).map((r) => [String(r.symbol), r]));
  const seen = new Set<string>();
  const inserts: Array<Record<string, unknown>> = [];
  for (const s of listed) {
    seen.add(s.symbol);
    const values: Record<string, unknown> = { ...Object.fromEntries(FIELDS.map((f) => [f, s[f]])), tick_size: normalizeDecimal(s.tick_size), step_size: normalizeDecimal(s.step_size) };
    const row = existing.get(s.symbol);
    if (!row) {
      inserts.push({ symbol: s.symbol, ...values, delisted_at: s.delisted ? now : null, created_at: now, updated_at: now });
      continue;
    }
    const wasDelisted = toDate(row.delisted_at) !== null;
    const patch: Record<string, unknown> = {};
    for (const f of FIELDS) if (!same(f, row[f], values[f])) patch[f] = values[f];
    if (s.delisted && !wasDelisted) {
      patch.delisted_at = now;
      counts.delisted++;
      counts.delisted_symbols.push(s.symbol);
    } else if (!s.delisted && wasDelisted) {
      patch.delisted_at = null;
      counts.relisted++;
    }
    if (Object.keys(patch).length === 0) {
      counts.unchanged++;
      continue;
    }
    await db('exchange_symbols').where({ id: row.id }).update({ ...patch, updated_at: now });
    counts.updated++;
  }
  for (let i = 0; i < inserts.length; i += 200) await db('exchange_symbols').insert(inserts.slice(i, i + 200));
  counts.inserted = inserts.length;

  // Gone from the catalogue: marked, never deleted (positions and history point at it).
  for (const [symbol, row] of existing) {
    if (seen.has(symbol) || toDate(row.delisted_at) !== null) continue;
    await db('exchange_symbols').where({ id: row.id }).update({ delisted_at: now, updated_at: now });
    counts.delisted++;
    counts.delisted_symbols.push(symbol);
  }
  counts.price_rows_created = await ensurePriceRows(db, now);
  return counts;
}

/** Create the missing exchange_symbol_prices rows (mark_price NULL). */
export async function ensurePriceRows(db: Knex, now: Date): Promise<number> {
  const missing: Array<{ id: number }> = await db('exchange_symbols as s').leftJoin('exchange_symbol_prices as p', 'p.exchange_symbol_id', 's.id').whereNull('p.id').select('s.id');
  const rows = missing.map((m) => ({ exchange_symbol_id: Number(m.id), mark_price: null, mark_price_synced_at: null, created_at: now, updated_at: now }));
  for (let i = 0; i < rows.length; i += 200) await db('exchange_symbol_prices').insert(rows.slice(i, i + 200));
  return rows.length;
}
