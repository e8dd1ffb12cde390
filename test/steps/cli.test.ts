/** The steps:* commands, kraite:cron-flush-dispatcher-saturation and queue:work as bin/artisan runs them. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { artisan } from '../support/artisan.js';
import { stepKit, type StepKit } from './helpers.js';
import { stepTables } from '../../src/steps/tables.js';
import { dispatchPauseKey } from '../../src/support/box-flags.js';
import { recordSaturation } from '../../src/steps/saturation.js';

let ctx: TestContext;
let kit: StepKit;
const t = stepTables('');

beforeAll(async () => {
  ctx = await createTestContext('step-cli');
  kit = await stepKit(ctx);
});
afterAll(async () => {
  await kit?.close();
  await ctx?.cleanup();
});

const json = (out: string) => JSON.parse(out);

describe('steps commands', () => {
  it('steps:install creates a prefixed set once and rejects an empty prefix', async () => {
    const r = await artisan(['steps:install', '--prefix=backtest', '--json'], ctx.env);
    expect(r.exitCode).toBe(0);
    expect(json(r.stdout).created).toEqual(['backtest_steps', 'backtest_steps_dispatcher', 'backtest_steps_dispatcher_ticks', 'backtest_steps_archive']);
    expect(Number((await ctx.db('backtest_steps_dispatcher').count({ n: '*' }))[0]!.n)).toBe(10);
    const again = await artisan(['steps:install', '--prefix=backtest_'], ctx.env);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toMatch(/EXISTS\s+backtest_steps\n/);
    const empty = await artisan(['steps:install', '--prefix='], ctx.env);
    expect(empty.exitCode).toBe(1);
    expect(empty.stderr).toMatch(/must not be empty/);
  });

  it('creates, dispatches, lists and shows steps; bad input exits 1 or 2', async () => {
    const c = await artisan(['steps:create', '--class=noop', '--count=2', '--chain=2', '--json'], ctx.env);
    expect(c.exitCode).toBe(0);
    const blocks = json(c.stdout).blocks as Array<{ ids: number[]; group: string }>;
    expect(blocks.flatMap((b) => b.ids)).toHaveLength(4);
    const d = await artisan(['steps:dispatch', `--group=${blocks.map((b) => b.group).join(',')}`, '--json'], ctx.env);
    expect(d.exitCode).toBe(0);
    expect(json(d.stdout).ticks.reduce((a: number, x: { dispatched: number }) => a + x.dispatched, 0)).toBe(2);
    const l = await artisan(['steps:list', '--state=dispatched', '--json'], ctx.env);
    expect(json(l.stdout).steps.map((s: { id: number }) => s.id).sort()).toEqual(blocks.map((b) => b.ids[0]).sort());
    const s = await artisan(['steps:show', String(blocks[0]!.ids[1]), '--json'], ctx.env);
    const shown = json(s.stdout);
    expect(shown.tree.steps.map((x: { id: number }) => x.id)).toEqual(blocks[0]!.ids);
    const human = await artisan(['steps:show', String(blocks[0]!.ids[1])], ctx.env);
    expect(human.stdout).toMatch(/▶ \[2\] #\d+ pending/);
    expect((await artisan(['steps:show', '999999'], ctx.env)).exitCode).toBe(1);
    expect((await artisan(['steps:list', '--state=sleeping'], ctx.env)).exitCode).toBe(2);
    expect((await artisan(['steps:dispatch', '--prefix=Bad!'], ctx.env)).exitCode).toBe(2);
    expect((await artisan(['steps:create', '--class=noop', '--args=[1]'], ctx.env)).exitCode).toBe(1);
  });

  it('pauses and resumes dispatch per set with a TTL', async () => {
    const p = await artisan(['steps:pause', '--prefix=trading', '--ttl=120', '--reason=maintenance'], ctx.env);
    expect(p.exitCode).toBe(0);
    const key = dispatchPauseKey(ctx.prefix, 'trading_');
    expect(JSON.parse((await kit.redis.get(key))!)).toMatchObject({ reason: 'maintenance', expires_in_seconds: 120 });
    expect(await kit.redis.ttl(key)).toBeGreaterThan(100);
    const d = await artisan(['steps:dispatch', '--prefix=trading', '--json'], ctx.env);
    expect(json(d.stdout).paused.reason).toBe('maintenance');
    expect((await artisan(['steps:resume', '--prefix=trading'], ctx.env)).exitCode).toBe(0);
    expect(await kit.redis.exists(key)).toBe(0);
    await artisan(['steps:pause', '--ttl=0'], ctx.env);
    expect(await kit.redis.ttl(dispatchPauseKey(ctx.prefix, null))).toBe(-1);
    await artisan(['steps:resume'], ctx.env);
    expect(await kit.redis.exists(dispatchPauseKey(ctx.prefix, null))).toBe(0);
  });

  it('cancels and retries a step', async () => {
    const b = await kit.steps().createBlock([{ class: 'noop' }]);
    const id = String(b.ids[0]);
    const c = await artisan(['steps:cancel', id, '--json'], ctx.env);
    expect(json(c.stdout)).toMatchObject({ from: 'pending', to: 'cancelled' });
    const again = await artisan(['steps:cancel', id], ctx.env);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toMatch(/already cancelled/);
    const r = await artisan(['steps:retry', id], ctx.env);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/cancelled → pending/);
    expect((await kit.row(b.ids[0]!)).state).toBe('pending');
  });

  it('recover-stale, archive and purge report as JSON', async () => {
    await ctx.db(t.dispatcher).where('group', 'kappa').update({ can_dispatch: false, updated_at: new Date(Date.now() - 60_000) });
    const r = await artisan(['steps:recover-stale', '--release-locks', '--recover-dispatched', '--watchdog-progress', '--json'], ctx.env);
    expect(r.exitCode).toBe(0);
    expect(json(r.stdout)).toMatchObject({ set: 'default', releasedLocks: 1 });
    const a = await artisan(['steps:archive', '--duration=1', '--prefix=trading', '--json'], ctx.env);
    expect(json(a.stdout)).toMatchObject({ set: 'trading', trees: 0 });
    const p = await artisan(['steps:purge', '--only-archive', '--days=5', '--json'], ctx.env);
    expect(json(p.stdout)).toMatchObject({ set: 'default', archive: 0 });
    expect((await artisan(['steps:purge', '--only-archive', '--ticks'], ctx.env)).exitCode).toBe(2);
  });

  it('flushes finished saturation minutes into SQL', async () => {
    const past = Date.now() - 5 * 60_000;
    await recordSaturation(kit.redis, ctx.prefix, 'trading_', 'trading_alpha', past, { dispatched: 100, capped: true, pendingAfter: 40 });
    await recordSaturation(kit.redis, ctx.prefix, 'trading_', 'trading_alpha', past, { dispatched: 7, capped: false, pendingAfter: 0 });
    const r = await artisan(['kraite:cron-flush-dispatcher-saturation', '--prefix=trading', '--json'], ctx.env);
    expect(r.exitCode).toBe(0);
    const rows = await ctx.db('steps_dispatcher_saturation').where('group', 'trading_alpha');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ ticks_observed: 2, ticks_capped: 1, ticks_capped_with_leftover: 1, total_dispatched: 107, max_pending_after: 40 });
  });

  it('queue:work --once processes one job; --stop-when-empty drains the queue', async () => {
    await (await kit.queues.queue('clitest')).obliterate({ force: true });
    const b = await kit.steps().createBlocks(Array.from({ length: 3 }, () => ({ steps: [{ class: 'noop', queue: 'clitest' }], options: { group: 'iota' } })));
    await kit.dispatcher().tick('iota');
    const once = await artisan(['queue:work', '--queue=clitest', '--once', '--json'], ctx.env);
    expect(once.exitCode).toBe(0);
    expect(json(once.stdout)).toMatchObject({ processed: 1, stoppedBy: 'max-jobs' });
    const rest = await artisan(['queue:work', '--queue=clitest', '--stop-when-empty', '--json'], ctx.env);
    expect(json(rest.stdout)).toMatchObject({ processed: 2, stoppedBy: 'empty' });
    const states = await ctx.db(t.steps).whereIn('id', b.flatMap((x) => x.ids)).select('state');
    expect(states.map((s: { state: string }) => s.state)).toEqual(['completed', 'completed', 'completed']);
    expect((await artisan(['queue:work', '--queue=a:b', '--once'], ctx.env)).exitCode).toBe(1);
  });
});
