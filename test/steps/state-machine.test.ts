import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { stepKit, type StepKit } from './helpers.js';
import { IllegalTransitionError, STATES, TRANSITIONS, canTransition, type StepState } from '../../src/steps/states.js';
import { moveStep, TransitionGuardError } from '../../src/steps/machine.js';
import { stepTables } from '../../src/steps/tables.js';
import { claimSteps } from '../../src/db/steps/transitions.js';
import { createDb } from '../../src/db/connection.js';

let ctx: TestContext;
let kit: StepKit;
const t = stepTables('');

beforeAll(async () => {
  ctx = await createTestContext('step-machine');
  kit = await stepKit(ctx);
});
afterAll(async () => {
  await kit?.close();
  await ctx?.cleanup();
});

/** A step forced into `state` (raw SQL: the fixture, not the code under test). */
async function stepIn(state: StepState, extra: Record<string, unknown> = {}): Promise<number> {
  const { ids } = await kit.steps().createBlock([{ class: 'noop' }]);
  await ctx.db(t.steps).where('id', ids[0]!).update({ state, retries: 2, is_throttled: false, hostname: 'old-host', ...extra });
  return ids[0]!;
}

const now = () => kit.clock.now();

describe('step state machine', () => {
  it('lists exactly the reference transitions', () => {
    const allowed = STATES.flatMap((f) => TRANSITIONS[f].map((to) => `${f}>${to}`)).sort();
    expect(allowed).toEqual(
      [
        'pending>dispatched', 'pending>running', 'pending>cancelled', 'pending>failed', 'pending>skipped',
        'dispatched>running', 'dispatched>cancelled', 'dispatched>failed', 'dispatched>pending', 'dispatched>skipped',
        'running>completed', 'running>stopped', 'running>failed', 'running>skipped', 'running>pending',
        'not-runnable>pending', 'not-runnable>cancelled', 'not-runnable>skipped',
      ].sort(),
    );
  });

  for (const from of STATES) {
    for (const to of STATES) {
      if (canTransition(from, to)) {
        it(`allows ${from} → ${to} once, as one conditional update`, async () => {
          const id = await stepIn(from);
          expect(await moveStep(ctx.db, t, id, from, to, { now: now(), hostname: 'w1', tickId: 77 })).toBe(true);
          const s = await kit.row(id);
          expect(s.state).toBe(to);
          // the second actor loses: the row is no longer in `from`
          expect(await moveStep(ctx.db, t, id, from, to, { now: now(), hostname: 'w2', tickId: 78 })).toBe(false);
          expect((await kit.row(id)).state).toBe(to);
        });
      } else {
        it(`forbids ${from} → ${to} with a typed error and no write`, async () => {
          const id = await stepIn(from);
          const before = await kit.row(id);
          await expect(moveStep(ctx.db, t, id, from, to, { now: now() })).rejects.toBeInstanceOf(IllegalTransitionError);
          expect(await kit.row(id)).toEqual(before);
        });
      }
    }
  }

  it('writes the side effects of each move', async () => {
    const at = now();
    let id = await stepIn('pending');
    await moveStep(ctx.db, t, id, 'pending', 'dispatched', { now: at, tickId: 42 });
    expect((await kit.row(id)).tick_id).toBe(42);

    id = await stepIn('dispatched');
    await moveStep(ctx.db, t, id, 'dispatched', 'running', { now: at, hostname: 'worker-7' });
    let s = await kit.row(id);
    expect([s.hostname, s.started_at, s.is_throttled]).toEqual(['worker-7', at, false]);

    // requeue counts a retry unless throttled, and resets the run
    id = await stepIn('running', { started_at: new Date(at - 5000), completed_at: new Date(at), duration: 99 });
    await moveStep(ctx.db, t, id, 'running', 'pending', { now: at });
    s = await kit.row(id);
    expect([s.retries, s.started_at, s.completed_at, s.duration, s.hostname]).toEqual([3, null, null, 0, null]);
    id = await stepIn('dispatched', { is_throttled: true });
    await moveStep(ctx.db, t, id, 'dispatched', 'pending', { now: at });
    expect((await kit.row(id)).retries).toBe(2);
    // a throttle written in the same update wins over the old flag
    id = await stepIn('running');
    await moveStep(ctx.db, t, id, 'running', 'pending', { now: at, set: { is_throttled: true } });
    expect((await kit.row(id)).retries).toBe(2);

    id = await stepIn('running', { is_throttled: true });
    await moveStep(ctx.db, t, id, 'running', 'failed', { now: at });
    s = await kit.row(id);
    expect([s.completed_at, s.is_throttled]).toEqual([at, false]);

    id = await stepIn('pending');
    await moveStep(ctx.db, t, id, 'pending', 'skipped', { now: at });
    expect((await kit.row(id)).completed_at).toBe(null);
    id = await stepIn('not-runnable');
    await moveStep(ctx.db, t, id, 'not-runnable', 'cancelled', { now: at });
    expect((await kit.row(id)).completed_at).toBe(at);
  });

  it('two connections claiming the same steps at once win disjoint sets that cover them all', async () => {
    const other = await createDb(ctx.config.database, { poolMax: 2 });
    try {
      const blocks = await kit.steps().createBlocks(Array.from({ length: 300 }, () => ({ steps: [{ class: 'noop' }], options: { group: 'claimtest' } })));
      const ids = blocks.flatMap((b) => b.ids);
      const [a, b] = await Promise.all([claimSteps(ctx.db, t, ids, 900_001, now()), claimSteps(other, t, [...ids].reverse(), 900_002, now())]);
      expect(a.length + b.length).toBe(ids.length);
      expect(a.filter((id) => b.includes(id))).toEqual([]);
      const rows = await ctx.db(t.steps).whereIn('id', ids).select('id', 'tick_id', 'state');
      expect(rows.every((r: { state: string }) => r.state === 'dispatched')).toBe(true);
      const byTick = new Map(rows.map((r: { id: number; tick_id: number }) => [Number(r.id), Number(r.tick_id)]));
      expect(a.every((id) => byTick.get(id) === 900_001) && b.every((id) => byTick.get(id) === 900_002)).toBe(true);
    } finally {
      await other.destroy();
    }
  });

  it('clears the dedupe key when a step leaves the live states', async () => {
    const r = await kit.steps().createUnlessLive({ class: 'noop', canonical: 'sync', relatable: { type: 'position', id: 1 } });
    expect(r.created).toBe(true);
    const id = r.block!.ids[0]!;
    expect((await kit.row(id)).dedupe_key).toBe('sync:position:1');
    const again = await kit.steps().createUnlessLive({ class: 'noop', canonical: 'sync', relatable: { type: 'position', id: 1 } });
    expect(again.created).toBe(false);
    expect(again.existing?.id).toBe(id);
    await moveStep(ctx.db, t, id, 'pending', 'cancelled', { now: now() });
    expect((await kit.row(id)).dedupe_key).toBe(null);
    const third = await kit.steps().createUnlessLive({ class: 'noop', canonical: 'sync', relatable: { type: 'position', id: 1 } });
    expect(third.created).toBe(true);
  });

  it('creates exactly one live step when many callers dedupe at once', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, () => kit.steps().createUnlessLive({ class: 'noop', canonical: 'race-key' })));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(await ctx.db(t.steps).where('canonical', 'race-key').count({ n: '*' }).then((r) => Number(r[0]!.n))).toBe(1);
  });

  it('refuses bad step specs before writing anything', async () => {
    const before = await ctx.db(t.steps).count({ n: '*' }).then((r) => Number(r[0]!.n));
    const api = kit.steps();
    await expect(api.createBlock([])).rejects.toThrow(/at least one step/);
    await expect(api.createBlock([{ class: '' }])).rejects.toThrow(/class/);
    await expect(api.createBlock([{ class: 'noop', index: -1 }])).rejects.toThrow(/index/);
    await expect(api.createBlock([{ class: 'noop', queue: 'a:b' }])).rejects.toThrow(/queue/);
    await expect(api.createBlock([{ class: 'noop', priority: 'low' as 'high' }])).rejects.toThrow(/priority/);
    await expect(api.createBlock([{ class: 'noop', arguments: [1] as unknown as Record<string, unknown> }])).rejects.toThrow(/arguments/);
    await expect(api.createBlock([{ class: 'noop' }], { group: '' })).rejects.toThrow(/group/);
    await expect(api.createChildBlock(987_654, [{ class: 'noop' }])).rejects.toThrow(/does not exist/);
    expect(await ctx.db(t.steps).count({ n: '*' }).then((r) => Number(r[0]!.n))).toBe(before);
  });

  it('assigns groups round-robin to new root blocks, and children inherit theirs', async () => {
    const blocks = await kit.steps().createBlocks(Array.from({ length: 10 }, () => ({ steps: [{ class: 'noop' }] })));
    expect(new Set(blocks.map((b) => b.group)).size).toBe(10);
    // one at a time, at the same instant, still round the ten groups
    const singles = [];
    for (let i = 0; i < 10; i++) singles.push((await kit.steps().createBlock([{ class: 'noop' }])).group);
    expect(new Set(singles).size).toBe(10);
    const one = await kit.steps().createBlock([{ class: 'noop' }]);
    const kid = await kit.steps().createChildBlock(one.ids[0]!, [{ class: 'noop' }]);
    expect(kid.group).toBe(one.group);
    expect(kid.workflowId).toBe(one.workflowId);
    const high = await kit.steps().createBlock([{ class: 'noop', priority: 'high' }]);
    const highKid = await kit.steps().createChildBlock(high.ids[0]!, [{ class: 'noop' }, { class: 'noop', priority: null, queue: 'orders' }]);
    expect((await kit.row(highKid.ids[0]!)).priority).toBe('high');
    expect((await kit.row(highKid.ids[0]!)).queue).toBe('priority');
    expect((await kit.row(highKid.ids[1]!)).queue).toBe('orders');
  });

  it('lets a parent complete only once its child tree has concluded', async () => {
    const parent = await kit.steps().createBlock([{ class: 'noop' }]);
    const pid = parent.ids[0]!;
    const kids = await kit.steps().createChildBlock(pid, [{ class: 'noop' }, { class: 'noop' }]);
    await ctx.db(t.steps).where('id', pid).update({ state: 'running' });
    await expect(moveStep(ctx.db, t, pid, 'running', 'completed', { now: now() })).rejects.toBeInstanceOf(TransitionGuardError);
    await ctx.db(t.steps).whereIn('id', kids.ids).update({ state: 'completed' });
    expect(await moveStep(ctx.db, t, pid, 'running', 'completed', { now: now() })).toBe(true);
  });
});
