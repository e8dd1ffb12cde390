/**
 * Fixtures of the user-data job tests: accounts, positions and orders in the test database, frame
 * builders in Binance's field layout (values made up), and readers for the rows the job writes.
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { insertId } from '../../src/db/helpers.js';
import { normalizeDecimal } from '../../src/support/decimal.js';
import { toDecimalString } from '../../src/support/sql-values.js';
import { FakeClock } from '../../src/support/clock.js';
import { createLogger, MemorySink } from '../../src/support/log.js';
import { DEFAULT_APPLY_EXECUTION_TYPES, type ApplyDeps } from '../../src/queue/user-data/apply.js';

export const T0 = Date.UTC(2026, 5, 1, 12, 0, 0);

export function deps(over: Partial<ApplyDeps> = {}): ApplyDeps & { logs: MemorySink; clock: FakeClock } {
  const logs = new MemorySink();
  const clock = new FakeClock(T0);
  return { clock, log: createLogger('user-data-job', {}, logs), applyExecutionTypes: DEFAULT_APPLY_EXECUTION_TYPES, logs, ...over } as ApplyDeps & { logs: MemorySink; clock: FakeClock };
}

export async function account(db: Knex, name: string, hedge = false): Promise<number> {
  return insertId(db, 'accounts', { name, is_active: true, on_hedge_mode: hedge, created_at: new Date(T0), updated_at: new Date(T0) });
}

export async function position(db: Knex, accountId: number, o: { symbol?: string; direction?: 'LONG' | 'SHORT'; status?: string } = {}): Promise<number> {
  return insertId(db, 'positions', { account_id: accountId, parsed_trading_pair: o.symbol ?? 'SOLUSDT', direction: o.direction ?? 'LONG', status: o.status ?? 'active', quantity: normalizeDecimal('10'), created_at: new Date(T0), updated_at: new Date(T0) });
}

export interface OrderFixture {
  positionId: number;
  exchangeId?: string | null;
  clientId?: string | null;
  type?: string;
  side?: string;
  positionSide?: string;
  status?: string;
  price?: string | null;
  qty?: string;
  reduceOnly?: boolean;
}

export async function order(db: Knex, o: OrderFixture): Promise<number> {
  return insertId(db, 'orders', {
    position_id: o.positionId,
    uuid: crypto.randomUUID(),
    client_order_id: o.clientId === undefined ? `k-${crypto.randomBytes(4).toString('hex')}` : o.clientId,
    exchange_order_id: o.exchangeId ?? null,
    type: o.type ?? 'LIMIT',
    side: o.side ?? 'BUY',
    position_side: o.positionSide ?? 'BOTH',
    status: o.status ?? 'NEW',
    reference_status: o.status ?? 'NEW',
    price: o.price === null ? null : normalizeDecimal(o.price ?? '142.31'),
    quantity: normalizeDecimal(o.qty ?? '12.5'),
    reference_price: o.price === null ? null : normalizeDecimal(o.price ?? '142.31'),
    reference_quantity: normalizeDecimal(o.qty ?? '12.5'),
    reduce_only: o.reduceOnly ?? false,
    created_at: new Date(T0),
    updated_at: new Date(T0),
  });
}

export async function orderRow(db: Knex, id: number) {
  const r = await db('orders').where({ id }).first();
  return {
    status: String(r.status),
    price: toDecimalString(r.price),
    quantity: toDecimalString(r.quantity),
    exchange_order_id: r.exchange_order_id === null ? null : String(r.exchange_order_id),
    reference_price: toDecimalString(r.reference_price),
    reference_quantity: toDecimalString(r.reference_quantity),
    reference_status: r.reference_status,
  };
}

let eventSeq = 0;
/** A distinct event time per frame, so two otherwise equal frames are different frames. */
export function nextE(): number {
  return T0 + ++eventSeq;
}

export interface OtuFields {
  i?: number | string | null;
  c?: string | null;
  s?: string;
  S?: 'BUY' | 'SELL';
  o?: string;
  x?: string;
  X?: string;
  p?: string;
  ap?: string;
  q?: string;
  z?: string;
  l?: string;
  L?: string;
  R?: boolean;
  cp?: boolean;
  ps?: 'BOTH' | 'LONG' | 'SHORT';
  E?: number;
}

/** An ORDER_TRADE_UPDATE frame. */
export function otu(f: OtuFields): Record<string, unknown> {
  const E = f.E ?? nextE();
  const o: Record<string, unknown> = {
    s: f.s ?? 'SOLUSDT',
    c: f.c ?? 'k-unknown',
    S: f.S ?? 'BUY',
    o: f.o ?? 'LIMIT',
    f: 'GTC',
    q: f.q ?? '12.5',
    p: f.p ?? '142.310',
    ap: f.ap ?? '0',
    sp: '0',
    x: f.x ?? 'TRADE',
    X: f.X ?? 'NEW',
    i: f.i ?? 88123456789,
    l: f.l ?? '0',
    z: f.z ?? '0',
    L: f.L ?? '0',
    N: 'USDT',
    n: '0',
    T: E - 3,
    t: 0,
    b: '0',
    a: '0',
    m: false,
    R: f.R ?? false,
    wt: 'CONTRACT_PRICE',
    ot: f.o ?? 'LIMIT',
    ps: f.ps ?? 'BOTH',
    cp: f.cp ?? false,
    rp: '0',
    pP: false,
    si: 0,
    ss: 0,
    V: 'EXPIRE_MAKER',
    pm: 'NONE',
    gtd: 0,
  };
  if (f.c === null) delete o.c;
  if (f.i === null) delete o.i;
  return { e: 'ORDER_TRADE_UPDATE', E, T: E - 3, o };
}

/** An ACCOUNT_UPDATE frame with these positions. */
export function accountUpdate(positions: Array<{ s: string; pa: string; ps?: 'BOTH' | 'LONG' | 'SHORT' }>, E = nextE()): Record<string, unknown> {
  return {
    e: 'ACCOUNT_UPDATE',
    E,
    T: E - 5,
    a: {
      m: 'ORDER',
      B: [{ a: 'USDT', wb: '5021.44100000', cw: '5021.44100000', bc: '0' }],
      P: positions.map((p) => ({ s: p.s, pa: p.pa, ep: '0.0', bep: '0', cr: '-3.21000000', up: '0', mt: 'cross', iw: '0', ps: p.ps ?? 'BOTH' })),
    },
  };
}

export function algoUpdate(f: { aid: number; caid: string; X: string; tp?: string; s?: string }): Record<string, unknown> {
  const E = nextE();
  return { e: 'ALGO_UPDATE', E, T: E - 10, o: { caid: f.caid, aid: f.aid, at: 'CONDITIONAL', o: 'STOP_MARKET', s: f.s ?? 'SOLUSDT', S: 'SELL', ps: 'LONG', f: 'GTC', q: '0', X: f.X, ai: '', tp: f.tp ?? '131.20', p: '0', V: 'EXPIRE_MAKER', wt: 'MARK_PRICE', pm: 'NONE', cp: true, pP: false, R: false, tt: 0, gtd: 0 } };
}

export async function stepsOf(db: Knex, cls: string): Promise<Array<{ id: number; relatable_id: number; priority: string | null; queue: string; state: string; arguments: Record<string, unknown> }>> {
  const rows = (await db('trading_steps').where('class', cls).orderBy('id')) as Array<Record<string, unknown>>;
  return rows.map((r) => ({ id: Number(r.id), relatable_id: Number(r.relatable_id), priority: (r.priority as string | null) ?? null, queue: String(r.queue), state: String(r.state), arguments: JSON.parse(String(r.arguments)) as Record<string, unknown> }));
}

export async function frameCount(db: Knex, accountId?: number): Promise<number> {
  const q = db('api_data_stream');
  if (accountId !== undefined) q.where('account_id', accountId);
  const [{ n }] = (await q.count({ n: '*' })) as Array<{ n: number | string }>;
  return Number(n);
}

/** Everything the job may write, for "a replay changes nothing" comparisons. */
export async function snapshot(db: Knex): Promise<unknown> {
  const norm = (rows: Array<Record<string, unknown>>) => rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v instanceof Date ? v.getTime() : typeof v === 'number' || v === null ? v : String(v)])));
  return {
    api_data_stream: norm(await db('api_data_stream').orderBy('id')),
    orders: norm(await db('orders').orderBy('id')),
    positions: norm(await db('positions').orderBy('id')),
    trading_steps: norm(await db('trading_steps').orderBy('id')),
    steps: norm(await db('steps').orderBy('id')),
  };
}
