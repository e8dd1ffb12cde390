/**
 * Order cancellation on the simulated exchange, as Binance does it: only a working order (NEW or
 * PARTIALLY_FILLED) can be cancelled. It becomes CANCELED (a partial fill keeps its executed quantity and
 * position), and every socket of the account's active listen key gets ORDER_TRADE_UPDATE with x=CANCELED,
 * X=CANCELED. Used by DELETE /fapi/v1/order and DELETE /fapi/v1/allOpenOrders (./rest.ts).
 */
import type { BinanceCanceledOrder } from '../types.js';
import type { SimAccount } from './accounts.js';
import { orderTradeUpdate, restOrder, type SimOrder } from './events.js';
import type { BinanceSimulator } from './simulator.js';

export const WORKING_STATUSES: ReadonlySet<string> = new Set(['NEW', 'PARTIALLY_FILLED']);

export function isWorking(o: SimOrder): boolean {
  return WORKING_STATUSES.has(o.status);
}

/** Cancel `o` now and push the event. False, with nothing changed or sent, when the order is not working. */
export function cancelOrder(sim: BinanceSimulator, acc: SimAccount, o: SimOrder): boolean {
  if (!isWorking(o)) return false;
  const now = sim.clock.now();
  o.status = 'CANCELED';
  o.updateTime = now;
  sim.push(acc, orderTradeUpdate(o, 'CANCELED', now));
  return true;
}

/** Cancel every working order of `symbol`, in order id order; returns the cancelled orders. */
export function cancelOpenOrders(sim: BinanceSimulator, acc: SimAccount, symbol: string): SimOrder[] {
  const open = [...acc.orders.values()].filter((o) => o.symbol === symbol && isWorking(o)).sort((a, b) => a.orderId - b.orderId);
  return open.filter((o) => cancelOrder(sim, acc, o));
}

/** The answer of DELETE /fapi/v1/order: the order's fields with `cumQty`, without `avgPrice` and `time`. */
export function canceledOrderAnswer(o: SimOrder): BinanceCanceledOrder {
  const { avgPrice: _avgPrice, time: _time, ...rest } = restOrder(o);
  return { ...rest, cumQty: o.executedQty };
}
