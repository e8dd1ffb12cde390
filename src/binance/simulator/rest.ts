/**
 * The simulator's Binance REST surface: listen keys (API-key header only), market data, the signed
 * account endpoints and order cancellation (./orders.ts), with HMAC verification, recvWindow checks,
 * per-IP weight and the 429/418 modes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BINANCE_CODES } from '../constants.js';
import { hmacHex, signaturesMatch } from '../signing.js';
import { restOrder, type SimOrder } from './events.js';
import { binanceError, HttpError, rawQuery, readBody, sendJson } from './http.js';
import type { SimAccount } from './accounts.js';
import { canceledOrderAnswer, cancelOpenOrders, cancelOrder, isWorking } from './orders.js';
import type { BinanceSimulator } from './simulator.js';

type Handler = (ctx: RestContext) => unknown;

interface RestContext {
  req: IncomingMessage;
  query: URLSearchParams;
  account: SimAccount | null;
  now: number;
}

interface Route {
  weight: (q: URLSearchParams) => number;
  security: 'NONE' | 'USER_STREAM' | 'SIGNED';
  handler: Handler;
}

function mandatory(q: URLSearchParams, name: string): string {
  const v = q.get(name);
  if (!v) throw binanceError(400, BINANCE_CODES.MANDATORY_PARAM_MISSING, `Mandatory parameter '${name}' was not sent, was empty/null, or malformed.`);
  return v;
}

/** The order named by `orderId` (which wins when both are sent) or `origClientOrderId`; undefined when unknown. */
function namedOrder(account: SimAccount, q: URLSearchParams, strictId: boolean): SimOrder | undefined {
  const orderId = q.get('orderId');
  const clientId = q.get('origClientOrderId');
  if (!orderId && !clientId) throw binanceError(400, BINANCE_CODES.MANDATORY_PARAM_MISSING, 'Either orderId or origClientOrderId must be sent.');
  if (orderId && strictId && !/^[0-9]{1,20}$/.test(orderId)) throw binanceError(400, BINANCE_CODES.ILLEGAL_CHARS, "Illegal characters found in parameter 'orderId'; legal range is '^[0-9]{1,20}$'.");
  return account.findOrder(orderId ? { orderId: Number(orderId) } : { clientOrderId: clientId! });
}

export function restRoutes(sim: BinanceSimulator): Map<string, Route> {
  const routes = new Map<string, Route>();
  const one = () => 1;

  routes.set('POST /fapi/v1/listenKey', { weight: one, security: 'USER_STREAM', handler: ({ account }) => ({ listenKey: sim.startListenKey(account!) }) });
  routes.set('PUT /fapi/v1/listenKey', {
    weight: one,
    security: 'USER_STREAM',
    handler: ({ account }) => {
      const key = sim.keepAliveListenKey(account!);
      if (!key) throw binanceError(400, BINANCE_CODES.LISTEN_KEY_NOT_FOUND, 'This listenKey does not exist.');
      return { listenKey: key };
    },
  });
  routes.set('DELETE /fapi/v1/listenKey', {
    weight: one,
    security: 'USER_STREAM',
    handler: ({ account }) => {
      sim.expireListenKey(account!, true);
      return {};
    },
  });

  routes.set('GET /fapi/v1/time', { weight: one, security: 'NONE', handler: ({ now }) => ({ serverTime: now }) });
  routes.set('GET /fapi/v1/exchangeInfo', {
    weight: one,
    security: 'NONE',
    handler: ({ now }) => ({
      timezone: 'UTC',
      serverTime: now,
      futuresType: 'U_MARGINED',
      rateLimits: [
        { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: sim.settings.weightLimit },
        { rateLimitType: 'ORDERS', interval: 'MINUTE', intervalNum: 1, limit: 1200 },
        { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 300 },
      ],
      exchangeFilters: [],
      assets: [{ asset: 'USDT', marginAvailable: true, autoAssetExchange: '-10000' }],
      symbols: sim.market.symbols.map((s) => sim.market.info(s)),
    }),
  });
  routes.set('GET /fapi/v1/premiumIndex', {
    weight: (q) => (q.get('symbol') ? 1 : 10),
    security: 'NONE',
    handler: ({ query, now }) => {
      const symbol = query.get('symbol');
      if (!symbol) return sim.market.symbols.map((s) => sim.market.premiumIndex(s, now));
      const s = sim.market.get(symbol);
      if (!s) throw binanceError(400, BINANCE_CODES.BAD_SYMBOL, 'Invalid symbol.');
      return sim.market.premiumIndex(s, now);
    },
  });

  routes.set('GET /fapi/v1/order', {
    weight: one,
    security: 'SIGNED',
    handler: ({ account, query }) => {
      const symbol = mandatory(query, 'symbol');
      const o = namedOrder(account!, query, false);
      if (!o || o.symbol !== symbol) throw binanceError(400, BINANCE_CODES.ORDER_NOT_FOUND, 'Order does not exist.');
      return restOrder(o);
    },
  });
  // Cancels answer -1121 for a symbol the exchange does not list, and -2011 for an order it does not know
  // or that is no longer working (FILLED, CANCELED, EXPIRED): Binance does not tell the two apart.
  const listedSymbol = (q: URLSearchParams): string => {
    const symbol = mandatory(q, 'symbol');
    if (!sim.market.get(symbol)) throw binanceError(400, BINANCE_CODES.BAD_SYMBOL, 'Invalid symbol.');
    return symbol;
  };
  routes.set('DELETE /fapi/v1/order', {
    weight: one,
    security: 'SIGNED',
    handler: ({ account, query }) => {
      const symbol = listedSymbol(query);
      const o = namedOrder(account!, query, true);
      if (!o || o.symbol !== symbol || !cancelOrder(sim, account!, o)) throw binanceError(400, BINANCE_CODES.CANCEL_REJECTED, 'Unknown order sent.');
      return canceledOrderAnswer(o);
    },
  });
  routes.set('DELETE /fapi/v1/allOpenOrders', {
    weight: one,
    security: 'SIGNED',
    handler: ({ account, query }) => {
      cancelOpenOrders(sim, account!, listedSymbol(query));
      return { code: 200, msg: 'The operation of cancel all open order is done.' };
    },
  });
  routes.set('GET /fapi/v1/openOrders', {
    weight: (q) => (q.get('symbol') ? 1 : 40),
    security: 'SIGNED',
    handler: ({ account, query }) => {
      const symbol = query.get('symbol');
      return [...account!.orders.values()].filter((o) => isWorking(o) && (!symbol || o.symbol === symbol)).map(restOrder);
    },
  });
  routes.set('GET /fapi/v1/allOrders', {
    weight: () => 5,
    security: 'SIGNED',
    handler: ({ account, query }) => {
      const symbol = mandatory(query, 'symbol');
      const from = Number(query.get('orderId') ?? 0);
      const limit = Math.min(1000, Number(query.get('limit') ?? 500));
      return [...account!.orders.values()]
        .filter((o) => o.symbol === symbol && o.orderId >= from)
        .sort((a, b) => a.orderId - b.orderId)
        .slice(0, limit)
        .map(restOrder);
    },
  });
  routes.set('GET /fapi/v3/positionRisk', {
    weight: () => 5,
    security: 'SIGNED',
    handler: ({ account, query }) => sim.positionRisk(account!, query.get('symbol')),
  });
  return routes;
}

/** Verify a SIGNED request: HMAC over the query string without `signature` (plus the body), then the time window. */
export function verifySignature(account: SimAccount, url: string, body: string, now: number): void {
  const raw = rawQuery(url);
  const parts = raw ? raw.split('&') : [];
  const sig = parts.find((p) => p.startsWith('signature='));
  const q = new URLSearchParams(raw);
  const tsText = q.get('timestamp');
  if (!tsText || !/^\d+$/.test(tsText)) throw binanceError(400, BINANCE_CODES.MANDATORY_PARAM_MISSING, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.");
  if (!sig) throw binanceError(400, BINANCE_CODES.MANDATORY_PARAM_MISSING, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.");
  const payload = parts.filter((p) => !p.startsWith('signature=')).join('&') + body;
  if (!signaturesMatch(hmacHex(account.apiSecret, payload), sig.slice('signature='.length))) {
    throw binanceError(400, BINANCE_CODES.INVALID_SIGNATURE, 'Signature for this request is not valid.');
  }
  const recvWindow = Number(q.get('recvWindow') ?? 5000);
  if (!Number.isFinite(recvWindow) || recvWindow <= 0 || recvWindow > 60_000) throw binanceError(400, BINANCE_CODES.MANDATORY_PARAM_MISSING, 'recvWindow must be between 1 and 60000.');
  const ts = Number(tsText);
  if (ts > now + 1000 || now - ts > recvWindow) throw binanceError(400, BINANCE_CODES.TIMESTAMP_OUTSIDE_RECV_WINDOW, 'Timestamp for this request is outside of the recvWindow.');
}

/** Serve one /fapi request end to end (rate limits, auth, handler, weight header). */
export async function serveRest(sim: BinanceSimulator, routes: Map<string, Route>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  const path = url.split('?')[0]!;
  const key = `${req.method} ${path}`;
  const now = sim.clock.now();
  const ip = req.socket.remoteAddress ?? 'unknown';
  const headers: Record<string, string> = {};
  try {
    const body = await readBody(req);
    const route = routes.get(key);
    if (!route) throw new HttpError(404, { code: -1000, msg: `Unknown endpoint ${key}` });
    const query = new URLSearchParams(rawQuery(url) + (body ? `&${body}` : ''));
    sim.counters.restRequests++;
    sim.counters.restByEndpoint[key] = (sim.counters.restByEndpoint[key] ?? 0) + 1;
    sim.limits.charge(ip, route.weight(query), now, headers);
    sim.failures.maybeFail();
    let account: SimAccount | null = null;
    if (route.security !== 'NONE') {
      const apiKey = req.headers['x-mbx-apikey'];
      if (typeof apiKey !== 'string' || !/^[A-Za-z0-9]{8,128}$/.test(apiKey)) throw binanceError(401, BINANCE_CODES.BAD_API_KEY_FORMAT, 'API-key format invalid.');
      account = sim.accountByApiKey(apiKey) ?? null;
      if (!account) throw binanceError(401, BINANCE_CODES.REJECTED_API_KEY, 'Invalid API-key, IP, or permissions for action.');
      if (route.security === 'SIGNED') verifySignature(account, url, body, now);
    }
    const result = route.handler({ req, query, account, now });
    sim.recordRequest(key, 200, now);
    sendJson(res, 200, result, headers);
  } catch (err) {
    if (err instanceof HttpError) {
      sim.recordRequest(key, err.status, now);
      sendJson(res, err.status, err.body, { ...headers, ...err.headers });
      return;
    }
    sim.recordRequest(key, 500, now);
    sim.log?.error('simulator REST handler failed', { endpoint: key, err });
    sendJson(res, 500, { code: BINANCE_CODES.UNKNOWN, msg: 'An unknown error occurred while processing the request.' }, headers);
  }
}
