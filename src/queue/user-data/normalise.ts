/**
 * Normalising a Binance USDⓈ-M user-data frame into the columns of `api_data_stream` and the facts the
 * order mirror needs. Pure: no I/O, never throws on any input (a frame that is not an object, or a known
 * event missing its required fields, becomes event_type `malformed` with a reason).
 *
 *   raw `e`                              event_type
 *   ORDER_TRADE_UPDATE (and the legacy   order_update   ids o.i / o.c, price o.p, execution type o.x
 *     CONDITIONAL_ORDER_TRADE_UPDATE)
 *   ALGO_UPDATE                          order_update   ids o.aid / o.caid, price o.tp, execution 'ALGO_' + o.X
 *   ACCOUNT_UPDATE                       account_update positions a.P[] {symbol, positionSide, amount}
 *   TRADE_LITE                           trade_lite     record only (ORDER_TRADE_UPDATE carries the same fill)
 *   ACCOUNT_CONFIG_UPDATE                account_config record only
 *   MARGIN_CALL                          margin_call    record only
 *   listenKeyExpired                     listen_key_expired  record only (the stream daemon re-inits)
 *   anything else                        other          record only
 *   not an object / missing fields       malformed      record only, with `problem`
 *
 * Statuses: NEW, PARTIALLY_FILLED, FILLED, CANCELED→CANCELLED, EXPIRED (and EXPIRED_IN_MATCH), REJECTED;
 * anything else (e.g. algo TRIGGERED) is UNKNOWN and never moves a local order. Decimals stay strings.
 */
import { isDecimal, normalizeDecimal, toScaled } from '../../support/decimal.js';

export type EventType = 'order_update' | 'account_update' | 'trade_lite' | 'account_config' | 'margin_call' | 'listen_key_expired' | 'other' | 'malformed';

export type NormalizedStatus = 'NEW' | 'PARTIALLY_FILLED' | 'FILLED' | 'CANCELLED' | 'EXPIRED' | 'REJECTED' | 'UNKNOWN';

export interface PositionUpdate {
  symbol: string;
  /** BOTH | LONG | SHORT (upper case; BOTH when absent). */
  positionSide: string;
  /** Signed amount as a normalised decimal string, or null when not a number. */
  amount: string | null;
}

export interface OrderFacts {
  exchangeOrderId: string | null;
  clientOrderId: string | null;
  symbol: string | null;
  /** BUY | SELL */
  side: string | null;
  /** BOTH | LONG | SHORT */
  positionSide: string | null;
  /** The order type (o.o): LIMIT, MARKET, STOP_MARKET, LIQUIDATION… */
  orderType: string | null;
  reduceOnly: boolean;
  closePosition: boolean;
  isAlgo: boolean;
}

export interface NormalizedFrame {
  rawEventType: string;
  eventType: EventType;
  executionType: string | null;
  status: string | null;
  normalizedStatus: NormalizedStatus | null;
  symbol: string | null;
  exchangeOrderId: string | null;
  clientOrderId: string | null;
  price: string | null;
  averagePrice: string | null;
  originalQuantity: string | null;
  filledQuantity: string | null;
  lastFilledPrice: string | null;
  lastFilledQuantity: string | null;
  /** Epoch ms of E (or T), null when absent. */
  eventTimeMs: number | null;
  order: OrderFacts | null;
  positions: PositionUpdate[];
  /** Why the frame is `malformed`. */
  problem: string | null;
}

/** Column limits of api_data_stream (strings are cut to them, so an odd frame never fails the insert). */
const LIMITS = { rawEventType: 64, executionType: 40, id: 64, symbol: 40, status: 40 };

/** DECIMAL(20,8): at most 12 integer digits. Larger (or non-numeric) values are stored as null. */
const MAX_SCALED = 10n ** 20n;

export function dec(v: unknown): string | null {
  const n = normalizeDecimal(typeof v === 'number' && !Number.isInteger(v) ? String(v) : v);
  if (n === null) return null;
  const s = toScaled(n);
  return (s < 0n ? -s : s) < MAX_SCALED ? n : null;
}

function str(v: unknown, max: number): string | null {
  if (typeof v === 'string') return v.length === 0 ? null : v.slice(0, max);
  if (typeof v === 'number' && Number.isFinite(v)) return String(v).slice(0, max);
  if (typeof v === 'bigint') return v.toString().slice(0, max);
  return null;
}

function upper(v: unknown, max: number): string | null {
  const s = str(v, max);
  return s === null ? null : s.toUpperCase();
}

function ms(v: unknown): number | null {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 && n < 8.64e15 ? Math.trunc(n) : null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function normalizeStatus(raw: string | null): NormalizedStatus | null {
  if (raw === null) return null;
  switch (raw) {
    case 'NEW':
    case 'PARTIALLY_FILLED':
    case 'FILLED':
    case 'EXPIRED':
    case 'REJECTED':
      return raw;
    case 'CANCELED':
    case 'CANCELLED':
      return 'CANCELLED';
    case 'EXPIRED_IN_MATCH':
      return 'EXPIRED';
    default:
      return 'UNKNOWN';
  }
}

/** True for "0", "0.000", "-0": a flat position amount. */
export function isZeroDecimal(v: string | null): boolean {
  return v !== null && isDecimal(v) && toScaled(v) === 0n;
}

function empty(rawEventType: string, eventType: EventType, eventTimeMs: number | null, problem: string | null = null): NormalizedFrame {
  return {
    rawEventType,
    eventType,
    executionType: null,
    status: null,
    normalizedStatus: null,
    symbol: null,
    exchangeOrderId: null,
    clientOrderId: null,
    price: null,
    averagePrice: null,
    originalQuantity: null,
    filledQuantity: null,
    lastFilledPrice: null,
    lastFilledQuantity: null,
    eventTimeMs,
    order: null,
    positions: [],
    problem,
  };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}

/** Normalise one frame. Never throws. */
export function normalizeFrame(payload: unknown): NormalizedFrame {
  if (!isObject(payload)) return empty('(not-an-object)', 'malformed', null, `the frame is ${describe(payload)}, not a JSON object`);
  const e = payload.e;
  const eventTimeMs = ms(payload.E) ?? ms(payload.T);
  if (typeof e !== 'string' || e.length === 0) return empty('(missing)', 'malformed', eventTimeMs, 'the frame has no event type "e"');
  const raw = e.slice(0, LIMITS.rawEventType);
  switch (e) {
    case 'ORDER_TRADE_UPDATE':
    case 'CONDITIONAL_ORDER_TRADE_UPDATE':
      return orderTradeUpdate(raw, payload, eventTimeMs);
    case 'ALGO_UPDATE':
      return algoUpdate(raw, payload, eventTimeMs);
    case 'ACCOUNT_UPDATE':
      return accountUpdate(raw, payload, eventTimeMs);
    case 'TRADE_LITE': {
      const n = empty(raw, 'trade_lite', eventTimeMs);
      n.symbol = upper(payload.s, LIMITS.symbol);
      n.exchangeOrderId = str(payload.i, LIMITS.id);
      n.clientOrderId = str(payload.c, LIMITS.id);
      n.price = dec(payload.p);
      n.originalQuantity = dec(payload.q);
      n.lastFilledPrice = dec(payload.L);
      n.lastFilledQuantity = dec(payload.l);
      return n;
    }
    case 'ACCOUNT_CONFIG_UPDATE': {
      const n = empty(raw, 'account_config', eventTimeMs);
      if (isObject(payload.ac)) n.symbol = upper(payload.ac.s, LIMITS.symbol);
      return n;
    }
    case 'MARGIN_CALL':
      return empty(raw, 'margin_call', eventTimeMs);
    case 'listenKeyExpired':
      return empty(raw, 'listen_key_expired', eventTimeMs);
    default:
      return empty(raw, 'other', eventTimeMs);
  }
}

function orderTradeUpdate(raw: string, p: Record<string, unknown>, eventTimeMs: number | null): NormalizedFrame {
  const o = p.o;
  if (!isObject(o)) return empty(raw, 'malformed', eventTimeMs, `${raw} has no order object "o"`);
  const n = empty(raw, 'order_update', eventTimeMs);
  n.executionType = upper(o.x, LIMITS.executionType);
  n.status = upper(o.X, LIMITS.status);
  n.normalizedStatus = normalizeStatus(n.status);
  n.symbol = upper(o.s, LIMITS.symbol);
  n.exchangeOrderId = str(o.i, LIMITS.id);
  n.clientOrderId = str(o.c, LIMITS.id);
  n.price = dec(o.p);
  n.averagePrice = dec(o.ap);
  n.originalQuantity = dec(o.q);
  n.filledQuantity = dec(o.z);
  n.lastFilledPrice = dec(o.L);
  n.lastFilledQuantity = dec(o.l);
  n.order = {
    exchangeOrderId: n.exchangeOrderId,
    clientOrderId: n.clientOrderId,
    symbol: n.symbol,
    side: upper(o.S, 10),
    positionSide: upper(o.ps, 10),
    orderType: upper(o.o, 40),
    reduceOnly: o.R === true,
    closePosition: o.cp === true,
    isAlgo: false,
  };
  if (n.exchangeOrderId === null && n.clientOrderId === null) return { ...n, eventType: 'malformed', order: null, problem: `${raw} has neither an order id "o.i" nor a client order id "o.c"` };
  if (n.status === null) return { ...n, eventType: 'malformed', order: null, problem: `${raw} has no order status "o.X"` };
  return n;
}

function algoUpdate(raw: string, p: Record<string, unknown>, eventTimeMs: number | null): NormalizedFrame {
  const o = p.o;
  if (!isObject(o)) return empty(raw, 'malformed', eventTimeMs, `${raw} has no order object "o"`);
  const n = empty(raw, 'order_update', eventTimeMs);
  n.status = upper(o.X, LIMITS.status);
  n.executionType = n.status === null ? null : `ALGO_${n.status}`.slice(0, LIMITS.executionType);
  n.normalizedStatus = normalizeStatus(n.status);
  n.symbol = upper(o.s, LIMITS.symbol);
  n.exchangeOrderId = str(o.aid, LIMITS.id);
  n.clientOrderId = str(o.caid, LIMITS.id);
  n.price = dec(o.tp);
  n.originalQuantity = dec(o.q);
  n.averagePrice = dec(o.ap);
  n.order = {
    exchangeOrderId: n.exchangeOrderId,
    clientOrderId: n.clientOrderId,
    symbol: n.symbol,
    side: upper(o.S, 10),
    positionSide: upper(o.ps, 10),
    orderType: upper(o.o, 40),
    reduceOnly: o.R === true,
    closePosition: o.cp === true,
    isAlgo: true,
  };
  if (n.exchangeOrderId === null && n.clientOrderId === null) return { ...n, eventType: 'malformed', order: null, problem: `${raw} has neither an algo id "o.aid" nor a client algo id "o.caid"` };
  if (n.status === null) return { ...n, eventType: 'malformed', order: null, problem: `${raw} has no algo status "o.X"` };
  return n;
}

function accountUpdate(raw: string, p: Record<string, unknown>, eventTimeMs: number | null): NormalizedFrame {
  const a = p.a;
  if (!isObject(a)) return empty(raw, 'malformed', eventTimeMs, `${raw} has no account object "a"`);
  const n = empty(raw, 'account_update', eventTimeMs);
  const list = Array.isArray(a.P) ? a.P : [];
  for (const entry of list) {
    if (!isObject(entry)) continue;
    const symbol = upper(entry.s, LIMITS.symbol);
    if (!symbol) continue;
    n.positions.push({ symbol, positionSide: upper(entry.ps, 10) ?? 'BOTH', amount: dec(entry.pa) });
  }
  if (n.positions.length === 1) n.symbol = n.positions[0]!.symbol;
  return n;
}

/**
 * Liquidation, ADL and settlement closes are the exchange's, never an operator's manual close:
 * execution type CALCULATED, order type LIQUIDATION, or a client id autoclose-… / adl_autoclose /
 * settlement_autoclose-….
 */
export function isExchangeClose(n: NormalizedFrame): boolean {
  if (n.executionType === 'CALCULATED') return true;
  if (n.order?.orderType === 'LIQUIDATION') return true;
  const c = n.clientOrderId ?? '';
  return c.startsWith('autoclose-') || c === 'adl_autoclose' || c.startsWith('adl_autoclose') || c.startsWith('settlement_autoclose');
}

/** Rank of a normalised status: NEW 0 < PARTIALLY_FILLED 1 < terminal 2; null for UNKNOWN. */
export function statusRank(s: string | null): number | null {
  switch (s) {
    case 'NEW':
      return 0;
    case 'PARTIALLY_FILLED':
      return 1;
    case 'FILLED':
    case 'CANCELLED':
    case 'CANCELED':
    case 'EXPIRED':
    case 'REJECTED':
      return 2;
    default:
      return null;
  }
}

export const STATUSES_BY_RANK: Record<number, string[]> = {
  0: ['NEW'],
  1: ['PARTIALLY_FILLED'],
  2: ['FILLED', 'CANCELLED', 'CANCELED', 'EXPIRED', 'REJECTED'],
};

/** Local statuses a frame of rank r may overwrite (rank ≤ r). */
export function statusesAtOrBelow(rank: number): string[] {
  const out: string[] = [];
  for (let r = 0; r <= rank; r++) out.push(...(STATUSES_BY_RANK[r] ?? []));
  return out;
}

/**
 * The price a frame gives an order: a working frame states its limit price (o.p), a terminal one its
 * average (o.ap) when positive, else o.p; algo frames their trigger price. Null when not positive, so a
 * MARKET frame's p=0 never replaces a known price.
 */
export function framePrice(n: NormalizedFrame): string | null {
  const positive = (v: string | null) => (v !== null && toScaled(v) > 0n ? v : null);
  const rank = statusRank(n.normalizedStatus);
  if (n.order?.isAlgo) return positive(n.price);
  if (rank === 2) return positive(n.averagePrice) ?? positive(n.price);
  return positive(n.price);
}

/**
 * Canonical JSON of a frame: object keys sorted at every depth, no whitespace, so the same frame always
 * serialises to the same text whatever order its keys arrived in.
 */
export function canonicalJson(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined || typeof x === 'function' ? 'null' : canonicalJson(x))).join(',')}]`;
  if (typeof v === 'object') {
    if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return canonicalJson((v as { toJSON(): unknown }).toJSON());
    const obj = v as Record<string, unknown>;
    const keys = Object.keys(obj).sort();
    const parts: string[] = [];
    for (const k of keys) {
      const x = obj[k];
      if (x === undefined || typeof x === 'function') continue;
      parts.push(`${JSON.stringify(k)}:${canonicalJson(x)}`);
    }
    return `{${parts.join(',')}}`;
  }
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return Number.isFinite(v) ? JSON.stringify(v) : 'null';
  return JSON.stringify(v) ?? 'null';
}
