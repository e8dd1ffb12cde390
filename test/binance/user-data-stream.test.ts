/**
 * The user-data daemon against the simulator, on real Redis and the test database: 50 accounts connect,
 * frames land on the sharded queue in order per account, and the discovery sweep tears down a deactivated
 * account and starts a new one. Time is a FakeClock shared by the daemon and the simulator.
 */
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { UserDataStreamDaemon } from '../../src/binance/user-data/daemon.js';
import { RECONCILE_QUEUE } from '../../src/binance/reconcile.js';
import { updateAccount } from '../../src/db/repositories/accounts.js';
import { getListenKey } from '../../src/db/repositories/listen-keys.js';
import { readHeartbeats } from '../../src/support/heartbeat.js';
import { addAccounts, advanceUntil, event, framesSent, harness, userDataJobCount, userDataJobs, waitFor, type Harness } from './helpers.js';

const SHARDS = 5;
let ctx: TestContext;
let h: Harness;
let daemon: UserDataStreamDaemon;
let running: Promise<unknown>;
let ids: number[];

beforeAll(async () => {
  ctx = await createTestContext('binance-user-data');
  h = await harness(ctx);
  ids = await addAccounts(ctx, h.sim, 50);
  daemon = new UserDataStreamDaemon({
    deps: h.deps,
    queues: h.queues,
    shards: SHARDS,
    redis: ctx.redis,
    prefix: ctx.prefix,
    hostname: 'test-host',
    deadLetterDir: path.join(ctx.env.STORAGE_PATH!, 'logs'),
    random: () => 0.5,
  });
  running = daemon.run();
});

afterAll(async () => {
  daemon?.requestStop();
  await running;
  await h?.close();
  await ctx?.cleanup();
});

describe('kraite:stream-binance-user-data with 50 accounts', () => {
  it('connects every eligible account, staggered, and stores each listen key', async () => {
    // The first account connects at once; each next one 250 ms (of fake time) later.
    for (let k = 1; k <= 4; k++) {
      await waitFor(() => h.sim.openSockets().length === k, `${k} sockets open`);
      await h.clock.advance(250);
    }
    const attempts = h.sim.connectionLog.filter((c) => c.path === '/private/ws').map((c) => c.at - h.sim.connectionLog[0]!.at);
    expect(attempts.slice(0, 4)).toEqual([0, 250, 500, 750]);
    await advanceUntil(h.clock, () => h.sim.openSockets().length === 50, '50 user sockets open');
    for (const id of [ids[0]!, ids[49]!]) {
      const row = await getListenKey(ctx.db, ctx.config.appKey!, id);
      expect(row?.listenKey).toBe(h.sim.account(id).listenKey?.key);
      expect(row?.failureCount).toBe(0);
    }
    // Every start enqueues a reconciliation of the account (deduplicated per account).
    const reconcile = await h.queues.queue(RECONCILE_QUEUE);
    await waitFor(async () => (await reconcile.getJobCountByTypes('waiting')) === 50, '50 reconcile jobs');
  });

  it('puts every frame on user-data-stream-<id mod shards>, in order per account', async () => {
    const before = await userDataJobCount(h.queues, SHARDS);
    const sentBefore = framesSent(h.sim);
    for (let n = 0; n < 8; n++) for (const id of ids) expect(h.sim.push(id, event(id, n))).toBe(1);
    const expected = before + 8 * ids.length;
    await waitFor(async () => (await userDataJobCount(h.queues, SHARDS)) === expected, 'all frames enqueued');
    expect(framesSent(h.sim) - sentBefore).toBe(8 * ids.length);
    const jobs = (await userDataJobs(h.queues, SHARDS)).filter((j) => (j.payload as { test?: unknown }).test);
    for (const id of ids) {
      const mine = jobs.filter((j) => j.accountId === id);
      expect(mine.map((j) => (j.payload as { test: { n: number } }).test.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      expect(mine[0]).toMatchObject({ accountId: id, apiSystem: 'binance' });
      expect(typeof mine[0]!.receivedAt).toBe('number');
    }
    // Shard placement: account id mod 5.
    const q3 = await (await h.queues.queue('user-data-stream-3')).getJobs(['waiting'], 0, -1);
    expect(q3.every((j) => (j.data as { accountId: number }).accountId % SHARDS === 3)).toBe(true);
    // last_frame_at: written for every account with traffic, in one statement per 30 s window.
    const pushedAt = h.clock.now();
    await h.clock.advance(30_000);
    await waitFor(async () => ((await getListenKey(ctx.db, ctx.config.appKey!, ids[49]!))?.lastFrameAt?.getTime() ?? 0) > pushedAt, 'frame heartbeat persisted');
    // Invariant: every frame the simulator sent is on a queue (nothing dead-lettered here).
    expect(await userDataJobCount(h.queues, SHARDS)).toBe(framesSent(h.sim));
    expect(daemon.sink.stats.deadLettered).toBe(0);
  });

  it('absorbs a burst to one account in a few ordered round trips (one MULTI per batch)', async () => {
    const a = ids[3]!;
    const before = await userDataJobCount(h.queues, SHARDS);
    const batches = daemon.sink.stats.batches;
    for (let n = 0; n < 300; n++) h.sim.push(a, event(a, 100 + n));
    await waitFor(async () => (await userDataJobCount(h.queues, SHARDS)) === before + 300, 'burst enqueued');
    const mine = (await userDataJobs(h.queues, SHARDS)).filter((j) => j.accountId === a).map((j) => (j.payload as { test: { n: number } }).test.n);
    expect(mine.slice(-300)).toEqual(Array.from({ length: 300 }, (_, i) => 100 + i));
    expect(daemon.sink.stats.batches - batches).toBeLessThan(300);
    expect(await userDataJobCount(h.queues, SHARDS)).toBe(framesSent(h.sim));
  });

  it('tears down a deactivated account at the next sweep and starts one added mid-run', async () => {
    const gone = ids[6]!;
    await updateAccount(ctx.db, ctx.config.appKey!, gone, { isActive: false }, new Date(h.clock.now()));
    const [added] = await addAccounts(ctx, h.sim, 1, 51);
    await advanceUntil(h.clock, () => h.sim.openSockets(gone).length === 0 && h.sim.openSockets(added!).length === 1, 'sweep reaped and spawned', 1000);
    expect(await getListenKey(ctx.db, ctx.config.appKey!, gone)).toBeNull();
    expect(await getListenKey(ctx.db, ctx.config.appKey!, added!)).not.toBeNull();
    const reaped = await ctx.db('notifications').where({ canonical: 'binance_user_data_account_reaped', dedupe_key: String(gone) });
    expect(reaped).toHaveLength(1);
    // The new account streams like the others.
    const before = await userDataJobCount(h.queues, SHARDS);
    h.sim.push(added!, event(added!, 0));
    await waitFor(async () => (await userDataJobCount(h.queues, SHARDS)) === before + 1, 'frame of the new account');
    expect(await userDataJobCount(h.queues, SHARDS)).toBe(framesSent(h.sim));
  });

  it('writes the stream-user-data heartbeat of docs/contracts.md', async () => {
    await daemon.healthTick();
    const [beat] = await readHeartbeats(ctx.redis, ctx.prefix, 'stream-user-data');
    expect(beat).toMatchObject({ daemon: 'stream-user-data', host: 'test-host', accounts_total: 50, accounts_connected: 50, dead_letters_pending: 0 });
    const acc = (beat!.accounts as Record<string, { connected: boolean; listen_key_status: string }>)[String(ids[0])];
    expect(acc).toMatchObject({ connected: true, listen_key_status: 'active' });
    expect(os.hostname()).toBeTruthy();
  });
});
