/**
 * Order cancellation on the simulator, through the project's REST client: DELETE /fapi/v1/order and
 * DELETE /fapi/v1/allOpenOrders change the exchange state, answer as Binance does (the cancelled order;
 * -2011 for an unknown or finished order; -1102 / -1100 / -1121 for bad parameters; -1022 for a bad
 * signature), charge their weight, and push ORDER_TRADE_UPDATE (x=CANCELED) to the account's sockets.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BinanceSimulator } from '../../src/binance/simulator/index.js';
import { BinanceRestClient } from '../../src/binance/rest-client.js';
import { BinanceApiError } from '../../src/binance/errors.js';
import { WeightBudget } from '../../src/binance/weight-budget.js';
import { demoCredentials } from '../../src/db/seed/demo-data.js';
import { FakeClock } from '../../src/support/clock.js';
import { T0, waitFor } from './helpers.js';

let sim: BinanceSimulator;
let clock: FakeClock;
let ws: WebSocket;
/** User-data frames the account's socket received, parsed. */
let frames: Array<Record<string, unknown>>;
const creds = demoCredentials(1);

function client(o: { apiSecret?: string; budget?: WeightBudget } = {}): BinanceRestClient {
  return new BinanceRestClient({ baseUrl: sim.restUrl, clock, budget: o.budget ?? new WeightBudget({ clock }), credentials: { apiKey: creds.apiKey, apiSecret: o.apiSecret ?? creds.apiSecret } });
}

const requests = (endpoint: string) => sim.requestLog.filter((r) => r.endpoint === endpoint);
const account = () => sim.account(1);
const orderUpdates = () => frames.filter((f) => f.e === 'ORDER_TRADE_UPDATE').map((f) => f.o as Record<string, unknown>);

/** Let frames that were sent reach the socket (none is expected when this is used). */
const settle = () => new Promise((r) => setTimeout(r, 30));

beforeAll(async () => {
  clock = new FakeClock(T0);
  sim = await BinanceSimulator.start({ port: 0, clock, demoAccounts: 1, symbols: 12 });
  const key = await client().createListenKey();
  ws = new WebSocket(`${sim.wsUrl}/private/ws?listenKey=${key}`);
  ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as Record<string, unknown>));
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
});

beforeEach(() => {
  frames = [];
});

afterAll(async () => {
  ws?.terminate();
  await sim?.close();
});

describe('DELETE /fapi/v1/order', () => {
  it('cancels a NEW order by orderId: the answer, the exchange state, the event and the weight', async () => {
    const o = sim.scenarios.upsertOrder(1, { symbol: 'SOLUSDT', side: 'BUY', price: '142.31', origQty: '12.5', clientOrderId: 'k-cancel-1' });
    await clock.advance(1_000);
    const budget = new WeightBudget({ clock });
    const answer = await client({ budget }).cancelOrder({ symbol: 'SOLUSDT', orderId: o.orderId });
    expect(answer).toMatchObject({ orderId: o.orderId, symbol: 'SOLUSDT', clientOrderId: 'k-cancel-1', status: 'CANCELED', price: '142.31000000', origQty: '12.50000000', executedQty: '0.00000000', cumQty: '0.00000000', cumQuote: '0.00000000', side: 'BUY', type: 'LIMIT', origType: 'LIMIT', updateTime: clock.now() });
    expect(answer).not.toHaveProperty('avgPrice');
    expect(answer).not.toHaveProperty('time');
    expect(account().orders.get(o.orderId)).toMatchObject({ status: 'CANCELED', updateTime: clock.now() });
    expect((await client().getOrder({ symbol: 'SOLUSDT', orderId: o.orderId })).status).toBe('CANCELED');
    expect((await client().openOrders('SOLUSDT')).map((x) => x.orderId)).not.toContain(o.orderId);

    await waitFor(() => orderUpdates().length === 1, 'the CANCELED event');
    expect(frames[0]).toMatchObject({ e: 'ORDER_TRADE_UPDATE', E: clock.now(), T: clock.now() });
    expect(orderUpdates()[0]).toMatchObject({ s: 'SOLUSDT', i: o.orderId, c: 'k-cancel-1', x: 'CANCELED', X: 'CANCELED', q: '12.50000000', z: '0.00000000', l: '0' });

    // Weight 1, counted in X-MBX-USED-WEIGHT-1M like every other endpoint (the budget reads the header).
    expect(requests('DELETE /fapi/v1/order').at(-1)).toEqual({ endpoint: 'DELETE /fapi/v1/order', status: 200, at: clock.now() });
    const used = sim.limits.used('127.0.0.1', clock.now());
    expect(budget.state().used).toBe(used - 2); // the getOrder and openOrders after it weigh 1 each
    await client().cancelOrder({ symbol: 'SOLUSDT', orderId: o.orderId }).catch(() => undefined);
    expect(sim.limits.used('127.0.0.1', clock.now())).toBe(used + 1);
  });

  it('cancels a PARTIALLY_FILLED order by origClientOrderId; the fill and the position stay', async () => {
    const life = await sim.scenarios.playLifecycle(1, { symbol: 'ETHUSDT', side: 'BUY', qty: '2', price: '3400', outcome: 'partial-fill', clientOrderId: 'k-partial' });
    await waitFor(() => frames.length === 4, 'NEW, TRADE_LITE, PARTIALLY_FILLED, ACCOUNT_UPDATE');
    frames.length = 0;
    const answer = await client().cancelOrder({ symbol: 'ETHUSDT', origClientOrderId: 'k-partial' });
    expect(answer).toMatchObject({ orderId: life.orderId, status: 'CANCELED', executedQty: '1.00000000', cumQty: '1.00000000', cumQuote: '3400.00000000' });
    expect(await client().positionRisk('ETHUSDT')).toEqual([expect.objectContaining({ positionAmt: '1.00000000', positionSide: 'BOTH' })]);
    await waitFor(() => frames.length === 1, 'the CANCELED event');
    expect(orderUpdates()).toEqual([expect.objectContaining({ i: life.orderId, c: 'k-partial', x: 'CANCELED', X: 'CANCELED', z: '1.00000000' })]);
  });

  it('answers -2011 for an unknown order, an order of another symbol and an order that is no longer working, changing nothing', async () => {
    const filled = sim.scenarios.upsertOrder(1, { symbol: 'BNBUSDT', status: 'FILLED', executedQty: '1', origQty: '1' });
    const working = sim.scenarios.upsertOrder(1, { symbol: 'BNBUSDT', clientOrderId: 'k-bnb' });
    const c = client();
    const attempts = [
      c.cancelOrder({ symbol: 'BNBUSDT', orderId: 1 }),
      c.cancelOrder({ symbol: 'BNBUSDT', origClientOrderId: 'k-nobody' }),
      c.cancelOrder({ symbol: 'BNBUSDT', orderId: filled.orderId }),
      c.cancelOrder({ symbol: 'XRPUSDT', orderId: working.orderId }),
    ];
    for (const a of attempts) {
      const err = await a.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BinanceApiError);
      expect(err).toMatchObject({ status: 400, code: -2011, message: expect.stringContaining('Unknown order sent.'), kind: 'api' });
    }
    expect(account().orders.get(filled.orderId)!.status).toBe('FILLED');
    expect(account().orders.get(working.orderId)!.status).toBe('NEW');
    // Cancelling twice: the second answer is -2011 too, and only one event was pushed.
    await c.cancelOrder({ symbol: 'BNBUSDT', origClientOrderId: 'k-bnb' });
    await expect(c.cancelOrder({ symbol: 'BNBUSDT', orderId: working.orderId })).rejects.toMatchObject({ code: -2011 });
    await waitFor(() => orderUpdates().length === 1, 'one CANCELED event');
    await settle();
    expect(orderUpdates().map((o) => [o.i, o.X])).toEqual([[working.orderId, 'CANCELED']]);
  });

  it('checks parameters: -1102 without symbol or order id, -1100 for a malformed orderId, -1121 for an unlisted symbol', async () => {
    const o = sim.scenarios.upsertOrder(1, { symbol: 'LINKUSDT' });
    const c = client();
    const del = (params: Record<string, string | number>) => c.request('DELETE', '/fapi/v1/order', params, { security: 'SIGNED', weight: 1 }).catch((e: unknown) => e);
    expect(await del({ orderId: o.orderId })).toMatchObject({ status: 400, code: -1102, message: expect.stringContaining("'symbol'") });
    expect(await del({ symbol: 'LINKUSDT' })).toMatchObject({ status: 400, code: -1102, message: expect.stringContaining('Either orderId or origClientOrderId must be sent.') });
    expect(await del({ symbol: 'LINKUSDT', orderId: 'abc' })).toMatchObject({ status: 400, code: -1100 });
    expect(await del({ symbol: 'NOPEUSDT', orderId: o.orderId })).toMatchObject({ status: 400, code: -1121, message: expect.stringContaining('Invalid symbol.') });
    await expect(c.cancelOrder({ symbol: 'LINKUSDT' })).rejects.toThrow(/orderId or origClientOrderId/);
    expect(account().orders.get(o.orderId)!.status).toBe('NEW');
    await settle();
    expect(frames).toEqual([]);
  });

  it('checks the signature and the API key before touching the order', async () => {
    const o = sim.scenarios.upsertOrder(1, { symbol: 'DOGEUSDT' });
    await expect(client({ apiSecret: 'f'.repeat(64) }).cancelOrder({ symbol: 'DOGEUSDT', orderId: o.orderId })).rejects.toMatchObject({ status: 400, code: -1022 });
    await expect(client().withCredentials({ apiKey: 'a'.repeat(64), apiSecret: creds.apiSecret }).cancelOrder({ symbol: 'DOGEUSDT', orderId: o.orderId })).rejects.toMatchObject({ status: 401, code: -2015 });
    const res = await fetch(`${sim.restUrl}/fapi/v1/order?symbol=DOGEUSDT&orderId=${o.orderId}&timestamp=${clock.now()}`, { method: 'DELETE', headers: { 'X-MBX-APIKEY': creds.apiKey } });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ code: -1102, msg: "Mandatory parameter 'signature' was not sent, was empty/null, or malformed." });
    expect(Number(res.headers.get('x-mbx-used-weight-1m'))).toBeGreaterThan(0);
    expect(account().orders.get(o.orderId)!.status).toBe('NEW');
    await settle();
    expect(frames).toEqual([]);
  });

  it('is sent again after a 5xx (the first try did not land), and cancels once', async () => {
    const o = sim.scenarios.upsertOrder(1, { symbol: 'ADAUSDT' });
    const before = requests('DELETE /fapi/v1/order').length;
    const sleepers = clock.pending; // the socket's ping and lifetime timers, the listen key's expiry
    sim.failures.arm(1, 503);
    const p = client().cancelOrder({ symbol: 'ADAUSDT', orderId: o.orderId });
    await waitFor(() => clock.pending > sleepers, 'retry back-off');
    await clock.advance(250);
    await expect(p).resolves.toMatchObject({ orderId: o.orderId, status: 'CANCELED' });
    expect(requests('DELETE /fapi/v1/order').slice(before).map((r) => r.status)).toEqual([503, 200]);
    await waitFor(() => orderUpdates().length === 1, 'one CANCELED event');
  });
});

describe('DELETE /fapi/v1/allOpenOrders', () => {
  it("cancels every working order of the symbol, one event each, and leaves other symbols' and finished orders alone", async () => {
    const a = sim.scenarios.upsertOrder(1, { symbol: 'AVAXUSDT', clientOrderId: 'k-a' });
    const b = sim.scenarios.upsertOrder(1, { symbol: 'AVAXUSDT', clientOrderId: 'k-b', status: 'PARTIALLY_FILLED', executedQty: '0.5' });
    const done = sim.scenarios.upsertOrder(1, { symbol: 'AVAXUSDT', status: 'FILLED', executedQty: '1' });
    const other = sim.scenarios.upsertOrder(1, { symbol: 'TONUSDT' });
    const budget = new WeightBudget({ clock });
    expect(await client({ budget }).cancelAllOpenOrders('AVAXUSDT')).toEqual({ code: 200, msg: 'The operation of cancel all open order is done.' });
    expect(budget.state().used).toBe(sim.limits.used('127.0.0.1', clock.now()));
    expect([a, b, done, other].map((o) => account().orders.get(o.orderId)!.status)).toEqual(['CANCELED', 'CANCELED', 'FILLED', 'NEW']);
    expect(await client().openOrders('AVAXUSDT')).toEqual([]);
    await waitFor(() => orderUpdates().length === 2, 'two CANCELED events');
    await settle();
    expect(orderUpdates().map((o) => [o.i, o.c, o.x, o.X])).toEqual([
      [a.orderId, 'k-a', 'CANCELED', 'CANCELED'],
      [b.orderId, 'k-b', 'CANCELED', 'CANCELED'],
    ]);
    // Nothing left to cancel: the same answer, no event.
    expect(await client().cancelAllOpenOrders('AVAXUSDT')).toMatchObject({ code: 200 });
    await settle();
    expect(orderUpdates()).toHaveLength(2);
  });

  it('needs a listed symbol and a valid signature', async () => {
    const o = sim.scenarios.upsertOrder(1, { symbol: 'TONUSDT' });
    const c = client();
    await expect(c.request('DELETE', '/fapi/v1/allOpenOrders', {}, { security: 'SIGNED', weight: 1 })).rejects.toMatchObject({ status: 400, code: -1102 });
    await expect(c.cancelAllOpenOrders('NOPEUSDT')).rejects.toMatchObject({ status: 400, code: -1121 });
    await expect(client({ apiSecret: 'f'.repeat(64) }).cancelAllOpenOrders('TONUSDT')).rejects.toMatchObject({ status: 400, code: -1022 });
    expect(account().orders.get(o.orderId)!.status).toBe('NEW');
    await settle();
    expect(frames).toEqual([]);
  });
});
