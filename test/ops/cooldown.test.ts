import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { artisan } from '../support/artisan.js';
import { cooldown, cooldownStatus, warmup, type OpsDeps } from '../../src/ops/cooldown.js';
import { FakeClock } from '../../src/support/clock.js';
import { dispatchPause, getMaintenance } from '../../src/support/box-flags.js';
import { QueueFactory } from '../../src/queue/queues.js';
import { userDataShardQueue } from '../../src/queue/user-data.js';

let ctx: TestContext;
let queues: QueueFactory;
beforeAll(async () => {
  ctx = await createTestContext('cooldown');
  queues = new QueueFactory({ prefix: ctx.prefix, connection: ctx.redis });
});
afterAll(async () => {
  await queues?.close();
  await ctx?.cleanup();
});

function deps(clock: FakeClock): OpsDeps {
  return {
    db: ctx.db,
    redis: ctx.redis,
    prefix: ctx.prefix,
    clock,
    role: 'ingestion',
    userDataQueues: [userDataShardQueue(0)],
    queueLoad: async (names) => {
      const out: Record<string, number> = {};
      for (const n of names) {
        const c = await (await queues.queue(n)).getJobCounts('waiting', 'active');
        out[n] = (c.waiting ?? 0) + (c.active ?? 0);
      }
      return out;
    },
  };
}

describe('cooldown and warmup', () => {
  it('pauses dispatch, waits for the queues to drain, then goes down', async () => {
    const clock = new FakeClock(Date.parse('2026-11-27T12:00:00Z'));
    const q = await queues.queue(userDataShardQueue(0));
    const job = await q.add('ProcessUserDataEvent', { accountId: 5 });
    const run = cooldown(deps(clock), { timeoutMs: 60_000, pollMs: 5000 });
    await clock.advance(5000);
    expect(await dispatchPause(ctx.redis, ctx.prefix, 'trading_')).toMatchObject({ reason: 'kraite:cooldown' });
    expect(await getMaintenance(ctx.redis, ctx.prefix)).toBeNull(); // still waiting for the job
    await job.remove();
    await clock.advance(5000);
    const r = await run;
    expect(r.drained).toBe(true);
    expect(r.waitedMs).toBeGreaterThanOrEqual(5000);
    expect(await getMaintenance(ctx.redis, ctx.prefix)).toMatchObject({ reason: 'kraite:cooldown' });
    expect((await cooldownStatus(deps(clock))).state).toBe('COOLED_DOWN');
  });

  it('goes down anyway after the timeout and reports what was still busy', async () => {
    const clock = new FakeClock(Date.parse('2026-11-27T13:00:00Z'));
    const q = await queues.queue(userDataShardQueue(0));
    const job = await q.add('ProcessUserDataEvent', { accountId: 7 });
    const run = cooldown(deps(clock), { timeoutMs: 20_000, pollMs: 5000 });
    for (let i = 0; i < 5; i++) await clock.advance(5000);
    const r = await run;
    expect(r.drained).toBe(false);
    expect(r.reasons.join()).toMatch(/user-data-stream-0: 1 job/);
    expect(await getMaintenance(ctx.redis, ctx.prefix)).not.toBeNull();
    await job.remove();
  });

  it('warmup resumes dispatch and brings the box up', async () => {
    const r = await warmup(deps(new FakeClock()), { restart: false });
    expect(r).toMatchObject({ resumed: true, up: true });
    expect(await getMaintenance(ctx.redis, ctx.prefix)).toBeNull();
    expect(await dispatchPause(ctx.redis, ctx.prefix, '')).toBeNull();
    const status = await artisan(['kraite:cooldown', '--status', '--json'], ctx.env);
    expect(JSON.parse(status.stdout)).toMatchObject({ state: 'ACTIVE', down: false });
  });
});
