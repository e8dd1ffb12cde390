/**
 * The simulated symbol catalogue and its mark prices: the demo symbols first (so seeded databases match),
 * then synthetic perpetuals up to the requested count. Prices follow a seeded geometric random walk.
 */
import { DEMO_SYMBOLS } from '../../db/seed/demo-data.js';
import type { BinancePremiumIndex, BinanceSymbolInfo, MarkPriceUpdate } from '../types.js';
import { gaussian, type Random } from './prng.js';

export interface SimSymbol {
  symbol: string;
  base: string;
  status: string;
  pricePrecision: number;
  quantityPrecision: number;
  tickSize: string;
  stepSize: string;
  price: number;
  onboardDate: number;
}

/** A mark-price entry forced into the next frame(s): zero, garbage or unknown symbols for tests. */
export interface MarkInjection {
  s: string;
  p: unknown;
}

const FUNDING_EVERY_MS = 8 * 3_600_000;

function syntheticBase(i: number): string {
  // S + base-36 index: unique, upper-case, never collides with a demo base.
  return `S${i.toString(36).toUpperCase().padStart(3, '0')}`;
}

export class SimMarket {
  readonly symbols: SimSymbol[] = [];
  private bySymbol = new Map<string, SimSymbol>();
  private injections: Array<{ entries: MarkInjection[]; frames: number }> = [];
  /** No mark frames while true (the socket stays open). */
  stalled = false;

  constructor(
    count: number,
    private readonly rand: Random,
    now: number,
  ) {
    for (const d of DEMO_SYMBOLS.slice(0, Math.max(count, 0))) {
      this.add({ symbol: d.symbol, base: d.base, status: 'TRADING', pricePrecision: d.pricePrecision, quantityPrecision: d.quantityPrecision, tickSize: d.tickSize, stepSize: d.stepSize, price: Number(d.price), onboardDate: now - 86_400_000 * 400 });
    }
    for (let i = this.symbols.length; i < count; i++) {
      const base = syntheticBase(i);
      const pp = 2 + Math.floor(rand() * 5);
      this.add({
        symbol: `${base}USDT`,
        base,
        status: 'TRADING',
        pricePrecision: pp,
        quantityPrecision: Math.floor(rand() * 3),
        tickSize: (10 ** -pp).toFixed(pp),
        stepSize: '1',
        price: Number((0.01 + rand() * 500).toFixed(pp)),
        onboardDate: now - 86_400_000 * Math.floor(1 + rand() * 300),
      });
    }
  }

  private add(s: SimSymbol): void {
    this.symbols.push(s);
    this.bySymbol.set(s.symbol, s);
  }

  get(symbol: string): SimSymbol | undefined {
    return this.bySymbol.get(symbol);
  }

  /** Change a symbol's status (e.g. SETTLING), or remove it from exchangeInfo altogether (delisting). */
  setStatus(symbol: string, status: string | null): boolean {
    const s = this.bySymbol.get(symbol);
    if (!s) return false;
    if (status === null) {
      this.bySymbol.delete(symbol);
      this.symbols.splice(this.symbols.indexOf(s), 1);
    } else {
      s.status = status;
    }
    return true;
  }

  /** Mark price as Binance formats it: 8 decimals. */
  markPrice(s: SimSymbol): string {
    const [int, frac = ''] = s.price.toFixed(s.pricePrecision).split('.');
    return `${int}.${frac.padEnd(8, '0')}`;
  }

  /** One random-walk step for every symbol (σ ≈ 5 bp per step). */
  step(): void {
    for (const s of this.symbols) {
      const next = s.price * Math.exp(0.0005 * gaussian(this.rand));
      const tick = 10 ** -s.pricePrecision;
      s.price = Math.max(tick, Math.round(next / tick) * tick);
    }
  }

  inject(entries: MarkInjection[], frames = 1): void {
    this.injections.push({ entries, frames: Math.max(1, frames) });
  }

  /** The `data` array of one `!markPrice@arr@1s` frame (injections replace or extend real entries). */
  snapshot(now: number): Array<MarkPriceUpdate | Record<string, unknown>> {
    const nextFunding = Math.ceil(now / FUNDING_EVERY_MS) * FUNDING_EVERY_MS;
    const out: Array<MarkPriceUpdate | Record<string, unknown>> = [];
    const forced = new Map<string, unknown>();
    for (const inj of this.injections) for (const e of inj.entries) forced.set(e.s, e.p);
    this.injections = this.injections.map((i) => ({ ...i, frames: i.frames - 1 })).filter((i) => i.frames > 0);
    for (const s of this.symbols) {
      if (s.status !== 'TRADING') continue;
      const mark = this.markPrice(s);
      const p = forced.has(s.symbol) ? forced.get(s.symbol) : mark;
      forced.delete(s.symbol);
      out.push({ e: 'markPriceUpdate', E: now, s: s.symbol, p: p as string, i: mark, P: mark, r: '0.00010000', T: nextFunding });
    }
    for (const [sym, p] of forced) out.push({ e: 'markPriceUpdate', E: now, s: sym, p, i: '1.00000000', P: '1.00000000', r: '0.00010000', T: nextFunding });
    return out;
  }

  premiumIndex(s: SimSymbol, now: number): BinancePremiumIndex {
    const mark = this.markPrice(s);
    return { symbol: s.symbol, markPrice: mark, indexPrice: mark, estimatedSettlePrice: mark, lastFundingRate: '0.00010000', interestRate: '0.00010000', nextFundingTime: Math.ceil(now / FUNDING_EVERY_MS) * FUNDING_EVERY_MS, time: now };
  }

  info(s: SimSymbol): BinanceSymbolInfo {
    return {
      symbol: s.symbol,
      pair: s.symbol,
      contractType: 'PERPETUAL',
      deliveryDate: 4133404800000,
      onboardDate: s.onboardDate,
      status: s.status,
      maintMarginPercent: '2.5000',
      requiredMarginPercent: '5.0000',
      baseAsset: s.base,
      quoteAsset: 'USDT',
      marginAsset: 'USDT',
      pricePrecision: s.pricePrecision,
      quantityPrecision: s.quantityPrecision,
      baseAssetPrecision: 8,
      quotePrecision: 8,
      underlyingType: 'COIN',
      triggerProtect: '0.0500',
      filters: [
        { filterType: 'PRICE_FILTER', tickSize: s.tickSize, minPrice: s.tickSize, maxPrice: '1000000' },
        { filterType: 'LOT_SIZE', stepSize: s.stepSize, minQty: s.stepSize, maxQty: '1000000' },
        { filterType: 'MARKET_LOT_SIZE', stepSize: s.stepSize, minQty: s.stepSize, maxQty: '100000' },
        { filterType: 'MIN_NOTIONAL', notional: '5' },
      ],
      orderTypes: ['LIMIT', 'MARKET', 'STOP', 'STOP_MARKET', 'TAKE_PROFIT', 'TAKE_PROFIT_MARKET', 'TRAILING_STOP_MARKET'],
      timeInForce: ['GTC', 'IOC', 'FOK', 'GTX', 'GTD'],
    };
  }
}
