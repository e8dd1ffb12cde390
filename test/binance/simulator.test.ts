/**
 * The simulator itself (raw HTTP and WebSocket clients, no Athena code in between), so that the other
 * tests can trust it: listen-key semantics, market data, routes, pings and the pong deadline, the
 * connection limit, weight and bans, and the control API.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BinanceSimulator, CONTROL_ROUTES } from '../../src/binance/simulator/index.js';
import { demoCredentials } from '../../src/db/seed/demo-data.js';
import { FakeClock } from '../../src/support/clock.js';
import { T0, waitFor } from './helpers.js';

let sim: BinanceSimulator;
let clock: FakeClock;
const creds = demoCredentials(1);
const sockets: WebSocket[] = [];

async function call(method: string, path: string, opts: { key?: string | null; body?: unknown } = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (opts.key !== null) headers['X-MBX-APIKEY'] = opts.key ?? creds.apiKey;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${sim.restUrl}${path}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

function open(path: string, opts: WebSocket.ClientOptions = {}): Promise<{ ws: WebSocket; frames: string[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${sim.wsUrl}${path}`, opts);
    sockets.push(ws);
    const frames: string[] = [];
    ws.on('message', (d) => frames.push(d.toString()));
    ws.once('open', () => resolve({ ws, frames }));
    ws.once('error', reject);
  });
}

beforeAll(async () => {
  clock = new FakeClock(T0);
  sim = await BinanceSimulator.start({ port: 0, clock, symbols: 30, pingIntervalMs: 180_000, pongDeadlineMs: 600_000, connectionLimitMs: 86_400_000 });
});

afterAll(async () => {
  for (const s of sockets) s.terminate();
  await sim?.close();
});

describe('listen keys', () => {
  it('POST returns the active key and extends it by 60 min; PUT keeps it alive; both need the API key', async () => {
    const a = await call('POST', '/fapi/v1/listenKey');
    expect(a.status).toBe(200);
    const key = a.body.listenKey as string;
    expect(key).toMatch(/^[A-Za-z0-9]{64}$/);
    await clock.advance(30 * 60_000);
    expect((await call('POST', '/fapi/v1/listenKey')).body.listenKey).toBe(key);
    expect(sim.account(1).listenKey!.expiresAt).toBe(clock.now() + 3_600_000);
    expect((await call('PUT', '/fapi/v1/listenKey')).status).toBe(200);
    expect(await call('POST', '/fapi/v1/listenKey', { key: null })).toMatchObject({ status: 401, body: { code: -2014 } });
    expect(await call('POST', '/fapi/v1/listenKey', { key: 'x'.repeat(64) })).toMatchObject({ status: 401, body: { code: -2015 } });
  });

  it('a key expires after 60 min without keepalive: its sockets get listenKeyExpired, PUT answers -1125, POST makes a new one', async () => {
    const key = (await call('POST', '/fapi/v1/listenKey')).body.listenKey as string;
    const { frames } = await open(`/private/ws?listenKey=${key}`);
    await clock.advance(3_600_000);
    await waitFor(() => frames.length === 1, 'listenKeyExpired');
    expect(JSON.parse(frames[0]!)).toMatchObject({ e: 'listenKeyExpired', listenKey: key });
    expect(await call('PUT', '/fapi/v1/listenKey')).toMatchObject({ status: 400, body: { code: -1125, msg: 'This listenKey does not exist.' } });
    const fresh = (await call('POST', '/fapi/v1/listenKey')).body.listenKey as string;
    expect(fresh).not.toBe(key);
    // The old key's socket stays open but silent; the new key's socket gets the events.
    const { frames: newFrames } = await open(`/private/ws?listenKey=${fresh}`);
    expect(sim.push(1, { e: 'ACCOUNT_UPDATE', E: 1 })).toBe(1);
    await waitFor(() => newFrames.length === 1, 'event on the new key');
    expect(frames).toHaveLength(1);
  });

  it('DELETE invalidates the key and sends listenKeyExpired to its sockets', async () => {
    const key = (await call('POST', '/fapi/v1/listenKey')).body.listenKey as string;
    const { frames } = await open(`/private/ws/${key}`);
    expect(await call('DELETE', '/fapi/v1/listenKey')).toMatchObject({ status: 200, body: {} });
    await waitFor(() => frames.length === 1, 'listenKeyExpired after DELETE');
    expect(JSON.parse(frames[0]!).e).toBe('listenKeyExpired');
    expect((await call('PUT', '/fapi/v1/listenKey')).body.code).toBe(-1125);
  });

  it('refuses a WebSocket with an unknown key (400) and the retired legacy routes (404)', async () => {
    await expect(open('/private/ws?listenKey=nope')).rejects.toThrow(/400/);
    await expect(open('/ws/somekey')).rejects.toThrow(/404/);
    await expect(open('/stream?streams=!markPrice@arr@1s')).rejects.toThrow(/404/);
  });
});

describe('market data', () => {
  it('serves exchangeInfo and premiumIndex with the weight header', async () => {
    const info = await call('GET', '/fapi/v1/exchangeInfo', { key: null });
    expect(info.status).toBe(200);
    const symbols = info.body.symbols as Array<Record<string, unknown>>;
    expect(symbols).toHaveLength(30);
    expect(symbols[0]).toMatchObject({ symbol: 'BTCUSDT', contractType: 'PERPETUAL', status: 'TRADING', quoteAsset: 'USDT' });
    expect((symbols[0]!.filters as Array<{ filterType: string }>).map((f) => f.filterType)).toContain('PRICE_FILTER');
    expect(info.body.rateLimits).toContainEqual({ rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 2400 });
    expect(Number(info.headers.get('x-mbx-used-weight-1m'))).toBeGreaterThan(0);
    const one = await call('GET', '/fapi/v1/premiumIndex?symbol=ETHUSDT', { key: null });
    expect(one.body).toMatchObject({ symbol: 'ETHUSDT', markPrice: expect.stringMatching(/^\d+\.\d{8}$/) });
    const all = await fetch(`${sim.restUrl}/fapi/v1/premiumIndex`).then((r) => r.json());
    expect(all).toHaveLength(30);
  });

  it('streams !markPrice@arr@1s every tick: the combined envelope on /market/stream, a bare array on /market/ws', async () => {
    const env = await open('/market/stream?streams=!markPrice@arr@1s');
    const bare = await open('/market/ws/!markPrice@arr@1s');
    await clock.advance(1000);
    await waitFor(() => env.frames.length === 1 && bare.frames.length === 1, 'one mark frame each');
    const e = JSON.parse(env.frames[0]!);
    expect(e.stream).toBe('!markPrice@arr@1s');
    expect(e.data).toHaveLength(30);
    expect(e.data[0]).toMatchObject({ e: 'markPriceUpdate', s: 'BTCUSDT', p: expect.stringMatching(/^\d+\.\d{8}$/) });
    expect(JSON.parse(bare.frames[0]!)).toHaveLength(30);
    sim.market.stalled = true;
    await clock.advance(3000);
    await new Promise((r) => setTimeout(r, 30));
    expect(env.frames).toHaveLength(1);
    sim.market.stalled = false;
    env.ws.terminate();
    bare.ws.terminate();
  });
});

describe('connection rules', () => {
  it('pings every 3 min and cuts a socket that does not pong within 10 min', async () => {
    const key = (await call('POST', '/fapi/v1/listenKey')).body.listenKey as string;
    const good = await open(`/private/ws?listenKey=${key}`);
    const deaf = await open(`/private/ws?listenKey=${key}`, { autoPong: false });
    let pings = 0;
    deaf.ws.on('ping', () => pings++);
    let closed = false;
    deaf.ws.on('close', () => (closed = true));
    await clock.advance(180_000);
    await waitFor(() => pings === 1, 'first ping');
    for (let t = 0; t < 4; t++) {
      await clock.advance(180_000);
      await new Promise((r) => setTimeout(r, 5));
    }
    await waitFor(() => closed, 'deaf socket cut');
    expect(good.ws.readyState).toBe(WebSocket.OPEN);
    good.ws.terminate();
  });

  it('cuts every connection at the connection limit', async () => {
    sim.configure({ connectionLimitMs: 60_000 });
    const { ws } = await open('/market/stream?streams=!markPrice@arr@1s');
    const code = new Promise<number>((r) => ws.on('close', (c) => r(c)));
    const cutsBefore = sim.counters.lifetimeCuts;
    await clock.advance(60_000);
    expect(await code).toBe(1001);
    expect(sim.counters.lifetimeCuts).toBe(cutsBefore + 1);
    sim.configure({ connectionLimitMs: 86_400_000 });
  });

  it('answers 429 over the weight limit and bans (418) an IP that keeps calling', async () => {
    sim.configure({ weightLimit: 20, banAfterLimited: 2 });
    await clock.advance(60_000 - (clock.now() % 60_000));
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await call('GET', '/fapi/v1/premiumIndex', { key: null })).status); // weight 10 each
    const limited = await call('GET', '/fapi/v1/premiumIndex', { key: null });
    const banned = await call('GET', '/fapi/v1/time', { key: null });
    expect(statuses).toEqual([200, 200, 429]);
    expect(limited.status).toBe(429);
    expect(banned.status).toBe(418);
    expect(Number(banned.headers.get('retry-after'))).toBe(120);
    sim.limits.reset();
    sim.configure({ weightLimit: 2400, banAfterLimited: 10 });
  });
});

describe('control API', () => {
  it('registers accounts, pushes events, plays order lifecycles and reports counters', async () => {
    const other = demoCredentials(9);
    expect(await call('POST', '/_sim/accounts', { key: null, body: { ...other, label: 9 } })).toMatchObject({ status: 200, body: { label: 9 } });
    const key = (await call('POST', '/fapi/v1/listenKey', { key: other.apiKey })).body.listenKey as string;
    const { frames } = await open(`/private/ws?listenKey=${key}`);
    expect((await call('POST', '/_sim/push', { key: null, body: { account: 9, event: { e: 'MARGIN_CALL', E: 5 } } })).body).toEqual({ delivered: [1] });
    const life = await call('POST', '/_sim/lifecycle', { key: null, body: { account: 9, symbol: 'SOLUSDT', qty: '10', fills: 2 } });
    expect(life.status).toBe(200);
    await waitFor(() => frames.length === 8, 'lifecycle frames');
    const types = frames.map((f) => JSON.parse(f)).map((p) => (p.e === 'ORDER_TRADE_UPDATE' ? `${p.e}:${p.o.X}` : p.e));
    expect(types).toEqual(['MARGIN_CALL', 'ORDER_TRADE_UPDATE:NEW', 'TRADE_LITE', 'ORDER_TRADE_UPDATE:PARTIALLY_FILLED', 'ACCOUNT_UPDATE', 'TRADE_LITE', 'ORDER_TRADE_UPDATE:FILLED', 'ACCOUNT_UPDATE']);
    const last = JSON.parse(frames[7]!);
    expect(last.a.P[0]).toMatchObject({ s: 'SOLUSDT', pa: '10.00000000', ps: 'BOTH' });
    const state = await call('GET', '/_sim/state', { key: null });
    expect((state.body.accounts as Record<string, Record<string, number>>)['9']).toMatchObject({ framesSent: 8, connections: 1, connectionsOpened: 1 });
    expect(sim.account(9).orders.get(life.body.orderId as number)!.status).toBe('FILLED');
  });

  it('plays a script of frames in order at a rate kept by its own clock (POST /_sim/load with frames)', async () => {
    const creds8 = demoCredentials(8);
    await call('POST', '/_sim/accounts', { key: null, body: { ...creds8, label: 8 } });
    const key = (await call('POST', '/fapi/v1/listenKey', { key: creds8.apiKey })).body.listenKey as string;
    const { frames } = await open(`/private/ws?listenKey=${key}`);
    const script = Array.from({ length: 5 }, (_, i) => ({ account: 8, event: { e: 'MARGIN_CALL', E: i + 1 } }));
    const started = await call('POST', '/_sim/load', { key: null, body: { rate: 2, frames: script } });
    expect(started).toMatchObject({ status: 200, body: { running: true, rate: 2 } });
    await waitFor(() => frames.length === 1, 'the first frame at once');
    await clock.advance(1000);
    await waitFor(() => frames.length === 3, 'two more a second later');
    await clock.advance(1000);
    await waitFor(() => frames.length === 5, 'the rest');
    expect(frames.map((f) => JSON.parse(f).E)).toEqual([1, 2, 3, 4, 5]);
    await waitFor(() => !sim.scenarios.loadState().running, 'the script ended');
    expect(sim.scenarios.loadState()).toMatchObject({ sent: 5, running: false });
    // bad scripts: nothing is started
    expect(await call('POST', '/_sim/load', { key: null, body: { rate: 2, frames: [] } })).toMatchObject({ status: 400 });
    expect(await call('POST', '/_sim/load', { key: null, body: { rate: 2, frames: [{ account: 8 }] } })).toMatchObject({ status: 400, body: { error: 'frames[0] must be {account, event}' } });
    expect(await call('POST', '/_sim/load', { key: null, body: { rate: 2, frames: [{ account: 777, event: {} }] } })).toMatchObject({ status: 400, body: { error: 'unknown simulated account 777' } });
    expect(await call('POST', '/_sim/load', { key: null, body: { rate: 0, frames: script } })).toMatchObject({ status: 400 });
    // The generator: `rate` ORDER_TRADE_UPDATE frames per second over the live accounts, for durationMs.
    const before = frames.length;
    expect(await call('POST', '/_sim/load', { key: null, body: { rate: 10, durationMs: 1000, tickMs: 50, accounts: [8] } })).toMatchObject({ status: 200, body: { running: true, rate: 10 } });
    for (let i = 0; i < 30 && sim.scenarios.loadState().running; i++) {
      await clock.advance(50);
      await new Promise((r) => setTimeout(r, 5));
    }
    await waitFor(() => !sim.scenarios.loadState().running, 'the generator ended');
    await waitFor(() => frames.length - before === sim.scenarios.loadState().sent, 'its frames received');
    expect(sim.scenarios.loadState().sent).toBeGreaterThanOrEqual(9);
    expect(JSON.parse(frames.at(-1)!).e).toBe('ORDER_TRADE_UPDATE');
  });

  it('answers bad input with 400 and lists its routes on 404', async () => {
    expect(await call('POST', '/_sim/push', { key: null, body: { event: {} } })).toMatchObject({ status: 400 });
    expect(await call('POST', '/_sim/push', { key: null, body: { account: 999, event: {} } })).toMatchObject({ status: 400, body: { error: 'unknown simulated account 999' } });
    expect(await call('POST', '/_sim/rate-limit', { key: null, body: { mode: 'sometimes' } })).toMatchObject({ status: 400 });
    const nf = await call('GET', '/_sim/nothing', { key: null });
    expect(nf.status).toBe(404);
    expect(nf.body.routes).toEqual(CONTROL_ROUTES);
  });
});
