/** GET /fapi/v3/positionRisk from the simulated positions (non-zero ones), marked to the simulated market. */
import { fromScaled, toScaled } from '../../support/decimal.js';
import type { BinancePositionRisk } from '../types.js';
import type { SimAccount } from './accounts.js';
import type { SimMarket } from './market.js';

export function positionRisk(acc: SimAccount, market: SimMarket, symbol: string | null): BinancePositionRisk[] {
  const out: BinancePositionRisk[] = [];
  for (const p of acc.positions.values()) {
    if (symbol && p.symbol !== symbol) continue;
    if (toScaled(p.amt) === 0n) continue;
    const s = market.get(p.symbol);
    const mark = s ? market.markPrice(s) : p.entry;
    const up = fromScaled(((toScaled(mark) - toScaled(p.entry)) * toScaled(p.amt)) / 100_000_000n);
    const notional = fromScaled((toScaled(mark) * toScaled(p.amt)) / 100_000_000n);
    out.push({
      symbol: p.symbol, positionSide: p.positionSide, positionAmt: p.amt, entryPrice: p.entry, breakEvenPrice: p.entry, markPrice: mark,
      unRealizedProfit: up, liquidationPrice: '0', isolatedMargin: '0', notional, marginAsset: 'USDT', isolatedWallet: '0',
      initialMargin: '0', maintMargin: '0', positionInitialMargin: '0', openOrderInitialMargin: '0', adl: 1, bidNotional: '0', askNotional: '0', updateTime: p.updateTime,
    });
  }
  return out;
}
