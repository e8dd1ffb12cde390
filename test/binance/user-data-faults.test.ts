/**
 * Fault cases of the user-data daemon, one per test, each against a fresh simulator and daemon on a
 * FakeClock. In every one, the frames the simulator sent equal the frames on the queues (nothing is
 * dead-lettered here; the Redis restart has its own file), and no frame pushed while a socket was
 * healthy is missing.
 */
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { UserDataStreamDaemon, type UserDataTimings } from '../../src/binance/user-data/daemon.js';
import { refreshListenKeys } from '../../src/binance/listen-keys.js';
import { createAccount } from '../../src/db/repositories/accounts.js';
import { getListenKey } from '../../src/db/repositories/listen-keys.js';
import { demoCredentials } from '../../src/db/seed/demo-data.js';
import { allUserDataQueues, type UserDataFrameJob } from '../../src/queue/user-data.js';
import { advanceUntil, event, framesSent, harness, T0, userDataJobCount, userDataJobs, waitFor, type Harness } from './helpers.js';

const SHARDS = 3;
let ctx: TestContext;
const ids: number[] = [];
let h: Harness | null = null;
let daemon: UserDataStreamDaemon | null = null;
let running: Promise<unknown> | null = null;

beforeAll(async () => {
  ctx = await createTestContext('binance-faults');
  for (let k = 1; k <= 3; k++) {
    const c = demoCredentials(100 + k);
    ids.push(await createAccount(ctx.db, ctx.config.appKey!, { name: `Fault ${k}`, apiKey: c.apiKey, apiSecret: c.apiSecret }, new Date(T0 - 3_600_000)));
  }
});

afterEach(async () => {
  daemon?.requestStop();
  await running;
  await h?.close();
  daemon = null;
  running = null;
  h = null;
});

afterAll(async () => {
  await ctx?.cleanup();
});

/** A fresh simulator with the three accounts, empty queues, and a running daemon with all sockets open. */
async function start(timings: Partial<UserDataTimings> = {}, simOpts: Parameters<typeof harness>[1] = {}): Promise<{ h: Harness; d: UserDataStreamDaemon }> {
  h = await harness(ctx, simOpts);
  ids.forEach((id, i) => h!.sim.registerAccount({ ...demoCredentials(101 + i), label: id }));
  for (const name of [...allUserDataQueues(SHARDS), 'reconcile']) await (await h.queues.queue(name)).obliterate({ force: true });
  await ctx.db('binance_listen_keys').delete();
  await ctx.db('notifications').delete();
  daemon = new UserDataStreamDaemon({ deps: h.deps, queues: h.queues, shards: SHARDS, redis: ctx.redis, prefix: ctx.prefix, hostname: 'test-host', deadLetterDir: path.join(ctx.env.STORAGE_PATH!, 'logs'), random: () => 0.5, timings });
  running = daemon.run();
  const d = daemon;
  await advanceUntil(h.clock, () => h!.sim.openSockets().length === ids.length && d.slotInfo().filter((s) => s.connected).length === ids.length, 'all sockets open on both sides');
  return { h, d };
}

const seqOf = (j: UserDataFrameJob) => (j.payload as { test?: { n: number }; e?: string }).test?.n ?? (j.payload as { e?: string }).e;

async function jobsOf(accountId: number): Promise<Array<number | string | undefined>> {
  return (await userDataJobs(h!.queues, SHARDS)).filter((j) => j.accountId === accountId).map(seqOf);
}

async function settleQueues(): Promise<void> {
  await waitFor(async () => (await userDataJobCount(h!.queues, SHARDS)) === framesSent(h!.sim), 'queues match the frames sent');
  await daemon!.sink.flush();
  expect(daemon!.sink.stats.deadLettered).toBe(0);
  expect(await userDataJobCount(h!.queues, SHARDS)).toBe(framesSent(h!.sim));
}

function push(id: number, from: number, to: number): void {
  for (let n = from; n < to; n++) h!.sim.push(id, event(id, n));
}

describe('user-data daemon fault cases', () => {
  it('key expiry: listenKeyExpired is enqueued, the account gets a new key and socket, nothing is lost', async () => {
    const { h, d } = await start();
    const a = ids[0]!;
    const oldKey = h.sim.account(a).listenKey!.key;
    push(a, 0, 5);
    await waitFor(async () => (await jobsOf(a)).length === 5, 'first frames');
    const reconcilesBefore = d.stats.reconcilesRequested;
    expect(h.sim.expireListenKey(h.sim.account(a), true)).toBe(oldKey);
    await waitFor(() => h.sim.account(a).listenKey !== null && h.sim.openSockets(a).some((s) => s.listenKey === h.sim.account(a).listenKey!.key), 'a socket on the new key');
    push(a, 5, 10);
    await settleQueues();
    expect(await jobsOf(a)).toEqual([0, 1, 2, 3, 4, 'listenKeyExpired', 5, 6, 7, 8, 9]);
    const row = await getListenKey(ctx.db, ctx.config.appKey!, a);
    expect(row?.listenKey).toBe(h.sim.account(a).listenKey!.key);
    expect(row?.listenKey).not.toBe(oldKey);
    expect(await ctx.db('notifications').where({ canonical: 'binance_user_data_listen_key_expired' })).toHaveLength(1);
    expect(d.stats.keyExpiries).toBe(1);
    await waitFor(() => d.stats.reconcilesRequested > reconcilesBefore, 'reconcile after the key change');
  });

  it('key change: after -1125 the keepalive cron stores a new key and the daemon follows it within 30 s', async () => {
    const { h, d } = await start();
    const a = ids[1]!;
    push(a, 0, 3);
    const oldKey = h.sim.expireListenKey(h.sim.account(a), false)!; // gone silently: sockets stay open, say nothing
    push(a, 3, 5); // not delivered by the exchange: not "sent"
    const summary = await refreshListenKeys(h.deps);
    expect(summary.renewed).toBe(1);
    const stored = await getListenKey(ctx.db, ctx.config.appKey!, a);
    expect(stored?.listenKey).not.toBe(oldKey);
    await advanceUntil(h.clock, () => h.sim.openSockets(a).some((s) => s.listenKey === stored!.listenKey), 'socket on the stored key', 1000);
    expect(d.stats.reinits).toBe(1);
    push(a, 5, 8);
    await settleQueues();
    expect(await jobsOf(a)).toEqual([0, 1, 2, 5, 6, 7]);
    expect(h.sim.account(a).counters.framesDropped).toBe(2);
  });

  it('dropped socket: reconnects after back-off on the same key, reconciles, and loses nothing sent', async () => {
    const { h, d } = await start();
    const a = ids[2]!;
    push(a, 0, 4);
    await waitFor(async () => (await jobsOf(a)).length === 4, 'first frames');
    const before = d.stats.reconcilesRequested;
    expect(h.sim.dropSockets(a)).toBe(1);
    const reconnects = () => d.slotInfo().find((s) => s.accountId === a)!.reconnects;
    await advanceUntil(h.clock, () => h.sim.openSockets(a).length === 1 && reconnects() === 1, 'reconnected', 250);
    expect(h.sim.account(a).counters.connectionsOpened).toBe(2);
    await waitFor(() => d.stats.reconcilesRequested === before + 1, 'reconcile after reconnect');
    push(a, 4, 8);
    await settleQueues();
    expect(await jobsOf(a)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('half-open socket: our ping gets no pong, the socket is cut and re-opened', async () => {
    const { h, d } = await start({ clientPingIntervalMs: 30_000, pongTimeoutMs: 10_000 });
    const a = ids[0]!;
    push(a, 0, 2);
    await waitFor(async () => (await jobsOf(a)).length === 2, 'first frames');
    h.sim.setHalfOpen(a, true);
    push(a, 2, 4); // swallowed by the half-open socket: not sent
    const reconnects = () => d.slotInfo().find((s) => s.accountId === a)!.reconnects;
    await advanceUntil(h.clock, () => h.sim.account(a).counters.connectionsOpened === 2 && h.sim.openSockets(a).length === 1 && reconnects() === 1, 'half-open socket replaced', 1000);
    expect(h.logs.records().some((r) => r.msg === 'no pong before the deadline; the socket is half-open')).toBe(true);
    await waitFor(async () => (await ctx.db('notifications').where({ canonical: 'websocket_reconnect_triggered' })).length === 1, 'half-open alert');
    expect(JSON.parse((await ctx.db('notifications').where({ canonical: 'websocket_reconnect_triggered' }).first()).context)).toMatchObject({ account_id: a, reason: 'half-open' });
    push(a, 4, 6);
    await settleQueues();
    expect(await jobsOf(a)).toEqual([0, 1, 4, 5]);
  });

  it('24 h rotation (compressed): make-before-break before the server cut, no frame lost', async () => {
    const { h, d } = await start({ rotateAfterMs: 50_000 }, { connectionLimitMs: 60_000 });
    const a = ids[1]!;
    let n = 0;
    const newestOpen = () => Math.max(...h.sim.openSockets(a).map((s) => s.openedAt));
    const end = h.clock.now() + 130_000;
    while (h.clock.now() < end) {
      push(a, n, n + 2);
      n += 2;
      await h.clock.advance(1000);
      // Once a rotation is due, let the new socket open (real I/O) before fake time runs on to the server's cut.
      if (h.clock.now() >= newestOpen() + 50_000) await waitFor(() => h.clock.now() < newestOpen() + 50_000, 'the rotated socket is open');
    }
    await settleQueues();
    const slot = d.slotInfo().find((s) => s.accountId === a)!;
    expect(slot.rotations).toBeGreaterThanOrEqual(2);
    expect(slot.reconnects).toBe(0);
    expect(h.sim.counters.lifetimeCuts).toBe(0);
    const seen = new Set((await jobsOf(a)) as number[]);
    for (let k = 0; k < n; k++) expect(seen.has(k), `frame ${k}`).toBe(true);
  });

  it('malformed frames are logged and dropped; bursts and duplicates are forwarded unfiltered; the daemon stays up', async () => {
    const { h, d } = await start();
    const a = ids[2]!;
    push(a, 0, 2);
    for (const kind of ['garbage', 'truncated', 'scalar', 'string', 'null', 'empty', 'binary'] as const) expect(h.sim.scenarios.malformed(a, kind)).toBe(1);
    const burst = h.sim.scenarios.burst(a, 'out-of-order');
    const dup = h.sim.scenarios.burst(a, 'duplicate');
    push(a, 2, 4);
    await settleQueues();
    expect(d.stats.malformed).toBe(7);
    expect(h.sim.account(a).counters.malformedSent).toBe(7);
    expect(h.logs.records().filter((r) => r.msg === 'malformed JSON frame dropped')).toHaveLength(7);
    const statuses = (await userDataJobs(h.queues, SHARDS)).filter((j) => (j.payload as { o?: { i?: number } }).o?.i === burst.orderId).map((j) => (j.payload as { o: { X: string } }).o.X);
    expect(statuses).toEqual(['NEW', 'FILLED', 'PARTIALLY_FILLED']);
    expect((await userDataJobs(h.queues, SHARDS)).filter((j) => (j.payload as { o?: { i?: number } }).o?.i === dup.orderId)).toHaveLength(2);
    expect(h.sim.openSockets(a)).toHaveLength(1);
    expect(d.slotInfo().find((s) => s.accountId === a)!.reconnects).toBe(0);
  });

  it('a reconnect storm alerts once after 10 straight failures, and the streak ends on recovery', async () => {
    const { h } = await start();
    const a = ids[0]!;
    h.sim.refuseUpgrades = true;
    h.sim.dropSockets(a);
    await advanceUntil(h.clock, () => h.sim.counters.rejectedConnections >= 14, '14 refused connects', 5000);
    await waitFor(async () => (await ctx.db('notifications').where({ canonical: 'websocket_reconnect_storm' })).length === 1, 'storm alert');
    h.sim.refuseUpgrades = false;
    await advanceUntil(h.clock, () => h.sim.openSockets(a).length === 1, 'recovered', 5000);
    push(a, 0, 2);
    await settleQueues();
    expect(await ctx.db('notifications').where({ canonical: 'websocket_reconnect_storm' })).toHaveLength(1);
  });

  it('SIGTERM: every socket closes with 1000, in-flight frames are flushed, listen keys are kept', async () => {
    const { h, d } = await start();
    const codes: number[] = [];
    for (const s of h.sim.openSockets()) s.ws.on('close', (code) => codes.push(code));
    push(ids[0]!, 0, 3);
    d.requestStop('signal');
    await running;
    await settleQueues();
    expect(codes).toEqual([1000, 1000, 1000]);
    expect(await ctx.db('binance_listen_keys').count({ n: '*' })).toEqual([{ n: 3 }]);
  });
});
