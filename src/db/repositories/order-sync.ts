/**
 * The orders that REST sync re-anchors, and the write of the exchange's truth onto them.
 * "Working" = NEW or PARTIALLY_FILLED, not MARKET, with an exchange id, in a position that is still open.
 * reference_* columns (captured at placement) are never touched here.
 */
import type { Knex } from 'knex';
import { toDecimalString } from '../../support/sql-values.js';

export const WORKING_STATUSES = ['NEW', 'PARTIALLY_FILLED'];
export const CLOSED_POSITION_STATUSES = ['closed', 'cancelled', 'failed'];

export interface SyncableOrder {
  id: number;
  positionId: number;
  accountId: number;
  symbol: string;
  exchangeOrderId: string;
  clientOrderId: string | null;
  type: string;
  side: string;
  positionSide: string | null;
  status: string;
  price: string | null;
  quantity: string | null;
}

export interface OrderSelection {
  accountId?: number;
  orderId?: number;
}

interface Row {
  id: number;
  position_id: number;
  account_id: number;
  symbol: string;
  exchange_order_id: string;
  client_order_id: string | null;
  type: string;
  side: string;
  position_side: string | null;
  status: string;
  price: unknown;
  quantity: unknown;
}

/** Working orders (or the one order asked for by id, whatever its status, if it has an exchange id). */
export async function syncableOrders(db: Knex, sel: OrderSelection = {}): Promise<SyncableOrder[]> {
  const q = db('orders as o')
    .join('positions as p', 'p.id', 'o.position_id')
    .whereNotNull('o.exchange_order_id')
    .select('o.id', 'o.position_id', 'p.account_id', 'p.parsed_trading_pair as symbol', 'o.exchange_order_id', 'o.client_order_id', 'o.type', 'o.side', 'o.position_side', 'o.status', 'o.price', 'o.quantity')
    .orderBy('o.id');
  if (sel.orderId !== undefined) {
    q.where('o.id', sel.orderId);
  } else {
    q.whereIn('o.status', WORKING_STATUSES).whereNot('o.type', 'MARKET').whereNotIn('p.status', CLOSED_POSITION_STATUSES);
  }
  if (sel.accountId !== undefined) q.where('p.account_id', sel.accountId);
  const rows: Row[] = await q;
  return rows.map((r) => ({
    id: Number(r.id),
    positionId: Number(r.position_id),
    accountId: Number(r.account_id),
    symbol: r.symbol,
    exchangeOrderId: String(r.exchange_order_id),
    clientOrderId: r.client_order_id,
    type: r.type,
    side: r.side,
    positionSide: r.position_side,
    status: r.status,
    price: toDecimalString(r.price),
    quantity: toDecimalString(r.quantity),
  }));
}

export interface ReanchorValues {
  status: string;
  price: string | null;
  quantity: string | null;
}

/** Overwrite status, price and quantity with the exchange's truth and keep the raw answer in api_result. */
export async function reanchorOrder(db: Knex, orderId: number, v: ReanchorValues, apiResult: unknown, now: Date): Promise<void> {
  await db('orders').where({ id: orderId }).update({ status: v.status, price: v.price, quantity: v.quantity, api_result: JSON.stringify(apiResult), updated_at: now });
}

/** Keep an exchange error (e.g. -2013) on the order without changing its state. */
export async function recordOrderSyncError(db: Knex, orderId: number, apiResult: unknown, now: Date): Promise<void> {
  await db('orders').where({ id: orderId }).update({ api_result: JSON.stringify(apiResult), updated_at: now });
}
