/**
 * The signed REST client against the simulator: signatures and recvWindow, typed errors with Binance's
 * code, the weight budget from X-MBX-USED-WEIGHT-1M, 429 with Retry-After, 418 bans (also across
 * processes through Redis), and 5xx re-queries. Waits run on a FakeClock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { BinanceSimulator } from '../../src/binance/simulator/index.js';
import { BinanceRestClient } from '../../src/binance/rest-client.js';
import { RedisBanStore, WeightBudget } from '../../src/binance/weight-budget.js';
import { BinanceApiError, BinanceBannedError, BinanceRateLimitError, BinanceUnknownOutcomeError } from '../../src/binance/errors.js';
import { demoCredentials } from '../../src/db/seed/demo-data.js';
import { FakeClock, type Clock } from '../../src/support/clock.js';
import { T0, waitFor } from './helpers.js';

let ctx: TestContext;
let sim: BinanceSimulator;
let clock: FakeClock;
const creds = demoCredentials(1);

function client(opts: { clock?: Clock; budget?: WeightBudget; apiSecret?: string } = {}): BinanceRestClient {
  const c = opts.clock ?? clock;
  return new BinanceRestClient({ baseUrl: sim.restUrl, clock: c, budget: opts.budget ?? new WeightBudget({ clock: c }), credentials: { apiKey: creds.apiKey, apiSecret: opts.apiSecret ?? creds.apiSecret } });
}

const requests = (endpoint: string) => sim.requestLog.filter((r) => r.endpoint === endpoint);

beforeAll(async () => {
  ctx = await createTestContext('binance-rest');
  clock = new FakeClock(T0);
  sim = await BinanceSimulator.start({ port: 0, clock, demoAccounts: 1, symbols: 12 });
});

afterAll(async () => {
  await sim?.close();
  await ctx?.cleanup();
});

describe('BinanceRestClient', () => {
  it('signs requests the simulator accepts, with decimals kept as strings', async () => {
    const order = sim.scenarios.upsertOrder(1, { symbol: 'SOLUSDT', price: '142.31', origQty: '12.5', clientOrderId: 'k-1' });
    const c = client();
    const got = await c.getOrder({ symbol: 'SOLUSDT', orderId: order.orderId });
    expect(got).toMatchObject({ orderId: order.orderId, status: 'NEW', price: '142.31000000', origQty: '12.50000000' });
    expect(await c.getOrder({ symbol: 'SOLUSDT', origClientOrderId: 'k-1' })).toMatchObject({ orderId: order.orderId });
    expect((await c.openOrders('SOLUSDT')).map((o) => o.orderId)).toEqual([order.orderId]);
    expect(await c.allOrders({ symbol: 'SOLUSDT' })).toHaveLength(1);
    expect(await c.positionRisk()).toEqual([]);
    expect(requests('GET /fapi/v1/order').every((r) => r.status === 200)).toBe(true);
  });

  it('throws typed errors carrying Binance codes: -2013, -1022, -2015', async () => {
    const unknown = await client().getOrder({ symbol: 'SOLUSDT', orderId: 1 }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(BinanceApiError);
    expect(unknown).toMatchObject({ code: -2013, status: 400, kind: 'api' });
    const badSig = await client({ apiSecret: 'f'.repeat(64) }).openOrders().catch((e: unknown) => e);
    expect(badSig).toMatchObject({ code: -1022, status: 400 });
    const stranger = await client().withCredentials({ apiKey: 'a'.repeat(64), apiSecret: 'b'.repeat(64) }).openOrders().catch((e: unknown) => e);
    expect(stranger).toMatchObject({ code: -2015, status: 401 });
  });

  it('builds a fresh timestamp and signature on every try (-1021 once, then success)', async () => {
    const before = requests('GET /fapi/v1/openOrders').length;
    // 10 s behind until the server has said -1021 once.
    const skewed: Clock = { now: () => (requests('GET /fapi/v1/openOrders').slice(before).length === 0 ? clock.now() - 10_000 : clock.now()), sleep: (ms, s) => clock.sleep(ms, s) };
    await client({ clock: skewed }).openOrders('SOLUSDT');
    expect(requests('GET /fapi/v1/openOrders').slice(before).map((r) => r.status)).toEqual([400, 200]);
    const alwaysOld: Clock = { now: () => clock.now() - 10_000, sleep: (ms, s) => clock.sleep(ms, s) };
    await expect(client({ clock: alwaysOld }).openOrders('SOLUSDT')).rejects.toMatchObject({ code: -1021 });
  });

  it('tracks X-MBX-USED-WEIGHT-1M and waits for the next minute rather than pass 85 % of the budget', async () => {
    await clock.advance(60_000 - (clock.now() % 60_000)); // a fresh minute
    const budget = new WeightBudget({ clock, limit: 100 }); // cap 85
    const c = client({ budget });
    await c.openOrders(); // weight 40
    expect(budget.state().used).toBe(sim.limits.used('127.0.0.1', clock.now()));
    await c.openOrders(); // 80
    const before = requests('GET /fapi/v1/openOrders').length;
    let done = false;
    const third = c.openOrders().then(() => (done = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(done).toBe(false);
    expect(requests('GET /fapi/v1/openOrders').length).toBe(before);
    await clock.advance(60_001);
    await third;
    expect(requests('GET /fapi/v1/openOrders').length).toBe(before + 1);
    expect(sim.requestLog.some((r) => r.status === 429)).toBe(false);
  });

  it('honours 429 Retry-After before asking again', async () => {
    sim.limits.setMode('429', 7);
    const c = client();
    const before = requests('GET /fapi/v1/exchangeInfo').length;
    let result: unknown = null;
    const p = c.exchangeInfo().then((r) => (result = r));
    await waitFor(() => requests('GET /fapi/v1/exchangeInfo').length === before + 1, 'first 429');
    sim.limits.setMode('off');
    await clock.advance(6_900);
    await new Promise((r) => setTimeout(r, 50));
    expect(requests('GET /fapi/v1/exchangeInfo').length).toBe(before + 1);
    expect(result).toBeNull();
    await clock.advance(200);
    await p;
    expect(requests('GET /fapi/v1/exchangeInfo').slice(before).map((r) => r.status)).toEqual([429, 200]);
    // A Retry-After longer than the client will wait inside one call is returned as a typed error.
    sim.limits.setMode('429', 600);
    await expect(c.exchangeInfo()).rejects.toBeInstanceOf(BinanceRateLimitError);
    sim.limits.setMode('off');
    await clock.advance(600_000);
  });

  it('418 stops every call until the ban ends, in this process and, through Redis, in the others', async () => {
    const store = new RedisBanStore(ctx.redis, `${ctx.prefix}:binance:ip-ban`, clock);
    const c = client({ budget: new WeightBudget({ clock, banStore: store }) });
    sim.limits.setMode('418', 120);
    const err = await c.exchangeInfo().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BinanceBannedError);
    expect((err as BinanceBannedError).until).toBe(clock.now() + 120_000);
    sim.limits.setMode('off');
    const count = sim.counters.restRequests;
    await expect(c.exchangeInfo()).rejects.toBeInstanceOf(BinanceBannedError);
    // Another process (another budget) sees the ban through Redis and sends nothing either.
    const other = client({ budget: new WeightBudget({ clock, banStore: new RedisBanStore(ctx.redis, `${ctx.prefix}:binance:ip-ban`, clock) }) });
    await expect(other.premiumIndex('BTCUSDT')).rejects.toBeInstanceOf(BinanceBannedError);
    expect(sim.counters.restRequests).toBe(count);
    await clock.advance(120_001);
    await expect(c.exchangeInfo()).resolves.toMatchObject({ rateLimits: expect.any(Array) });
  });

  it('treats 5xx as an unknown outcome: idempotent calls ask again, and give up with a typed error', async () => {
    const c = client();
    const order = sim.scenarios.upsertOrder(1, { symbol: 'ETHUSDT', price: '3400', origQty: '1' });
    sim.failures.arm(1, 503);
    const p = c.getOrder({ symbol: 'ETHUSDT', orderId: order.orderId });
    await waitFor(() => clock.pending > 0, 'retry back-off');
    await clock.advance(250);
    await expect(p).resolves.toMatchObject({ orderId: order.orderId });
    sim.failures.arm(5, 500);
    const q = c.getOrder({ symbol: 'ETHUSDT', orderId: order.orderId }).catch((e: unknown) => e);
    for (let i = 0; i < 2; i++) {
      await waitFor(() => clock.pending > 0, 'retry back-off');
      await clock.advance(1000);
    }
    expect(await q).toBeInstanceOf(BinanceUnknownOutcomeError);
    sim.failures.arm(0);
  });
});
