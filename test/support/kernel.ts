/** Helpers for the scheduler tests: a runner on the real Redis and DB of a test context, driven by a FakeClock. */
import type { Knex } from 'knex';
import { FakeClock } from '../../src/support/clock.js';
import { createLogger, MemorySink } from '../../src/support/log.js';
import { Runtime } from '../../src/runtime.js';
import { SqlRecorder } from '../../src/kernel/kernel.js';
import { DefaultExecutor, InProcessCommandRunner, ChildCommandRunner } from '../../src/kernel/executors.js';
import { MemoryEventMutex, MemorySchedulingMutex, type EventMutex, type SchedulingMutex } from '../../src/kernel/mutex.js';
import { RedisEventMutex, RedisSchedulingMutex } from '../../src/kernel/redis-mutex.js';
import { ScheduleRunner, type TaskOutcome } from '../../src/kernel/runner.js';
import type { Schedule } from '../../src/kernel/schedule.js';
import { readFlags } from '../../src/kernel/state.js';
import { QueueFactory } from '../../src/queue/queues.js';
import type { TestContext } from './context.js';

export interface TestRunner {
  runner: ScheduleRunner;
  clock: FakeClock;
  logs: MemorySink;
  outcomes: TaskOutcome[];
  eventMutex: EventMutex;
  schedulingMutex: SchedulingMutex;
  runtime: Runtime;
  recorder: SqlRecorder;
  close(): Promise<void>;
}

export interface RunnerOptions {
  clock?: FakeClock;
  /** 'memory' (the fakes) or 'redis' (the real locks under the context's prefix). */
  locks?: 'memory' | 'redis';
  host?: string;
  pid?: number;
  eventMutex?: EventMutex;
}

export function testRunner(ctx: TestContext, schedule: Schedule, opts: RunnerOptions = {}): TestRunner {
  const clock = opts.clock ?? new FakeClock('2026-11-27T10:37:00Z');
  const logs = new MemorySink();
  const log = createLogger('scheduler', {}, logs);
  const runtime = new Runtime({ config: ctx.config, clock, component: 'scheduler-test' });
  const eventMutex = opts.eventMutex ?? (opts.locks === 'redis' ? new RedisEventMutex(ctx.redis, ctx.prefix, clock) : new MemoryEventMutex(clock));
  const schedulingMutex = opts.locks === 'redis' ? new RedisSchedulingMutex(ctx.redis, ctx.prefix) : new MemorySchedulingMutex();
  const recorder = new SqlRecorder(async () => ctx.db, log);
  const queues = new QueueFactory({ prefix: ctx.prefix, connection: ctx.redis });
  const outcomes: TaskOutcome[] = [];
  const runner = new ScheduleRunner({
    schedule,
    clock,
    host: opts.host ?? 'test-host',
    pid: opts.pid ?? 4242,
    appEnv: ctx.config.appEnv,
    log,
    eventMutex,
    schedulingMutex,
    readFlags: (slot) => readFlags(ctx.redis, ctx.prefix, slot),
    recorder,
    executor: new DefaultExecutor({ commands: new InProcessCommandRunner(), childCommands: new ChildCommandRunner(), queues: async () => queues }),
    context: (task, slot) => ({ task, slot, clock, log, runtime }),
    onOutcome: (o) => outcomes.push(o),
  });
  return {
    runner,
    clock,
    logs,
    outcomes,
    eventMutex,
    schedulingMutex,
    runtime,
    recorder,
    async close() {
      await queues.close();
      await runtime.close();
    },
  };
}

/**
 * Await `work` while moving the fake clock: whenever something sleeps on the clock, jump to its deadline;
 * while the work waits on real I/O (Redis, SQL), give it a moment of real time. No scheduling decision
 * depends on real time passing.
 */
export async function drive<T>(clock: FakeClock, work: Promise<T>): Promise<T> {
  let done = false;
  const watched = work.finally(() => {
    done = true;
  });
  while (!done) {
    if (clock.pending > 0) await clock.runNext();
    else await new Promise((r) => setTimeout(r, 1));
  }
  return watched;
}

export async function runsOf(db: Knex, taskId?: string): Promise<Array<Record<string, unknown>>> {
  const q = db('schedule_runs').orderBy('id');
  if (taskId) q.where({ task_id: taskId });
  return q;
}

/** A promise with its resolve function, for tasks that should stay "running" until the test says so. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
