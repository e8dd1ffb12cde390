import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { stepKit, type StepKit } from './helpers.js';
import { DispatchDaemon } from '../../src/steps/daemon.js';
import { stepTables } from '../../src/steps/tables.js';
import { pauseDispatch, resumeDispatch, setFrozen } from '../../src/support/box-flags.js';
import { heartbeatKey } from '../../src/support/heartbeat.js';
import { loadConfig } from '../../src/config/index.js';

let ctx: TestContext;
let kit: StepKit;
const t = stepTables('');
const tt = stepTables('trading_');

beforeAll(async () => {
  ctx = await createTestContext('step-daemon');
  kit = await stepKit(ctx);
  // the freeze marker lives under STORAGE_PATH; this file runs in its own process
  process.env.STORAGE_PATH = ctx.env.STORAGE_PATH;
});
afterAll(async () => {
  setFrozen(false);
  await kit?.close();
  await ctx?.cleanup();
});

function daemon(env: Record<string, string> = {}, opts = {}) {
  const config = loadConfig({ ...ctx.env, ...env });
  return new DispatchDaemon({ config, db: ctx.db, redis: kit.redis, queues: kit.queues, clock: kit.clock, log: kit.log }, { concurrency: 3, ...opts });
}

/** The next cycle once the activity poll is due again (cycles in between tick only woken lanes). */
async function next(d: DispatchDaemon) {
  await kit.clock.advance(1000);
  return d.cycle();
}

const stateOf = async (id: number, table = t.steps) => (await ctx.db(table).where('id', id).first()).state as string;

describe('dispatch daemon cycle', () => {
  it('idles when the kill switch is off, and dispatches when it is on', async () => {
    const b = await kit.steps().createBlock([{ class: 'noop' }]);
    const off = await daemon({ CAN_DISPATCH_STEPS: 'false' }).cycle();
    expect(off.gated).toBe('kill-switch');
    expect(await stateOf(b.ids[0]!)).toBe('pending');
    const on = await daemon().cycle();
    expect(on.gated).toBe(null);
    expect(on.dispatched).toBe(1);
    expect(await stateOf(b.ids[0]!)).toBe('dispatched');
  });

  it('idles while the freeze marker exists', async () => {
    const b = await kit.steps().createBlock([{ class: 'noop' }]);
    setFrozen(true, 'test');
    try {
      expect((await daemon().cycle()).gated).toBe('frozen');
      expect(await stateOf(b.ids[0]!)).toBe('pending');
    } finally {
      setFrozen(false);
    }
    expect((await daemon().cycle()).dispatched).toBeGreaterThanOrEqual(1);
  });

  it('leaves a paused set alone and keeps the other going', async () => {
    const d = daemon();
    const def = await kit.steps().createBlock([{ class: 'noop' }]);
    const trd = await kit.steps('trading_').createBlock([{ class: 'noop' }]);
    await pauseDispatch(kit.redis, ctx.prefix, 'trading_', 'test', 60);
    try {
      await next(d);
      expect(await stateOf(def.ids[0]!)).toBe('dispatched');
      expect(await stateOf(trd.ids[0]!, tt.steps)).toBe('pending');
      await pauseDispatch(kit.redis, ctx.prefix, null, 'all', 60);
      const more = await kit.steps().createBlock([{ class: 'noop' }]);
      await next(d);
      expect(await stateOf(more.ids[0]!)).toBe('pending');
    } finally {
      await resumeDispatch(kit.redis, ctx.prefix, null);
      await resumeDispatch(kit.redis, ctx.prefix, 'trading_');
    }
    await next(d);
    expect(await stateOf(trd.ids[0]!, tt.steps)).toBe('dispatched');
  });

  it('ticks only lanes with active work, plus lanes with unfinished rows once a minute', async () => {
    const d = daemon();
    await d.cycle(); // first cycle: the sweep ticks every lane
    expect((await d.cycle()).ticks).toEqual([]); // nothing woke it and the poll is not due yet
    const quiet = await next(d);
    // nothing active in either set (earlier steps are dispatched: active) → only those lanes
    const lanes = new Set(quiet.ticks.map((x) => `${x.set}:${x.lane}`));
    const active = await ctx.db(t.steps).whereIn('state', ['pending', 'dispatched', 'running']).distinct('group');
    const activeT = await ctx.db(tt.steps).whereIn('state', ['pending', 'dispatched', 'running']).distinct('group');
    expect(lanes).toEqual(new Set([...active.map((r: { group: string }) => `default:${r.group}`), ...activeT.map((r: { group: string }) => `trading:${r.group}`)]));
    // a lane whose only unfinished row is a dormant resolver is not active, but the minute sweep ticks it
    await kit.steps().createBlock([{ class: 'noop', type: 'resolve-exception' }], { group: 'kappa' });
    expect((await next(d)).ticks.some((x) => x.lane === 'kappa')).toBe(false);
    await kit.clock.advance(60_000);
    const swept = await d.cycle();
    expect(swept.ticks.some((x) => x.set === 'default' && x.lane === 'kappa')).toBe(true);
  });

  it('isolates a failing group: the others still dispatch', async () => {
    const d = daemon();
    const bad = await kit.steps().createBlock([{ class: 'noop' }], { group: 'beta' });
    await ctx.db(t.steps).where('id', bad.ids[0]!).update({ queue: 'bad:queue' }); // BullMQ refuses ':' in queue names
    const good = await kit.steps().createBlock([{ class: 'noop' }], { group: 'gamma' });
    const r = await next(d);
    const beta = r.ticks.find((x) => x.set === 'default' && x.lane === 'beta');
    expect(beta?.error).toBeTruthy();
    expect(await stateOf(good.ids[0]!)).toBe('dispatched');
    expect(await stateOf(bad.ids[0]!)).toBe('pending'); // returned to pending by the failed push
    await ctx.db(t.steps).where('id', bad.ids[0]!).update({ queue: 'default' });
    await next(d);
    expect(await stateOf(bad.ids[0]!)).toBe('dispatched');
    // every lock was released
    expect((await ctx.db(t.dispatcher).where('can_dispatch', false)).length).toBe(0);
  });

  it('wakes on a creation signal and arms a timer for a delayed step', async () => {
    const d = daemon();
    await d.init();
    await d.cycle();
    const b = await kit.steps().createBlock([{ class: 'noop' }]);
    await d.wait(2000); // returns as soon as the signal is on the stream
    const r = await d.cycle();
    expect(r.ticks.some((x) => x.lane === b.group && x.dispatched === 1)).toBe(true);
    const later = kit.clock.now() + 30_000;
    const delayed = await kit.steps().createBlock([{ class: 'noop', dispatchAfter: later }], { group: 'delta' });
    await d.wait(2000);
    const idle = await d.cycle();
    expect(idle.ticks.some((x) => x.lane === 'delta' && x.dispatched === 1)).toBe(false);
    expect(d.waitMs(idle)).toBeLessThanOrEqual(30_000);
    await kit.clock.advance(30_000);
    const due = await d.cycle();
    expect(due.ticks.some((x) => x.lane === 'delta' && x.dispatched === 1)).toBe(true);
    expect(await stateOf(delayed.ids[0]!)).toBe('dispatched');
  });

  it('goes again at once when a lane filled its cap', async () => {
    const d = daemon({}, { maxPerTick: 2 });
    await d.cycle();
    await kit.steps().createBlocks(Array.from({ length: 5 }, () => ({ steps: [{ class: 'noop' }], options: { group: 'epsilon' } })));
    const r = await next(d);
    expect(r.ticks.find((x) => x.lane === 'epsilon')?.more).toBe(true);
    expect(d.waitMs(r)).toBe(0);
  });

  it('keeps a backlogged lane locked between its back-to-back ticks, for a second at most, and gives it back', async () => {
    const d = daemon({}, { maxPerTick: 2 });
    await d.cycle();
    await kit.steps().createBlocks(Array.from({ length: 7 }, () => ({ steps: [{ class: 'noop' }], options: { group: 'zeta' } })));
    const lock = async () => (await ctx.db(t.dispatcher).where('group', 'zeta').first()) as { can_dispatch: unknown; current_tick_id: unknown };
    const first = await next(d);
    expect(first.ticks.find((x) => x.lane === 'zeta')).toMatchObject({ dispatched: 2, more: true });
    // held: another dispatcher (another daemon) cannot take the lane meanwhile
    expect(Boolean(Number((await lock()).can_dispatch))).toBe(false);
    const other = await daemon({}, { maxPerTick: 2 }).cycle();
    expect(other.ticks.find((x) => x.lane === 'zeta')?.acquired ?? false).toBe(false);
    const held = (await lock()).current_tick_id;
    // the next tick reuses the lock (same holder tick id) and dispatches the next two
    const second = await d.cycle();
    expect(second.ticks.find((x) => x.lane === 'zeta')).toMatchObject({ acquired: true, dispatched: 2 });
    expect((await lock()).current_tick_id).toBe(held);
    // past LOCK_HOLD_MAX_MS the lock is given back and taken again with a new tick id
    await kit.clock.advance(1500);
    const third = await d.cycle();
    expect(third.ticks.find((x) => x.lane === 'zeta')).toMatchObject({ acquired: true, dispatched: 2 });
    expect((await lock()).current_tick_id).not.toBe(held);
    // the last one finds no more work and releases
    const fourth = await d.cycle();
    expect(fourth.ticks.find((x) => x.lane === 'zeta')).toMatchObject({ dispatched: 1, more: false });
    expect(Boolean(Number((await lock()).can_dispatch))).toBe(true);
    expect(Number((await ctx.db(t.steps).where({ group: 'zeta', state: 'dispatched' }).count({ n: '*' }).first())!.n)).toBe(7);
  });

  it('gives back held locks when it stops', async () => {
    const d = daemon({}, { maxPerTick: 1 });
    await d.cycle();
    await kit.steps().createBlocks(Array.from({ length: 3 }, () => ({ steps: [{ class: 'noop' }], options: { group: 'eta' } })));
    await next(d);
    expect(Boolean(Number((await ctx.db(t.dispatcher).where('group', 'eta').first()).can_dispatch))).toBe(false);
    await d.releaseHeld();
    expect(Boolean(Number((await ctx.db(t.dispatcher).where('group', 'eta').first()).can_dispatch))).toBe(true);
  });

  it('writes its heartbeat', async () => {
    const d = daemon();
    await d.cycle();
    await d.heartbeat(true);
    const raw = await kit.redis.get(heartbeatKey(ctx.prefix, 'dispatch-daemon', ctx.config.hostname));
    const hb = JSON.parse(raw!);
    expect(hb).toMatchObject({ daemon: 'dispatch-daemon', status: 'running' });
    expect(typeof hb.last_cycle_at).toBe('string');
    expect(typeof hb.ticks_per_sec).toBe('number');
    expect(typeof hb.dispatched_per_min).toBe('number');
    expect(Object.keys(hb.sets).sort()).toEqual(['default', 'trading']);
    expect(hb.sets.default).toHaveProperty('paused', false);
    expect(await kit.redis.ttl(heartbeatKey(ctx.prefix, 'dispatch-daemon', ctx.config.hostname))).toBeGreaterThan(0);
  });
});
