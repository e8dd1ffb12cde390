/**
 * Accounts drift: local open positions and their working orders against the exchange's picture, taken
 * from the `api_snapshots` rows the ingestion side writes (issue 5; the web box never calls the exchange).
 *
 * Snapshots: the newest `api_snapshots` row of each account (latestSnapshot(), canonical `binance`), written
 * by `kraite:cron-snapshot-accounts` as {positions: [GET /fapi/v3/positionRisk rows], open_orders:
 * [GET /fapi/v1/openOrders rows]}, exactly as Binance sent them (symbol, positionAmt, entryPrice,
 * positionSide…; orderId, clientOrderId, status, type, side, price, stopPrice, origQty, closePosition…).
 * Binance's algo (conditional) orders are not in that snapshot: local algo orders are unverified.
 * Local rows: open positions and their working orders (src/db/repositories/open-positions.ts).
 *
 * Each pair is synced, drift (naming the fields that differ), local-only, exchange-only, or unverified:
 *  - no snapshot, or a snapshot older than DRIFT_SNAPSHOT_MAX_AGE_SECONDS;
 *  - the local position is mid-flight (status other than `active`), or was opened less than 60 s before
 *    the snapshot was taken (the snapshot cannot contain it);
 *  - the local order changed more than 60 s after the order snapshot (the snapshot is older than the row);
 *  - an algo order with no algo snapshot to check against.
 * Prices match within 0.1 % (decimalsWithin), quantities exactly; order types and statuses are alias-matched.
 * Only drift, local-only and exchange-only count as "out of sync".
 */
import { latestSnapshot } from '../../db/repositories/api-snapshots.js';
import { accountNames } from '../../db/repositories/accounts.js';
import { openPositionsWithOrders } from '../../db/repositories/open-positions.js';
import { compareDecimal, decimalsWithin, isDecimal } from '../../support/decimal.js';
import { toBool } from '../../support/sql-values.js';
import { ageSeconds } from './safe.js';
import type { DataContext } from './context.js';

/** Keys of the parsed snapshot parts (the table holds one `binance` row per snapshot; see latestSnapshots). */
export const DRIFT_CANONICALS = { positions: 'account-positions', orders: 'account-open-orders', algo: 'account-algo-orders' } as const;
export const DRIFT_SNAPSHOT_MAX_AGE_SECONDS = 15 * 60;
export const PRICE_TOLERANCE = 0.001;
export const FRESHNESS_GRACE_SECONDS = 60;

export const OPEN_POSITION_STATUSES = ['new', 'opening', 'active', 'syncing', 'waping', 'closing', 'cancelling'];
export const WORKING_ORDER_STATUSES = ['NEW', 'PARTIALLY_FILLED'];

export type PairStatus = 'synced' | 'drift' | 'local-only' | 'exchange-only' | 'unverified';

export interface LocalOrder {
  id: number;
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

export interface LocalPosition {
  id: number;
  symbol: string;
  direction: string;
  status: string;
  quantity: string | null;
  entryPrice: string | null;
  createdAt: Date | null;
  orders: LocalOrder[];
}

export interface ExchangePosition {
  symbol: string;
  direction: string;
  quantity: string;
  entryPrice: string | null;
}

export interface ExchangeOrder {
  orderId: string | null;
  clientOrderId: string | null;
  symbol: string;
  type: string;
  side: string;
  status: string;
  price: string | null;
  stopPrice: string | null;
  quantity: string | null;
  closePosition: boolean;
  algo: boolean;
}

export interface FieldDiff {
  field: string;
  local: string | null;
  exchange: string | null;
}

export interface OrderPair {
  key: string;
  status: PairStatus;
  reason: string | null;
  diffs: FieldDiff[];
  local: LocalOrder | null;
  exchange: ExchangeOrder | null;
}

export interface PositionPair {
  key: string;
  symbol: string;
  direction: string;
  status: PairStatus;
  reason: string | null;
  diffs: FieldDiff[];
  local: LocalPosition | null;
  exchange: ExchangePosition | null;
  orders: OrderPair[];
}

export interface SnapshotInfo {
  takenAt: Date;
  ageSeconds: number | null;
  stale: boolean;
}

export interface AccountDrift {
  accountId: number;
  name: string;
  active: boolean;
  snapshots: { positions: SnapshotInfo | null; orders: SnapshotInfo | null; algo: SnapshotInfo | null };
  positions: PositionPair[];
  orphanOrders: OrderPair[];
  counts: Record<PairStatus, number>;
  outOfSync: number;
  problems: string[];
}

// ---------------------------------------------------------------------------------------------------
// Parsing exchange payloads

function arrayOf(payload: unknown, ...keys: string[]): Array<Record<string, unknown>> {
  if (Array.isArray(payload)) return payload.filter((x) => x && typeof x === 'object') as Array<Record<string, unknown>>;
  if (payload && typeof payload === 'object') {
    for (const k of keys) {
      const v = (payload as Record<string, unknown>)[k];
      if (Array.isArray(v)) return arrayOf(v);
    }
  }
  return [];
}

function dec(v: unknown): string | null {
  if (v === null || v === undefined || v === '') return null;
  const s = typeof v === 'number' ? String(v) : String(v).trim();
  return isDecimal(s) ? s : null;
}

function abs(d: string): string {
  return d.startsWith('-') ? d.slice(1) : d.startsWith('+') ? d.slice(1) : d;
}

function isZero(d: string | null): boolean {
  return d !== null && compareDecimal(abs(d), '0') === 0;
}

export function parseExchangePositions(payload: unknown): ExchangePosition[] {
  const out: ExchangePosition[] = [];
  for (const p of arrayOf(payload, 'positions', 'data')) {
    const amt = dec(p.positionAmt ?? p.size ?? p.quantity);
    if (amt === null || isZero(amt)) continue;
    const side = String(p.positionSide ?? 'BOTH').toUpperCase();
    const direction = side === 'LONG' || side === 'SHORT' ? side : amt.startsWith('-') ? 'SHORT' : 'LONG';
    out.push({ symbol: String(p.symbol ?? ''), direction, quantity: abs(amt), entryPrice: dec(p.entryPrice ?? p.avgPrice) });
  }
  return out;
}

export function parseExchangeOrders(payload: unknown, algo: boolean): ExchangeOrder[] {
  return arrayOf(payload, 'orders', 'data').map((o) => ({
    orderId: o.orderId !== undefined && o.orderId !== null ? String(o.orderId) : o.algoId !== undefined && o.algoId !== null ? String(o.algoId) : null,
    clientOrderId: (o.clientOrderId ?? o.clientAlgoId ?? o.orderLinkId ?? null) as string | null,
    symbol: String(o.symbol ?? ''),
    type: String(o.type ?? o.orderType ?? '').toUpperCase(),
    side: String(o.side ?? '').toUpperCase(),
    status: String(o.status ?? o.algoStatus ?? '').toUpperCase(),
    price: dec(o.price),
    stopPrice: dec(o.stopPrice ?? o.triggerPrice ?? o.activatePrice),
    quantity: dec(o.origQty ?? o.quantity ?? o.qty),
    closePosition: toBool(o.closePosition),
    algo,
  }));
}

// ---------------------------------------------------------------------------------------------------
// Matching rules

const TYPE_ALIASES: Record<string, string[]> = {
  LIMIT: ['LIMIT'],
  MARKET: ['MARKET'],
  'PROFIT-LIMIT': ['LIMIT', 'TAKE_PROFIT', 'TAKE_PROFIT_LIMIT'],
  'PROFIT-MARKET': ['MARKET', 'TAKE_PROFIT_MARKET'],
  'STOP-LIMIT': ['STOP', 'STOP_LIMIT'],
  'STOP-MARKET': ['STOP_MARKET'],
  'TRAILING-STOP': ['TRAILING_STOP_MARKET'],
};

const STATUS_ALIASES: Record<string, string[]> = {
  NEW: ['NEW', 'LIVE', 'ACTIVE', 'OPEN', 'WORKING'],
  PARTIALLY_FILLED: ['PARTIALLY_FILLED', 'PARTIALLYFILLED', 'PARTIAL_FILLED', 'PARTIALLY-FILLED'],
  FILLED: ['FILLED', 'CLOSED', 'EXECUTED', 'FINISHED'],
};

/** Local types priced by their trigger (stopPrice on the exchange) rather than a limit price. */
const TRIGGER_PRICED = new Set(['STOP-MARKET', 'PROFIT-MARKET', 'TRAILING-STOP']);

export function typesMatch(local: string, exchange: string): boolean {
  const l = local.toUpperCase();
  const aliases = TYPE_ALIASES[l] ?? [l.replace(/-/g, '_')];
  return aliases.includes(exchange.toUpperCase());
}

export function statusesMatch(local: string, exchange: string): boolean {
  const l = local.toUpperCase();
  return (STATUS_ALIASES[l] ?? [l]).includes(exchange.toUpperCase());
}

function priceDiff(field: string, local: string | null, exchange: string | null): FieldDiff | null {
  if (local === null || exchange === null || isZero(exchange)) return null; // not reported on one side
  return decimalsWithin(local, exchange, PRICE_TOLERANCE) ? null : { field, local, exchange };
}

function exactDiff(field: string, local: string | null, exchange: string | null): FieldDiff | null {
  if (local === null || exchange === null) return null;
  return compareDecimal(abs(local), abs(exchange)) === 0 ? null : { field, local, exchange };
}

export function compareOrder(local: LocalOrder, ex: ExchangeOrder): FieldDiff[] {
  const diffs: FieldDiff[] = [];
  if (!statusesMatch(local.status, ex.status)) diffs.push({ field: 'status', local: local.status, exchange: ex.status });
  if (local.side.toUpperCase() !== ex.side) diffs.push({ field: 'side', local: local.side, exchange: ex.side });
  if (!typesMatch(local.type, ex.type)) diffs.push({ field: 'type', local: local.type, exchange: ex.type });
  const exPrice = TRIGGER_PRICED.has(local.type.toUpperCase()) ? (ex.stopPrice ?? ex.price) : (ex.price ?? ex.stopPrice);
  const p = priceDiff('price', local.price, exPrice);
  if (p) diffs.push(p);
  const closeAll = ex.closePosition || (ex.quantity !== null && isZero(ex.quantity));
  if (!closeAll) {
    const q = exactDiff('quantity', local.quantity, ex.quantity);
    if (q) diffs.push(q);
  }
  return diffs;
}

export function comparePosition(local: LocalPosition, ex: ExchangePosition): FieldDiff[] {
  const diffs: FieldDiff[] = [];
  const q = exactDiff('quantity', local.quantity, ex.quantity);
  if (q) diffs.push(q);
  const p = priceDiff('entry_price', local.entryPrice, ex.entryPrice);
  if (p) diffs.push(p);
  return diffs;
}

export interface DriftInput {
  now: number;
  positions: LocalPosition[];
  snapshots: {
    positions: { takenAt: Date; payload: unknown } | null;
    orders: { takenAt: Date; payload: unknown } | null;
    algo: { takenAt: Date; payload: unknown } | null;
  };
}

function info(now: number, s: { takenAt: Date } | null): SnapshotInfo | null {
  if (!s) return null;
  const age = ageSeconds(now, s.takenAt);
  return { takenAt: s.takenAt, ageSeconds: age, stale: age === null || age > DRIFT_SNAPSHOT_MAX_AGE_SECONDS };
}

/** The pure comparison (no I/O), so every rule is unit-testable. */
export function computeDrift(input: DriftInput): Pick<AccountDrift, 'snapshots' | 'positions' | 'orphanOrders' | 'counts' | 'outOfSync'> {
  const { now } = input;
  const snapshots = { positions: info(now, input.snapshots.positions), orders: info(now, input.snapshots.orders), algo: info(now, input.snapshots.algo) };
  const exPositions = input.snapshots.positions ? parseExchangePositions(input.snapshots.positions.payload) : [];
  const exOrders = [
    ...(input.snapshots.orders ? parseExchangeOrders(input.snapshots.orders.payload, false) : []),
    ...(input.snapshots.algo ? parseExchangeOrders(input.snapshots.algo.payload, true) : []),
  ];
  const usedOrders = new Set<ExchangeOrder>();
  const usedPositions = new Set<ExchangePosition>();

  const positionGate = (): string | null => {
    if (!snapshots.positions) return 'no positions snapshot yet';
    if (snapshots.positions.stale) return `positions snapshot is ${snapshots.positions.ageSeconds ?? '?'} s old`;
    return null;
  };
  const orderGate = (o: LocalOrder): string | null => {
    const snap = o.isAlgo ? snapshots.algo : snapshots.orders;
    if (o.isAlgo && !snapshots.algo) return 'algo order, no algo-orders snapshot to check against';
    if (!snap) return 'no open-orders snapshot yet';
    if (snap.stale) return `open-orders snapshot is ${snap.ageSeconds ?? '?'} s old`;
    if (o.updatedAt && o.updatedAt.getTime() > snap.takenAt.getTime() + FRESHNESS_GRACE_SECONDS * 1000) return 'order changed after the snapshot was taken';
    return null;
  };

  const findOrder = (o: LocalOrder): ExchangeOrder | null => {
    const byClient = o.clientOrderId ? exOrders.find((e) => !usedOrders.has(e) && e.clientOrderId === o.clientOrderId) : undefined;
    if (byClient) return byClient;
    return (o.exchangeOrderId ? exOrders.find((e) => !usedOrders.has(e) && e.orderId === o.exchangeOrderId) : undefined) ?? null;
  };

  const pairOrder = (o: LocalOrder): OrderPair => {
    const key = o.clientOrderId ?? o.exchangeOrderId ?? `#${o.id}`;
    const ex = findOrder(o);
    if (ex) usedOrders.add(ex);
    const gate = orderGate(o);
    if (gate) return { key, status: 'unverified', reason: gate, diffs: ex ? compareOrder(o, ex) : [], local: o, exchange: ex };
    if (!ex) return { key, status: 'local-only', reason: 'not open on the exchange', diffs: [], local: o, exchange: null };
    const diffs = compareOrder(o, ex);
    return { key, status: diffs.length ? 'drift' : 'synced', reason: null, diffs, local: o, exchange: ex };
  };

  const positions: PositionPair[] = input.positions.map((lp) => {
    const key = `${lp.symbol}:${lp.direction}`;
    const ex = exPositions.find((e) => !usedPositions.has(e) && e.symbol === lp.symbol && e.direction === lp.direction.toUpperCase()) ?? null;
    if (ex) usedPositions.add(ex);
    const orders = lp.orders.map(pairOrder);
    let gate = positionGate();
    if (!gate && lp.status !== 'active') gate = `position is ${lp.status} (mid-flight)`;
    if (!gate && lp.createdAt && snapshots.positions && lp.createdAt.getTime() > snapshots.positions.takenAt.getTime() - FRESHNESS_GRACE_SECONDS * 1000) {
      gate = 'position opened less than 60 s before the snapshot';
    }
    if (gate) {
      // a mid-flight position's order drift is not meaningful either (the dispatcher is still writing)
      if (lp.status !== 'active') for (const o of orders) if (o.status !== 'unverified') Object.assign(o, { status: 'unverified', reason: 'position is mid-flight' });
      return { key, symbol: lp.symbol, direction: lp.direction, status: 'unverified', reason: gate, diffs: ex ? comparePosition(lp, ex) : [], local: lp, exchange: ex, orders };
    }
    if (!ex) return { key, symbol: lp.symbol, direction: lp.direction, status: 'local-only', reason: 'no such open position on the exchange', diffs: [], local: lp, exchange: null, orders };
    const diffs = comparePosition(lp, ex);
    return { key, symbol: lp.symbol, direction: lp.direction, status: diffs.length ? 'drift' : 'synced', reason: null, diffs, local: lp, exchange: ex, orders };
  });

  for (const ex of exPositions) {
    if (usedPositions.has(ex)) continue;
    positions.push({
      key: `${ex.symbol}:${ex.direction}`,
      symbol: ex.symbol,
      direction: ex.direction,
      status: snapshots.positions?.stale ? 'unverified' : 'exchange-only',
      reason: snapshots.positions?.stale ? 'stale snapshot' : 'open on the exchange, unknown locally',
      diffs: [],
      local: null,
      exchange: ex,
      orders: [],
    });
  }

  const orphanOrders: OrderPair[] = exOrders
    .filter((e) => !usedOrders.has(e))
    .map((e) => {
      const snap = e.algo ? snapshots.algo : snapshots.orders;
      const stale = !snap || snap.stale;
      return { key: e.clientOrderId ?? e.orderId ?? '?', status: stale ? 'unverified' : 'exchange-only', reason: stale ? 'stale snapshot' : 'open on the exchange, unknown locally', diffs: [], local: null, exchange: e };
    });

  const counts: Record<PairStatus, number> = { synced: 0, drift: 0, 'local-only': 0, 'exchange-only': 0, unverified: 0 };
  for (const p of positions) {
    counts[p.status]++;
    for (const o of p.orders) counts[o.status]++;
  }
  for (const o of orphanOrders) counts[o.status]++;
  return { snapshots, positions, orphanOrders, counts, outOfSync: counts.drift + counts['local-only'] + counts['exchange-only'] };
}

// ---------------------------------------------------------------------------------------------------
// Reading SQL

/**
 * The newest snapshot of each account, as `kraite:cron-snapshot-accounts` stores it (one `binance` row with
 * {positions, open_orders}), split into the positions and open-orders inputs of computeDrift().
 */
async function latestSnapshots(ctx: DataContext, accountIds: number[]): Promise<Map<string, { takenAt: Date; payload: unknown }>> {
  const out = new Map<string, { takenAt: Date; payload: unknown }>();
  for (const id of accountIds) {
    const snap = await latestSnapshot(ctx.db, id);
    if (!snap) continue;
    out.set(`${id}:${DRIFT_CANONICALS.positions}`, { takenAt: snap.takenAt, payload: snap.payload.positions ?? [] });
    out.set(`${id}:${DRIFT_CANONICALS.orders}`, { takenAt: snap.takenAt, payload: snap.payload.open_orders ?? [] });
  }
  return out;
}

export async function readLocalPositions(ctx: DataContext, accountId: number): Promise<LocalPosition[]> {
  const rows = await openPositionsWithOrders(ctx.db, accountId, OPEN_POSITION_STATUSES, WORKING_ORDER_STATUSES);
  return rows.map((r) => ({
    id: r.id,
    symbol: r.symbol,
    direction: r.direction,
    status: r.status,
    quantity: r.quantity,
    entryPrice: r.openingPrice,
    createdAt: r.createdAt,
    orders: r.orders.map((o) => ({
      id: o.id,
      clientOrderId: o.clientOrderId,
      exchangeOrderId: o.exchangeOrderId,
      type: o.type,
      side: o.side,
      status: o.status,
      price: o.price,
      quantity: o.quantity,
      isAlgo: o.isAlgo,
      updatedAt: o.updatedAt,
    })),
  }));
}

export async function readDrift(ctx: DataContext, opts: { accountId?: number } = {}): Promise<{ snapshotsInstalled: boolean; accounts: AccountDrift[] }> {
  const accounts = await accountNames(ctx.db, opts.accountId);
  const snapshotsInstalled = await ctx.probe.has('api_snapshots');
  const snaps = snapshotsInstalled ? await latestSnapshots(ctx, accounts.map((a) => a.id)) : new Map();
  const now = ctx.clock.now();
  const out: AccountDrift[] = [];
  for (const a of accounts) {
    const id = a.id;
    const problems: string[] = [];
    let parsed: AccountDrift['positions'] = [];
    let result: ReturnType<typeof computeDrift>;
    try {
      const positions = await readLocalPositions(ctx, id);
      result = computeDrift({
        now,
        positions,
        snapshots: {
          positions: snaps.get(`${id}:${DRIFT_CANONICALS.positions}`) ?? null,
          orders: snaps.get(`${id}:${DRIFT_CANONICALS.orders}`) ?? null,
          algo: snaps.get(`${id}:${DRIFT_CANONICALS.algo}`) ?? null,
        },
      });
      parsed = result.positions;
    } catch (err) {
      ctx.log.warn('drift comparison failed', { accountId: id, err });
      problems.push((err as Error).message);
      result = { snapshots: { positions: null, orders: null, algo: null }, positions: [], orphanOrders: [], counts: { synced: 0, drift: 0, 'local-only': 0, 'exchange-only': 0, unverified: 0 }, outOfSync: 0 };
    }
    if (!snapshotsInstalled) problems.push('api_snapshots is not installed yet: every local row is unverified');
    out.push({ accountId: id, name: a.name, active: a.isActive, ...result, positions: parsed, problems });
  }
  return { snapshotsInstalled, accounts: out };
}
