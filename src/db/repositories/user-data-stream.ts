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
 * SQLite insert a batch in one statement (RETURNING tells which rows went in). MySQL cannot say which rows
 * of a multi-row INSERT IGNORE were skipped, so there the stored keys are looked up first (one SELECT) and
 * the rest inserted in one statement; `onRace` hears of rows another writer stored in between.
 */
export async function insertFrames(q: Knex | Knex.Transaction, rows: ApiDataStreamRow[], onRace?: (skipped: number) => void): Promise<Set<string>> {
  const inserted = new Set<string>();
  if (rows.length === 0) return inserted;
  if (dialect(q as Knex) === 'mysql') {
    if (rows.length === 1) {
      // One row: INSERT IGNORE says itself whether it went in (insert id 0 when skipped).
      const [id] = (await q(API_DATA_STREAM).insert(rows[0]!).onConflict('idempotency_key').ignore()) as unknown as number[];
      if (Number(id) > 0) inserted.add(rows[0]!.idempotency_key);
      return inserted;
    }
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      const chunk = rows.slice(i, i + INSERT_CHUNK);
      const stored = new Set(((await q(API_DATA_STREAM).whereIn('idempotency_key', chunk.map((r) => r.idempotency_key)).select('idempotency_key')) as Array<{ idempotency_key: string }>).map((r) => r.idempotency_key));
      const fresh = chunk.filter((r) => !stored.has(r.idempotency_key));
      if (fresh.length === 0) continue;
      const { sql, bindings } = q(API_DATA_STREAM).insert(fresh).onConflict('idempotency_key').ignore().toSQL(); // insert ignore …
      const [res] = (await q.raw(sql, bindings)) as unknown as [{ affectedRows: number }];
      // Fewer rows than asked: another writer stored some of these frames between the look-up and the insert
      // (two consumers on one shard; the lease should prevent it). Which ones cannot be told here, so all of
      // them count as ours: mirroring a frame twice changes nothing (rank guard, deduplicated steps).
      if (Number(res.affectedRows) !== fresh.length) onRace?.(fresh.length - Number(res.affectedRows));
      for (const r of fresh) inserted.add(r.idempotency_key);
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
  accountId: number;
  positionId: number;
  status: string;
  price: string | null;
  exchangeOrderId: string | null;
  clientOrderId: string | null;
}

export interface OrderRef {
  accountId: number;
  exchangeOrderId: string | null;
  clientOrderId: string | null;
}

interface OrderRow {
  id: number;
  account_id: number;
  position_id: number;
  status: string;
  price: unknown;
  exchange_order_id: string | null;
  client_order_id: string | null;
}

/** Frames per look-up statement (three IN lists of at most 500 values). */
const LOOKUP_CHUNK = 500;

/**
 * Every order the frames may refer to, in one statement per 500 frames: orders of these accounts
 * (through their position) whose exchange id or client id is one of the frames'. The caller picks per
 * frame with pickAccountOrder(). Newest first.
 */
export async function loadAccountOrders(q: Knex | Knex.Transaction, refs: OrderRef[]): Promise<MirrorOrder[]> {
  const byId = new Map<number, MirrorOrder>();
  for (let i = 0; i < refs.length; i += LOOKUP_CHUNK) {
    const chunk = refs.slice(i, i + LOOKUP_CHUNK);
    const accounts = [...new Set(chunk.map((r) => r.accountId))];
    const eids = [...new Set(chunk.map((r) => r.exchangeOrderId).filter((x): x is string => x !== null))];
    const cids = [...new Set(chunk.map((r) => r.clientOrderId).filter((x): x is string => x !== null))];
    if (eids.length === 0 && cids.length === 0) continue;
    const rows = (await q('orders as o')
      .join('positions as p', 'p.id', 'o.position_id')
      .whereIn('p.account_id', accounts)
      .andWhere((w) => {
        if (eids.length > 0) w.orWhereIn('o.exchange_order_id', eids);
        if (cids.length > 0) w.orWhereIn('o.client_order_id', cids);
      })
      .select('o.id', 'p.account_id', 'o.position_id', 'o.status', 'o.price', 'o.exchange_order_id', 'o.client_order_id')) as OrderRow[];
    for (const r of rows) {
      byId.set(Number(r.id), {
        id: Number(r.id),
        accountId: Number(r.account_id),
        positionId: Number(r.position_id),
        status: String(r.status),
        price: toDecimalString(r.price),
        exchangeOrderId: r.exchange_order_id === null ? null : String(r.exchange_order_id),
        clientOrderId: r.client_order_id,
      });
    }
  }
  return [...byId.values()].sort((a, b) => b.id - a.id);
}

/**
 * The order a frame refers to among `orders` (newest first): by exchange order id first, then by client
 * order id (the frame can arrive before the placement response stored the exchange id), always within
 * the frame's account. A client-id match whose exchange id is known and different is another order.
 */
export function pickAccountOrder(orders: readonly MirrorOrder[], ref: OrderRef): MirrorOrder | null {
  if (ref.exchangeOrderId !== null) {
    const hit = orders.find((o) => o.accountId === ref.accountId && o.exchangeOrderId === ref.exchangeOrderId);
    if (hit) return hit;
  }
  if (ref.clientOrderId === null) return null;
  return orders.find((o) => o.accountId === ref.accountId && o.clientOrderId === ref.clientOrderId && (o.exchangeOrderId === null || ref.exchangeOrderId === null || o.exchangeOrderId === ref.exchangeOrderId)) ?? null;
}

export interface OrderMirrorWrite {
  status: string;
  /** Written only when not null (a frame never replaces a known price with 0). */
  price: string | null;
  /** Stored only while the order has none yet. */
  exchangeOrderId: string | null;
}

export interface MirroredOrderWrite extends OrderMirrorWrite {
  orderId: number;
  /** Statuses the row may hold for the write to apply (the rank guard). */
  overwritable: string[];
}

/** Orders per UPDATE statement (about 8 bound values each). */
const UPDATE_CHUNK = 200;

/**
 * Move orders to their frames' status (and price, and exchange id while the row has none) unless the row's
 * current status ranks higher: each row only changes while its `status` is one of its `overwritable`.
 * `quantity` and `reference_*` are never written. One UPDATE per chunk of 200 orders (a CASE per column,
 * the guards grouped). Returns the ids whose row changed: PostgreSQL and SQLite say so with RETURNING;
 * MySQL has no UPDATE … RETURNING, so there the matched-row count decides, and only when it falls short are
 * the rows read back (by primary key, under lock) to tell which.
 */
export async function updateMirroredOrders(q: Knex | Knex.Transaction, writes: MirroredOrderWrite[], now: Date): Promise<Set<number>> {
  const changed = new Set<number>();
  const kind = dialect(q as Knex);
  for (let i = 0; i < writes.length; i += UPDATE_CHUNK) {
    const chunk = writes.slice(i, i + UPDATE_CHUNK);
    const sql: string[] = [];
    const b: unknown[] = [];
    const caseOf = (col: string, ws: MirroredOrderWrite[], value: string, bind: (w: MirroredOrderWrite) => unknown) => {
      if (ws.length === 0) return;
      sql.push(`${col} = case id ${ws.map(() => `when ? then ${value}`).join(' ')} else ${col} end`);
      for (const w of ws) b.push(w.orderId, bind(w));
    };
    caseOf('status', chunk, '?', (w) => w.status);
    caseOf('price', chunk.filter((w) => w.price !== null), kind === 'pg' ? 'cast(? as numeric)' : '?', (w) => w.price);
    caseOf('exchange_order_id', chunk.filter((w) => w.exchangeOrderId !== null), 'coalesce(exchange_order_id, ?)', (w) => w.exchangeOrderId);
    sql.push('updated_at = ?');
    b.push(now);
    // The guard, grouped by the allowed statuses (a handful of distinct lists).
    const byGuard = new Map<string, MirroredOrderWrite[]>();
    for (const w of chunk) {
      const k = JSON.stringify(w.overwritable);
      byGuard.set(k, [...(byGuard.get(k) ?? []), w]);
    }
    const where: string[] = [];
    for (const ws of byGuard.values()) {
      where.push(`(id in (${ws.map(() => '?').join(', ')}) and status in (${ws[0]!.overwritable.map(() => '?').join(', ')}))`);
      b.push(...ws.map((w) => w.orderId), ...ws[0]!.overwritable);
    }
    const statement = `update orders set ${sql.join(', ')} where ${where.join(' or ')}`;
    if (kind === 'mysql') {
      // mysql2 connects with FOUND_ROWS: affectedRows counts the rows the guard matched.
      const [res] = (await q.raw(statement, b as Knex.RawBinding[])) as unknown as [{ affectedRows: number }];
      if (Number(res.affectedRows) === chunk.length) {
        for (const w of chunk) changed.add(w.orderId);
        continue;
      }
      // Some guard failed (another writer moved the row further). Which ones: a row we updated holds our status,
      // which its guard allows; one we did not holds a status its guard refuses (read under lock, so it stays).
      const rows = (await q('orders').whereIn('id', chunk.map((w) => w.orderId)).forUpdate().select('id', 'status')) as Array<{ id: number; status: string }>;
      const status = new Map(rows.map((r) => [Number(r.id), String(r.status)]));
      for (const w of chunk) if (w.overwritable.includes(status.get(w.orderId) ?? '')) changed.add(w.orderId);
    } else {
      const res = (await q.raw(`${statement} returning id`, b as Knex.RawBinding[])) as { rows?: Array<{ id: unknown }> } | Array<{ id: unknown }>;
      for (const r of Array.isArray(res) ? res : (res.rows ?? [])) changed.add(Number(r.id));
    }
  }
  return changed;
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
