/**
 * The follow-up steps of the user-data job (src/queue/user-data/apply.ts), created in the `trading_` set
 * with high priority (queue `priority`), one live step per position (dedupe key `<class>:position:<id>`):
 *
 *  - cancel-opening-orders {positionId, accountId, symbol, direction, openingOrdersOnly}
 *      An ACCOUNT_UPDATE showed the position at zero. Cancels, on Binance, the position's working orders
 *      that would open it again (entry side, not reduce-only, not algo): DELETE /fapi/v1/order (signed,
 *      weight 1) per order, by exchange id or else client id. An order the exchange no longer knows
 *      (-2011 / -2013) counts as gone. Cancelled orders are marked CANCELLED locally while still working
 *      (the CANCELED frame that follows changes nothing more).
 *
 *  - position-replacement {positionId, accountId, symbol, direction, triggerStatus: 'EXTERNAL_FILL', …}
 *      A reduce-only / close-position fill that Athena did not place closed (part of) the position. Athena
 *      does not open positions; this step settles the books: it asks GET /fapi/v3/positionRisk for the
 *      symbol. When the position's side is flat, it cancels every remaining working order of the position
 *      on Binance (algo orders through DELETE /fapi/v1/algoOrder), marks them CANCELLED and closes the
 *      position (status closed, manually_closed_at). When some quantity is left, it changes nothing and
 *      reports the remaining amount (the REST order sync and the trading workers own partial closes).
 *
 * Binance errors that are transient (429, 418 ban, transport, unknown outcome) retry with backoff; other
 * API errors fail the step (visible in steps:list and the admin UI).
 */
import type { Redis } from 'ioredis';
import { getCredentials } from '../../db/repositories/accounts.js';
import { closePositionExternally, markOrdersCancelled, stepPosition, workingOrders, type StepPosition, type WorkingOrder } from '../../db/repositories/user-data-steps.js';
import { BINANCE_CODES } from '../../binance/constants.js';
import { BinanceError } from '../../binance/errors.js';
import { BinanceRestClient } from '../../binance/rest-client.js';
import { RedisBanStore, WeightBudget } from '../../binance/weight-budget.js';
import { redisKey } from '../../redis/keys.js';
import type { Clock } from '../../support/clock.js';
import { isDecimal, toScaled } from '../../support/decimal.js';
import { registerStepClass, type ExceptionPolicy, type StepContext } from '../registry.js';

/** -2011 "Unknown order sent." (cancel of an order that is already gone). */
export const CANCEL_REJECTED = -2011;

const budgets = new Map<string, WeightBudget>();

/** One per-IP weight budget per process and Redis prefix, sharing the 418 ban through Redis. */
function budgetFor(redis: Redis, redisPrefix: string, clock: Clock, restUrl: string): WeightBudget {
  const k = `${redisPrefix}|${new URL(restUrl).origin}`;
  let b = budgets.get(k);
  if (!b) budgets.set(k, (b = new WeightBudget({ clock, banStore: new RedisBanStore(redis, redisKey(redisPrefix, 'binance', 'ip-ban'), clock) })));
  return b;
}

async function clientFor(ctx: StepContext, accountId: number): Promise<BinanceRestClient> {
  const key = ctx.config.appKey;
  if (!key) ctx.fail('APP_KEY is not set: the account credentials cannot be decrypted');
  const creds = await getCredentials(ctx.db, key, accountId);
  if (!creds) ctx.fail(`account ${accountId} has no Binance API key and secret`);
  const restUrl = ctx.config.binance.restUrl;
  return new BinanceRestClient({ baseUrl: restUrl, clock: ctx.clock, credentials: { apiKey: creds.apiKey, apiSecret: creds.apiSecret }, budget: budgetFor(ctx.redis, ctx.redisPrefix, ctx.clock, restUrl), log: ctx.log });
}

function positionIdOf(ctx: StepContext): number {
  const id = Number(ctx.args.positionId);
  if (!Number.isSafeInteger(id) || id <= 0) ctx.fail(`positionId must be a positive integer, got ${JSON.stringify(ctx.args.positionId)}`);
  return id;
}

async function loadPosition(ctx: StepContext): Promise<StepPosition> {
  const id = positionIdOf(ctx);
  const p = await stepPosition(ctx.db, id);
  if (!p) ctx.skip(`position ${id} no longer exists`);
  return p;
}

export type CancelOutcome = 'cancelled' | 'gone' | 'no-id';

/** Cancel one order on Binance; an order the exchange does not know any more is 'gone'. */
export async function cancelOnExchange(client: BinanceRestClient, symbol: string, o: WorkingOrder, signal?: AbortSignal): Promise<CancelOutcome> {
  const ro = { security: 'SIGNED' as const, weight: 1, idempotent: true, signal };
  try {
    if (o.isAlgo) {
      if (!o.exchangeOrderId && !o.clientOrderId) return 'no-id';
      await client.request('DELETE', '/fapi/v1/algoOrder', o.exchangeOrderId ? { algoId: o.exchangeOrderId } : { clientAlgoId: o.clientOrderId! }, ro);
    } else {
      if (!o.exchangeOrderId && !o.clientOrderId) return 'no-id';
      await client.request('DELETE', '/fapi/v1/order', o.exchangeOrderId ? { symbol, orderId: o.exchangeOrderId } : { symbol, origClientOrderId: o.clientOrderId! }, ro);
    }
    return 'cancelled';
  } catch (err) {
    if (err instanceof BinanceError && err.kind === 'api' && (err.code === CANCEL_REJECTED || err.code === BINANCE_CODES.ORDER_NOT_FOUND)) return 'gone';
    throw err;
  }
}

async function cancelAll(ctx: StepContext, client: BinanceRestClient, p: StepPosition, orders: WorkingOrder[]): Promise<Record<CancelOutcome, number[]>> {
  const out: Record<CancelOutcome, number[]> = { cancelled: [], gone: [], 'no-id': [] };
  for (const o of orders) out[await cancelOnExchange(client, p.symbol, o, ctx.signal)].push(o.id);
  await markOrdersCancelled(ctx.db, [...out.cancelled, ...out.gone], new Date(ctx.clock.now()));
  return out;
}

/** Retry what may pass later (rate limit, ban, transport, unknown outcome); fail the rest. */
export function binancePolicy(err: unknown): ExceptionPolicy {
  if (err instanceof BinanceError) return err.kind === 'api' ? 'fail' : 'retry';
  const code = (err as { code?: string })?.code;
  return typeof code === 'string' && /^(ECONN|ETIMEDOUT|EPIPE|SQLITE_BUSY|40001|40P01|ER_LOCK)/.test(code) ? 'retry' : 'fail';
}

const BACKOFF_MS = [2_000, 5_000, 15_000, 30_000, 60_000];

registerStepClass({
  name: 'cancel-opening-orders',
  retries: 5,
  backoffMs: BACKOFF_MS,
  timeoutMs: 60_000,
  onException: binancePolicy,
  async compute(ctx) {
    const p = await loadPosition(ctx);
    const openingOnly = ctx.args.openingOrdersOnly !== false;
    const orders = await workingOrders(ctx.db, p, openingOnly);
    if (orders.length === 0) return { positionId: p.id, cancelled: [], gone: [], 'no-id': [], openingOrdersOnly: openingOnly };
    const client = await clientFor(ctx, p.accountId);
    const out = await cancelAll(ctx, client, p, orders);
    ctx.log.info('opening orders of a flat position cancelled', { position_id: p.id, account_id: p.accountId, symbol: p.symbol, cancelled: out.cancelled.length, gone: out.gone.length });
    return { positionId: p.id, ...out, openingOrdersOnly: openingOnly };
  },
});

registerStepClass({
  name: 'position-replacement',
  retries: 5,
  backoffMs: BACKOFF_MS,
  timeoutMs: 60_000,
  onException: binancePolicy,
  async compute(ctx) {
    const p = await loadPosition(ctx);
    if (p.finished) ctx.skip(`position ${p.id} is already ${p.status}`);
    const client = await clientFor(ctx, p.accountId);
    const risk = await client.positionRisk(p.symbol, ctx.signal);
    const side = p.onHedgeMode ? p.direction : 'BOTH';
    const entry = risk.find((r) => r.symbol === p.symbol && (r.positionSide ?? 'BOTH').toUpperCase() === side);
    const amt = entry && isDecimal(entry.positionAmt) ? toScaled(entry.positionAmt) : 0n;
    // One-way mode: a LONG holds a positive amount, a SHORT a negative one; the other sign is not ours.
    const remaining = p.onHedgeMode ? amt : p.direction === 'LONG' ? (amt > 0n ? amt : 0n) : amt < 0n ? -amt : 0n;
    if (remaining !== 0n) {
      ctx.log.warn('external close left part of the position open; nothing changed', { position_id: p.id, account_id: p.accountId, symbol: p.symbol, position_amt: entry?.positionAmt });
      return { positionId: p.id, closed: false, positionAmt: entry?.positionAmt ?? null, trigger: ctx.args.triggerStatus ?? null };
    }
    const out = await cancelAll(ctx, client, p, await workingOrders(ctx.db, p, false));
    const closed = await closePositionExternally(ctx.db, p.id, new Date(ctx.clock.now()));
    ctx.log.info('position closed outside Athena settled', { position_id: p.id, account_id: p.accountId, symbol: p.symbol, cancelled: out.cancelled.length, gone: out.gone.length });
    return { positionId: p.id, closed, ...out, trigger: ctx.args.triggerStatus ?? null };
  },
});
