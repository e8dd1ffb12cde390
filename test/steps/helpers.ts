/** Shared set-up for the step tests: the Step API, a dispatcher and a queue factory on the test context. */
import type { Redis } from 'ioredis';
import type { Job } from 'bullmq';
import { connectRedis, closeRedis } from '../../src/redis/connection.js';
import { QueueFactory } from '../../src/queue/queues.js';
import { Steps } from '../../src/steps/api.js';
import { StepDispatcher, type DispatcherOptions } from '../../src/steps/dispatcher.js';
import { FakeClock } from '../../src/support/clock.js';
import { createLogger, type Logger } from '../../src/support/log.js';
import type { TestContext } from '../support/context.js';
import { Notifier } from '../../src/notify/notifier.js';
import type { WorkerContext } from '../../src/queue/processors.js';
import { stepTables } from '../../src/steps/tables.js';
import { toStep, type Step } from '../../src/steps/types.js';

export interface StepKit {
  clock: FakeClock;
  log: Logger;
  redis: Redis;
  queues: QueueFactory;
  steps(prefix?: string): Steps;
  dispatcher(prefix?: string, opts?: DispatcherOptions): StepDispatcher;
  row(id: number, prefix?: string): Promise<Step>;
  jobs(queue?: string): Promise<Job[]>;
  workerContext(deferred?: Array<() => Promise<void>>): WorkerContext;
  close(): Promise<void>;
}

export async function stepKit(ctx: TestContext, start = '2026-03-01T10:00:00.000Z'): Promise<StepKit> {
  const clock = new FakeClock(start);
  const log = createLogger('test', {}, { write: () => undefined });
  const redis = await connectRedis(ctx.config.redis, 'daemon');
  const queues = new QueueFactory({ prefix: ctx.prefix, connection: redis });
  const kit: StepKit = {
    clock,
    log,
    redis,
    queues,
    steps: (prefix = '') => new Steps({ db: ctx.db, clock, redis, redisPrefix: ctx.prefix, log }, prefix),
    dispatcher: (prefix = '', opts = {}) => new StepDispatcher({ db: ctx.db, redis, redisPrefix: ctx.prefix, queues, clock, log }, prefix, opts),
    row: async (id, prefix = '') => toStep(await ctx.db(stepTables(prefix).steps).where('id', id).first()),
    jobs: async (queue = 'default') => (await queues.queue(queue)).getJobs(['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized']),
    workerContext: (deferred = []) => ({
      config: ctx.config,
      db: ctx.db,
      redis,
      redisPrefix: ctx.prefix,
      clock,
      log,
      hostname: 'test-host',
      queues,
      notifier: new Notifier({ db: ctx.db, redis, prefix: ctx.prefix, log, clock, hostname: 'test-host' }),
      signal: new AbortController().signal,
      afterFinished: (_job, fn) => deferred.push(fn),
    }),
    close: async () => {
      await queues.close();
      await closeRedis(redis);
    },
  };
  return kit;
}
