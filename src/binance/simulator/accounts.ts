/**
 * Simulated accounts: credentials (to verify signatures), the single listen key Binance allows per API
 * key, working orders and positions. Order fills move positions with exact decimal arithmetic.
 */
import { fromScaled, normalizeDecimal, toScaled } from '../../support/decimal.js';
import type { SimOrder, SimPosition } from './events.js';

export interface SimListenKey {
  key: string;
  expiresAt: number;
}

export interface AccountCounters {
  /** Data frames written to this account's sockets (one per socket per event). */
  framesSent: number;
  /** Events pushed while no socket could take them (no socket, key expired, half-open). */
  framesDropped: number;
  /** Malformed frames written on purpose (not JSON objects). */
  malformedSent: number;
  /** WebSocket connections accepted for this account since start. */
  connectionsOpened: number;
}

const S = 8;
const add = (a: string, b: string) => fromScaled(toScaled(a, S) + toScaled(b, S), S);
const sub = (a: string, b: string) => fromScaled(toScaled(a, S) - toScaled(b, S), S);
const mul = (a: string, b: string) => fromScaled((toScaled(a, S) * toScaled(b, S)) / 10n ** BigInt(S), S);
const div = (a: string, b: string) => {
  const d = toScaled(b, S);
  return d === 0n ? '0.00000000' : fromScaled((toScaled(a, S) * 10n ** BigInt(S)) / d, S);
};
const sign = (a: string) => {
  const v = toScaled(a, S);
  return v > 0n ? 1 : v < 0n ? -1 : 0;
};
const abs = (a: string) => (a.startsWith('-') ? a.slice(1) : a);

export class SimAccount {
  listenKey: SimListenKey | null = null;
  /** Keys that existed once: a socket that names one gets nothing more after it is replaced. */
  readonly orders = new Map<number, SimOrder>();
  readonly positions = new Map<string, SimPosition>();
  balance = '10000.00000000';
  readonly counters: AccountCounters = { framesSent: 0, framesDropped: 0, malformedSent: 0, connectionsOpened: 0 };

  constructor(
    readonly label: number,
    readonly apiKey: string,
    readonly apiSecret: string,
  ) {}

  activeKey(now: number): SimListenKey | null {
    return this.listenKey && this.listenKey.expiresAt > now ? this.listenKey : null;
  }

  findOrder(q: { orderId?: number; clientOrderId?: string }): SimOrder | undefined {
    if (q.orderId !== undefined) return this.orders.get(q.orderId);
    for (const o of this.orders.values()) if (o.clientOrderId === q.clientOrderId) return o;
    return undefined;
  }

  position(symbol: string, positionSide: string, now: number): SimPosition {
    const k = `${symbol}|${positionSide}`;
    let p = this.positions.get(k);
    if (!p) this.positions.set(k, (p = { symbol, positionSide, amt: '0.00000000', entry: '0.00000000', realised: '0.00000000', updateTime: now }));
    return p;
  }

  /** Apply a fill to the order and its position; returns the position touched. */
  applyFill(o: SimOrder, qty: string, price: string, now: number): SimPosition {
    const q = normalizeDecimal(qty)!;
    const px = normalizeDecimal(price)!;
    o.executedQty = add(o.executedQty, q);
    o.cumQuote = add(o.cumQuote, mul(q, px));
    o.avgPrice = div(o.cumQuote, o.executedQty);
    o.status = toScaled(o.executedQty, S) >= toScaled(o.origQty, S) ? 'FILLED' : 'PARTIALLY_FILLED';
    o.updateTime = now;

    const p = this.position(o.symbol, o.positionSide, now);
    const delta = o.side === 'BUY' ? q : `-${q}`;
    const before = p.amt;
    const after = add(before, delta);
    const entryBefore = p.entry;
    if (sign(before) !== 0 && sign(before) !== sign(delta)) {
      // Reducing: realise PnL on the closed part at the old entry.
      const closed = toScaled(q, S) < toScaled(abs(before), S) ? q : abs(before);
      p.realised = add(p.realised, mul(closed, sign(before) > 0 ? sub(px, entryBefore) : sub(entryBefore, px)));
    }
    if (sign(before) === 0 || sign(before) === sign(delta)) {
      // Opening or adding: the entry becomes the size-weighted average.
      p.entry = div(add(mul(abs(before), entryBefore), mul(q, px)), abs(after));
    } else if (sign(after) === 0) {
      p.entry = '0.00000000';
    } else if (sign(after) !== sign(before)) {
      p.entry = px; // flipped through zero
    }
    p.amt = after;
    p.updateTime = now;
    return p;
  }
}
