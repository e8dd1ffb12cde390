import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { stepKit, type StepKit } from './helpers.js';
import { recoverStale, type RecoverDeps } from '../../src/steps/recover.js';
import { archiveSteps, purgeSteps } from '../../src/steps/retention.js';
import { retryStep, cancelStep } from '../../src/steps/operator.js';
import { moveStep } from '../../src/steps/machine.js';
import { stepTables } from '../../src/steps/tables.js';
import { Notifier } from '../../src/notify/notifier.js';
import { pauseDispatch, resumeDispatch } from '../../src/support/box-flags.js';

let ctx: TestContext;
let kit: StepKit;
let deps: RecoverDeps;
const t = stepTables('');
const DAY = 86_400_000;

beforeAll(async () => {
  ctx = await createTestContext('step-recovery');
  kit = await stepKit(ctx);
  deps = { db: ctx.db, redis: kit.redis, redisPrefix: ctx.prefix, clock: kit.clock, log: kit.log, hostname: 'test-host', notifier: new Notifier({ db: ctx.db, redis: kit.redis, prefix: ctx.prefix, log: kit.log, clock: kit.clock, hostname: 'test-host' }) };
});
afterAll(async () => {
  await kit?.close();
  await ctx?.cleanup();
});
beforeEach(async () => {
  await ctx.db(t.steps).del();
  await ctx.db(t.archive).del();
  await ctx.db('notifications').del();
  await ctx.db(t.dispatcher).update({ can_dispatch: true, current_tick_id: null });
});

const row = (id: number) => kit.row(id);
const alerts = async () => (await ctx.db('notifications').select('canonical')).map((r: { canonical: string }) => r.canonical);

describe('steps:recover-stale', () => {
  it('releases locks untouched for the lock threshold only', async () => {
    const now = kit.clock.now();
    await ctx.db(t.dispatcher).where('group', 'alpha').update({ can_dispatch: false, current_tick_id: 5, updated_at: new Date(now - 31_000) });
    await ctx.db(t.dispatcher).where('group', 'beta').update({ can_dispatch: false, current_tick_id: 6, updated_at: new Date(now - 10_000) });
    const r = await recoverStale(deps, '', { releaseLocks: true });
    expect(r.releasedLocks).toBe(1);
    const rows = await ctx.db(t.dispatcher).whereIn('group', ['alpha', 'beta']).orderBy('group').select('group', 'can_dispatch');
    expect(rows.map((x: { can_dispatch: unknown }) => !!x.can_dispatch)).toEqual([true, false]);
    expect(await alerts()).toEqual(['stale_dispatcher_locks_released']);
  });

  it('requeues stale dispatched steps at high priority on their own queue, and fails those out of budget', async () => {
    const b = await kit.steps().createBlock([{ class: 'noop', queue: 'orders' }, { class: 'noop', queue: 'orders' }, { class: 'noop' }], { group: 'alpha' });
    const [a, spent, fresh] = b.ids as [number, number, number];
    await kit.dispatcher().tick('alpha');
    await ctx.db(t.steps).where('id', spent).update({ retries: 2 }); // budget 3: the next requeue would be the 3rd
    await kit.clock.advance(301_000);
    await ctx.db(t.steps).where('id', fresh).update({ updated_at: new Date(kit.clock.now()) });
    const r = await recoverStale(deps, '', { recoverDispatched: true });
    expect(r.dispatched).toMatchObject({ stale: 2, requeued: 1, failed: 1, promoted: 1 });
    const s = await row(a);
    expect([s.state, s.priority, s.queue, s.retries]).toEqual(['pending', 'high', 'orders', 1]);
    expect((await row(spent)).state).toBe('failed');
    expect((await row(fresh)).state).toBe('dispatched');
    expect(await alerts()).toEqual(['stale_dispatched_steps_detected']);
    // dispatched again and still stuck: already promoted → critical
    await kit.dispatcher().tick('alpha');
    await kit.clock.advance(301_000);
    await ctx.db(t.steps).where('id', fresh).update({ updated_at: new Date(kit.clock.now()) });
    const again = await recoverStale(deps, '', { recoverDispatched: true });
    expect(again.dispatched.stillStuck).toBe(true);
    expect(await alerts()).toContain('stale_priority_steps_detected');
  });

  it('alerts on a group that makes no progress, unless dispatch is paused', async () => {
    const b = await kit.steps().createBlock([{ class: 'noop' }], { group: 'gamma' });
    await kit.clock.advance(601_000);
    let r = await recoverStale(deps, '', { watchdogProgress: true });
    expect(r.stalledGroups.map((g) => g.group)).toEqual(['gamma']);
    expect(await alerts()).toEqual(['group_no_progress_detected']);
    await ctx.db('notifications').del();
    await deps.notifier.reset('group_no_progress_detected', 'default:gamma');
    await pauseDispatch(kit.redis, ctx.prefix, null, 'test', 60);
    try {
      r = await recoverStale(deps, '', { watchdogProgress: true });
      expect(r.stalledGroups).toHaveLength(1);
      expect(await alerts()).toEqual([]);
    } finally {
      await resumeDispatch(kit.redis, ctx.prefix, null);
    }
    // a recent terminal row in the group means progress
    const other = await kit.steps().createBlock([{ class: 'noop' }], { group: 'gamma' });
    await moveStep(ctx.db, t, other.ids[0]!, 'pending', 'cancelled', { now: kit.clock.now() });
    r = await recoverStale(deps, '', { watchdogProgress: true });
    expect(r.stalledGroups).toEqual([]);
    expect((await row(b.ids[0]!)).state).toBe('pending');
  });

  it('recovers steps left running by a lost worker after their class timeout + 60 s, never a parent with children', async () => {
    const b = await kit.steps().createBlock([{ class: 'noop' }, { class: 'noop' }, { class: 'no-such-class' }, { class: 'noop' }], { group: 'delta' });
    const [young, old, unknown, parent] = b.ids as [number, number, number, number];
    await kit.steps().createChildBlock(parent, [{ class: 'noop' }]);
    await kit.dispatcher().tick('delta');
    for (const id of b.ids) await moveStep(ctx.db, t, id, 'dispatched', 'running', { now: kit.clock.now(), hostname: 'gone' });
    await ctx.db(t.steps).where('id', unknown).update({ retries: 2 }); // unknown class: budget 2
    await kit.clock.advance(359_000);
    await ctx.db(t.steps).where('id', young).update({ started_at: new Date(kit.clock.now() - 1000) });
    let r = await recoverStale(deps, '');
    expect(r.running.requeued + r.running.failed).toBe(0);
    await kit.clock.advance(2000);
    r = await recoverStale(deps, '');
    expect(r.running).toMatchObject({ requeued: 1, failed: 1, skippedParents: 1 });
    expect((await row(old)).state).toBe('pending');
    expect((await row(old)).retries).toBe(1);
    expect((await row(unknown)).state).toBe('failed');
    expect((await row(parent)).state).toBe('running');
    expect((await row(young)).state).toBe('running');
    expect(await alerts()).toEqual(['stale_running_steps_recovered']);
  });
});

describe('archive and purge', () => {
  it('moves whole settled trees older than N days to the archive, ids kept, and leaves live trees', async () => {
    const done = await kit.steps().createBlock([{ class: 'noop' }, { class: 'noop', index: 2, type: 'resolve-exception' }], { group: 'alpha' });
    const kids = await kit.steps().createChildBlock(done.ids[0]!, [{ class: 'noop' }]);
    const live = await kit.steps().createBlock([{ class: 'noop' }], { group: 'alpha' });
    const liveKids = await kit.steps().createChildBlock(live.ids[0]!, [{ class: 'noop' }]);
    await ctx.db(t.steps).whereIn('id', [done.ids[0]!, kids.ids[0]!, live.ids[0]!]).update({ state: 'completed', completed_at: new Date(kit.clock.now()) });
    await kit.clock.advance(2 * DAY);
    const r = await archiveSteps({ db: ctx.db, clock: kit.clock, log: kit.log }, '', 1);
    expect(r).toMatchObject({ trees: 1, rows: 3, skipped: 1 });
    expect((await ctx.db(t.archive).select('id').orderBy('id')).map((x: { id: number }) => Number(x.id))).toEqual([...done.ids, ...kids.ids].sort((a, b) => a - b));
    expect(await ctx.db(t.steps).whereIn('id', [...done.ids, ...kids.ids]).count({ n: '*' }).then((x) => Number(x[0]!.n))).toBe(0);
    expect((await row(liveKids.ids[0]!)).state).toBe('pending');
    // purge --only-archive
    await ctx.db(t.archive).update({ created_at: new Date(kit.clock.now() - 6 * DAY) });
    const p = await purgeSteps({ db: ctx.db, clock: kit.clock, log: kit.log }, '', { days: 5, onlyArchive: true });
    expect(p.archive).toBe(3);
  });

  it('purges old settled trees and old or fast ticks', async () => {
    const b = await kit.steps().createBlock([{ class: 'noop' }], { group: 'alpha' });
    await moveStep(ctx.db, t, b.ids[0]!, 'pending', 'cancelled', { now: kit.clock.now() });
    await ctx.db(t.ticks).insert([
      { id: 1, group: 'alpha', progress: 8, duration: 9000, created_at: new Date(kit.clock.now()) },
      { id: 2, group: 'alpha', progress: 8, duration: 100, created_at: new Date(kit.clock.now() + 40 * DAY) },
    ]);
    await kit.clock.advance(31 * DAY);
    const p = await purgeSteps({ db: ctx.db, clock: kit.clock, log: kit.log }, '', { days: 30 });
    expect(p.ticks).toBe(1);
    expect(p.steps?.rows).toBe(1);
    const fast = await purgeSteps({ db: ctx.db, clock: kit.clock, log: kit.log }, '', { days: 30, ticks: true });
    expect(fast.ticks).toBe(1);
    await ctx.db(t.ticks).del();
  });
});

describe('operator retry and cancel', () => {
  it('revives a failed step, its cancelled later siblings and the parent that failed because of it', async () => {
    const p = await kit.steps().createBlock([{ class: 'noop' }], { group: 'eta' });
    const kids = await kit.steps().createChildBlock(p.ids[0]!, [{ class: 'fail', index: 1 }, { class: 'noop', index: 2 }]);
    const d = kit.dispatcher();
    await moveStep(ctx.db, t, p.ids[0]!, 'pending', 'running', { now: kit.clock.now() });
    await ctx.db(t.steps).where('id', p.ids[0]!).update({ execution_mode: 'awaiting-children' });
    await moveStep(ctx.db, t, kids.ids[0]!, 'pending', 'running', { now: kit.clock.now() });
    await moveStep(ctx.db, t, kids.ids[0]!, 'running', 'failed', { now: kit.clock.now(), set: { error_message: 'boom' } });
    for (let i = 0; i < 4; i++) await d.tick('eta');
    expect((await row(p.ids[0]!)).state).toBe('failed');
    expect((await row(kids.ids[1]!)).state).toBe('cancelled');
    const r = await retryStep(kit.steps(), ctx.db, kit.clock, kids.ids[0]!);
    expect(r).toMatchObject({ from: 'failed', to: 'pending' });
    expect(r.revived.sort()).toEqual([p.ids[0]!, kids.ids[1]!].sort());
    const s = await row(kids.ids[0]!);
    expect([s.state, s.retries, s.error_message]).toEqual(['pending', 0, null]);
    expect((await row(p.ids[0]!)).state).toBe('running');
    expect((await row(kids.ids[1]!)).state).toBe('pending');
    await expect(retryStep(kit.steps(), ctx.db, kit.clock, 999_999)).rejects.toThrow(/does not exist/);
  });

  it('cancels a step that has not started, refuses a running or finished one', async () => {
    const b = await kit.steps().createBlock([{ class: 'noop' }, { class: 'noop' }], { group: 'theta' });
    expect((await cancelStep(kit.steps(), ctx.db, kit.clock, b.ids[0]!)).to).toBe('cancelled');
    await expect(cancelStep(kit.steps(), ctx.db, kit.clock, b.ids[0]!)).rejects.toThrow(/already cancelled/);
    await moveStep(ctx.db, t, b.ids[1]!, 'pending', 'running', { now: kit.clock.now() });
    await expect(cancelStep(kit.steps(), ctx.db, kit.clock, b.ids[1]!)).rejects.toThrow(/running/);
    await expect(retryStep(kit.steps(), ctx.db, kit.clock, b.ids[1]!)).rejects.toThrow(/--force/);
    expect((await retryStep(kit.steps(), ctx.db, kit.clock, b.ids[1]!, true)).to).toBe('pending');
  });
});
