/**
 * REST order sync: the exchange's truth re-anchors local working orders (status, price, quantity).
 *
 * Two entry points share one code path (select → ask Binance → re-anchor):
 *  - `syncOrders()` (kraite:cron-sync-orders, every 5 min): every working non-MARKET order with an
 *    exchange id, one GET /fapi/v1/order each (weight 1);
 *  - `reconcileAccount()` (the ReconcileAccount job after every (re)connect, key change and start, and
 *    `kraite:cron-sync-orders --account=ID`): one account, openOrders first (weight 1 per symbol, or 40 for
 *    all when the account has more than OPEN_ORDERS_PER_SYMBOL_MAX symbols), then GET /order only for the
 *    local working orders the exchange no longer lists as open.
 * An error on one order never stops the others; a 418 ban stops the run (every call would fail).
 * -2013 (unknown order) leaves the order's state alone, records the answer in api_result and alerts.
 */
import { isPositiveDecimal, normalizeDecimal } from '../support/decimal.js';
import { errorMessage } from '../support/errors.js';
import { reanchorOrder, recordOrderSyncError, syncableOrders, type OrderSelection, type SyncableOrder } from '../db/repositories/order-sync.js';
import { ALERTS, BINANCE_CODES } from './constants.js';
import { accountClient, safeNotify, type BinanceDeps } from './context.js';
import { BinanceBannedError, BinanceError } from './errors.js';
import type { BinanceOrder } from './types.js';

export const OPEN_ORDERS_PER_SYMBOL_MAX = 10;

export type OrderOutcome = 'unchanged' | 'reanchored' | 'missing' | 'error' | 'skipped';

export interface OrderResult {
  order_id: number;
  account_id: number;
  symbol: string;
  exchange_order_id: string;
  outcome: OrderOutcome;
  before?: { status: string; price: string | null; quantity: string | null };
  after?: { status: string; price: string | null; quantity: string | null };
  error?: string;
  code?: number | null;
}

export interface SyncSummary {
  orders: number;
  unchanged: number;
  reanchored: number;
  missing: number;
  errors: number;
  skipped: number;
  results: OrderResult[];
}

/** Binance status → ours (British spelling of CANCELLED, as everywhere in Kraite). */
export function localStatus(binanceStatus: string): string {
  if (binanceStatus === 'CANCELED') return 'CANCELLED';
  if (binanceStatus === 'EXPIRED_IN_MATCH') return 'EXPIRED';
  return binanceStatus;
}

/** What the exchange says the order's status, price and quantity are. */
export function exchangeValues(local: SyncableOrder, o: BinanceOrder): { status: string; price: string | null; quantity: string | null } {
  const isStop = local.type === 'STOP-MARKET' || o.type === 'STOP_MARKET' || o.origType === 'STOP_MARKET';
  const price = isStop ? o.stopPrice : isPositiveDecimal(o.avgPrice) ? o.avgPrice : o.price;
  const quantity = isPositiveDecimal(o.executedQty) ? o.executedQty : o.origQty;
  return { status: localStatus(o.status), price: normalizeDecimal(price), quantity: normalizeDecimal(quantity) };
}

function summarise(results: OrderResult[]): SyncSummary {
  const count = (o: OrderOutcome) => results.filter((r) => r.outcome === o).length;
  return { orders: results.length, unchanged: count('unchanged'), reanchored: count('reanchored'), missing: count('missing'), errors: count('error'), skipped: count('skipped'), results };
}

export class OrderSync {
  constructor(private readonly deps: BinanceDeps) {}

  /** Sync every selected order with one GET /fapi/v1/order each (the cron). */
  async syncOrders(sel: OrderSelection = {}): Promise<SyncSummary> {
    const orders = await syncableOrders(this.deps.db, sel);
    const results: OrderResult[] = [];
    for (const [accountId, list] of groupByAccount(orders)) results.push(...(await this.syncAccountOrders(accountId, list, false)));
    return summarise(results);
  }

  /** The gap reconciliation of one account: openOrders first, then GET /order for what is not open. */
  async reconcileAccount(accountId: number): Promise<SyncSummary> {
    const orders = await syncableOrders(this.deps.db, { accountId });
    return summarise(await this.syncAccountOrders(accountId, orders, true));
  }

  private async syncAccountOrders(accountId: number, orders: SyncableOrder[], openOrdersFirst: boolean): Promise<OrderResult[]> {
    if (orders.length === 0) return [];
    const base = (o: SyncableOrder): OrderResult => ({ order_id: o.id, account_id: o.accountId, symbol: o.symbol, exchange_order_id: o.exchangeOrderId, outcome: 'skipped' });
    const acc = await accountClient(this.deps, accountId).catch((err: unknown) => {
      this.deps.log.error('cannot build the account client', { account_id: accountId, error: errorMessage(err) });
      return null;
    });
    if (!acc) return orders.map((o) => ({ ...base(o), outcome: 'error' as const, error: 'the account has no usable API credentials' }));

    let open: Map<string, BinanceOrder> | null = null;
    if (openOrdersFirst) {
      try {
        open = await this.openOrdersOf(acc.client, orders);
      } catch (err) {
        if (err instanceof BinanceBannedError) return orders.map((o) => ({ ...base(o), error: err.message }));
        this.deps.log.warn('openOrders failed; falling back to one GET per order', { account_id: accountId, error: errorMessage(err) });
      }
    }
    const results: OrderResult[] = [];
    let banned: BinanceBannedError | null = null;
    for (const o of orders) {
      if (banned) {
        results.push({ ...base(o), error: banned.message });
        continue;
      }
      try {
        const remote = open?.get(o.exchangeOrderId) ?? (await acc.client.getOrder({ symbol: o.symbol, orderId: o.exchangeOrderId }));
        results.push(await this.apply(o, remote));
      } catch (err) {
        if (err instanceof BinanceBannedError) banned = err;
        results.push(await this.failed(o, base(o), err));
      }
    }
    return results;
  }

  private async openOrdersOf(client: NonNullable<Awaited<ReturnType<typeof accountClient>>>['client'], orders: SyncableOrder[]): Promise<Map<string, BinanceOrder>> {
    const symbols = [...new Set(orders.map((o) => o.symbol))];
    const list = symbols.length <= OPEN_ORDERS_PER_SYMBOL_MAX ? (await Promise.all(symbols.map((s) => client.openOrders(s)))).flat() : await client.openOrders();
    return new Map(list.map((o) => [String(o.orderId), o]));
  }

  private async apply(local: SyncableOrder, remote: BinanceOrder): Promise<OrderResult> {
    const before = { status: local.status, price: local.price, quantity: local.quantity };
    const after = exchangeValues(local, remote);
    const changed = before.status !== after.status || before.price !== after.price || before.quantity !== after.quantity;
    const result: OrderResult = { order_id: local.id, account_id: local.accountId, symbol: local.symbol, exchange_order_id: local.exchangeOrderId, outcome: changed ? 'reanchored' : 'unchanged', before, after };
    if (changed) {
      await reanchorOrder(this.deps.db, local.id, after, { synced_at: new Date(this.deps.clock.now()).toISOString(), order: remote }, new Date(this.deps.clock.now()));
      this.deps.log.info('order re-anchored from the exchange', { order_id: local.id, before, after });
    }
    return result;
  }

  private async failed(local: SyncableOrder, base: OrderResult, err: unknown): Promise<OrderResult> {
    const code = err instanceof BinanceError ? err.code : null;
    const message = errorMessage(err);
    const now = new Date(this.deps.clock.now());
    if (code === BINANCE_CODES.ORDER_NOT_FOUND) {
      await recordOrderSyncError(this.deps.db, local.id, { synced_at: now.toISOString(), error: { code, msg: message } }, now).catch((e: unknown) => this.deps.log.error('could not record the sync error', { order_id: local.id, error: errorMessage(e) }));
      this.deps.log.warn('order unknown to the exchange (-2013); left as is', { order_id: local.id, exchange_order_id: local.exchangeOrderId });
      await safeNotify(this.deps, { canonical: ALERTS.orderMissing, key: local.id, severity: 'high', title: `Order ${local.id} (${local.symbol}) is unknown to Binance`, message: 'GET /fapi/v1/order answered -2013 for a working order. Its local state was left as is.', context: { order_id: local.id, account_id: local.accountId, exchange_order_id: local.exchangeOrderId, symbol: local.symbol }, throttleSeconds: 3600 });
      return { ...base, outcome: 'missing', error: message, code };
    }
    this.deps.log.warn('order sync failed', { order_id: local.id, error: message, code });
    return { ...base, outcome: err instanceof BinanceBannedError ? 'skipped' : 'error', error: message, code };
  }
}

function groupByAccount(orders: SyncableOrder[]): Map<number, SyncableOrder[]> {
  const m = new Map<number, SyncableOrder[]>();
  for (const o of orders) {
    const list = m.get(o.accountId) ?? [];
    list.push(o);
    m.set(o.accountId, list);
  }
  return m;
}
