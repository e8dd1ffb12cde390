/**
 * The Binance commands as crontab, supervisor and operators run them: bin/artisan child processes against
 * an in-process simulator (real time), with exit codes, --json output and flag errors. The two daemons
 * are started, observed through Redis and the database, and stopped with SIGTERM.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, ARTISAN, ROOT, type TestContext } from '../support/context.js';
import { artisan, childEnv } from '../support/artisan.js';
import { BinanceSimulator } from '../../src/binance/simulator/index.js';
import { createAccount } from '../../src/db/repositories/accounts.js';
import { insertId } from '../../src/db/helpers.js';
import { demoCredentials } from '../../src/db/seed/demo-data.js';
import { readHeartbeats } from '../../src/support/heartbeat.js';
import { queuePrefix } from '../../src/redis/keys.js';
import { waitFor } from './helpers.js';

let ctx: TestContext;
let sim: BinanceSimulator;
let env: Record<string, string>;
let accountId: number;

beforeAll(async () => {
  ctx = await createTestContext('binance-commands');
  sim = await BinanceSimulator.start({ port: 0, demoAccounts: 0, symbols: 12, markIntervalMs: 100 });
  env = { ...ctx.env, BINANCE_REST_URL: sim.restUrl, BINANCE_WS_URL: sim.wsUrl, USER_DATA_SHARDS: '3' };
  const c = demoCredentials(600);
  accountId = await createAccount(ctx.db, ctx.config.appKey!, { name: 'CLI', apiKey: c.apiKey, apiSecret: c.apiSecret }, new Date(Date.now() - 600_000));
  sim.registerAccount({ ...c, label: accountId });
});

afterAll(async () => {
  await sim?.close();
  await ctx?.cleanup();
});

function json(r: { stdout: string; stderr: string }): Record<string, unknown> {
  try {
    return JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    throw new Error(`not JSON: ${r.stdout}\n${r.stderr}`);
  }
}

describe('Binance crons', () => {
  it('kraite:cron-refresh-exchange-symbols upserts the catalogue', async () => {
    const r = await artisan(['kraite:cron-refresh-exchange-symbols', '--json'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(json(r)).toMatchObject({ listed: 12, inserted: 12, price_rows_created: 12 });
    const text = await artisan(['kraite:cron-refresh-exchange-symbols'], env);
    expect(text.stdout).toMatch(/12 symbols listed: 0 new, 0 updated, 12 unchanged/);
  });

  it('kraite:cron-check-binance-listen-keys-stale reports a missing row, as JSON and as a table', async () => {
    const r = await artisan(['kraite:cron-check-binance-listen-keys-stale', '--json'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(json(r)).toMatchObject({ checked: 1, stale: [{ account_id: accountId, reason: 'missing_row' }] });
    const t = await artisan(['kraite:cron-check-binance-listen-keys-stale', '--max-staleness-minutes=5'], env);
    expect(t.stdout).toMatch(/missing_row/);
    expect((await artisan(['kraite:cron-check-binance-listen-keys-stale', '--max-staleness-minutes=0'], env)).exitCode).toBe(2);
  });

  it('kraite:cron-sync-orders validates its flags and reports', async () => {
    expect(json(await artisan(['kraite:cron-sync-orders', '--json'], env))).toMatchObject({ orders: 0 });
    const missing = await artisan(['kraite:cron-sync-orders', '--order-id=999'], env);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain('Order 999 does not exist or has no exchange order id.');
    expect((await artisan(['kraite:cron-sync-orders', '--account=999'], env)).stderr).toContain('Account 999 does not exist.');
    expect((await artisan(['kraite:cron-sync-orders', '--order-id=abc'], env)).exitCode).toBe(2);
    expect((await artisan(['kraite:cron-sync-orders', '--order-id=1', `--account=${accountId}`], env)).exitCode).toBe(2);
    expect(json(await artisan(['kraite:cron-sync-orders', `--account=${accountId}`, '--json'], env))).toMatchObject({ orders: 0 });
  });

  it('kraite:cron-snapshot-accounts stores a snapshot; the keepalive cron has nothing to do yet', async () => {
    const r = await artisan(['kraite:cron-snapshot-accounts', `--account=${accountId}`, '--json'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(json(r)).toMatchObject({ accounts: [{ account_id: accountId, positions: 0, open_orders: 0 }] });
    expect(await ctx.db('api_snapshots').where({ account_id: accountId })).toHaveLength(1);
    expect(json(await artisan(['kraite:cron-refresh-binance-listen-keys', '--json'], env))).toMatchObject({ rows: 0, failed: 0 });
  });
});

describe('Binance daemons', () => {
  it('kraite:stream-binance-user-data streams frames to the shard queue and stops cleanly on SIGTERM', async () => {
    const child = execa('node', [ARTISAN, 'kraite:stream-binance-user-data'], { cwd: ROOT, env: childEnv(env), extendEnv: false, reject: false });
    try {
      await waitFor(async () => (await readHeartbeats(ctx.redis, ctx.prefix, 'stream-user-data')).some((b) => b.accounts_connected === 1), 'daemon heartbeat with one connected account', 30_000);
      expect(sim.push(accountId, { e: 'ORDER_TRADE_UPDATE', E: 1, o: { i: 1 } })).toBe(1);
      const q = new Queue(`user-data-stream-${accountId % 3}`, { prefix: queuePrefix(ctx.prefix), connection: ctx.redis.duplicate() });
      try {
        await waitFor(async () => (await q.getJobCountByTypes('waiting')) === 1, 'frame on the shard queue');
        const [job] = await q.getJobs(['waiting']);
        expect(job!.name).toBe('ProcessUserDataEvent');
        expect(job!.data).toMatchObject({ accountId, apiSystem: 'binance', payload: { e: 'ORDER_TRADE_UPDATE' } });
      } finally {
        await q.close();
      }
    } finally {
      child.kill('SIGTERM');
    }
    const r = await child;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(await ctx.db('binance_listen_keys').where({ account_id: accountId })).toHaveLength(1); // kept on shutdown
    expect(String(r.stderr)).not.toContain(demoCredentials(600).apiSecret);
  });

  it('kraite:stream-binance-prices writes mark prices and stops cleanly on SIGTERM', async () => {
    const child = execa('node', [ARTISAN, 'kraite:stream-binance-prices'], { cwd: ROOT, env: childEnv(env), extendEnv: false, reject: false });
    try {
      await waitFor(async () => (await ctx.db('exchange_symbol_prices').whereNotNull('mark_price')).length === 12, 'prices written', 30_000);
      await waitFor(async () => (await readHeartbeats(ctx.redis, ctx.prefix, 'stream-prices')).some((b) => b.connected === true), 'price heartbeat', 30_000);
    } finally {
      child.kill('SIGTERM');
    }
    const r = await child;
    expect(r.exitCode, String(r.stderr)).toBe(0);
  });

  it('kraite:simulate-binance serves on the port it prints, and refuses bad input', async () => {
    const child = execa('node', [ARTISAN, 'kraite:simulate-binance', '--port=0', '--symbols=5'], { cwd: ROOT, env: childEnv(env), extendEnv: false, reject: false });
    let out = '';
    child.stdout!.on('data', (d) => (out += String(d)));
    try {
      await waitFor(() => /REST (http:\/\/127\.0\.0\.1:\d+)/.test(out), 'ready line', 30_000);
      const url = /REST (http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
      const state = (await (await fetch(`${url}/_sim/state`)).json()) as { market: { symbols: number }; accounts: Record<string, unknown> };
      expect(state.market.symbols).toBe(5);
      expect(Object.keys(state.accounts)).toEqual(['1', '2', '3']);
    } finally {
      child.kill('SIGTERM');
    }
    expect((await child).exitCode).toBe(0);
    const bad = await artisan(['kraite:simulate-binance', '--accounts-file=/nonexistent.json'], env);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('Cannot read --accounts-file');
    expect((await artisan(['kraite:simulate-binance', '--symbols=0'], env)).exitCode).toBe(2);
  });

  it('kraite:simulate-binance --from-db registers the database accounts and their working orders', async () => {
    const now = new Date();
    const positionId = await insertId(ctx.db, 'positions', { account_id: accountId, parsed_trading_pair: 'BTCUSDT', direction: 'LONG', status: 'active', created_at: now, updated_at: now });
    await ctx.db('orders').insert({ position_id: positionId, uuid: 'f0f0f0f0-0000-4000-8000-000000000001', exchange_order_id: '777001', type: 'LIMIT', side: 'BUY', status: 'NEW', price: '90000.00000000', quantity: '0.01000000', created_at: now, updated_at: now });
    const child = execa('node', [ARTISAN, 'kraite:simulate-binance', '--port=0', '--demo-accounts=0', '--from-db'], { cwd: ROOT, env: childEnv(env), extendEnv: false, reject: false });
    let out = '';
    child.stdout!.on('data', (d) => (out += String(d)));
    try {
      await waitFor(() => /REST (http:\/\/127\.0\.0\.1:\d+)/.test(out), 'ready line', 30_000);
      expect(out).toContain('Loaded 1 accounts and 1 working orders from the database.');
      const url = /REST (http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
      const state = (await (await fetch(`${url}/_sim/state`)).json()) as { accounts: Record<string, { orders: number }> };
      expect(state.accounts[String(accountId)]).toMatchObject({ orders: 1 });
    } finally {
      child.kill('SIGTERM');
    }
    expect((await child).exitCode).toBe(0);
  });

  it('every Binance command has help with examples', async () => {
    const names = fs.readdirSync(path.join(ROOT, 'src/commands/kraite')).filter((f) => /^(simulate|stream|cron|replay)/.test(f));
    expect(names.length).toBeGreaterThanOrEqual(9);
    for (const f of names) {
      const r = await artisan(['help', `kraite:${f.replace(/\.ts$/, '')}`], env);
      expect(r.exitCode, f).toBe(0);
      expect(r.stdout, f).toContain('EXAMPLES');
    }
  });
});
