/**
 * The dispatcher and workers as real processes (bin/artisan), the way supervisor runs them: no double
 * dispatch with two daemons, kill -9 in the middle of a tick, a worker killed in the middle of a step, and
 * 1,000 steps in 100 sequential blocks end to end through queue:work.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import type { Job } from 'bullmq';
import { createTestContext, ARTISAN, ROOT, type TestContext } from '../support/context.js';
import { artisan, childEnv } from '../support/artisan.js';
import { stepKit, type StepKit } from './helpers.js';
import { stepTables } from '../../src/steps/tables.js';
import { Steps } from '../../src/steps/api.js';
import { systemClock } from '../../src/support/clock.js';

let ctx: TestContext;
let kit: StepKit;
const t = stepTables('');
const children: ResultPromise[] = [];

beforeAll(async () => {
  ctx = await createTestContext('step-processes');
  kit = await stepKit(ctx);
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && !c.killed) c.kill('SIGKILL');
  await Promise.allSettled(children);
  await kit?.close();
  await ctx?.cleanup();
});

const outputs = new WeakMap<ResultPromise, { text: string }>();

function spawnArtisan(args: string[], env: Record<string, string> = {}): ResultPromise {
  const child = execa('node', [ARTISAN, ...args], { cwd: ROOT, env: childEnv({ ...ctx.env, ...env }), extendEnv: false, reject: false, all: true });
  const out = { text: '' };
  child.all?.on('data', (d: Buffer) => (out.text += d.toString()));
  outputs.set(child, out);
  children.push(child);
  return child;
}

/** Until the daemon said it started (its signal handlers are in place from then on). */
async function started(child: ResultPromise): Promise<void> {
  await until('the daemon to start', async () => (outputs.get(child)?.text ?? '').includes('dispatch daemon started'), 120_000);
}

async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function count(where: Record<string, unknown> | ((q: ReturnType<typeof ctx.db>) => void)): Promise<number> {
  const q = ctx.db(t.steps);
  if (typeof where === 'function') where(q);
  else q.where(where);
  const r = await q.count({ n: '*' });
  return Number(r[0]!.n);
}

async function stop(child: ResultPromise): Promise<{ exitCode: number | undefined; out: string }> {
  child.kill('SIGTERM');
  const r = await child;
  return { exitCode: r.exitCode, out: String(r.all ?? '') };
}

/** The real Step API, on the system clock (the processes use the system clock too). */
const api = (prefix = '') => new Steps({ db: ctx.db, clock: systemClock, redis: kit.redis, redisPrefix: ctx.prefix, log: kit.log }, prefix);

async function clearSteps(): Promise<void> {
  await ctx.db(t.steps).del();
  for (const name of ['default', 'priority']) await (await kit.queues.queue(name)).obliterate({ force: true });
  await ctx.db(t.dispatcher).update({ can_dispatch: true, current_tick_id: null });
}

describe('dispatcher processes', () => {
  it('two daemons against 10,000 steps: exactly one BullMQ job per step', async () => {
    await clearSteps();
    const steps = api();
    for (let i = 0; i < 10; i++) await steps.createBlocks(Array.from({ length: 1000 }, () => ({ steps: [{ class: 'noop' }] })));
    const ids: number[] = (await ctx.db(t.steps).select('id')).map((r: { id: number }) => Number(r.id));
    expect(ids).toHaveLength(10_000);
    const a = spawnArtisan(['kraite:dispatch-daemon', '--concurrency=10', '--max-per-tick=500'], { LOG_LEVEL: 'info' });
    const b = spawnArtisan(['kraite:dispatch-daemon', '--concurrency=10', '--max-per-tick=500'], { LOG_LEVEL: 'info' });
    await Promise.all([started(a), started(b)]);
    await until('every step dispatched', async () => (await count({ state: 'pending' })) === 0);
    const [ra, rb] = await Promise.all([stop(a), stop(b)]);
    expect([ra.exitCode, rb.exitCode]).toEqual([0, 0]);
    expect(await count({ state: 'dispatched' })).toBe(10_000);
    const q = await kit.queues.queue('default');
    const jobs = (await q.getJobs(['waiting'], 0, -1)) as Job[];
    expect(jobs).toHaveLength(10_000);
    expect(new Set(jobs.map((j) => j.id))).toEqual(new Set(ids.map((id) => `step:${id}:0`)));
    expect(await ctx.db(t.dispatcher).where('can_dispatch', false).count({ n: '*' }).then((r) => Number(r[0]!.n))).toBe(0);
  });

  it('kill -9 in the middle of a tick: the lock is reclaimed and the work goes on', async () => {
    await clearSteps();
    const steps = api();
    for (let i = 0; i < 6; i++) await steps.createBlocks(Array.from({ length: 1000 }, () => ({ steps: [{ class: 'noop' }], options: { group: 'alpha' } })));
    // one unbounded tick claims and pushes 6,000 steps in chunks: long enough to catch it in the act
    const d1 = spawnArtisan(['kraite:dispatch-daemon', '--max-per-tick=0']);
    // Kill while at least 2,000 steps (four claim-and-push chunks) are still to go, so the tick is surely
    // still running when the signal lands.
    await until('the tick holds the lock and is part-way through', async () => {
      const lock = await ctx.db(t.dispatcher).where('group', 'alpha').first();
      const n = await count({ state: 'dispatched' });
      return !lock.can_dispatch && n > 0 && n <= 4000;
    }, 60_000);
    d1.kill('SIGKILL');
    await d1;
    const lock = await ctx.db(t.dispatcher).where('group', 'alpha').first();
    expect(!!lock.can_dispatch).toBe(false); // died holding it
    const pendingAfterKill = await count({ state: 'pending' });
    expect(pendingAfterKill).toBeGreaterThan(0);

    // 20 s pass (the stale-lock window): simulated by ageing the lock, not by sleeping
    await ctx.db(t.dispatcher).where('group', 'alpha').update({ updated_at: new Date(Date.now() - 21_000) });
    const d2 = spawnArtisan(['kraite:dispatch-daemon']);
    await until('the rest dispatched by the second daemon', async () => (await count({ state: 'pending' })) === 0);
    expect((await stop(d2)).exitCode).toBe(0);

    // steps claimed by the killed tick but never pushed sit in dispatched without a job:
    // after step-threshold seconds recover-stale requeues them (ageing again stands in for the wait)
    const q = await kit.queues.queue('default');
    const jobIds = new Set(((await q.getJobs(['waiting'], 0, -1)) as Job[]).map((j) => j.id));
    const stranded = (await ctx.db(t.steps).where('state', 'dispatched').select('id', 'retries')).filter((r: { id: number; retries: number }) => !jobIds.has(`step:${r.id}:${r.retries}`)).map((r: { id: number }) => Number(r.id));
    if (stranded.length) {
      await ctx.db(t.steps).whereIn('id', stranded).update({ updated_at: new Date(Date.now() - 301_000) });
      const rec = await artisan(['steps:recover-stale', '--recover-dispatched', '--json'], ctx.env);
      expect(rec.exitCode).toBe(0);
      expect(JSON.parse(rec.stdout).dispatched.requeued).toBe(stranded.length);
      const d3 = spawnArtisan(['kraite:dispatch-daemon']);
      await until('the stranded steps dispatched again', async () => (await count({ state: 'pending' })) === 0);
      expect((await stop(d3)).exitCode).toBe(0);
    }
    // every step ends up with a job for its current retry count
    const all = (await q.getJobs(['waiting'], 0, -1)) as Job[];
    const have = new Set(all.map((j) => j.id));
    const rows = await ctx.db(t.steps).select('id', 'retries', 'state');
    expect(rows.every((r: { state: string }) => r.state === 'dispatched')).toBe(true);
    expect(rows.filter((r: { id: number; retries: number }) => !have.has(`step:${r.id}:${r.retries}`))).toEqual([]);
  });

  it('a worker killed in the middle of a step: recover-stale requeues it, or fails it once its budget is spent', async () => {
    await clearSteps();
    const steps = api();
    const a = (await steps.createBlock([{ class: 'sleep', arguments: { ms: 120_000 } }])).ids[0]!;
    const b = (await steps.createBlock([{ class: 'sleep', arguments: { ms: 120_000 } }])).ids[0]!;
    const daemon = spawnArtisan(['kraite:dispatch-daemon']);
    const worker = spawnArtisan(['queue:work', '--queue=default', '--concurrency=2']);
    await until('both steps running', async () => (await count({ state: 'running' })) === 2);
    worker.kill('SIGKILL');
    await worker;
    // the class timeout (300 s) + 60 s pass: simulated by ageing started_at. B has spent its budget (3).
    await ctx.db(t.steps).whereIn('id', [a, b]).update({ started_at: new Date(Date.now() - 361_000) });
    await ctx.db(t.steps).where('id', b).update({ retries: 3 });
    const rec = await artisan(['steps:recover-stale', '--json'], ctx.env);
    expect(rec.exitCode).toBe(0);
    const report = JSON.parse(rec.stdout);
    expect(report.running).toMatchObject({ requeued: 1, failed: 1 });
    const rowA = await ctx.db(t.steps).where('id', a).first();
    expect(rowA.retries).toBe(1);
    expect(['pending', 'dispatched']).toContain(rowA.state);
    expect(rowA.error_message).toMatch(/the worker was lost/);
    expect((await ctx.db(t.steps).where('id', b).first()).state).toBe('failed');
    expect(await ctx.db('notifications').where('canonical', 'stale_running_steps_recovered').count({ n: '*' }).then((r) => Number(r[0]!.n))).toBe(1);
    // the requeued step runs again (shorter this time) and completes
    await ctx.db(t.steps).where('id', a).update({ arguments: JSON.stringify({ ms: 10 }) });
    const worker2 = spawnArtisan(['queue:work', '--queue=default']);
    await until('the recovered step completed', async () => (await ctx.db(t.steps).where('id', a).first()).state === 'completed');
    expect((await stop(worker2)).exitCode).toBe(0);
    expect((await stop(daemon)).exitCode).toBe(0);
  });

  it('SIGTERM: a worker finishes the step in hand, and both processes exit 0', async () => {
    await clearSteps();
    const id = (await api().createBlock([{ class: 'sleep', arguments: { ms: 1500 } }])).ids[0]!;
    const daemon = spawnArtisan(['kraite:dispatch-daemon']);
    const worker = spawnArtisan(['queue:work', '--queue=default']);
    await until('the step running', async () => (await ctx.db(t.steps).where('id', id).first()).state === 'running');
    const w = await stop(worker);
    expect(w.exitCode).toBe(0);
    expect((await ctx.db(t.steps).where('id', id).first()).state).toBe('completed');
    expect((await stop(daemon)).exitCode).toBe(0);
    expect(await ctx.db(t.dispatcher).where('can_dispatch', false).count({ n: '*' }).then((r) => Number(r[0]!.n))).toBe(0);
  });

  it('end to end: 1,000 steps in 100 blocks of 10 complete through queue:work, each block in index order', async () => {
    await clearSteps();
    const steps = api();
    const blocks = await steps.createBlocks(Array.from({ length: 100 }, () => ({ steps: Array.from({ length: 10 }, (_, i) => ({ class: 'noop', index: i + 1 })) })));
    const daemon = spawnArtisan(['kraite:dispatch-daemon']);
    const w1 = spawnArtisan(['queue:work', '--queue=default', '--concurrency=10']);
    const w2 = spawnArtisan(['queue:work', '--queue=default', '--concurrency=10']);
    await until('1,000 steps completed', async () => (await count({ state: 'completed' })) === 1000, 120_000);
    const results = await Promise.all([stop(w1), stop(w2), stop(daemon)]);
    expect(results.map((r) => r.exitCode)).toEqual([0, 0, 0]);
    for (const b of blocks) {
      const rows = await ctx.db(t.steps).whereIn('id', b.ids).orderBy('index').select('index', 'started_at', 'completed_at', 'state');
      expect(rows.map((r: { index: number }) => r.index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      for (let i = 1; i < rows.length; i++) {
        const prevDone = new Date(rows[i - 1].completed_at).getTime();
        const started = new Date(rows[i].started_at).getTime();
        expect(started, `block ${b.blockUuid} index ${i + 1} started before index ${i} completed`).toBeGreaterThanOrEqual(prevDone);
      }
    }
  });
});
