/**
 * Applying user-data frames: the body of the ProcessUserDataEvent job (docs/user-data-job.md).
 *
 * Per frame, in order:
 *  1. normalise it (./normalise.ts) and compute its idempotency key, sha256(accountId | canonical JSON);
 *  2. INSERT it into api_data_stream ON CONFLICT DO NOTHING: a frame already stored (a replay, a retried
 *     job, a duplicate from a make-before-break rotation) inserts nothing and changes nothing else;
 *  3. only when the row is new, mirror it:
 *     - order_update: the account's order by exchange id, then client id; status by monotonic rank
 *       (NEW < PARTIALLY_FILLED < terminal, never backwards); price only when positive; quantity never;
 *       only for execution types on the allow-list (USER_DATA_APPLY_EXECUTION_TYPES);
 *     - account_update with a position at zero: one high-priority `cancel-opening-orders` step (trading_
 *       set) per open local position, deduplicated while live;
 *     - a reduce-only / close-position FILLED order with no local order, on an open position whose
 *       direction it closes: one `position-replacement` step, deduplicated. Liquidation, ADL and
 *       settlement closes are recorded only.
 * The insert and every mirror write of a frame commit in one transaction, so a job killed half-way and
 * retried is applied exactly once. An empty allow-list is record-only: rows are stored, nothing else.
 *
 * applyUserDataFrames() takes a list of one shard's frames and applies them in order in one transaction
 * (one multi-row INSERT on PostgreSQL/SQLite); frames that need no mirror write skip the transaction.
 * The per-frame results are the same as applying the frames one by one.
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import { insertFrames, loadAccountOrders, openPositionsFor, pickAccountOrder, updateMirroredOrders, type ApiDataStreamRow, type MirroredOrderWrite, type MirrorOrder, type OpenPosition } from '../../db/repositories/user-data-stream.js';
import { findLiveByDedupeKey } from '../../db/steps/repository.js';
import { dedupeKeyOf, Steps, type StepSpec } from '../../steps/api.js';
import { notifyDispatcher, type WakeSignal } from '../../steps/notify.js';
import { stepTables } from '../../steps/tables.js';
import type { Clock } from '../../support/clock.js';
import type { Logger } from '../../support/log.js';
import { canonicalJson, framePrice, isExchangeClose, isZeroDecimal, normalizeFrame, statusesAtOrBelow, statusRank, type NormalizedFrame } from './normalise.js';

/** The step classes this job creates (registered in src/steps/classes/user-data.ts). */
export const CANCEL_OPENING_ORDERS_CLASS = 'cancel-opening-orders';
export const POSITION_REPLACEMENT_CLASS = 'position-replacement';
/** Local position statuses that are not open on the exchange yet (never "flat"). */
export const NOT_YET_OPEN = ['new', 'opening'];
/** Step set of the follow-up steps. */
export const USER_DATA_STEP_PREFIX = 'trading_';

/** Kraite's production allow-list: x=NEW is left out on purpose (the placement writes NEW itself). */
export const DEFAULT_APPLY_EXECUTION_TYPES = ['TRADE', 'AMENDMENT', 'CANCELED', 'EXPIRED', 'REJECTED', 'ALGO_NEW', 'ALGO_CANCELED', 'ALGO_EXPIRED', 'ALGO_FILLED'];

export interface UserDataFrame {
  accountId: unknown;
  payload: unknown;
  /** Epoch ms when the stream daemon received the frame; the clock's now when absent or invalid. */
  receivedAt?: unknown;
  apiSystem?: unknown;
}

export interface ApplyDeps {
  clock: Clock;
  /** Execution types whose frames move local orders. Empty = record-only. */
  applyExecutionTypes: readonly string[];
  log?: Logger;
  /** When given, created steps wake the dispatch daemon after the commit. */
  redis?: Redis | null;
  redisPrefix?: string;
  /** Step set of the follow-up steps (default trading_). */
  stepPrefix?: string;
}

export type OrderOutcome = 'updated' | 'stale' | 'not-applied' | 'not-found' | 'unknown-status' | null;

export interface FrameResult {
  accountId: number | null;
  idempotencyKey: string | null;
  rawEventType: string | null;
  eventType: string | null;
  executionType: string | null;
  /** True when this call stored the frame; false for a replay (nothing else was done). */
  recorded: boolean;
  /** The local order the frame refers to, when found. */
  orderId: number | null;
  /** updated | stale (lower rank than the local status) | not-applied (not on the allow-list) | not-found | unknown-status. */
  order: OrderOutcome;
  /** Steps created (ids) for flat positions. */
  openingOrdersCancelSteps: number[];
  /** Position ids whose flat-position step already existed (deduplicated). */
  openingOrdersCancelDeduped: number[];
  manualCloseDetected: boolean;
  /** The replacement step created, or null (none needed or deduplicated). */
  replacementStepId: number | null;
  /** Liquidation / ADL / settlement frame (recorded, never a manual close). */
  exchangeClose: boolean;
  /** Why a malformed frame could not be normalised (it is still stored). */
  problem: string | null;
  /** Why the frame was refused and NOT stored (no usable account id). */
  rejected: string | null;
}

/** sha256 over the account id and the canonical JSON of the raw frame (hex, 64 characters). */
export function idempotencyKey(accountId: number, payload: unknown): string {
  return crypto.createHash('sha256').update(`${accountId}|${canonicalJson(payload)}`).digest('hex');
}

interface Prepared {
  index: number;
  accountId: number;
  n: NormalizedFrame;
  row: ApiDataStreamRow;
  needsTx: boolean;
}

function result(partial: Partial<FrameResult>): FrameResult {
  return {
    accountId: null,
    idempotencyKey: null,
    rawEventType: null,
    eventType: null,
    executionType: null,
    recorded: false,
    orderId: null,
    order: null,
    openingOrdersCancelSteps: [],
    openingOrdersCancelDeduped: [],
    manualCloseDetected: false,
    replacementStepId: null,
    exchangeClose: false,
    problem: null,
    rejected: null,
    ...partial,
  };
}

function accountIdOf(v: unknown): number | null {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : null;
}

function jsonOf(payload: unknown): string {
  try {
    return JSON.stringify(payload) ?? 'null';
  } catch {
    return canonicalJson(payload);
  }
}

/** Apply frames of one shard in order. Never throws for bad input (see `rejected` / `problem`); DB errors propagate. */
export async function applyUserDataFrames(db: Knex, frames: readonly UserDataFrame[], deps: ApplyDeps): Promise<FrameResult[]> {
  const now = deps.clock.now();
  const at = new Date(now);
  const recordOnly = deps.applyExecutionTypes.length === 0;
  const results: FrameResult[] = new Array(frames.length);
  const prepared: Prepared[] = [];
  const seen = new Set<string>();
  const rows: ApiDataStreamRow[] = [];

  frames.forEach((f, index) => {
    const accountId = accountIdOf(f?.accountId);
    if (accountId === null) {
      results[index] = result({ rejected: `the job has no valid accountId (got ${JSON.stringify(f?.accountId) ?? 'undefined'}); the frame cannot be attributed to an account` });
      return;
    }
    const n = normalizeFrame(f.payload);
    const key = idempotencyKey(accountId, f.payload);
    results[index] = result({ accountId, idempotencyKey: key, rawEventType: n.rawEventType, eventType: n.eventType, executionType: n.executionType, problem: n.problem, exchangeClose: n.eventType === 'order_update' && isExchangeClose(n) });
    if (seen.has(key)) return; // the same frame twice in one batch: the second is a replay
    seen.add(key);
    const receivedMs = typeof f.receivedAt === 'number' && Number.isFinite(f.receivedAt) && f.receivedAt > 0 ? f.receivedAt : now;
    const row: ApiDataStreamRow = {
      account_id: accountId,
      api_system: typeof f.apiSystem === 'string' && f.apiSystem ? f.apiSystem.slice(0, 20) : 'binance',
      raw_event_type: n.rawEventType,
      event_type: n.eventType,
      execution_type: n.executionType,
      exchange_order_id: n.exchangeOrderId,
      client_order_id: n.clientOrderId,
      symbol: n.symbol,
      status: n.status,
      normalized_status: n.normalizedStatus,
      price: n.price,
      average_price: n.averagePrice,
      original_quantity: n.originalQuantity,
      filled_quantity: n.filledQuantity,
      last_filled_price: n.lastFilledPrice,
      last_filled_quantity: n.lastFilledQuantity,
      event_time: n.eventTimeMs === null ? null : new Date(n.eventTimeMs),
      received_at: new Date(receivedMs),
      raw_payload: jsonOf(f.payload),
      idempotency_key: key,
      created_at: at,
      updated_at: at,
    };
    rows.push(row);
    const needsTx = !recordOnly && (n.eventType === 'order_update' || (n.eventType === 'account_update' && n.positions.some((p) => isZeroDecimal(p.amount))));
    prepared.push({ index, accountId, n, row, needsTx });
  });

  if (rows.length === 0) return results;
  const wake: WakeSignal[] = [];

  const run = async (q: Knex | Knex.Transaction) => {
    const inserted = await insertFrames(q, rows, (skipped) => deps.log?.warn('frames stored by another writer during this batch (two consumers on one shard?); mirrored anyway, which is idempotent', { skipped }));
    const fresh = prepared.filter((p) => inserted.has(p.row.idempotency_key));
    // One look-up for every order the batch's order frames may touch; the frames then work on this
    // in-memory copy in order, and each changed order is written once at the end (same transaction).
    const orderFrames = fresh.filter((p) => p.needsTx && p.n.eventType === 'order_update');
    const mirror: OrderMirror = {
      orders: orderFrames.length > 0 ? await loadAccountOrders(q, orderFrames.map((p) => ({ accountId: p.accountId, exchangeOrderId: p.n.exchangeOrderId, clientOrderId: p.n.clientOrderId }))) : [],
      dirty: new Map(),
    };
    for (const p of fresh) {
      const r = results[p.index]!;
      r.recorded = true;
      if (p.n.eventType === 'malformed') deps.log?.warn('malformed user-data frame recorded', { account_id: p.accountId, problem: p.n.problem, key: p.row.idempotency_key });
      if (!p.needsTx) continue;
      if (p.n.eventType === 'order_update') await mirrorOrder(q, p, r, deps, mirror, wake);
      else await flatPositions(q, p, r, deps, wake);
    }
    await flushOrders(q, mirror, at);
  };
  if (prepared.some((p) => p.needsTx)) await db.transaction(run);
  else await run(db);

  if (wake.length > 0) await notifyDispatcher(deps.redis, deps.redisPrefix ?? '', wake, deps.log);
  return results;
}

interface DirtyOrder {
  original: MirrorOrder;
  current: MirrorOrder;
  /** Results of the frames that moved it (marked stale if the write loses to a concurrent writer). */
  results: FrameResult[];
}

interface OrderMirror {
  orders: MirrorOrder[];
  dirty: Map<number, DirtyOrder>;
}

async function mirrorOrder(q: Knex.Transaction | Knex, p: Prepared, r: FrameResult, deps: ApplyDeps, mirror: OrderMirror, wake: WakeSignal[]): Promise<void> {
  const { n } = p;
  const order = pickAccountOrder(mirror.orders, { accountId: p.accountId, exchangeOrderId: n.exchangeOrderId, clientOrderId: n.clientOrderId });
  if (order) {
    r.orderId = order.id;
    if (n.executionType === null || !deps.applyExecutionTypes.includes(n.executionType)) {
      r.order = 'not-applied';
      return;
    }
    const rank = statusRank(n.normalizedStatus);
    if (rank === null) {
      r.order = 'unknown-status';
      return;
    }
    // The rank guard: the frame may only overwrite a status of the same or a lower rank.
    if (!statusesAtOrBelow(rank).includes(order.status)) {
      r.order = 'stale';
      return;
    }
    let entry = mirror.dirty.get(order.id);
    if (!entry) mirror.dirty.set(order.id, (entry = { original: { ...order }, current: order, results: [] }));
    order.status = n.normalizedStatus!;
    const price = framePrice(n);
    if (price !== null) order.price = price;
    if (order.exchangeOrderId === null && n.exchangeOrderId !== null) order.exchangeOrderId = n.exchangeOrderId;
    entry.results.push(r);
    r.order = 'updated';
    return;
  }
  r.order = 'not-found';
  if (r.exchangeClose) return; // liquidation / ADL / settlement: recorded, never a manual close
  const o = n.order;
  if (!o || n.normalizedStatus !== 'FILLED' || !(o.reduceOnly || o.closePosition) || !n.symbol) return;
  const position = await closedPosition(q, p.accountId, n.symbol, o.side, o.positionSide, deps);
  if (!position) return;
  r.manualCloseDetected = true;
  const made = await createOnce(q, deps, {
    class: POSITION_REPLACEMENT_CLASS,
    canonical: POSITION_REPLACEMENT_CLASS,
    relatable: { type: 'position', id: position.id },
    priority: 'high',
    label: `external close of position ${position.id} (${position.symbol} ${position.direction})`,
    arguments: { positionId: position.id, accountId: p.accountId, symbol: position.symbol, direction: position.direction, triggerStatus: 'EXTERNAL_FILL', manualCloseDetected: true, exchangeOrderId: n.exchangeOrderId, clientOrderId: n.clientOrderId, source: 'user-data-stream' },
  });
  if (made.id !== null) {
    r.replacementStepId = made.id;
    wake.push(made.signal!);
  }
}

/**
 * Write each order the frames moved, once: its final status (and price / exchange id when they changed),
 * guarded so that the row still holds a status of the same or a lower rank (a concurrent writer that
 * moved it further wins, and the frames that lost are reported stale). quantity is never written.
 */
async function flushOrders(q: Knex.Transaction | Knex, mirror: OrderMirror, at: Date): Promise<void> {
  const writes: MirroredOrderWrite[] = [];
  const resultsOf = new Map<number, FrameResult[]>();
  for (const { original, current, results } of mirror.dirty.values()) {
    const changed = current.status !== original.status || current.price !== original.price || current.exchangeOrderId !== original.exchangeOrderId;
    if (!changed) continue;
    writes.push({
      orderId: current.id,
      overwritable: statusesAtOrBelow(statusRank(current.status) ?? 0),
      status: current.status,
      price: current.price !== original.price ? current.price : null,
      exchangeOrderId: original.exchangeOrderId === null ? current.exchangeOrderId : null,
    });
    resultsOf.set(current.id, results);
  }
  if (writes.length === 0) return;
  const done = await updateMirroredOrders(q, writes, at);
  for (const w of writes) if (!done.has(w.orderId)) for (const r of resultsOf.get(w.orderId)!) r.order = 'stale';
}

/**
 * The open position a reduce-only / close-position fill closes, respecting hedge mode: LONG/SHORT select
 * that direction (and the side must close it: SELL closes a LONG, BUY a SHORT); BOTH is one-way mode and
 * is refused on a hedge-mode account; in one-way mode the symbol must hold exactly one open position.
 */
async function closedPosition(q: Knex.Transaction | Knex, accountId: number, symbol: string, side: string | null, positionSide: string | null, deps: ApplyDeps): Promise<OpenPosition | null> {
  const positions = await openPositionsFor(q, accountId, [symbol]);
  if (positions.length === 0) return null;
  const hedge = positions[0]!.onHedgeMode;
  const ps = positionSide ?? 'BOTH';
  const closes = (direction: string) => (direction === 'LONG' && side === 'SELL') || (direction === 'SHORT' && side === 'BUY');
  if (ps === 'LONG' || ps === 'SHORT') {
    const match = positions.filter((x) => x.direction === ps);
    return match.length === 1 && closes(ps) ? match[0]! : null;
  }
  if (hedge) {
    deps.log?.warn('one-way (BOTH) close on a hedge-mode account ignored', { account_id: accountId, symbol });
    return null;
  }
  if (positions.length !== 1) {
    deps.log?.warn('external close matches several open positions; none chosen', { account_id: accountId, symbol, positions: positions.map((x) => x.id) });
    return null;
  }
  return closes(positions[0]!.direction) ? positions[0]! : null;
}

async function flatPositions(q: Knex.Transaction | Knex, p: Prepared, r: FrameResult, deps: ApplyDeps, wake: WakeSignal[]): Promise<void> {
  const flat = p.n.positions.filter((x) => isZeroDecimal(x.amount));
  // A position that has not opened yet (new / opening) is flat on the exchange by nature: its opening
  // orders are exactly what must not be cancelled.
  const open = (await openPositionsFor(q, p.accountId, flat.map((x) => x.symbol))).filter((x) => !NOT_YET_OPEN.includes(x.status));
  if (open.length === 0) return;
  const targets = new Map<number, OpenPosition>();
  for (const f of flat) {
    const same = open.filter((x) => x.symbol === f.symbol);
    if (f.positionSide === 'LONG' || f.positionSide === 'SHORT') {
      for (const x of same.filter((y) => y.direction === f.positionSide)) targets.set(x.id, x);
    } else if (same.length === 1) {
      targets.set(same[0]!.id, same[0]!);
    } else if (same.length > 1) {
      deps.log?.warn('flat BOTH position matches several open positions; none chosen', { account_id: p.accountId, symbol: f.symbol, positions: same.map((x) => x.id) });
    }
  }
  for (const position of targets.values()) {
    const made = await createOnce(q, deps, {
      class: CANCEL_OPENING_ORDERS_CLASS,
      canonical: CANCEL_OPENING_ORDERS_CLASS,
      relatable: { type: 'position', id: position.id },
      priority: 'high',
      label: `position ${position.id} (${position.symbol} ${position.direction}) is flat on the exchange`,
      arguments: { positionId: position.id, accountId: p.accountId, symbol: position.symbol, direction: position.direction, openingOrdersOnly: true, source: 'user-data-stream' },
    });
    if (made.id !== null) {
      r.openingOrdersCancelSteps.push(made.id);
      wake.push(made.signal!);
    } else {
      r.openingOrdersCancelDeduped.push(position.id);
    }
  }
}

/**
 * Create a step inside the frame's transaction unless a live step holds its dedupe key. The frame is
 * processed by one consumer per account, so the look-up decides; if another writer wins the key in
 * between, the unique index fails this transaction and the job is retried (and then finds the step).
 */
async function createOnce(q: Knex.Transaction | Knex, deps: ApplyDeps, spec: StepSpec): Promise<{ id: number | null; signal: WakeSignal | null }> {
  const prefix = deps.stepPrefix ?? USER_DATA_STEP_PREFIX;
  const tables = stepTables(prefix);
  const key = dedupeKeyOf(spec)!;
  if (await findLiveByDedupeKey(q as Knex, tables, key)) return { id: null, signal: null };
  const steps = new Steps({ db: q as Knex, clock: deps.clock, redis: null, log: deps.log }, prefix);
  const made = await steps.createUnlessLive(spec);
  if (!made.created || !made.block) return { id: null, signal: null };
  return { id: made.block.ids[0] ?? null, signal: { set: tables.set, group: made.block.group, due: 0 } };
}
