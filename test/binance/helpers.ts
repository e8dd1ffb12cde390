/**
 * Shared set-up for the Binance tests: an in-process simulator and the services wired to it on one
 * FakeClock, accounts created in the test database and registered on the simulator, and readers for the
 * BullMQ queues the daemon writes (the consumer arrives in the horizon issue, so tests read Redis).
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { BinanceSimulator, type SimulatorOptions } from '../../src/binance/simulator/index.js';
import { BinanceRestClient } from '../../src/binance/rest-client.js';
import { WeightBudget } from '../../src/binance/weight-budget.js';
import type { BinanceDeps } from '../../src/binance/context.js';
import { Notifier } from '../../src/notify/notifier.js';
import { FakeClock } from '../../src/support/clock.js';
import { createLogger, MemorySink } from '../../src/support/log.js';
import { createAccount } from '../../src/db/repositories/accounts.js';
import { demoCredentials } from '../../src/db/seed/demo-data.js';
import { QueueFactory } from '../../src/queue/queues.js';
import { allUserDataQueues, type UserDataFrameJob } from '../../src/queue/user-data.js';
import { connectRedis, closeRedis } from '../../src/redis/connection.js';
import type { TestContext } from '../support/context.js';

export const T0 = Date.UTC(2026, 5, 1, 12, 0, 0);

/** Poll `cond` in real time until it holds (a generous timeout, not a timing assertion). */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Move fake time in steps, letting real I/O land between steps, until `cond` holds. */
export async function advanceUntil(clock: FakeClock, cond: () => boolean | Promise<boolean>, what: string, stepMs = 250, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out advancing the clock until: ${what}`);
    await clock.advance(stepMs);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface Harness {
  clock: FakeClock;
  sim: BinanceSimulator;
  deps: BinanceDeps;
  logs: MemorySink;
  producer: Redis;
  queues: QueueFactory;
  close(): Promise<void>;
}

/** Simulator + BinanceDeps + a fail-fast producer connection, all on one FakeClock. */
export async function harness(ctx: TestContext, simOpts: SimulatorOptions = {}, redisUrl = ctx.config.redis.url): Promise<Harness> {
  const clock = new FakeClock(T0);
  const sim = await BinanceSimulator.start({ port: 0, clock, demoAccounts: 0, symbols: 20, ...simOpts });
  const logs = new MemorySink();
  const log = createLogger('test', {}, logs);
  const notifier = new Notifier({ db: ctx.db, redis: ctx.redis, prefix: ctx.prefix, log, clock, hostname: 'test-host' });
  const rest = new BinanceRestClient({ baseUrl: sim.restUrl, clock, budget: new WeightBudget({ clock }), log });
  const deps: BinanceDeps = { db: ctx.db, appKey: ctx.config.appKey!, clock, log, notifier, rest, restUrl: sim.restUrl, wsUrl: sim.wsUrl };
  const producer = await connectRedis({ url: redisUrl, prefix: ctx.prefix }, 'daemon', { enableOfflineQueue: false });
  producer.on('error', () => undefined); // connection errors surface as failed adds in the tests that cause them
  const queues = new QueueFactory({ prefix: ctx.prefix, connection: producer });
  return {
    clock,
    sim,
    deps,
    logs,
    producer,
    queues,
    async close() {
      await queues.close();
      await closeRedis(producer);
      await sim.close();
    },
  };
}

/** Create `n` accounts with demo credentials (from `start`), registered on the simulator under their DB id. */
export async function addAccounts(ctx: TestContext, sim: BinanceSimulator, n: number, start = 1): Promise<number[]> {
  const ids: number[] = [];
  for (let k = start; k < start + n; k++) {
    const creds = demoCredentials(k);
    const id = await createAccount(ctx.db, ctx.config.appKey!, { name: `Account ${k}`, apiKey: creds.apiKey, apiSecret: creds.apiSecret }, new Date(T0 - 3_600_000));
    sim.registerAccount({ ...creds, label: id });
    ids.push(id);
  }
  return ids;
}

/** Every job on the user-data shard queues, in enqueue order per queue. */
export async function userDataJobs(queues: QueueFactory, shards: number): Promise<UserDataFrameJob[]> {
  const out: Array<{ id: number; queue: string; data: UserDataFrameJob }> = [];
  for (const name of allUserDataQueues(shards)) {
    const q: Queue = await queues.queue(name);
    const jobs = await q.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized'], 0, -1, true);
    for (const j of jobs) out.push({ id: Number(j.id), queue: name, data: j.data as UserDataFrameJob });
  }
  out.sort((a, b) => (a.queue === b.queue ? a.id - b.id : a.queue.localeCompare(b.queue)));
  return out.map((o) => o.data);
}

export async function userDataJobCount(queues: QueueFactory, shards: number): Promise<number> {
  let n = 0;
  for (const name of allUserDataQueues(shards)) n += await (await queues.queue(name)).getJobCountByTypes('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized');
  return n;
}

/** Frames the simulator wrote to user sockets, in total. */
export function framesSent(sim: BinanceSimulator): number {
  return sim.accounts().reduce((n, a) => n + a.counters.framesSent, 0);
}

let seq = 0;
/** A user-data event with a sequence number the tests check order with. */
export function event(accountId: number, n: number): Record<string, unknown> {
  seq++;
  return { e: 'ORDER_TRADE_UPDATE', E: T0 + seq, T: T0 + seq, test: { account: accountId, n }, o: { s: 'BTCUSDT', i: 1000 + n, X: 'NEW', x: 'NEW', p: '96000.00', q: '0.010' } };
}
