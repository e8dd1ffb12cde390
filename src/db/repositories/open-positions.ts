/**
 * Local open positions with their working orders, as the admin UI's accounts-drift view compares them with
 * the exchange snapshots (src/web/data/drift.ts). Read-only.
 */
import type { Knex } from 'knex';
import { toBool, toDate, toDecimalString } from '../../support/sql-values.js';

export interface LocalOrderRow {
  id: number;
  positionId: number;
  clientOrderId: string | null;
  exchangeOrderId: string | null;
  type: string;
  side: string;
  status: string;
  price: string | null;
  quantity: string | null;
  isAlgo: boolean;
  updatedAt: Date | null;
}

export interface LocalPositionRow {
  id: number;
  symbol: string;
  direction: string;
  status: string;
  quantity: string | null;
  openingPrice: string | null;
  createdAt: Date | null;
  orders: LocalOrderRow[];
}

/** The account's positions in `positionStatuses`, each with its orders in `orderStatuses`, by id. */
export async function openPositionsWithOrders(db: Knex, accountId: number, positionStatuses: readonly string[], orderStatuses: readonly string[]): Promise<LocalPositionRow[]> {
  const rows = (await db('positions').where({ account_id: accountId }).whereIn('status', [...positionStatuses]).orderBy('id')) as Array<Record<string, unknown>>;
  if (!rows.length) return [];
  const orders: LocalOrderRow[] = [];
  const ids = rows.map((r) => Number(r.id));
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = (await db('orders').whereIn('position_id', ids.slice(i, i + 500)).whereIn('status', [...orderStatuses]).orderBy('id')) as Array<Record<string, unknown>>;
    for (const o of chunk) {
      orders.push({
        id: Number(o.id),
        positionId: Number(o.position_id),
        clientOrderId: (o.client_order_id as string | null) ?? null,
        exchangeOrderId: o.exchange_order_id === null || o.exchange_order_id === undefined ? null : String(o.exchange_order_id),
        type: String(o.type),
        side: String(o.side),
        status: String(o.status),
        price: toDecimalString(o.price),
        quantity: toDecimalString(o.quantity),
        isAlgo: toBool(o.is_algo),
        updatedAt: toDate(o.updated_at),
      });
    }
  }
  return rows.map((r) => ({
    id: Number(r.id),
    symbol: String(r.parsed_trading_pair),
    direction: String(r.direction).toUpperCase(),
    status: String(r.status),
    quantity: toDecimalString(r.quantity),
    openingPrice: toDecimalString(r.opening_price),
    createdAt: toDate(r.created_at),
    orders: orders.filter((o) => o.positionId === Number(r.id)),
  }));
}
