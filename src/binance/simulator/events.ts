/**
 * User-data event payloads with Binance's field layout (ORDER_TRADE_UPDATE, TRADE_LITE, ACCOUNT_UPDATE,
 * listenKeyExpired). Decimals are strings; ids and times are numbers, as on the real stream.
 */
import type { BinanceOrder } from '../types.js';

export interface SimOrder {
  orderId: number;
  symbol: string;
  clientOrderId: string;
  side: 'BUY' | 'SELL';
  positionSide: string;
  type: string;
  origType: string;
  timeInForce: string;
  price: string;
  avgPrice: string;
  origQty: string;
  executedQty: string;
  cumQuote: string;
  stopPrice: string;
  status: string;
  reduceOnly: boolean;
  closePosition: boolean;
  workingType: string;
  time: number;
  updateTime: number;
}

export interface SimPosition {
  symbol: string;
  positionSide: string;
  amt: string;
  entry: string;
  realised: string;
  updateTime: number;
}

export interface Fill {
  qty: string;
  price: string;
  tradeId: number;
}

export function restOrder(o: SimOrder): BinanceOrder {
  return {
    orderId: o.orderId,
    symbol: o.symbol,
    status: o.status,
    clientOrderId: o.clientOrderId,
    price: o.price,
    avgPrice: o.avgPrice,
    origQty: o.origQty,
    executedQty: o.executedQty,
    cumQuote: o.cumQuote,
    timeInForce: o.timeInForce,
    type: o.type,
    reduceOnly: o.reduceOnly,
    closePosition: o.closePosition,
    side: o.side,
    positionSide: o.positionSide,
    stopPrice: o.stopPrice,
    workingType: o.workingType,
    priceProtect: false,
    origType: o.origType,
    priceMatch: 'NONE',
    selfTradePreventionMode: 'EXPIRE_MAKER',
    goodTillDate: 0,
    time: o.time,
    updateTime: o.updateTime,
  };
}

/** ORDER_TRADE_UPDATE for `o` after execution `x` (NEW, TRADE, CANCELED, EXPIRED, AMENDMENT). */
export function orderTradeUpdate(o: SimOrder, x: string, now: number, fill?: Fill): Record<string, unknown> {
  return {
    e: 'ORDER_TRADE_UPDATE',
    E: now,
    T: now,
    o: {
      s: o.symbol,
      c: o.clientOrderId,
      S: o.side,
      o: o.type,
      f: o.timeInForce,
      q: o.origQty,
      p: o.price,
      ap: o.avgPrice,
      sp: o.stopPrice,
      x,
      X: o.status,
      i: o.orderId,
      l: fill?.qty ?? '0',
      z: o.executedQty,
      L: fill?.price ?? '0',
      N: 'USDT',
      n: fill ? '0.01000000' : '0',
      T: now,
      t: fill?.tradeId ?? 0,
      b: '0',
      a: '0',
      m: o.type === 'LIMIT',
      R: o.reduceOnly,
      wt: o.workingType,
      ot: o.origType,
      ps: o.positionSide,
      cp: o.closePosition,
      rp: '0',
      pP: false,
      si: 0,
      ss: 0,
      V: 'EXPIRE_MAKER',
      pm: 'NONE',
      gtd: 0,
    },
  };
}

/** TRADE_LITE: sent before ORDER_TRADE_UPDATE for every TRADE execution. */
export function tradeLite(o: SimOrder, fill: Fill, now: number): Record<string, unknown> {
  return { e: 'TRADE_LITE', E: now, T: now, s: o.symbol, q: o.origQty, p: o.price, m: o.type === 'LIMIT', c: o.clientOrderId, S: o.side, L: fill.price, l: fill.qty, t: fill.tradeId, i: o.orderId };
}

export function accountUpdate(reason: string, balance: string, positions: SimPosition[], now: number): Record<string, unknown> {
  return {
    e: 'ACCOUNT_UPDATE',
    E: now,
    T: now,
    a: {
      m: reason,
      B: [{ a: 'USDT', wb: balance, cw: balance, bc: '0' }],
      P: positions.map((p) => ({ s: p.symbol, pa: p.amt, ep: p.entry, bep: p.entry, cr: p.realised, up: '0', mt: 'cross', iw: '0', ps: p.positionSide })),
    },
  };
}

export function listenKeyExpired(listenKey: string, now: number): Record<string, unknown> {
  return { e: 'listenKeyExpired', E: now, listenKey };
}
