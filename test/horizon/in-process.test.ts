/**
 * Horizon parts in process, on the real Redis and database, time from a FakeClock: auto balancing, the
 * liveness check that recreates a worker which stopped fetching, metrics snapshots and the long-wait alert.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createTestContext, type TestContext } from '../support/context.js';
import { FakeClock } from '../../src/support/clock.js';
import { createLogger } from '../../src/support/log.js';
import { AutoBalancer, desiredProcesses, nextProcessCount } from '../../src/horizon/balance.js';
import { Supervisor } from '../../src/horizon/supervisor.js';
import { ShardLeases } from '../../src/horizon/leases.js';
import { HorizonChild, type ChildSpec } from '../../src/horizon/child.js';
import { HorizonMaster } from '../../src/horizon/master.js';
import { loadHorizonConfig, roleSupervisors, validateSupervisor, type SupervisorConfig } from '../../src/horizon/config.js';
import { horizonKeys } from '../../src/horizon/keys.js';
import { summarize, takeSnapshot, readSnapshots, percentile } from '../../src/horizon/metrics.js';
import { registerProcessor } from '../../src/queue/processors.js';
import { queuePrefix } from '../../src/redis/keys.js';
import { loadConfig } from '../../src/config/index.js';
import type { QueueFactory } from '../../src/queue/queues.js';
import { queueFactory, until } from './helpers.js';

let ctx: TestContext;
let queues: QueueFactory;
let daemonRedis: Redis;
const log = createLogger('test', {}, { write: () => undefined });

beforeAll(async () => {
  ctx = await createTestContext('horizon-inproc');
  queues = queueFactory(ctx);
  daemonRedis = ctx.redis.duplicate({ maxRetriesPerRequest: null });
});
afterAll(async () => {
  await queues?.close();
  daemonRedis?.disconnect();
  await ctx?.cleanup();
});

function supCfg(p: Partial<SupervisorConfig>): SupervisorConfig {
  const base = roleSupervisors(loadConfig({ ...ctx.env, SERVER_ROLE: 'worker' }))[0]!;
  return validateSupervisor({ ...base, ...p });
}

describe('balancing', () => {
  it('computes the desired count from backlog × runtime and moves by at most maxShift per cooldown', () => {
    const i = { current: 1, min: 1, max: 6, maxShift: 2, backlog: 100, avgRuntimeMs: 200, targetMs: 5000 };
    expect(desiredProcesses(i)).toBe(4);
    expect(nextProcessCount(i)).toBe(3);
    expect(desiredProcesses({ ...i, backlog: 1000 })).toBe(6);
    expect(desiredProcesses({ ...i, backlog: 0 })).toBe(1);
    expect(nextProcessCount({ ...i, current: 6, backlog: 0 })).toBe(4);
    const clock = new FakeClock(0);
    const b = new AutoBalancer(3000);
    expect(b.decide(clock.now(), i)).toBe(3);
    expect(b.decide(clock.now() + 2999, { ...i, current: 3 })).toBe(3); // cooling down
    expect(b.decide(clock.now() + 3000, { ...i, current: 3 })).toBe(4);
  });

  it('a supervisor with auto balance scales real processes up with the backlog and back down to min', async () => {
    const clock = new FakeClock(Date.now());
    const procs: ChildProcess[] = [];
    // Real processes that heartbeat like a worker and exit when told to stop.
    const idle = `process.on('message', (m) => { if (m.t === 'stop') process.exit(0); }); setInterval(() => process.send({ t: 'hb', pid: process.pid, status: 'idle', jobs: 0, failed: 0, runtimeMs: 0, rss_mb: 1, queues: [], busy: 0 }), 200);`;
    const q = await queues.queue('hz-auto');
    const s = new Supervisor(
      {
        clock,
        log,
        hostname: 'test-host',
        leases: new ShardLeases(ctx.redis, (x) => `${ctx.prefix}:lease:${x}`, queuePrefix(ctx.prefix)),
        fork: () => {
          const p = fork('-e', [idle], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: [] });
          p.kill = p.kill.bind(p);
          procs.push(p);
          return p;
        },
        backlog: async () => {
          const c = await q.getJobCounts('wait');
          return c.wait ?? 0;
        },
        terminateWaitMs: 5000,
      },
      supCfg({ name: 'auto', queues: ['hz-auto'], balance: 'auto', processes: 1, minProcesses: 1, maxProcesses: 4, balanceMaxShift: 1, balanceCooldownMs: 3000, balanceTargetMs: 1000 }),
    );
    try {
      s.maintain();
      expect(s.processCount).toBe(1);
      await q.addBulk(Array.from({ length: 40 }, (_, i) => ({ name: 'X', data: { i } })));
      await s.balance(clock.now());
      expect(s.targetCount).toBe(2);
      await s.balance(clock.now() + 1000); // within the cooldown: unchanged
      expect(s.targetCount).toBe(2);
      await clock.advance(3000);
      await s.balance(clock.now());
      expect(s.targetCount).toBe(3);
      await clock.advance(3000);
      await s.balance(clock.now());
      await clock.advance(3000);
      await s.balance(clock.now());
      expect(s.targetCount).toBe(4); // max
      s.maintain();
      expect(s.processCount).toBe(4);
      await q.drain(true);
      for (let k = 0; k < 3; k++) {
        await clock.advance(3000);
        await s.balance(clock.now());
      }
      expect(s.targetCount).toBe(1);
      s.maintain();
      expect(s.processCount).toBe(1);
      await until('retired processes exited', () => s.pids().length === 1, 10_000);
    } finally {
      await s.terminate();
      for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    }
  }, 30_000);
});

describe('silent workers', () => {
  it('kills a worker whose heartbeats stop, but judges nobody right after the supervisor itself stalled', async () => {
    const clock = new FakeClock(Date.now());
    const procs: ChildProcess[] = [];
    // One heartbeat, then silence (the process stays alive, as a wedged worker would).
    const mute = `process.on('message', (m) => { if (m.t === 'stop') process.exit(0); }); process.send({ t: 'hb', pid: process.pid, status: 'idle', jobs: 0, failed: 0, runtimeMs: 0, rss_mb: 1, queues: [], busy: 0 }); setInterval(() => undefined, 1000);`;
    const s = new Supervisor(
      {
        clock,
        log,
        hostname: 'test-host',
        leases: new ShardLeases(ctx.redis, (x) => `${ctx.prefix}:lease:${x}`, queuePrefix(ctx.prefix)),
        fork: () => {
          const p = fork('-e', [mute], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: [] });
          procs.push(p);
          return p;
        },
        backlog: async () => 0,
        terminateWaitMs: 2000,
      },
      supCfg({ name: 'mute', queues: ['hz-mute'], balance: 'simple', processes: 1, heartbeatTimeoutMs: 10_000 }),
    );
    try {
      s.maintain();
      const first = procs[0]!;
      await until('the first heartbeat arrived', () => s.state().processes.some((x) => x.status === 'idle'), 10_000);
      // The supervisor was starved for 20 s: the heartbeat is 20 s old, but nobody is judged on this round.
      await clock.advance(20_000);
      s.maintain();
      expect(first.exitCode === null && first.signalCode === null).toBe(true);
      // A regular round later the worker is still silent: killed.
      await clock.advance(1000);
      s.maintain();
      await until('the silent worker was killed', () => first.signalCode === 'SIGKILL', 10_000);
    } finally {
      await s.terminate();
      for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
  }, 30_000);
});

describe('liveness', () => {
  it('recreates a worker that stopped fetching while its queue has an old waiting job', async () => {
    const seen: number[] = [];
    registerProcessor('hz-live', async (job) => {
      seen.push(job.data.i as number);
      return null;
    });
    const clock = new FakeClock(Date.now());
    const spec: ChildSpec = { ...supCfg({ name: 'live', queues: ['hz-live'], livenessMs: 15_000 }), shardsPerProcess: 0, paused: false, terminateWaitMs: 5000 };
    const child = new HorizonChild({ config: ctx.config, db: ctx.db, redis: daemonRedis, clock, log, rssMb: () => 10 }, spec);
    await child.start();
    try {
      const q = await queues.queue('hz-live');
      await q.add('J', { i: 1 });
      await until('the first job', () => seen.length === 1);
      const first = child.consumer('hz-live')!;
      // Simulate BullMQ's silent stop: the worker no longer fetches, nothing tells us.
      await first.bullWorker!.pause(true);
      await q.add('J', { i: 2 });
      await q.add('J', { i: 3 });
      await new Promise((r) => setTimeout(r, 500));
      const before = seen.length;
      expect(before).toBeLessThan(3);
      await child.tick(); // not yet: the wait is younger than livenessMs
      expect(child.consumer('hz-live')).toBe(first);
      // Job timestamps are BullMQ's (real time): line the fake clock up with them first (the box is loaded,
      // real seconds may have passed since the clock was made), then move it past livenessMs.
      clock.set(Math.max(clock.now(), Date.now()));
      await clock.advance(16_000);
      await child.tick();
      expect(child.consumer('hz-live')).not.toBe(first);
      await until('the waiting jobs processed by the new worker', () => seen.length === 3);
      expect(seen.sort()).toEqual([1, 2, 3]);
    } finally {
      child.stop('test');
      await child.close();
    }
  }, 30_000);
});

describe('memory limit', () => {
  it('recycles after a job past the limit, but never a fresh worker that has done nothing (that would loop)', async () => {
    registerProcessor('hz-mem-unit', async () => null);
    const clock = new FakeClock(Date.now());
    const lines: string[] = [];
    const memLog = createLogger('test', {}, { write: (l: string) => void lines.push(l) });
    const spec: ChildSpec = { ...supCfg({ name: 'mem', queues: ['hz-mem-unit'], memoryMb: 5 }), shardsPerProcess: 0, paused: false, terminateWaitMs: 5000 };
    const child = new HorizonChild({ config: ctx.config, db: ctx.db, redis: daemonRedis, clock, log: memLog, rssMb: () => 10 }, spec);
    await child.start();
    try {
      await child.tick();
      await child.tick();
      expect(child.stopReason).toBeNull();
      expect(lines.filter((l) => l.includes('memory limit is below')).length).toBe(1);
      await (await queues.queue('hz-mem-unit')).add('J', { i: 1 });
      await until('recycled after its first job', () => child.stopReason === 'memory', 10_000);
      expect(child.stats.jobs).toBe(1);
    } finally {
      child.stop('test');
      await child.close();
    }
  }, 30_000);
});

describe('metrics', () => {
  it('summarises samples per queue and job name and keeps 24 h of snapshots', async () => {
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50)).toBe(5);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95)).toBe(10);
    const s = summarize(['q1|A|10|5|1', 'q1|A|30|15|1', 'q1|B|100|0|0', 'q1|B|50|0|2', 'user-data-stream-0|P|4|1|1'], 0, 120_000);
    expect(s.queues.q1).toMatchObject({ jobs: 3, failed: 1, throughput_per_min: 1.5, runtime_p50_ms: 30, runtime_p95_ms: 100, wait_max_ms: 15 });
    expect(s.queues.q1!.job_names.A).toMatchObject({ jobs: 2, failed: 0, runtime_p50_ms: 10 });
    expect(s.queues['user-data-stream-0']!.jobs).toBe(1);

    const k = horizonKeys(ctx.prefix);
    const now = Date.now();
    await ctx.redis.zadd(k.snapshots(), now - 25 * 3600_000, JSON.stringify({ at: new Date(now - 25 * 3600_000).toISOString(), queues: {} }));
    await ctx.redis.rpush(k.samples(), 'q2|X|20|3|1', 'q2|X|40|7|1');
    const snap = await takeSnapshot(ctx.redis, ctx.prefix, now);
    expect(snap.queues.q2).toMatchObject({ jobs: 2, runtime_p50_ms: 20, runtime_p95_ms: 40, wait_avg_ms: 5 });
    expect(await ctx.redis.llen(k.samples())).toBe(0);
    const kept = await readSnapshots(ctx.redis, ctx.prefix);
    expect(kept).toHaveLength(1); // the 25 h old one was trimmed
    expect(JSON.parse((await ctx.redis.get(k.latest()))!).queues.q2.jobs).toBe(2);
  });

  it('alerts horizon_long_wait once a queue has a job waiting past the threshold', async () => {
    const clock = new FakeClock(Date.now());
    const hcfg = { ...loadHorizonConfig(ctx.config), supervisors: [supCfg({ name: 'w', queues: ['hz-wait'] })], longWaitMs: 60_000 };
    const master = new HorizonMaster({ config: ctx.config, db: ctx.db, redis: ctx.redis, clock, log }, hcfg);
    await (await queues.queue('hz-wait')).add('Slow', { i: 1 });
    expect(await master.checkLongWaits(clock.now())).toEqual([]);
    await clock.advance(61_000);
    expect(await master.checkLongWaits(clock.now())).toEqual(['hz-wait']);
    const rows = await ctx.db('notifications').where('canonical', 'horizon_long_wait');
    expect(rows).toHaveLength(1);
    expect(rows[0].dedupe_key).toBe('hz-wait');
    await master.close();
  });
});

describe('configuration', () => {
  it('gives each role its supervisors', () => {
    const ing = roleSupervisors(loadConfig({ ...ctx.env, SERVER_ROLE: 'ingestion', APP_ENV: 'production', USER_DATA_SHARDS: '3' }));
    expect(ing.map((s) => s.name)).toEqual(['user-data', 'reconcile']);
    expect(ing[0]).toMatchObject({ kind: 'shards', processes: 5, queues: ['user-data-stream-0', 'user-data-stream-1', 'user-data-stream-2'] });
    const local = roleSupervisors(loadConfig({ ...ctx.env, SERVER_ROLE: 'ingestion', APP_ENV: 'local' }));
    expect(local.map((s) => s.name)).toEqual(['user-data', 'reconcile', 'steps']);
    const worker = roleSupervisors(loadConfig({ ...ctx.env, SERVER_ROLE: 'worker' }));
    expect(worker[0]).toMatchObject({ name: 'steps', balance: 'auto' });
    expect(worker[0]!.queues).toContain('default');
    expect(roleSupervisors(loadConfig({ ...ctx.env, SERVER_ROLE: 'web' }))).toEqual([]);
    expect(() => validateSupervisor({ ...worker[0]!, queues: ['bad name'] })).toThrow(/not a valid queue name/);
    expect(() => validateSupervisor({ ...worker[0]!, minProcesses: 5, maxProcesses: 2 })).toThrow(/minProcesses > maxProcesses/);
  });
});
