import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Job } from 'bullmq';
import { createTestContext, type TestContext } from '../support/context.js';
import { stepKit, type StepKit } from './helpers.js';
import { processStepJob } from '../../src/steps/runner.js';
import { stepTables } from '../../src/steps/tables.js';
import { moveStep } from '../../src/steps/machine.js';
import { saturationKey, bucketOf, flushSaturation } from '../../src/steps/saturation.js';
import { readSaturation } from '../../src/db/steps/saturation.js';

let ctx: TestContext;
let kit: StepKit;
const t = stepTables('');

beforeAll(async () => {
  ctx = await createTestContext('step-dispatcher');
  kit = await stepKit(ctx);
});
afterAll(async () => {
  await kit?.close();
  await ctx?.cleanup();
});

/** Each test works in its own group, so ticks never see another test's rows. */
let groupNo = 0;
let group = 'g0';
beforeEach(async () => {
  group = `g${++groupNo}`;
  // jobs a previous test left waiting must not be worked by this one
  for (const name of ['default', 'priority']) await (await kit.queues.queue(name)).drain(true);
});

const states = async (ids: number[]) => (await ctx.db(t.steps).whereIn('id', ids).orderBy('id').select('state')).map((r: { state: string }) => r.state);
const tick = (opts = {}) => kit.dispatcher('', opts).tick(group);

/** Run every waiting job of a queue through the real step processor, as a worker would. */
async function work(queue = 'default'): Promise<string[]> {
  const q = await kit.queues.queue(queue);
  const jobs = (await q.getJobs(['waiting'])) as Job[];
  const out: string[] = [];
  for (const job of jobs) {
    const deferred: Array<() => Promise<void>> = [];
    const r = await processStepJob(job, kit.workerContext(deferred));
    await job.remove();
    for (const fn of deferred) await fn();
    out.push(`${r.stepId}:${r.outcome}`);
  }
  return out;
}

async function jobIds(queue = 'default'): Promise<string[]> {
  return ((await kit.jobs(queue)) as Job[]).map((j) => String(j.id)).sort();
}

describe('block semantics', () => {
  it('waits for every step of index 1 before index 2, and sends one index out together', async () => {
    const b = await kit.steps().createBlock(
      [{ class: 'noop', index: 1 }, { class: 'noop', index: 1 }, { class: 'noop', index: 1 }, { class: 'noop', index: 2 }, { class: 'noop', index: 2 }, { class: 'noop', index: 3 }],
      { group },
    );
    const [a1, a2, a3, b1, b2, c1] = b.ids as [number, number, number, number, number, number];
    let r = await tick();
    expect(r.dispatched).toBe(3);
    expect(await states(b.ids)).toEqual(['dispatched', 'dispatched', 'dispatched', 'pending', 'pending', 'pending']);
    for (const id of [a1, a2]) {
      await moveStep(ctx.db, t, id, 'dispatched', 'running', { now: kit.clock.now() });
      await moveStep(ctx.db, t, id, 'running', 'completed', { now: kit.clock.now() });
    }
    r = await tick();
    expect(r.dispatched).toBe(0);
    await moveStep(ctx.db, t, a3, 'dispatched', 'skipped', { now: kit.clock.now() });
    r = await tick();
    expect(r.dispatched).toBe(2);
    expect(await states([b1, b2, c1])).toEqual(['dispatched', 'dispatched', 'pending']);
    // job ids carry the step id and its retry count; attempts are 1
    const jobs = (await kit.jobs()) as Job[];
    const mine = jobs.filter((j) => [b1, b2].includes((j.data as { stepId: number }).stepId));
    expect(mine.map((j) => j.id).sort()).toEqual([`step:${b1}:0`, `step:${b2}:0`]);
    expect(mine.every((j) => j.name === 'noop' && j.opts.attempts === 1)).toBe(true);
  });

  it('runs a block end to end through the real step processor', async () => {
    const b = await kit.steps().createBlock([{ class: 'noop', index: 1 }, { class: 'noop', index: 2 }], { group });
    await tick();
    expect(await work()).toEqual([`${b.ids[0]}:completed`]);
    await tick();
    expect(await work()).toEqual([`${b.ids[1]}:completed`]);
    const s = await kit.row(b.ids[1]!);
    expect(s.state).toBe('completed');
    expect(s.response).toEqual({ ok: true });
    expect(s.hostname).toBe('test-host');
  });

  it('cancels the later siblings of a failed step', async () => {
    const b = await kit.steps().createBlock([{ class: 'fail', index: 1 }, { class: 'noop', index: 2 }, { class: 'noop', index: 3 }], { group });
    await tick();
    expect(await work()).toEqual([`${b.ids[0]}:failed`]);
    const r = await tick();
    expect(r.phase).toBe('cascade-cancel');
    expect(await states(b.ids)).toEqual(['failed', 'cancelled', 'cancelled']);
    expect((await tick()).changed).toBe(0);
  });

  it('completes a parent only once its child tree has concluded', async () => {
    const p = await kit.steps().createBlock([{ class: 'noop' }], { group });
    const pid = p.ids[0]!;
    const kids = await kit.steps().createChildBlock(pid, [{ class: 'noop', index: 1 }, { class: 'noop', index: 2 }]);
    expect((await kit.row(kids.ids[0]!)).group).toBe(group);
    expect((await kit.row(kids.ids[0]!)).workflow_id).toBe(p.workflowId);
    // children wait for their parent to run
    let r = await tick();
    expect(r.dispatched).toBe(1);
    expect(await states(kids.ids)).toEqual(['pending', 'pending']);
    expect(await work()).toEqual([`${pid}:awaiting-children`]);
    expect((await kit.row(pid)).state).toBe('running');
    await tick();
    expect(await work()).toEqual([`${kids.ids[0]}:completed`]);
    r = await tick();
    expect(r.phase).toBe(null);
    expect((await kit.row(pid)).state).toBe('running');
    expect(await work()).toEqual([`${kids.ids[1]}:completed`]);
    r = await tick();
    expect(r.phase).toBe('complete-parents');
    expect((await kit.row(pid)).state).toBe('completed');
  });

  it('fails a parent when a child fails', async () => {
    const p = await kit.steps().createBlock([{ class: 'noop' }], { group });
    const pid = p.ids[0]!;
    const kids = await kit.steps().createChildBlock(pid, [{ class: 'fail', index: 1, arguments: { message: 'boom' } }, { class: 'noop', index: 2 }]);
    await tick();
    await work();
    await tick();
    expect(await work()).toEqual([`${kids.ids[0]}:failed`]);
    expect((await kit.row(kids.ids[0]!)).error_message).toBe('boom');
    const phases: Array<string | null> = [];
    for (let i = 0; i < 4; i++) phases.push((await tick()).phase);
    expect(phases).toContain('cascade-cancel');
    expect(phases).toContain('fail-parents');
    const parent = await kit.row(pid);
    expect(parent.state).toBe('failed');
    expect(parent.error_message).toBe(`Child step(s) failed: [${kids.ids[0]}]`);
    expect(await states(kids.ids)).toEqual(['failed', 'cancelled']);
  });

  it('promotes resolve-exception steps when a step of their block fails', async () => {
    const b = await kit.steps().createBlock(
      [{ class: 'fail', index: 1 }, { class: 'noop', index: 2 }, { class: 'noop', index: 1, type: 'resolve-exception' }],
      { group },
    );
    const [s1, s2, r1] = b.ids as [number, number, number];
    expect((await kit.row(r1)).state).toBe('not-runnable');
    await tick();
    expect(await work()).toEqual([`${s1}:failed`]);
    const phases: Array<string | null> = [];
    for (let i = 0; i < 3; i++) phases.push((await tick()).phase);
    expect(phases.slice(0, 2)).toEqual(['cascade-cancel', 'promote-resolvers']);
    expect(await states([s1, s2, r1])).toEqual(['failed', 'cancelled', 'dispatched']);
    expect(await work()).toEqual([`${r1}:completed`]);
  });

  it('skips the descendants of a skipped parent', async () => {
    const p = await kit.steps().createBlock([{ class: 'noop' }], { group });
    const kids = await kit.steps().createChildBlock(p.ids[0]!, [{ class: 'noop' }]);
    const grandkids = await kit.steps().createChildBlock(kids.ids[0]!, [{ class: 'noop' }]);
    await moveStep(ctx.db, t, p.ids[0]!, 'pending', 'skipped', { now: kit.clock.now() });
    const r = await tick();
    expect(r.phase).toBe('skip-descendants');
    expect(await states([...kids.ids, ...grandkids.ids])).toEqual(['skipped', 'skipped']);
  });

  it('cancels the children of a failed parent', async () => {
    const p = await kit.steps().createBlock([{ class: 'noop' }], { group });
    const kids = await kit.steps().createChildBlock(p.ids[0]!, [{ class: 'noop' }, { class: 'noop', index: 2 }]);
    await moveStep(ctx.db, t, p.ids[0]!, 'pending', 'failed', { now: kit.clock.now() });
    const r = await tick();
    expect(r.phase).toBe('cancel-children');
    expect(await states(kids.ids)).toEqual(['cancelled', 'cancelled']);
  });

  it('sends high-priority steps first, honours dispatch_after and the per-tick cap', async () => {
    const later = kit.clock.now() + 60_000;
    const normal = await kit.steps().createBlocks(Array.from({ length: 5 }, () => ({ steps: [{ class: 'noop' }], options: { group } })));
    const delayed = await kit.steps().createBlock([{ class: 'noop', dispatchAfter: later }], { group });
    const high = await kit.steps().createBlock([{ class: 'noop', priority: 'high' }], { group });
    expect((await kit.row(high.ids[0]!)).queue).toBe('priority');
    const r = await tick({ maxPerTick: 2 });
    expect(r.highDispatched).toBe(1);
    expect(r.dispatched).toBe(2);
    expect(r.capped).toBe(true);
    expect(r.pendingAfter).toBe(3);
    expect(r.more).toBe(true);
    expect(await jobIds('priority')).toContain(`step:${high.ids[0]}:0`);
    await tick({ maxPerTick: 10 });
    expect((await kit.row(delayed.ids[0]!)).state).toBe('pending');
    await kit.clock.advance(60_000);
    await tick({ maxPerTick: 10 });
    expect((await kit.row(delayed.ids[0]!)).state).toBe('dispatched');
    expect(await states(normal.flatMap((b) => b.ids))).toEqual(Array(5).fill('dispatched'));
    // saturation: per group and minute
    const key = saturationKey(ctx.prefix, group, bucketOf(kit.clock.now() - 60_000));
    const h = await kit.redis.hgetall(key);
    expect(h).toMatchObject({ ticks_observed: '2', ticks_capped: '1', ticks_capped_with_leftover: '1', max_pending_after: '3' });
    await kit.clock.advance(60_000);
    const flushed = await flushSaturation(ctx.db, kit.redis, ctx.prefix, '', kit.clock.now());
    expect(flushed.flushed.map((f) => f.group)).toContain(group);
    const rows = await readSaturation(ctx.db, group);
    expect(rows.reduce((a, r) => a + r.total_dispatched, 0)).toBe(6);
    expect(await kit.redis.exists(key)).toBe(0);
  });

  it('skips a lane whose lock is held and reclaims a lock idle for 20 s', async () => {
    await kit.steps().createBlock([{ class: 'noop' }], { group });
    await tick(); // creates the lane's row
    await kit.steps().createBlock([{ class: 'noop' }], { group });
    await ctx.db(t.dispatcher).where('group', group).update({ can_dispatch: false, current_tick_id: 999, updated_at: new Date(kit.clock.now()) });
    let r = await tick();
    expect(r.acquired).toBe(false);
    expect(r.dispatched).toBe(0);
    await kit.clock.advance(20_001);
    r = await tick();
    expect(r.acquired).toBe(true);
    expect(r.dispatched).toBe(1);
    const row = await ctx.db(t.dispatcher).where('group', group).first();
    expect(!!row.can_dispatch).toBe(true);
    expect(row.current_tick_id).toBe(null);
  });

  it('dispatches the NULL lane only when asked for it', async () => {
    const b = await kit.steps().createBlock([{ class: 'noop' }], { group: 'x' });
    await ctx.db(t.steps).where('id', b.ids[0]!).update({ group: null });
    expect((await kit.dispatcher().tick(null)).dispatched).toBe(1);
  });
});

describe('the worker side', () => {
  it('retries with backoff through dispatch_after, counting retries, then fails when the budget is spent', async () => {
    const b = await kit.steps().createBlock([{ class: 'fail', arguments: { policy: 'retry', backoff_ms: 5000 } }], { group });
    const id = b.ids[0]!;
    await tick();
    expect(await work()).toEqual([`${id}:retry`]);
    let s = await kit.row(id);
    expect([s.state, s.retries, s.dispatch_after]).toEqual(['pending', 1, kit.clock.now() + 5000]);
    expect((await tick()).dispatched).toBe(0);
    await kit.clock.advance(5000);
    await tick();
    expect(await jobIds()).toContain(`step:${id}:1`);
    expect(await work()).toEqual([`${id}:retry`]);
    s = await kit.row(id);
    expect([s.retries, s.priority]).toEqual([2, 'high']); // escalated from half the budget
    await kit.clock.advance(5000);
    await tick();
    expect(await work()).toEqual([`${id}:failed`]); // budget 3: runs at 0, 1, 2 (same queue: only creation picks 'priority')
    s = await kit.row(id);
    expect(s.state).toBe('failed');
    expect(s.error_message).toMatch(/Retry budget exhausted: 3 of 3/);
  });

  it('recovers after a transient failure when the class says so', async () => {
    const b = await kit.steps().createBlock([{ class: 'fail', arguments: { policy: 'retry', backoff_ms: 0, times: 1 } }], { group });
    await tick();
    expect(await work()).toEqual([`${b.ids[0]}:retry`]);
    await tick();
    expect(await work()).toEqual([`${b.ids[0]}:completed`]);
    expect((await kit.row(b.ids[0]!)).response).toEqual({ recovered_after: 1 });
  });

  it('completes on an ignored exception', async () => {
    const b = await kit.steps().createBlock([{ class: 'fail', arguments: { policy: 'ignore' } }], { group });
    await tick();
    expect(await work()).toEqual([`${b.ids[0]}:completed`]);
  });

  it('drops a job whose step is terminal, running elsewhere or unknown, and fails an unknown class', async () => {
    const b = await kit.steps().createBlock([{ class: 'noop' }, { class: 'noop' }, { class: 'no-such-class' }], { group });
    await tick();
    await moveStep(ctx.db, t, b.ids[0]!, 'dispatched', 'cancelled', { now: kit.clock.now() });
    await moveStep(ctx.db, t, b.ids[1]!, 'dispatched', 'running', { now: kit.clock.now(), hostname: 'elsewhere' });
    expect((await work()).sort()).toEqual([`${b.ids[0]}:dropped`, `${b.ids[1]}:dropped`, `${b.ids[2]}:failed`].sort());
    expect((await kit.row(b.ids[1]!)).hostname).toBe('elsewhere');
    expect((await kit.row(b.ids[2]!)).error_message).toMatch(/Unknown step class "no-such-class"/);
  });

  it('throttles without counting a retry, and the re-dispatch gets a job although the id repeats', async () => {
    const { registerStepClass } = await import('../../src/steps/registry.js');
    registerStepClass({
      name: 'test-throttle-once',
      async compute(c) {
        if (!c.step.was_throttled) c.throttle(1000, 'rate limited');
        return { done: true };
      },
    });
    const b = await kit.steps().createBlock([{ class: 'test-throttle-once' }], { group });
    const id = b.ids[0]!;
    await tick();
    expect(await work()).toEqual([`${id}:throttled`]);
    const s = await kit.row(id);
    expect([s.state, s.retries, s.is_throttled, s.was_throttled]).toEqual(['pending', 0, true, true]);
    await kit.clock.advance(1000);
    expect((await tick()).dispatched).toBe(1);
    expect(await jobIds()).toContain(`step:${id}:0`);
    expect(await work()).toEqual([`${id}:completed`]);
  });

  it('absorbs a duplicate push of the same dispatch', async () => {
    const b = await kit.steps().createBlock([{ class: 'noop' }], { group });
    await tick();
    const q = await kit.queues.queue('default');
    await q.add('noop', { stepId: b.ids[0], prefix: '', retries: 0 }, { jobId: `step:${b.ids[0]}:0` });
    expect((await jobIds()).filter((j) => j === `step:${b.ids[0]}:0`)).toHaveLength(1);
  });
});
