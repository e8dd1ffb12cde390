/**
 * Redis trouble. The daemon's queues live on a Redis this test starts itself on a spare port (never the
 * shared one), which it shuts down and starts again: frames are dead-lettered while it is down, replayed
 * in order when it is back, and none is lost. Then the replay paths for files a dead process left behind:
 * a fresh daemon at start, and `kraite:replay-dead-letters`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { artisan } from '../support/artisan.js';
import { UserDataStreamDaemon } from '../../src/binance/user-data/daemon.js';
import { createAccount } from '../../src/db/repositories/accounts.js';
import { demoCredentials } from '../../src/db/seed/demo-data.js';
import { QueueFactory } from '../../src/queue/queues.js';
import type { UserDataFrameJob } from '../../src/queue/user-data.js';
import { advanceUntil, event, framesSent, harness, T0, userDataJobCount, userDataJobs, waitFor, type Harness } from './helpers.js';

const SHARDS = 2;
let ctx: TestContext;
let port: number;
let dir: string;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(p));
    });
    srv.on('error', reject);
  });
}

function redisUp(): void {
  execFileSync('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'yes', '--dir', dir, '--pidfile', path.join(dir, 'redis.pid'), '--logfile', path.join(dir, 'redis.log')]);
}

function redisDown(): void {
  // SHUTDOWN NOSAVE on our private server; errors mean it is already down.
  spawnSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave']);
}

async function waitRedis(up: boolean): Promise<void> {
  await waitFor(() => spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout?.toString().trim() === (up ? 'PONG' : ''), `private redis ${up ? 'up' : 'down'}`);
}

beforeAll(async () => {
  ctx = await createTestContext('binance-dead-letter');
  port = await freePort();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'athena-redis-'));
  redisUp();
  await waitRedis(true);
});

afterAll(async () => {
  redisDown();
  fs.rmSync(dir, { recursive: true, force: true });
  await ctx?.cleanup();
});

const seqOf = (j: UserDataFrameJob) => (j.payload as { test: { n: number } }).test.n;

describe('Redis restart', () => {
  let h: Harness;
  let daemon: UserDataStreamDaemon;
  let running: Promise<unknown>;
  let ids: number[];

  afterAll(async () => {
    daemon?.requestStop();
    await running;
    await h?.close();
  });

  it('dead-letters frames while Redis is down, replays them in order when it is back, loses none', async () => {
    const url = `redis://127.0.0.1:${port}`;
    h = await harness(ctx, {}, url);
    ids = [];
    for (let k = 1; k <= 3; k++) {
      const c = demoCredentials(200 + k);
      const id = await createAccount(ctx.db, ctx.config.appKey!, { name: `DL ${k}`, apiKey: c.apiKey, apiSecret: c.apiSecret }, new Date(T0 - 3_600_000));
      h.sim.registerAccount({ ...c, label: id });
      ids.push(id);
    }
    // As in production: one fail-fast client (no offline queue) for the queues and the heartbeats.
    daemon = new UserDataStreamDaemon({ deps: h.deps, queues: h.queues, shards: SHARDS, redis: h.producer, prefix: ctx.prefix, hostname: 'test-host', deadLetterDir: path.join(ctx.env.STORAGE_PATH!, 'logs'), random: () => 0.5 });
    running = daemon.run();
    await advanceUntil(h.clock, () => h.sim.openSockets().length === 3, 'sockets open');

    // 1. Healthy: frames go straight to the queues.
    for (const id of ids) for (let n = 0; n < 5; n++) h.sim.push(id, event(id, n));
    await waitFor(async () => (await userDataJobCount(h.queues, SHARDS)) === framesSent(h.sim), 'first frames enqueued');
    const enqueuedBefore = await userDataJobCount(h.queues, SHARDS);
    expect(enqueuedBefore).toBe(15);

    // 2. Redis goes away (its data with it: no persistence). Frames are dead-lettered, in order.
    redisDown();
    await waitRedis(false);
    await waitFor(() => h.producer.status !== 'ready', 'producer notices');
    for (const id of ids) for (let n = 5; n < 10; n++) h.sim.push(id, event(id, n));
    await waitFor(() => daemon.sink.stats.deadLettered === 15, '15 frames dead-lettered');
    expect(daemon.sink.backlog).toBe(true);
    const file = daemon.deadLetters.ownFile()!;
    expect(fs.readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(15);
    await h.clock.advance(5000); // a replay attempt while Redis is still down changes nothing
    await daemon.backlogTick();
    await daemon.healthTick(); // heartbeats and alerts fail fast instead of hanging the daemon
    expect(h.logs.records().some((r) => r.msg === 'could not write the heartbeat')).toBe(true);
    expect(daemon.sink.stats.replayed).toBe(0);
    await waitFor(async () => (await ctx.db('notifications').where({ canonical: 'binance_user_data_dead_letter' })).length === 1, 'dead-letter alert (sent in the background)');

    // 3. Redis is back (empty). The next backlog tick replays the file, then frames flow directly again.
    redisUp();
    await waitRedis(true);
    await waitFor(() => h.producer.status === 'ready', 'producer reconnected');
    await advanceUntil(h.clock, () => !daemon.sink.backlog, 'backlog drained', 1000);
    expect(daemon.sink.stats.replayed).toBe(15);
    expect(fs.existsSync(file)).toBe(false);
    for (const id of ids) for (let n = 10; n < 13; n++) h.sim.push(id, event(id, n));
    await waitFor(async () => (await userDataJobCount(h.queues, SHARDS)) === 15 + 9, 'direct frames after recovery');

    // The invariant: sent = enqueued before the restart + dead-lettered-and-replayed + enqueued after.
    const after = await userDataJobCount(h.queues, SHARDS);
    expect(framesSent(h.sim)).toBe(enqueuedBefore + daemon.sink.stats.replayed + (after - daemon.sink.stats.replayed));
    expect(daemon.sink.stats.deadLettered).toBe(daemon.sink.stats.replayed);
    expect(daemon.sink.stats.lost).toBe(0);
    const jobs = await userDataJobs(h.queues, SHARDS);
    for (const id of ids) expect(jobs.filter((j) => j.accountId === id).map(seqOf)).toEqual([5, 6, 7, 8, 9, 10, 11, 12]);
  });
});

describe('dead letters left by a process that is gone', () => {
  function deadPid(): number {
    const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    return Number(r.stdout.toString());
  }

  function writeOrphan(logs: string, accountId: number, seqs: number[], at: number): string {
    fs.mkdirSync(logs, { recursive: true });
    const file = path.join(logs, `user-data-deadletter-${String(at).padStart(13, '0')}-${deadPid()}.jsonl`);
    const lines = seqs.map((n) => JSON.stringify({ ts: new Date(at).toISOString(), account_id: accountId, error: 'Connection is closed.', job: { accountId, payload: event(accountId, n), receivedAt: at, apiSystem: 'binance' } }));
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
    return file;
  }

  it('kraite:replay-dead-letters replays orphan files in order and removes them', async () => {
    const logs = path.join(ctx.env.STORAGE_PATH!, 'logs');
    const f1 = writeOrphan(logs, 7001, [0, 1, 2], T0);
    const f2 = writeOrphan(logs, 7001, [3, 4], T0 + 1000);
    const r = await artisan(['kraite:replay-dead-letters', '--json'], ctx.env);
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ frames_pending_before: 5, replayed: 5, remaining_frames: 0 });
    expect(fs.existsSync(f1) || fs.existsSync(f2)).toBe(false);
    const queues = new QueueFactory({ prefix: ctx.prefix, connection: ctx.redis });
    try {
      const jobs = (await userDataJobs(queues, Number(ctx.config.userDataShards))).filter((j) => j.accountId === 7001);
      expect(jobs.map(seqOf)).toEqual([0, 1, 2, 3, 4]);
    } finally {
      await queues.close();
    }
    const again = await artisan(['kraite:replay-dead-letters'], ctx.env);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain('No dead-letter files to replay.');
  });

  it('a starting daemon replays what the previous process left, before it streams', async () => {
    const logs = path.join(ctx.env.STORAGE_PATH!, 'logs');
    const file = writeOrphan(logs, 7002, [0, 1, 2, 3], T0);
    const h = await harness(ctx);
    const daemon = new UserDataStreamDaemon({ deps: h.deps, queues: h.queues, shards: SHARDS, redis: ctx.redis, prefix: ctx.prefix, hostname: 'test-host', deadLetterDir: logs });
    try {
      await daemon.start();
      expect(daemon.sink.stats.replayed).toBe(4);
      expect(daemon.sink.backlog).toBe(false);
      expect(fs.existsSync(file)).toBe(false);
      const jobs = (await userDataJobs(h.queues, SHARDS)).filter((j) => j.accountId === 7002);
      expect(jobs.map(seqOf)).toEqual([0, 1, 2, 3]);
    } finally {
      await daemon.close();
      await h.close();
    }
  });
});
