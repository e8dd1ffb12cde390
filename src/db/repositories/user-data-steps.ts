/**
 * The SQL of the follow-up steps the user-data job creates (src/steps/classes/user-data.ts):
 * `cancel-opening-orders` (a position the exchange shows flat) and `position-replacement` (a position
 * closed outside Athena).
 */
import type { Knex } from 'knex';
import { toBool } from '../../support/sql-values.js';
import { FINISHED_POSITION_STATUSES } from './user-data-stream.js';

export const WORKING_ORDER_STATUSES = ['NEW', 'PARTIALLY_FILLED'];

export interface StepPosition {
  id: number;
  accountId: number;
  symbol: string;
  direction: 'LONG' | 'SHORT';
  status: string;
  finished: boolean;
  onHedgeMode: boolean;
}

export async function stepPosition(db: Knex, positionId: number): Promise<StepPosition | null> {
  const r = (await db('positions as p').join('accounts as a', 'a.id', 'p.account_id').where('p.id', positionId).first('p.id', 'p.account_id', 'p.parsed_trading_pair', 'p.direction', 'p.status', 'a.on_hedge_mode')) as
    | { id: number; account_id: number; parsed_trading_pair: string; direction: string; status: string; on_hedge_mode: unknown }
    | undefined;
  if (!r) return null;
  return {
    id: Number(r.id),
    accountId: Number(r.account_id),
    symbol: r.parsed_trading_pair,
    direction: String(r.direction).toUpperCase() === 'SHORT' ? 'SHORT' : 'LONG',
    status: r.status,
    finished: FINISHED_POSITION_STATUSES.includes(r.status),
    onHedgeMode: toBool(r.on_hedge_mode),
  };
}

export interface WorkingOrder {
  id: number;
  exchangeOrderId: string | null;
  clientOrderId: string | null;
  type: string;
  side: string;
  reduceOnly: boolean;
  isAlgo: boolean;
  status: string;
}

/**
 * The position's working orders (NEW / PARTIALLY_FILLED). With `openingOnly`, only the orders that add to
 * the position: on its entry side (BUY for a LONG, SELL for a SHORT), not reduce-only, not algo
 * (conditional SL/TP orders close, they never open).
 */
export async function workingOrders(db: Knex, position: Pick<StepPosition, 'id' | 'direction'>, openingOnly: boolean): Promise<WorkingOrder[]> {
  const q = db('orders').where('position_id', position.id).whereIn('status', WORKING_ORDER_STATUSES).orderBy('id');
  if (openingOnly) q.where('side', position.direction === 'LONG' ? 'BUY' : 'SELL').where('reduce_only', false).where('is_algo', false);
  const rows = (await q.select('id', 'exchange_order_id', 'client_order_id', 'type', 'side', 'reduce_only', 'is_algo', 'status')) as Array<Record<string, unknown>>;
  return rows.map((r) => ({
    id: Number(r.id),
    exchangeOrderId: r.exchange_order_id == null ? null : String(r.exchange_order_id),
    clientOrderId: (r.client_order_id as string | null) ?? null,
    type: String(r.type),
    side: String(r.side),
    reduceOnly: toBool(r.reduce_only),
    isAlgo: toBool(r.is_algo),
    status: String(r.status),
  }));
}

/** Mark orders CANCELLED while they are still working (a fill that won the race is kept). */
export async function markOrdersCancelled(db: Knex, ids: number[], now: Date): Promise<number> {
  if (ids.length === 0) return 0;
  return Number(await db('orders').whereIn('id', ids).whereIn('status', WORKING_ORDER_STATUSES).update({ status: 'CANCELLED', updated_at: now }));
}

/** Close a position that was closed outside Athena (manually_closed_at), unless it is already over. */
export async function closePositionExternally(db: Knex, positionId: number, now: Date): Promise<boolean> {
  const n = await db('positions').where('id', positionId).whereNotIn('status', FINISHED_POSITION_STATUSES).update({ status: 'closed', manually_closed_at: now, closed_at: now, updated_at: now });
  return Number(n) > 0;
}
