/**
 * The follow-up steps end to end: a frame creates the step, the dispatcher promotes it, a real
 * QueueWorker runs it, and the step talks signed REST to a small fake exchange (the bundled simulator has
 * no order-cancel endpoint) that checks the API key and the HMAC signature of every request.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { stepKit, type StepKit } from '../steps/helpers.js';
import { createAccount } from '../../src/db/repositories/accounts.js';
import { applyUserDataFrames, DEFAULT_APPLY_EXECUTION_TYPES } from '../../src/queue/user-data/apply.js';
import { QueueWorker } from '../../src/queue/worker.js';
import { GROUPS } from '../../src/steps/tables.js';
import { accountUpdate, order, orderRow, otu, position } from './helpers.js';

interface Seen {
  method: string;
  path: string;
  params: Record<string, string>;
}

const SECRET = 'FakeSecret0123456789abcdef';
const API_KEY = 'FakeApiKey0123456789abcdef';
const seen: Seen[] = [];
/** positionRisk answers per symbol. */
const risk = new Map<string, Array<{ symbol: string; positionSide: string; positionAmt: string }>>();
/** Order ids the fake exchange no longer knows (-2011). */
const gone = new Set<string>();

let server: http.Server;
let ctx: TestContext;
let kit: StepKit;

function reply(res: http.ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json', 'x-mbx-used-weight-1m': '1' });
  res.end(JSON.stringify(body));
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const raw = u.search.slice(1);
    const params = Object.fromEntries(u.searchParams);
    const unsigned = raw.split('&').filter((p) => !p.startsWith('signature=')).join('&');
    const expected = crypto.createHmac('sha256', SECRET).update(unsigned).digest('hex');
    if (req.headers['x-mbx-apikey'] !== API_KEY || params.signature !== expected) return reply(res, 401, { code: -1022, msg: 'Signature for this request is not valid.' });
    seen.push({ method: String(req.method), path: u.pathname, params });
    if (req.method === 'DELETE' && u.pathname === '/fapi/v1/order') {
      const id = params.orderId ?? params.origClientOrderId ?? '';
      if (gone.has(id)) return reply(res, 400, { code: -2011, msg: 'Unknown order sent.' });
      return reply(res, 200, { orderId: Number(params.orderId ?? 1), symbol: params.symbol, status: 'CANCELED' });
    }
    if (req.method === 'DELETE' && u.pathname === '/fapi/v1/algoOrder') return reply(res, 200, { algoId: Number(params.algoId), code: '200', msg: 'success' });
    if (req.method === 'GET' && u.pathname === '/fapi/v3/positionRisk') return reply(res, 200, risk.get(params.symbol ?? '') ?? []);
    return reply(res, 404, { code: -1, msg: 'not here' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  ctx = await createTestContext('user-data-steps', { env: { BINANCE_REST_URL: `http://127.0.0.1:${port}` } });
  kit = await stepKit(ctx);
});

afterAll(async () => {
  await kit?.close();
  await ctx?.cleanup();
  await new Promise((r) => server?.close(r));
});

async function newAccount(name: string, hedge = false): Promise<number> {
  return createAccount(ctx.db, ctx.config.appKey!, { name, apiKey: API_KEY, apiSecret: SECRET, hedgeMode: hedge });
}

async function frames(accountId: number, payloads: unknown[]) {
  return applyUserDataFrames(
    ctx.db,
    payloads.map((payload) => ({ accountId, payload })),
    { clock: kit.clock, applyExecutionTypes: DEFAULT_APPLY_EXECUTION_TYPES, redis: kit.redis, redisPrefix: ctx.prefix },
  );
}

/** Dispatch every pending trading_ step and run the priority queue until it is empty. */
async function runSteps(): Promise<void> {
  const d = kit.dispatcher('trading_');
  for (const g of GROUPS) await d.tick(g);
  const redis = kit.redis.duplicate();
  const worker = new QueueWorker({ config: ctx.config, db: ctx.db, redis, clock: kit.clock, log: kit.log }, { queue: 'priority', stopWhenEmpty: true });
  await worker.run();
  redis.disconnect();
}

async function step(id: number) {
  const r = await ctx.db('trading_steps').where('id', id).first();
  return { state: String(r.state), response: r.response ? JSON.parse(String(r.response)) : null, class: r.class };
}

describe('follow-up steps', () => {
  it('cancel-opening-orders cancels the entry-side working orders of a flat position on the exchange', async () => {
    const acc = await newAccount('flat-steps');
    const pos = await position(ctx.db, acc, { symbol: 'SOLUSDT', direction: 'LONG' });
    const opening = await order(ctx.db, { positionId: pos, exchangeId: '501', side: 'BUY', type: 'LIMIT' });
    const byClient = await order(ctx.db, { positionId: pos, exchangeId: null, clientId: 'k-open-2', side: 'BUY', type: 'LIMIT', status: 'PARTIALLY_FILLED' });
    const alreadyGone = await order(ctx.db, { positionId: pos, exchangeId: '503', side: 'BUY', type: 'LIMIT' });
    const takeProfit = await order(ctx.db, { positionId: pos, exchangeId: '504', side: 'SELL', type: 'PROFIT-LIMIT', reduceOnly: true });
    const filled = await order(ctx.db, { positionId: pos, exchangeId: '505', side: 'BUY', status: 'FILLED' });
    gone.add('503');
    const [r] = await frames(acc, [accountUpdate([{ s: 'SOLUSDT', pa: '0' }])]);
    const stepId = r!.openingOrdersCancelSteps[0]!;
    expect(stepId).toBeGreaterThan(0);
    seen.length = 0;
    await runSteps();
    const s = await step(stepId);
    expect(s).toMatchObject({ state: 'completed', class: 'cancel-opening-orders' });
    expect(s.response).toMatchObject({ positionId: pos, cancelled: [opening, byClient], gone: [alreadyGone] });
    expect(seen.map((x) => [x.method, x.path, x.params.orderId ?? x.params.origClientOrderId, x.params.symbol])).toEqual([
      ['DELETE', '/fapi/v1/order', '501', 'SOLUSDT'],
      ['DELETE', '/fapi/v1/order', 'k-open-2', 'SOLUSDT'],
      ['DELETE', '/fapi/v1/order', '503', 'SOLUSDT'],
    ]);
    expect((await Promise.all([opening, byClient, alreadyGone, takeProfit, filled].map((id) => orderRow(ctx.db, id)))).map((o) => o.status)).toEqual(['CANCELLED', 'CANCELLED', 'CANCELLED', 'NEW', 'FILLED']);
  });

  it('position-replacement closes a position the exchange shows flat and cancels its leftovers; a partial close changes nothing', async () => {
    const acc = await newAccount('replacement-steps', true);
    const pos = await position(ctx.db, acc, { symbol: 'ETHUSDT', direction: 'LONG' });
    const tp = await order(ctx.db, { positionId: pos, exchangeId: '601', side: 'SELL', type: 'PROFIT-LIMIT', reduceOnly: true });
    const partial = await position(ctx.db, acc, { symbol: 'BNBUSDT', direction: 'SHORT' });
    risk.set('ETHUSDT', [{ symbol: 'ETHUSDT', positionSide: 'LONG', positionAmt: '0.000' }, { symbol: 'ETHUSDT', positionSide: 'SHORT', positionAmt: '-1.000' }]);
    risk.set('BNBUSDT', [{ symbol: 'BNBUSDT', positionSide: 'SHORT', positionAmt: '-2.500' }]);
    const res = await frames(acc, [
      otu({ i: 700, c: 'web_close', s: 'ETHUSDT', S: 'SELL', ps: 'LONG', o: 'MARKET', x: 'TRADE', X: 'FILLED', R: true, ap: '3000' }),
      otu({ i: 701, c: 'web_close_2', s: 'BNBUSDT', S: 'BUY', ps: 'SHORT', o: 'MARKET', x: 'TRADE', X: 'FILLED', R: true, ap: '600' }),
    ]);
    const [closeStep, partialStep] = res.map((r) => r.replacementStepId!);
    seen.length = 0;
    await runSteps();
    expect(await step(closeStep!)).toMatchObject({ state: 'completed', response: { positionId: pos, closed: true, cancelled: [tp], trigger: 'EXTERNAL_FILL' } });
    expect(await step(partialStep!)).toMatchObject({ state: 'completed', response: { positionId: partial, closed: false, positionAmt: '-2.500' } });
    expect((await orderRow(ctx.db, tp)).status).toBe('CANCELLED');
    const rows = await ctx.db('positions').whereIn('id', [pos, partial]).orderBy('id');
    expect(rows.map((p) => [p.status, p.manually_closed_at !== null])).toEqual([
      ['closed', true],
      ['active', false],
    ]);
    expect(seen.filter((x) => x.method === 'DELETE').map((x) => x.params.orderId)).toEqual(['601']);
  });

  it('a step for an account without credentials fails with a clear reason', async () => {
    const acc = await createAccount(ctx.db, ctx.config.appKey!, { name: 'no-keys' });
    const pos = await position(ctx.db, acc, { symbol: 'XRPUSDT', direction: 'LONG' });
    await order(ctx.db, { positionId: pos, exchangeId: '801', side: 'BUY' });
    const [r] = await frames(acc, [accountUpdate([{ s: 'XRPUSDT', pa: '0' }])]);
    await runSteps();
    const row = await ctx.db('trading_steps').where('id', r!.openingOrdersCancelSteps[0]!).first();
    expect(row.state).toBe('failed');
    expect(String(row.error_message ?? row.response ?? '')).toMatch(/no Binance API key/);
  });
});
