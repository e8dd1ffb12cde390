/**
 * The listen-key crons against the simulator: the keepalive resets failure_count on success, alerts once
 * at the third failure in a row, and answers -1125 with a fresh POST; the stale check reports its three
 * cases and nothing else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { checkStaleListenKeys, refreshListenKeys } from '../../src/binance/listen-keys.js';
import { createAccount } from '../../src/db/repositories/accounts.js';
import { getListenKey, upsertListenKey } from '../../src/db/repositories/listen-keys.js';
import { encryptSecret } from '../../src/crypto/secrets.js';
import { demoCredentials } from '../../src/db/seed/demo-data.js';
import { harness, T0, type Harness } from './helpers.js';

let ctx: TestContext;
let h: Harness;

beforeAll(async () => {
  ctx = await createTestContext('binance-listen-keys');
  h = await harness(ctx);
});

afterAll(async () => {
  await h?.close();
  await ctx?.cleanup();
});

async function account(k: number, opts: { register?: boolean; updatedAt?: number } = {}): Promise<number> {
  const c = demoCredentials(300 + k);
  const id = await createAccount(ctx.db, ctx.config.appKey!, { name: `Keys ${k}`, apiKey: c.apiKey, apiSecret: c.apiSecret }, new Date(opts.updatedAt ?? T0 - 3_600_000));
  if (opts.register !== false) h.sim.registerAccount({ ...c, label: id });
  return id;
}

describe('kraite:cron-refresh-binance-listen-keys', () => {
  it('keeps a live key alive and resets failure_count', async () => {
    const id = await account(1);
    const key = h.sim.startListenKey(h.sim.account(id));
    await upsertListenKey(ctx.db, ctx.config.appKey!, id, key, new Date(T0 - 600_000));
    await ctx.db('binance_listen_keys').where({ account_id: id }).update({ failure_count: 2, last_keep_alive_status: 'failure' });
    await h.clock.advance(50 * 60_000);
    const summary = await refreshListenKeys(h.deps);
    expect(summary.results.find((r) => r.account_id === id)).toEqual({ account_id: id, outcome: 'success' });
    const row = await getListenKey(ctx.db, ctx.config.appKey!, id);
    expect(row).toMatchObject({ listenKey: key, failureCount: 0, lastKeepAliveStatus: 'success' });
    expect(row!.lastKeepAliveAt!.getTime()).toBe(h.clock.now());
    expect(h.sim.account(id).listenKey!.expiresAt).toBe(h.clock.now() + 3_600_000);
    expect(h.sim.requestLog.some((r) => r.endpoint === 'PUT /fapi/v1/listenKey' && r.status === 200)).toBe(true);
  });

  it('answers -1125 with a POST and stores the new key (last_created_at moves)', async () => {
    const id = await account(2);
    const old = h.sim.startListenKey(h.sim.account(id));
    await upsertListenKey(ctx.db, ctx.config.appKey!, id, old, new Date(T0));
    h.sim.expireListenKey(h.sim.account(id), false);
    const summary = await refreshListenKeys(h.deps);
    expect(summary.results.find((r) => r.account_id === id)!.outcome).toBe('renewed');
    const row = await getListenKey(ctx.db, ctx.config.appKey!, id);
    expect(row!.listenKey).toBe(h.sim.account(id).listenKey!.key);
    expect(row!.listenKey).not.toBe(old);
    expect(row!.lastCreatedAt!.getTime()).toBe(h.clock.now());
    expect(row!.failureCount).toBe(0);
  });

  it('counts failures and alerts exactly once, at the third in a row; a later success resets the streak', async () => {
    const id = await account(3, { register: false }); // the exchange does not know this API key: -2015
    await ctx.db('binance_listen_keys').insert({ account_id: id, listen_key: encryptSecret('k'.repeat(64), ctx.config.appKey!), failure_count: 0, last_keep_alive_at: new Date(T0), created_at: new Date(T0) });
    const counts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = (await refreshListenKeys(h.deps)).results.find((x) => x.account_id === id)!;
      expect(r.outcome).toBe('failure');
      counts.push(r.failure_count!);
    }
    expect(counts).toEqual([1, 2, 3, 4, 5]);
    const alerts = await ctx.db('notifications').where({ canonical: 'binance_listen_key_keepalive_failed', dedupe_key: String(id) });
    expect(alerts).toHaveLength(1);
    expect(JSON.parse(alerts[0].context)).toMatchObject({ account_id: id, failure_count: 3 });
    expect((await getListenKey(ctx.db, ctx.config.appKey!, id))!.lastKeepAliveStatus).toBe('failure');
    // The exchange learns the key: PUT says -1125 (no key yet), POST creates one, the streak ends.
    h.sim.registerAccount({ ...demoCredentials(303), label: id });
    const ok = (await refreshListenKeys(h.deps)).results.find((x) => x.account_id === id)!;
    expect(ok.outcome).toBe('renewed');
    expect((await getListenKey(ctx.db, ctx.config.appKey!, id))!.failureCount).toBe(0);
  });
});

describe('kraite:cron-check-binance-listen-keys-stale', () => {
  it('reports missing_row, stale_keep_alive and stale_frame_heartbeat, and alerts per account', async () => {
    await ctx.db('binance_listen_keys').delete();
    await ctx.db('accounts').update({ is_active: false });
    const now = h.clock.now();
    const missing = await account(10, { updatedAt: now - 121_000 });
    const grace = await account(11, { updatedAt: now - 60_000 });
    const staleKeep = await account(12);
    const staleFrame = await account(13);
    const fresh = await account(14);
    const quietButPinged = await account(15);
    const row = (id: number, keep: number, frame: number | null) =>
      ctx.db('binance_listen_keys').insert({ account_id: id, listen_key: encryptSecret('k'.repeat(64), ctx.config.appKey!), last_created_at: new Date(now - 7_200_000), last_keep_alive_at: new Date(keep), last_keep_alive_status: 'success', failure_count: 0, last_frame_at: frame === null ? null : new Date(frame) });
    await row(staleKeep, now - 31 * 60_000, now - 60_000);
    await row(staleFrame, now - 60_000, now - 16 * 60_000);
    await row(fresh, now - 60_000, now - 60_000);
    await row(quietButPinged, now - 60_000, now - 14 * 60_000);
    const result = await checkStaleListenKeys(h.deps);
    expect(result.checked).toBe(6);
    expect(result.stale.map((s) => [s.account_id, s.reason])).toEqual([
      [missing, 'missing_row'],
      [staleKeep, 'stale_keep_alive'],
      [staleFrame, 'stale_frame_heartbeat'],
    ]);
    expect(result.stale.map((s) => s.account_id)).not.toContain(grace);
    expect(result.alerted).toBe(3);
    // Deduplicated per account: a second run inside the throttle window stores nothing new.
    expect((await checkStaleListenKeys(h.deps)).alerted).toBe(0);
    expect(await ctx.db('notifications').where({ canonical: 'binance_listen_key_stale' })).toHaveLength(3);
    expect((await checkStaleListenKeys(h.deps, { maxFrameStalenessMinutes: 10, notify: false })).stale.map((s) => s.account_id)).toContain(quietButPinged);
  });
});
