/** The worker runtime in process: a real BullMQ Worker on a real queue, driven with a fake clock. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { stepKit, type StepKit } from './helpers.js';
import { QueueWorker } from '../../src/queue/worker.js';
import { registerProcessor } from '../../src/queue/processors.js';
import { registerStepClass } from '../../src/steps/registry.js';

let ctx: TestContext;
let kit: StepKit;

beforeAll(async () => {
  ctx = await createTestContext('step-worker');
  kit = await stepKit(ctx);
});
afterAll(async () => {
  await kit?.close();
  await ctx?.cleanup();
});

async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('QueueWorker', () => {
  it('re-runs a throttled step under the same job id once BullMQ has removed the finished job', async () => {
    let runs = 0;
    registerStepClass({
      name: 'test-throttle-first-run',
      async compute(c) {
        runs++;
        if (runs === 1) c.throttle(5000, 'wait for data');
        return { runs };
      },
    });
    const redis = kit.redis.duplicate();
    const worker = new QueueWorker({ config: ctx.config, db: ctx.db, redis, clock: kit.clock, log: kit.log }, { queue: 'wtest', concurrency: 2 });
    await worker.start();
    try {
      const b = await kit.steps().createBlock([{ class: 'test-throttle-first-run', queue: 'wtest' }], { group: 'alpha' });
      const id = b.ids[0]!;
      await kit.dispatcher().tick('alpha');
      await until('the throttle applied', async () => (await kit.row(id)).state === 'pending');
      const s = await kit.row(id);
      expect([s.retries, s.is_throttled, s.dispatch_after]).toEqual([0, true, kit.clock.now() + 5000]);
      await kit.clock.advance(5000);
      expect((await kit.dispatcher().tick('alpha')).dispatched).toBe(1);
      await until('the second run completed', async () => (await kit.row(id)).state === 'completed');
      expect((await kit.row(id)).response).toEqual({ runs: 2 });
      await until('both jobs finished in BullMQ', async () => worker.stats.processed === 2);
    } finally {
      await worker.close();
      redis.disconnect();
    }
  });

  it('uses a processor registered for the queue instead of the step runtime, and stops when empty', async () => {
    const seen: unknown[] = [];
    registerProcessor(/^custom-\d+$/, async (job) => {
      seen.push(job.data);
      return 'ok';
    });
    const q = await kit.queues.queue('custom-1');
    await q.addBulk([{ name: 'x', data: { n: 1 } }, { name: 'x', data: { n: 2 } }]);
    const redis = kit.redis.duplicate();
    const worker = new QueueWorker({ config: ctx.config, db: ctx.db, redis, clock: kit.clock, log: kit.log }, { queue: 'custom-1', stopWhenEmpty: true });
    const summary = await worker.run();
    redis.disconnect();
    expect(summary).toMatchObject({ processed: 2, failed: 0, stoppedBy: 'empty' });
    expect(seen).toEqual([{ n: 1 }, { n: 2 }]);
  });
});
