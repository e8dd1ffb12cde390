/**
 * Athena on a Redis Cluster: a private 3-node cluster (test/support/redis-cluster.ts), the box configured
 * with REDIS_CLUSTER=true, and the enqueue → dispatch → process path run by the real programs:
 * `steps:create` (Step API) → `kraite:dispatch-daemon` → BullMQ → `queue:work` and `horizon`, until every step is
 * completed, each exactly once (a worker box's `horizon` pool beside a `queue:work`). Then the multi-key parts of the box (pause flags, saturation Lua + MULTI,
 * heartbeats and lock listings over SCAN, the scheduler) on the same cluster. The database is the one of
 * DATABASE_URL (SQLite by default).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import type { Redis } from 'ioredis';
import { createTestContext, ARTISAN, ROOT, type TestContext } from '../support/context.js';
import { artisan, childEnv } from '../support/artisan.js';
import { killGroup, trackGroup } from '../support/process-groups.js';
import { startRedisCluster, type LocalRedisCluster } from '../support/redis-cluster.js';
import { loadConfig, type AppConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/support/errors.js';
import { connectRedis, closeRedis, isCluster } from '../../src/redis/connection.js';
import { scanAll } from '../../src/redis/scan.js';
import { queuePrefix } from '../../src/redis/keys.js';
import { QueueFactory } from '../../src/queue/queues.js';
import { Steps } from '../../src/steps/api.js';
import { stepTables } from '../../src/steps/tables.js';
import { recordListKey } from '../../src/steps/classes/builtin.js';
import { bucketOf, flushSaturation, recordSaturation, saturationIndexKey, saturationKey } from '../../src/steps/saturation.js';
import { readHeartbeats } from '../../src/support/heartbeat.js';
import { RedisEventMutex } from '../../src/kernel/redis-mutex.js';
import { dispatchPause } from '../../src/support/box-flags.js';
import { systemClock, FakeClock } from '../../src/support/clock.js';
import { createLogger } from '../../src/support/log.js';
import { describeOnce } from '../support/passes.js';

let cluster: LocalRedisCluster;
let ctx: TestContext;
let env: Record<string, string>;
let config: AppConfig;
let redis: Redis;
let queues: QueueFactory;
let horizonConfig: string;
const children: ResultPromise[] = [];
const t = stepTables('');
const log = createLogger('test', {}, { write: () => undefined });

beforeAll(async () => {
  cluster = await startRedisCluster();
  ctx = await createTestContext('redis-cluster');
  env = { ...ctx.env, REDIS_URL: cluster.url, REDIS_CLUSTER: 'true', REDIS_CLUSTER_NODES: cluster.nodesVar };
  config = loadConfig(env);
  redis = await connectRedis(config.redis, 'daemon');
  queues = new QueueFactory({ prefix: config.redis.prefix, connection: redis });
  horizonConfig = path.join(os.tmpdir(), `athena-cluster-${ctx.prefix}.json`);
  fs.writeFileSync(horizonConfig, JSON.stringify({ supervisors: [{ name: 'steps', balance: 'simple', processes: 2, concurrency: 2 }] }));
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.pid) killGroup(c.pid); // each daemon and the workers it forked
  await Promise.allSettled(children);
  await queues?.close();
  await closeRedis(redis);
  await ctx?.cleanup();
  await cluster?.stop();
  if (horizonConfig) fs.rmSync(horizonConfig, { force: true });
}, 60_000);

const outputs = new Map<ResultPromise, { name: string; text: string }>();

function spawnArtisan(args: string[], extra: Record<string, string> = {}): ResultPromise {
  const child = execa('node', [ARTISAN, ...args], { cwd: ROOT, env: childEnv({ ...env, ...extra }), extendEnv: false, reject: false, all: true, buffer: false, detached: true });
  if (child.pid) trackGroup(child.pid);
  const o = { name: args.join(' '), text: '' };
  child.all?.on('data', (d: Buffer) => (o.text += d.toString()));
  outputs.set(child, o);
  children.push(child);
  return child;
}

async function diagnostics(): Promise<string> {
  const parts = [`states: ${JSON.stringify(await stateCounts())}`];
  for (const o of outputs.values()) parts.push(`--- ${o.name}\n${o.text.slice(-3000)}`);
  return parts.join('\n');
}

async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 90_000, diagnostics: () => Promise<string> | string = () => ''): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}\n${await diagnostics()}`);
}

async function stateCounts(): Promise<Record<string, number>> {
  const rows = (await ctx.db(t.steps).select('state').count({ n: '*' }).groupBy('state')) as Array<{ state: string; n: number | string }>;
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
}

/** Every key of the cluster, per node port. */
async function keysByNode(): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  for (const port of cluster.ports) out.set(port, (await cluster.cli(port, ['--scan', '--pattern', '*'])).split('\n').filter(Boolean));
  return out;
}

describeOnce('configuration', () => {
  it('REDIS_CLUSTER hash-tags the key prefix; bad combinations are named', () => {
    expect(config.redis.cluster).toBe(true);
    expect(config.redis.prefix).toBe(`{${ctx.prefix}}`);
    expect(queuePrefix(config.redis.prefix)).toBe(`{${ctx.prefix}}`);
    expect(config.redis.nodes).toEqual(cluster.ports.slice(1).map((port) => ({ host: '127.0.0.1', port })));
    expect(loadConfig(ctx.env).redis).toMatchObject({ cluster: false, prefix: ctx.prefix });
    expect(() => loadConfig({ ...env, REDIS_URL: `${cluster.url}/2` })).toThrow(/REDIS_URL: a Redis Cluster has only database 0/);
    expect(() => loadConfig({ ...ctx.env, REDIS_CLUSTER_NODES: '127.0.0.1:7001' })).toThrow(/REDIS_CLUSTER_NODES: is set but REDIS_CLUSTER is not true/);
    expect(() => loadConfig({ ...env, REDIS_CLUSTER_NODES: '127.0.0.1' })).toThrow(ConfigError);
  });

  it('about reaches the cluster; a dead seed list fails fast and clearly', async () => {
    const ok = await artisan(['about', '--json'], childEnv(env));
    expect(ok.exitCode, ok.stderr).toBe(0);
    const doc = JSON.parse(ok.stdout) as { redis: { prefix: string } } & Record<string, unknown>;
    expect(doc.redis.prefix).toBe(`{${ctx.prefix}}`);
    expect(JSON.stringify(doc)).not.toMatch(/not reachable/i);
    const bad = await artisan(['steps:pause', '--reason=x'], childEnv({ ...env, REDIS_URL: 'redis://127.0.0.1:1', REDIS_CLUSTER_NODES: '' }));
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/Redis is not reachable at redis:\/\/127\.0\.0\.1:1/);
  });
});

describeOnce('enqueue → dispatch → process on a 3-node cluster', () => {
  it('steps created by the Step API are dispatched by the daemon and run once each by horizon and queue:work', async () => {
    expect(isCluster(redis)).toBe(true);
    // 200 blocks of 2 sequential steps through the CLI (the Step API), and 100 single steps in-process.
    const created = await artisan(['steps:create', '--class=record', '--args={"key":"cluster"}', '--count=200', '--chain=2'], childEnv(env));
    expect(created.exitCode, created.stderr).toBe(0);
    await new Steps({ db: ctx.db, clock: systemClock, redis, redisPrefix: config.redis.prefix, log }, '').createBlocks(
      Array.from({ length: 100 }, () => ({ steps: [{ class: 'record', arguments: { key: 'cluster' } }] })),
    );
    const ids: number[] = (await ctx.db(t.steps).select('id')).map((r: { id: number }) => Number(r.id));
    expect(ids).toHaveLength(500);

    // A horizon pool of a worker box (SERVER_ROLE=worker: the `steps` supervisor) and, once it has taken
    // work, a queue:work beside it.
    const horizon = spawnArtisan(['horizon'], { SERVER_ROLE: 'worker', APP_HOSTNAME: 'cluster-worker', HORIZON_CONFIG: horizonConfig });
    const daemon = spawnArtisan(['kraite:dispatch-daemon', '--concurrency=4']);
    await until('the horizon pool ran a step', async () => (await redis.llen(recordListKey(config.redis.prefix, 'cluster'))) > 0, 240_000, diagnostics);
    const workers = [spawnArtisan(['queue:work', '--queue=default', '--concurrency=4']), horizon];
    await until('every step completed', async () => (await stateCounts()).completed === 500, 240_000, diagnostics);

    // horizon:status finds the master's state through SCAN over every master.
    const status = await artisan(['horizon:status', '--json'], childEnv(env));
    expect(status.exitCode, status.stderr).toBe(0);
    expect((JSON.parse(status.stdout) as { masters: Array<{ host: string }> }).masters.map((m) => m.host)).toEqual(['cluster-worker']);

    // The daemon's heartbeat is listed through SCAN over every master.
    const beats = await readHeartbeats(redis, config.redis.prefix, 'dispatch-daemon');
    expect(beats.map((b) => b.host)).toEqual([config.hostname]);

    for (const c of [daemon, ...workers]) c.kill('SIGTERM');
    const results = await Promise.all([daemon, ...workers]);
    for (const c of [daemon, ...workers]) expect(results[[daemon, ...workers].indexOf(c)]!.exitCode, outputs.get(c)!.text.slice(-2000)).toBe(0);
    for (const c of [daemon, ...workers]) expect(outputs.get(c)!.text).not.toMatch(/CROSSSLOT|MOVED|ClusterAllFailedError/);

    // Each step ran exactly once.
    const lines = (await redis.lrange(recordListKey(config.redis.prefix, 'cluster'), 0, -1)).map((l) => JSON.parse(l) as { step_id: number; host: string });
    expect(lines.some((l) => l.host === 'cluster-worker'), 'the horizon pool ran steps').toBe(true);
    expect(lines).toHaveLength(500);
    expect(new Set(lines.map((l) => l.step_id)).size).toBe(500);
    expect(new Set(lines.map((l) => l.step_id))).toEqual(new Set(ids));
    expect(await stateCounts()).toEqual({ completed: 500 });
  }, 900_000);

  it('every key of the box lives in the slot of its hash tag, on one node', async () => {
    const owner = await cluster.ownerOf(`{${ctx.prefix}}`);
    const byNode = await keysByNode();
    const mine = (port: number) => byNode.get(port)!.filter((k) => k.includes(ctx.prefix));
    expect(mine(owner).length).toBeGreaterThan(0);
    expect(mine(owner).some((k) => k.startsWith(`{${ctx.prefix}}:steps:`))).toBe(true);
    expect(mine(owner).some((k) => k.startsWith(`{${ctx.prefix}}:default:`))).toBe(true); // BullMQ
    for (const port of cluster.ports) if (port !== owner) expect(mine(port)).toEqual([]);
    for (const k of mine(owner)) expect(k.startsWith(`{${ctx.prefix}}:`), k).toBe(true);
  });
});

describeOnce('multi-key features on the cluster', () => {
  it('dispatch pause flags (MGET over two keys) through the CLI and the daemon', async () => {
    const paused = await artisan(['steps:pause', '--reason=cluster test'], childEnv(env));
    expect(paused.exitCode, paused.stderr).toBe(0);
    expect(await dispatchPause(redis, config.redis.prefix, '')).toMatchObject({ reason: 'cluster test' });
    const dispatch = await artisan(['steps:dispatch', '--json'], childEnv(env));
    expect(dispatch.stdout + dispatch.stderr).toMatch(/paus/i);
    const resumed = await artisan(['steps:resume'], childEnv(env));
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(await dispatchPause(redis, config.redis.prefix, '')).toBeNull();
  });

  it('saturation: the two-key Lua script and the MULTI flush', async () => {
    const minuteAgo = Date.now() - 30 * 60_000; // a minute no daemon of this test ticked in
    const bucket = bucketOf(minuteAgo);
    await recordSaturation(redis, config.redis.prefix, '', 'alpha', minuteAgo, { dispatched: 7, capped: true, pendingAfter: 3 });
    await recordSaturation(redis, config.redis.prefix, '', 'alpha', minuteAgo, { dispatched: 5, capped: false, pendingAfter: 9 });
    const r = await flushSaturation(ctx.db, redis, config.redis.prefix, '', Date.now());
    expect(r.errors).toEqual([]);
    expect(r.flushed.find((f) => f.group === 'alpha')).toMatchObject({ ticks_observed: 2, ticks_capped: 1, total_dispatched: 12, max_pending_after: 9 });
    const rows = await ctx.db('steps_dispatcher_saturation').where('group', 'alpha');
    expect(rows.length).toBeGreaterThan(0);
    // The flushed minute left the index and its hash is gone (MULTI DEL + SREM on the slot's node).
    expect((await redis.smembers(saturationIndexKey(config.redis.prefix, ''))).filter((m) => m.endsWith(`|${bucket}`))).toEqual([]);
    expect(await redis.exists(saturationKey(config.redis.prefix, 'alpha', bucket))).toBe(0);
  });

  it('scheduler: schedule:run with locks and heartbeats; lock listing over SCAN', async () => {
    const run = await artisan(['schedule:run', '--json'], childEnv({ ...env, SCHEDULE_MODULE: 'test/fixtures/schedules/one-server.mjs' }));
    expect(run.exitCode, run.stderr).toBe(0);
    expect(await redis.get(`${config.redis.prefix}:probe:runs`)).toBe('1'); // the task ran, claimed its minute once
    const beats = await readHeartbeats(redis, config.redis.prefix, 'scheduler');
    expect(beats).toHaveLength(1);
    const clock = new FakeClock(Date.now());
    const mutex = new RedisEventMutex(redis, config.redis.prefix, clock);
    const lock = await mutex.acquire('cluster-task', { host: 'h', pid: 1, since: new Date().toISOString() }, 30_000, clock.now() + 60_000);
    expect(lock).not.toBeNull();
    expect(await mutex.extend(lock!)).toBe(true); // Lua on the slot's node
    expect((await mutex.held()).map((h) => h.taskId)).toContain('cluster-task');
    expect(await mutex.release(lock!)).toBe(true);
    const listed = await scanAll(redis, `${config.redis.prefix}:schedule:*`);
    expect(listed.length).toBeGreaterThan(0);
  });
});
