/**
 * Scale-out: an ingestion box (the dispatch daemon and the scheduler, SERVER_ROLE=ingestion) and two worker
 * boxes (`bin/artisan horizon` with SERVER_ROLE=worker), all real processes on one database (DATABASE_URL:
 * a SQLite file shared by the processes by default, PostgreSQL or MariaDB when set) and one Redis prefix.
 *  1. no step runs twice: many `record` steps, each execution appended to a Redis list, drained by both pools;
 *  2. the schedule runs only where SERVER_ROLE=ingestion: Athena's own schedule, listed and run per role;
 *  3. onOneServer holds across two schedulers: two `schedule:run` of the same minute on different host
 *     names run the task once.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import type { Redis } from 'ioredis';
import { createTestContext, ARTISAN, ROOT, type TestContext } from '../support/context.js';
import { artisan, childEnv } from '../support/artisan.js';
import { killGroup, stopGroup, trackGroup } from '../support/process-groups.js';
import { connectRedis, closeRedis } from '../../src/redis/connection.js';
import { QueueFactory } from '../../src/queue/queues.js';
import { Steps } from '../../src/steps/api.js';
import { stepTables } from '../../src/steps/tables.js';
import { recordListKey } from '../../src/steps/classes/builtin.js';
import { systemClock } from '../../src/support/clock.js';
import { createLogger } from '../../src/support/log.js';
import { toDate } from '../../src/support/sql-values.js';

let ctx: TestContext;
let redis: Redis;
let queues: QueueFactory;
let horizonConfig: string;
const children: Array<{ name: string; proc: ResultPromise; out: () => string }> = [];
const log = createLogger('test', {}, { write: () => undefined });

const INGESTION = { SERVER_ROLE: 'ingestion', APP_HOSTNAME: 'ingest-1' };
const WORKER_A = { SERVER_ROLE: 'worker', APP_HOSTNAME: 'worker-a' };
const WORKER_B = { SERVER_ROLE: 'worker', APP_HOSTNAME: 'worker-b' };

beforeAll(async () => {
  ctx = await createTestContext('scale-out');
  redis = await connectRedis(ctx.config.redis, 'daemon');
  queues = new QueueFactory({ prefix: ctx.config.redis.prefix, connection: redis });
  // Keep the pools small: the test machine has two cores. Each pool: 2 processes × 2 jobs at a time.
  horizonConfig = path.join(os.tmpdir(), `athena-scale-out-${ctx.prefix}.json`);
  fs.writeFileSync(horizonConfig, JSON.stringify({ supervisors: [{ name: 'steps', balance: 'simple', processes: 2, concurrency: 2 }] }));
}, 60_000);

afterAll(async () => {
  for (const c of children) if (c.proc.pid) killGroup(c.proc.pid); // each daemon and the workers it forked
  await Promise.allSettled(children.map((c) => c.proc));
  await queues?.close();
  await closeRedis(redis);
  await ctx?.cleanup();
  fs.rmSync(horizonConfig, { force: true });
}, 60_000);

function spawnArtisan(name: string, args: string[], env: Record<string, string>): { proc: ResultPromise; out: () => string } {
  let out = '';
  const proc = execa('node', [ARTISAN, ...args], { cwd: ROOT, env: childEnv({ ...ctx.env, ...env }), extendEnv: false, reject: false, all: true, buffer: false, detached: true });
  if (proc.pid) trackGroup(proc.pid);
  proc.all?.on('data', (d: Buffer) => (out += d.toString()));
  const c = { name, proc, out: () => out };
  children.push(c);
  return c;
}

async function stop(c: { proc: ResultPromise; out: () => string }): Promise<number> {
  const code = await stopGroup(c.proc, { graceMs: 60_000 });
  await c.proc;
  return code;
}

async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 90_000, diagnostics = () => ''): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}\n${diagnostics()}`);
}

/** A host's horizon master has a worker process that reports idle or working (its BullMQ workers are up). */
async function poolReady(host: string): Promise<boolean> {
  const raw = await redis.get(`${ctx.config.redis.prefix}:horizon:master:${host}`);
  if (!raw) return false;
  const st = JSON.parse(raw) as { supervisors: Array<{ processes: Array<{ status: string }> }> };
  return st.supervisors.some((sup) => sup.processes.some((p) => p.status === 'idle' || p.status === 'working'));
}

async function stateCounts(prefix = ''): Promise<Record<string, number>> {
  const rows = (await ctx.db(stepTables(prefix).steps).select('state').count({ n: '*' }).groupBy('state')) as Array<{ state: string; n: number | string }>;
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
}

describe('two worker pools beside the ingestion box', () => {
  it('no step runs twice: 800 steps on default and priority, drained by both pools, one restarted mid-run', async () => {
    const env = { HORIZON_CONFIG: horizonConfig, LOG_LEVEL: 'warn' };
    const poolA = spawnArtisan('horizon worker-a', ['horizon'], { ...WORKER_A, ...env });
    const poolB = spawnArtisan('horizon worker-b', ['horizon'], { ...WORKER_B, ...env });
    const diag = () => children.map((c) => `--- ${c.name}\n${c.out().slice(-3000)}`).join('\n');
    // Both pools have workers taking jobs before any work exists.
    await until('both horizon pools ready', async () => (await poolReady('worker-a')) && (await poolReady('worker-b')), 120_000, diag);

    const steps = new Steps({ db: ctx.db, clock: systemClock, redis, redisPrefix: ctx.config.redis.prefix, log }, '');
    // 250 blocks of 2 sequential steps on `default`, 200 single high-priority steps (`priority`), 100 more
    // blocks of 1 created while the pools are already busy.
    await steps.createBlocks(Array.from({ length: 250 }, () => ({ steps: [1, 2].map((index) => ({ class: 'record', index, arguments: { key: 'scale', ms: 5 } })) })));
    await steps.createBlocks(Array.from({ length: 200 }, () => ({ steps: [{ class: 'record', priority: 'high' as const, arguments: { key: 'scale', ms: 5 } }] })));
    const daemon = spawnArtisan('dispatch-daemon ingest-1', ['kraite:dispatch-daemon', '--concurrency=4'], INGESTION);
    await until('the first steps completed', async () => ((await stateCounts()).completed ?? 0) > 50, 180_000, diag);
    await steps.createBlocks(Array.from({ length: 100 }, () => ({ steps: [{ class: 'record', arguments: { key: 'scale' } }] })));
    const ids: number[] = (await ctx.db(stepTables('').steps).select('id')).map((r: { id: number }) => Number(r.id));
    expect(ids).toHaveLength(800);

    // Deploy worker-a the way docs/operations.md says (stop its pool, start it again) while work remains:
    // its jobs in hand finish, worker-b keeps draining, and nothing runs twice.
    await until('a third of the steps completed', async () => ((await stateCounts()).completed ?? 0) > 260, 240_000, diag);
    expect(((await stateCounts()).completed ?? 0) < 800, 'work remains when worker-a stops').toBe(true);
    expect(await stop(poolA), poolA.out().slice(-3000)).toBe(0);
    const poolA2 = spawnArtisan('horizon worker-a (after deploy)', ['horizon'], { ...WORKER_A, ...env });

    await until('every step completed', async () => (await stateCounts()).completed === 800, 300_000, diag);
    expect(await stop(daemon)).toBe(0);
    expect(await stop(poolA2), poolA2.out().slice(-3000)).toBe(0);
    expect(await stop(poolB), poolB.out().slice(-3000)).toBe(0);

    const runs = (await redis.lrange(recordListKey(ctx.config.redis.prefix, 'scale'), 0, -1)).map((l) => JSON.parse(l) as { step_id: number; host: string; pid: number });
    const perStep = new Map<number, number>();
    for (const r of runs) perStep.set(r.step_id, (perStep.get(r.step_id) ?? 0) + 1);
    const twice = [...perStep].filter(([, n]) => n > 1);
    expect(twice, 'steps that ran more than once').toEqual([]);
    expect(runs).toHaveLength(800);
    expect(new Set(perStep.keys())).toEqual(new Set(ids));
    // Both pools did work, and only the worker boxes ran steps (the ingestion box runs no step pool here).
    const byHost = new Map<string, number>();
    for (const r of runs) byHost.set(r.host, (byHost.get(r.host) ?? 0) + 1);
    expect([...byHost.keys()].sort()).toEqual(['worker-a', 'worker-b']);
    expect(await stateCounts()).toEqual({ completed: 800 });
    expect(await (await queues.queue('default')).getJobCounts('waiting', 'active', 'failed')).toEqual({ waiting: 0, active: 0, failed: 0 });
  }, 900_000);
});

describe('the schedule', () => {
  const MINUTE = '2026-11-27T10:01:00Z';

  it('is registered only where SERVER_ROLE=ingestion', async () => {
    const list = async (env: Record<string, string>) => {
      const r = await artisan(['schedule:list', '--json'], childEnv({ ...ctx.env, ...env }));
      expect(r.exitCode, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { tasks: Array<{ command: string | null }> }).tasks;
    };
    expect((await list(INGESTION)).length).toBeGreaterThan(5);
    expect(await list(WORKER_A)).toEqual([]);
    expect(await list({ SERVER_ROLE: 'web', APP_HOSTNAME: 'web-1' })).toEqual([]);
  }, 180_000);

  it('runs only where SERVER_ROLE=ingestion', async () => {
    const run = async (env: Record<string, string>) => {
      const r = await artisan(['schedule:run', `--at=${MINUTE}`, '--json'], childEnv({ ...ctx.env, ...env }), { timeout: 120_000 });
      expect(r.exitCode, `${r.stderr}\n${r.stdout}`).toBe(0);
      return JSON.parse(r.stdout) as { due: number; failed: number; outcomes: Array<{ task: string; status: string; skipped_reason: string | null }> };
    };
    const worker = await run(WORKER_A);
    expect(worker.due).toBe(0);
    expect(worker.outcomes).toEqual([]);
    const ingestion = await run(INGESTION);
    expect(ingestion.due).toBeGreaterThan(0);
    expect(ingestion.failed, JSON.stringify(ingestion.outcomes)).toBe(0);
    const output = await ctx.db('schedule_runs').whereNot('exit_code', 0).select('task_id', 'output_tail');
    expect(output, 'failed runs').toEqual([]);
    expect(ingestion.outcomes.filter((o) => o.status === 'ok').length, JSON.stringify(ingestion.outcomes)).toBeGreaterThan(0);
    const rows = (await ctx.db('schedule_runs').select('host').count({ n: '*' }).groupBy('host')) as Array<{ host: string; n: number | string }>;
    expect(rows.map((r) => r.host)).toEqual(['ingest-1']);
    expect(Number(rows[0]!.n)).toBe(ingestion.outcomes.filter((o) => o.status !== 'filtered').length);
  }, 180_000);

  it('onOneServer holds across two schedulers: each minute runs once', async () => {
    const env = { SCHEDULE_MODULE: 'test/fixtures/schedules/one-server.mjs' };
    const minutes = ['2026-11-27T11:00:00Z', '2026-11-27T11:01:00Z', '2026-11-27T11:02:00Z', '2026-11-27T11:03:00Z'];
    for (const at of minutes) {
      const pair = await Promise.all(
        ['sched-a', 'sched-b'].map((host) => artisan(['schedule:run', `--at=${at}`, '--json'], childEnv({ ...ctx.env, ...env, SERVER_ROLE: 'ingestion', APP_HOSTNAME: host }))),
      );
      for (const r of pair) expect(r.exitCode, r.stderr).toBe(0);
    }
    expect(await redis.get(`${ctx.prefix}:probe:runs`)).toBe(String(minutes.length));
    const rows = (await ctx.db('schedule_runs').where('task_id', 'like', '%probe%').select('host', 'slot', 'skipped_reason')) as Array<{ host: string; slot: unknown; skipped_reason: string | null }>;
    expect(rows).toHaveLength(minutes.length * 2);
    expect(rows.filter((r) => r.skipped_reason === null)).toHaveLength(minutes.length);
    expect(rows.filter((r) => r.skipped_reason === 'other-server')).toHaveLength(minutes.length);
    // Per minute: one host ran it, the other skipped it.
    const bySlot = new Map<string, Set<string>>();
    for (const r of rows) {
      const k = toDate(r.slot)!.toISOString();
      bySlot.set(k, (bySlot.get(k) ?? new Set()).add(`${r.host}:${r.skipped_reason ?? 'ran'}`));
    }
    expect(bySlot.size).toBe(minutes.length);
    for (const set of bySlot.values()) expect([...set].map((s) => s.split(':')[1]).sort()).toEqual(['other-server', 'ran']);
  }, 120_000);
});
