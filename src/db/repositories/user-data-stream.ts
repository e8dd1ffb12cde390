/**
 * The SQL of the ProcessUserDataEvent job (src/queue/user-data/): the idempotent insert into
 * api_data_stream, the order lookup scoped to the account, the conditional order update, and the open
 * positions an ACCOUNT_UPDATE or an external close refers to. Every function takes the caller's
 * transaction (or knex) so that the frame's row and its mirror writes commit together.
 */
import type { Knex } from 'knex';
import { dialect } from '../connection.js';
import { toBool, toDecimalString } from '../../support/sql-values.js';

export const API_DATA_STREAM = 'api_data_stream';

/** Position statuses that are over: such a position is never "open" for the user-data job. */
export const FINISHED_POSITION_STATUSES = ['closed', 'cancelled', 'failed'];

export interface ApiDataStreamRow {
  account_id: number;
  api_system: string;
  raw_event_type: string;
  event_type: string;
  execution_type: string | null;
  exchange_order_id: string | null;
  client_order_id: string | null;
  symbol: string | null;
  status: string | null;
  normalized_status: string | null;
  price: string | null;
  average_price: string | null;
  original_quantity: string | null;
  filled_quantity: string | null;
  last_filled_price: string | null;
  last_filled_quantity: string | null;
  event_time: Date | null;
  received_at: Date;
  raw_payload: string;
  idempotency_key: string;
  created_at: Date;
  updated_at: Date;
}

/** Rows per INSERT statement (22 bound values each; well under every driver's parameter limit). */
const INSERT_CHUNK = 200;

/**
 * Insert frames, skipping those whose idempotency key is already stored (INSERT … ON CONFLICT DO NOTHING
 * on PostgreSQL and SQLite, INSERT IGNORE on MySQL). Returns the keys this call inserted. PostgreSQL and
 * SQLite insert a batch in one statement (RETURNING tells which rows went in); MySQL cannot say which rows
 * of a multi-row INSERT IGNORE were skipped, so it inserts one row per statement there.
 */
export async function insertFrames(q: Knex | Knex.Transaction, rows: ApiDataStreamRow[]): Promise<Set<string>> {
  const inserted = new Set<string>();
  if (rows.length === 0) return inserted;
  if (dialect(q as Knex) === 'mysql') {
    for (const row of rows) {
      const [id] = (await q(API_DATA_STREAM).insert(row).onConflict('idempotency_key').ignore()) as unknown as number[];
      if (Number(id) > 0) inserted.add(row.idempotency_key);
    }
    return inserted;
  }
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    const chunk = rows.slice(i, i + INSERT_CHUNK);
    const out = (await q(API_DATA_STREAM).insert(chunk).onConflict('idempotency_key').ignore().returning('idempotency_key')) as Array<{ idempotency_key: string }>;
    for (const r of out) inserted.add(r.idempotency_key);
  }
  return inserted;
}

export interface MirrorOrder {
  id: number;
  positionId: number;
  status: string;
  price: string | null;
  exchangeOrderId: string | null;
  clientOrderId: string | null;
}

interface OrderRow {
  id: number;
  position_id: number;
  status: string;
  price: unknown;
  exchange_order_id: string | null;
  client_order_id: string | null;
}

/**
 * The account's order a frame refers to: by exchange order id first, then by client order id (the frame
 * can arrive before the placement response stored the exchange id). A client-id match whose exchange id
 * is known and different is another order and is not taken. One statement.
 */
export async function findAccountOrder(q: Knex | Knex.Transaction, accountId: number, exchangeOrderId: string | null, clientOrderId: string | null): Promise<MirrorOrder | null> {
  if (exchangeOrderId === null && clientOrderId === null) return null;
  const rows = (await q('orders as o')
    .join('positions as p', 'p.id', 'o.position_id')
    .where('p.account_id', accountId)
    .andWhere((w) => {
      if (exchangeOrderId !== null) w.orWhere('o.exchange_order_id', exchangeOrderId);
      if (clientOrderId !== null) w.orWhere('o.client_order_id', clientOrderId);
    })
    .select('o.id', 'o.position_id', 'o.status', 'o.price', 'o.exchange_order_id', 'o.client_order_id')
    .orderBy('o.id', 'desc')
    .limit(20)) as OrderRow[];
  const byExchange = exchangeOrderId === null ? undefined : rows.find((r) => r.exchange_order_id !== null && String(r.exchange_order_id) === exchangeOrderId);
  const byClient = clientOrderId === null ? undefined : rows.find((r) => r.client_order_id === clientOrderId && (r.exchange_order_id === null || exchangeOrderId === null || String(r.exchange_order_id) === exchangeOrderId));
  const r = byExchange ?? byClient;
  if (!r) return null;
  return {
    id: Number(r.id),
    positionId: Number(r.position_id),
    status: String(r.status),
    price: toDecimalString(r.price),
    exchangeOrderId: r.exchange_order_id === null ? null : String(r.exchange_order_id),
    clientOrderId: r.client_order_id,
  };
}

export interface OrderMirrorWrite {
  status: string;
  /** Written only when not null (a frame never replaces a known price with 0). */
  price: string | null;
  /** Stored only while the order has none yet. */
  exchangeOrderId: string | null;
}

/**
 * Move an order to the frame's status (and price) unless its current status ranks higher: the update
 * only matches while `status` is one of `overwritable`. `quantity` and `reference_*` are never written.
 * Returns whether the row changed.
 */
export async function updateMirroredOrder(q: Knex | Knex.Transaction, orderId: number, overwritable: string[], w: OrderMirrorWrite, now: Date): Promise<boolean> {
  const set: Record<string, unknown> = { status: w.status, updated_at: now };
  if (w.price !== null) set.price = w.price;
  if (w.exchangeOrderId !== null) set.exchange_order_id = q.raw('coalesce(exchange_order_id, ?)', [w.exchangeOrderId]);
  const n = await q('orders').where('id', orderId).whereIn('status', overwritable).update(set);
  return Number(n) > 0;
}

export interface OpenPosition {
  id: number;
  symbol: string;
  direction: string;
  status: string;
  onHedgeMode: boolean;
}

/** The account's open positions on these symbols, with the account's hedge-mode flag. One statement. */
export async function openPositionsFor(q: Knex | Knex.Transaction, accountId: number, symbols: string[]): Promise<OpenPosition[]> {
  if (symbols.length === 0) return [];
  const rows = (await q('positions as p')
    .join('accounts as a', 'a.id', 'p.account_id')
    .where('p.account_id', accountId)
    .whereIn('p.parsed_trading_pair', [...new Set(symbols)])
    .whereNotIn('p.status', FINISHED_POSITION_STATUSES)
    .select('p.id', 'p.parsed_trading_pair', 'p.direction', 'p.status', 'a.on_hedge_mode')
    .orderBy('p.id')) as Array<{ id: number; parsed_trading_pair: string; direction: string; status: string; on_hedge_mode: unknown }>;
  return rows.map((r) => ({ id: Number(r.id), symbol: r.parsed_trading_pair, direction: String(r.direction).toUpperCase(), status: r.status, onHedgeMode: toBool(r.on_hedge_mode) }));
}

/** Whether the account runs in hedge mode (null when the account does not exist). */
export async function accountHedgeMode(q: Knex | Knex.Transaction, accountId: number): Promise<boolean | null> {
  const row = (await q('accounts').where('id', accountId).first('on_hedge_mode')) as { on_hedge_mode: unknown } | undefined;
  return row ? toBool(row.on_hedge_mode) : null;
}

export interface StoredFrame {
  id: number;
  accountId: number;
  rawEventType: string;
  eventType: string;
  executionType: string | null;
  exchangeOrderId: string | null;
  clientOrderId: string | null;
  symbol: string | null;
  status: string | null;
  normalizedStatus: string | null;
  price: string | null;
  idempotencyKey: string;
}

/** Frames of an account in insertion order (operators, tests). */
export async function framesOfAccount(q: Knex, accountId: number, limit = 1000): Promise<StoredFrame[]> {
  const rows = (await q(API_DATA_STREAM).where('account_id', accountId).orderBy('id').limit(limit)) as Array<Record<string, unknown>>;
  return rows.map((r) => ({
    id: Number(r.id),
    accountId: Number(r.account_id),
    rawEventType: String(r.raw_event_type),
    eventType: String(r.event_type),
    executionType: (r.execution_type as string | null) ?? null,
    exchangeOrderId: (r.exchange_order_id as string | null) ?? null,
    clientOrderId: (r.client_order_id as string | null) ?? null,
    symbol: (r.symbol as string | null) ?? null,
    status: (r.status as string | null) ?? null,
    normalizedStatus: (r.normalized_status as string | null) ?? null,
    price: toDecimalString(r.price),
    idempotencyKey: String(r.idempotency_key),
  }));
}
