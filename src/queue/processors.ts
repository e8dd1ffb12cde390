/**
 * Which code processes the jobs of a queue. A worker for queue Q asks `resolveProcessor(Q)`:
 *  1. a processor registered for exactly Q;
 *  2. the first registered pattern that matches Q (e.g. /^user-data-stream-\d+$/);
 *  3. otherwise the step-job processor (src/steps/runner.ts): step queues are open-ended (default,
 *     priority, positions, <host>-orders…), so any queue nobody claimed carries step jobs.
 * Modules that register processors are listed in PROCESSOR_MODULES and imported by loadProcessorModules(),
 * which every worker process calls before it starts (the horizon pool adds its user-data module there).
 */
import type { Job } from 'bullmq';
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../config/index.js';
import type { Notifier } from '../notify/notifier.js';
import type { Clock } from '../support/clock.js';
import type { Logger } from '../support/log.js';
import type { QueueFactory } from './queues.js';

export interface WorkerContext {
  config: AppConfig;
  db: Knex;
  /** A command connection (not the worker's blocking one). */
  redis: Redis;
  redisPrefix: string;
  clock: Clock;
  log: Logger;
  hostname: string;
  queues: QueueFactory;
  notifier: Notifier;
  /** Aborted when the worker shuts down; long jobs should watch it. */
  signal: AbortSignal;
  /** Run `fn` once BullMQ has finished with `job` (moved it to completed or failed, and removed it if told). */
  afterFinished(job: Job, fn: () => Promise<void>): void;
}

export type JobProcessor = (job: Job, ctx: WorkerContext) => Promise<unknown>;

const exact = new Map<string, JobProcessor>();
const patterns: Array<{ re: RegExp; processor: JobProcessor }> = [];

/** Register the processor of a queue name or of every queue matching a pattern. */
export function registerProcessor(queue: string | RegExp, processor: JobProcessor): void {
  if (typeof queue === 'string') exact.set(queue, processor);
  else patterns.push({ re: queue, processor });
}

/** Modules imported for their registerProcessor() side effects. Append yours here. */
export const PROCESSOR_MODULES: Array<() => Promise<unknown>> = [
  () => import('../horizon/processors.js'),
  () => import('./user-data/processor.js'), // ProcessUserDataEvent on user-data-stream(-<n>)
];

let loaded: Promise<void> | null = null;

export function loadProcessorModules(): Promise<void> {
  loaded ??= Promise.all(PROCESSOR_MODULES.map((load) => load())).then(() => undefined);
  return loaded;
}

export async function resolveProcessor(queue: string): Promise<JobProcessor> {
  await loadProcessorModules();
  const hit = exact.get(queue) ?? patterns.find((p) => p.re.test(queue))?.processor;
  if (hit) return hit;
  const { processStepJob } = await import('../steps/runner.js');
  return processStepJob;
}
