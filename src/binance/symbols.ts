/**
 * `kraite:cron-refresh-exchange-symbols`: the symbol catalogue from GET /fapi/v1/exchangeInfo (weight 1).
 */
import { applySymbolCatalogue, type SymbolRefreshCounts, type SymbolUpsert } from '../db/repositories/exchange-symbols.js';
import { ALERTS } from './constants.js';
import { safeNotify, type BinanceDeps } from './context.js';
import type { BinanceSymbolInfo } from './types.js';

/** Statuses of a contract that will not trade again (the symbol is marked delisted). */
export const DELISTED_STATUSES = new Set(['SETTLING', 'CLOSE', 'DELIVERING', 'DELIVERED', 'PRE_DELIVERING', 'PRE_SETTLE']);

export function toUpsert(s: BinanceSymbolInfo): SymbolUpsert {
  const filter = (type: string) => s.filters?.find((f) => f.filterType === type);
  return {
    symbol: s.symbol,
    pair: s.pair ?? null,
    base_asset: s.baseAsset ?? null,
    quote_asset: s.quoteAsset ?? null,
    margin_asset: s.marginAsset ?? null,
    contract_type: s.contractType ?? null,
    status: s.status ?? null,
    price_precision: Number.isInteger(s.pricePrecision) ? s.pricePrecision : null,
    quantity_precision: Number.isInteger(s.quantityPrecision) ? s.quantityPrecision : null,
    tick_size: filter('PRICE_FILTER')?.tickSize ?? null,
    step_size: filter('LOT_SIZE')?.stepSize ?? null,
    delisted: DELISTED_STATUSES.has(s.status),
  };
}

export async function refreshExchangeSymbols(deps: BinanceDeps): Promise<SymbolRefreshCounts> {
  const info = await deps.rest.exchangeInfo();
  if (!Array.isArray(info.symbols)) throw new Error('exchangeInfo has no symbols array');
  const counts = await applySymbolCatalogue(deps.db, info.symbols.map(toUpsert), new Date(deps.clock.now()));
  deps.log.info('exchange symbols refreshed', { ...counts });
  if (counts.delisted_symbols.length > 0) {
    await safeNotify(deps, { canonical: ALERTS.symbolsDelisted, key: counts.delisted_symbols.join(',').slice(0, 150), severity: 'info', title: `${counts.delisted_symbols.length} Binance symbols delisted: ${counts.delisted_symbols.slice(0, 10).join(', ')}`, context: { symbols: counts.delisted_symbols }, throttleSeconds: 0 });
  }
  return counts;
}
