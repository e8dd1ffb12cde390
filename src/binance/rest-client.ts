/**
 * The signed REST client for Binance USDⓈ-M futures.
 *
 *  - Every try builds a fresh `timestamp` and signature (a retried request with an old timestamp is the
 *    classic -1021 loop), with `recvWindow`.
 *  - Weight: each call reserves its weight in the per-IP WeightBudget before it is sent, and the budget
 *    takes the server's X-MBX-USED-WEIGHT-1M from every answer.
 *  - 429 pauses every caller of the budget for Retry-After, then retries; 418 bans every caller until the
 *    ban ends and fails fast meanwhile (no request leaves the process).
 *  - 5xx (and a timeout once the request left) means the outcome is unknown: idempotent calls are asked
 *    again, anything else throws BinanceUnknownOutcomeError so the caller re-queries instead of assuming.
 *  - Errors are typed (./errors.ts) and carry Binance's code.
 */
import type { Clock } from '../support/clock.js';
import type { Logger } from '../support/log.js';
import { BINANCE_CODES, REST_DEFAULTS } from './constants.js';
import {
  BinanceApiError,
  BinanceBannedError,
  BinanceError,
  BinanceRateLimitError,
  BinanceTransportError,
  BinanceUnknownOutcomeError,
} from './errors.js';
import { encodeParams, signQuery, type ParamValue } from './signing.js';
import type { BinanceCancelAllAnswer, BinanceCanceledOrder, BinanceExchangeInfo, BinanceOrder, BinancePositionRisk, BinancePremiumIndex } from './types.js';
import { WeightBudget } from './weight-budget.js';

/** NONE: public market data. USER_STREAM: API-key header only. SIGNED: header + timestamp + signature. */
export type Security = 'NONE' | 'USER_STREAM' | 'SIGNED';

export interface Credentials {
  apiKey: string;
  apiSecret: string;
}

export interface RestClientOptions {
  baseUrl: string;
  clock: Clock;
  credentials?: Credentials | null;
  /** Shared per-IP budget; by default one per (clock, origin) in this process. */
  budget?: WeightBudget;
  recvWindowMs?: number;
  timeoutMs?: number;
  maxTries?: number;
  maxRetryAfterWaitMs?: number;
  log?: Logger;
  fetchImpl?: typeof fetch;
}

export interface RequestOptions {
  security: Security;
  weight: number;
  /** Safe to send twice. Default: GET only. */
  idempotent?: boolean;
  signal?: AbortSignal;
}

const budgets = new WeakMap<Clock, Map<string, WeightBudget>>();

/** The process-wide budget of one origin (Binance counts weight per IP, so every client shares it). */
export function sharedBudget(baseUrl: string, clock: Clock): WeightBudget {
  let byOrigin = budgets.get(clock);
  if (!byOrigin) budgets.set(clock, (byOrigin = new Map()));
  const origin = new URL(baseUrl).origin;
  let b = byOrigin.get(origin);
  if (!b) byOrigin.set(origin, (b = new WeightBudget({ clock })));
  return b;
}

function headerNumber(res: Response, name: string): number | null {
  const v = res.headers.get(name);
  if (v === null || v.trim() === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

function parseErrorBody(text: string): { code: number | null; msg: string } {
  try {
    const body = JSON.parse(text) as { code?: unknown; msg?: unknown };
    return { code: typeof body.code === 'number' ? body.code : null, msg: typeof body.msg === 'string' ? body.msg : text.slice(0, 200) };
  } catch {
    // Not JSON (an HTML error page from a proxy, say): keep the start of the text as the message.
    return { code: null, msg: text.slice(0, 200) };
  }
}

export class BinanceRestClient {
  readonly budget: WeightBudget;
  private readonly baseUrl: string;

  constructor(private readonly opts: RestClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.budget = opts.budget ?? sharedBudget(this.baseUrl, opts.clock);
  }

  /** A client for other credentials that shares this one's budget and settings. */
  withCredentials(credentials: Credentials | null): BinanceRestClient {
    return new BinanceRestClient({ ...this.opts, credentials, budget: this.budget });
  }

  // ---- listen keys (USER_STREAM: API key header, no signature) ----

  /** POST /fapi/v1/listenKey: the account's active key (extended by 60 min), or a new one. */
  async createListenKey(signal?: AbortSignal): Promise<string> {
    const body = await this.request<{ listenKey?: string }>('POST', '/fapi/v1/listenKey', {}, { security: 'USER_STREAM', weight: 1, idempotent: true, signal });
    if (!body.listenKey) throw new BinanceApiError('POST /fapi/v1/listenKey', 200, null, 'answer has no listenKey');
    return body.listenKey;
  }

  /** PUT /fapi/v1/listenKey: extend the active key by 60 min; -1125 when there is none. */
  async keepAliveListenKey(signal?: AbortSignal): Promise<void> {
    await this.request('PUT', '/fapi/v1/listenKey', {}, { security: 'USER_STREAM', weight: 1, idempotent: true, signal });
  }

  /** DELETE /fapi/v1/listenKey: closes every stream of the key (all processes sharing the API key). */
  async deleteListenKey(signal?: AbortSignal): Promise<void> {
    await this.request('DELETE', '/fapi/v1/listenKey', {}, { security: 'USER_STREAM', weight: 1, idempotent: true, signal });
  }

  // ---- market data ----

  exchangeInfo(signal?: AbortSignal): Promise<BinanceExchangeInfo> {
    return this.request('GET', '/fapi/v1/exchangeInfo', {}, { security: 'NONE', weight: 1, signal });
  }

  premiumIndex(symbol: string, signal?: AbortSignal): Promise<BinancePremiumIndex>;
  premiumIndex(symbol?: undefined, signal?: AbortSignal): Promise<BinancePremiumIndex[]>;
  premiumIndex(symbol?: string, signal?: AbortSignal): Promise<BinancePremiumIndex | BinancePremiumIndex[]> {
    return this.request('GET', '/fapi/v1/premiumIndex', { symbol }, { security: 'NONE', weight: symbol ? 1 : 10, signal });
  }

  serverTime(signal?: AbortSignal): Promise<{ serverTime: number }> {
    return this.request('GET', '/fapi/v1/time', {}, { security: 'NONE', weight: 1, signal });
  }

  // ---- signed account data ----

  getOrder(q: { symbol: string; orderId?: string | number; origClientOrderId?: string }, signal?: AbortSignal): Promise<BinanceOrder> {
    return this.request('GET', '/fapi/v1/order', { symbol: q.symbol, orderId: q.orderId, origClientOrderId: q.origClientOrderId }, { security: 'SIGNED', weight: 1, signal });
  }

  openOrders(symbol?: string, signal?: AbortSignal): Promise<BinanceOrder[]> {
    return this.request('GET', '/fapi/v1/openOrders', { symbol }, { security: 'SIGNED', weight: symbol ? 1 : 40, signal });
  }

  allOrders(q: { symbol: string; orderId?: number; startTime?: number; endTime?: number; limit?: number }, signal?: AbortSignal): Promise<BinanceOrder[]> {
    return this.request('GET', '/fapi/v1/allOrders', { ...q }, { security: 'SIGNED', weight: 5, signal });
  }

  positionRisk(symbol?: string, signal?: AbortSignal): Promise<BinancePositionRisk[]> {
    return this.request('GET', '/fapi/v3/positionRisk', { symbol }, { security: 'SIGNED', weight: 5, signal });
  }

  // ---- signed order cancellation ----
  // Sent again after a 5xx or timeout: a cancel whose first try landed then answers -2011, which callers
  // read as "no longer working" (the state they asked for).

  /**
   * DELETE /fapi/v1/order (weight 1): cancel a working order by `orderId`, or else `origClientOrderId`.
   * Throws BinanceApiError -2011 ("Unknown order sent.") when the exchange does not know the order or it is
   * no longer working (filled, cancelled, expired).
   */
  async cancelOrder(q: { symbol: string; orderId?: string | number; origClientOrderId?: string }, signal?: AbortSignal): Promise<BinanceCanceledOrder> {
    if (q.orderId === undefined && q.origClientOrderId === undefined) throw new Error('cancelOrder needs orderId or origClientOrderId');
    return this.request('DELETE', '/fapi/v1/order', { symbol: q.symbol, orderId: q.orderId, origClientOrderId: q.origClientOrderId }, { security: 'SIGNED', weight: 1, idempotent: true, signal });
  }

  /** DELETE /fapi/v1/allOpenOrders (weight 1): cancel every working order of the symbol; `{code: 200, msg}`. */
  cancelAllOpenOrders(symbol: string, signal?: AbortSignal): Promise<BinanceCancelAllAnswer> {
    return this.request('DELETE', '/fapi/v1/allOpenOrders', { symbol }, { security: 'SIGNED', weight: 1, idempotent: true, signal });
  }

  // ---- the one request path ----

  async request<T>(method: string, path: string, params: Record<string, ParamValue>, ro: RequestOptions): Promise<T> {
    const endpoint = `${method} ${path}`;
    const { clock } = this.opts;
    const maxTries = Math.max(1, this.opts.maxTries ?? REST_DEFAULTS.maxTries);
    const idempotent = ro.idempotent ?? method === 'GET';
    if (ro.security !== 'NONE' && !this.opts.credentials) throw new BinanceApiError(endpoint, 0, BINANCE_CODES.REJECTED_API_KEY, 'no API credentials for this call');

    for (let attempt = 1; ; attempt++) {
      const last = attempt >= maxTries;
      const bannedUntil = await this.budget.banned();
      if (bannedUntil !== null) throw new BinanceBannedError(endpoint, bannedUntil, null);
      await this.budget.acquire(ro.weight, ro.signal);

      let res: Response;
      try {
        res = await this.send(method, path, params, ro);
      } catch (err) {
        const timedOut = (err as Error)?.name === 'TimeoutError';
        if ((err as Error)?.name === 'AbortError') throw err;
        // A timeout may have reached the server; a refused connection did not.
        const e = timedOut ? new BinanceUnknownOutcomeError(endpoint, null, 'timed out') : new BinanceTransportError(endpoint, err);
        if (last || (timedOut && !idempotent)) throw e;
        this.opts.log?.warn('binance request failed, retrying', { endpoint, attempt, error: e.message });
        await clock.sleep(250 * attempt, ro.signal);
        continue;
      }

      this.budget.observe(headerNumber(res, 'x-mbx-used-weight-1m'));
      const text = await res.text();
      if (res.ok) return (text ? JSON.parse(text) : {}) as T;

      const retryAfterMs = (headerNumber(res, 'retry-after') ?? 0) * 1000;
      if (res.status === 418) {
        const until = clock.now() + (retryAfterMs || 120_000);
        await this.budget.ban(until);
        this.opts.log?.error('binance banned this IP', { endpoint, until: new Date(until).toISOString() });
        throw new BinanceBannedError(endpoint, until);
      }
      if (res.status === 429) {
        const wait = retryAfterMs || 1000;
        this.budget.pause(clock.now() + wait);
        if (last || wait > (this.opts.maxRetryAfterWaitMs ?? REST_DEFAULTS.maxRetryAfterWaitMs)) throw new BinanceRateLimitError(endpoint, wait);
        this.opts.log?.warn('binance rate limit hit; waiting for Retry-After', { endpoint, wait_ms: wait });
        continue; // acquire() waits out the pause
      }
      if (res.status >= 500) {
        const e = new BinanceUnknownOutcomeError(endpoint, res.status, parseErrorBody(text).msg);
        if (last || !idempotent) throw e;
        this.opts.log?.warn('binance answered 5xx; asking again', { endpoint, status: res.status, attempt });
        await clock.sleep(250 * attempt, ro.signal);
        continue;
      }
      const body = parseErrorBody(text);
      if (body.code === BINANCE_CODES.TIMESTAMP_OUTSIDE_RECV_WINDOW && !last) continue; // fresh timestamp next try
      throw new BinanceApiError(endpoint, res.status, body.code, body.msg);
    }
  }

  private send(method: string, path: string, params: Record<string, ParamValue>, ro: RequestOptions): Promise<Response> {
    const headers: Record<string, string> = {};
    let query = encodeParams(params);
    if (ro.security !== 'NONE') headers['X-MBX-APIKEY'] = this.opts.credentials!.apiKey;
    if (ro.security === 'SIGNED') {
      const stamp = encodeParams({ recvWindow: this.opts.recvWindowMs ?? REST_DEFAULTS.recvWindowMs, timestamp: this.opts.clock.now() });
      query = signQuery(query ? `${query}&${stamp}` : stamp, this.opts.credentials!.apiSecret);
    }
    const url = `${this.baseUrl}${path}${query ? `?${query}` : ''}`;
    const timeout = AbortSignal.timeout(this.opts.timeoutMs ?? REST_DEFAULTS.timeoutMs);
    const signal = ro.signal ? AbortSignal.any([ro.signal, timeout]) : timeout;
    return (this.opts.fetchImpl ?? fetch)(url, { method, headers, signal });
  }
}

export { BinanceError };
