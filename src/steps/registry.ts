/**
 * Step classes: the code a worker runs for a step, found by the step's `class` column. A class declares
 * its retry budget, backoff, timeout and exception policy next to its compute():
 *
 *   registerStepClass({
 *     name: 'sync-order',
 *     retries: 5,                       // compute runs at retries 0..4
 *     backoffMs: (retries) => 1000 * 2 ** retries,
 *     timeoutMs: 60_000,
 *     onException: (err) => (isRateLimit(err) ? 'retry' : 'fail'),
 *     async compute(ctx) { …; return { synced: true }; },   // stored in `response`
 *   });
 *
 * Inside compute, ctx.retry(), ctx.throttle(), ctx.skip(), ctx.stop() and ctx.fail() end the run with that
 * outcome; ctx.createChildBlock() creates children that run while this step waits in `running`.
 */
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../config/index.js';
import type { Clock } from '../support/clock.js';
import type { Logger } from '../support/log.js';
import type { CreatedBlock, StepSpec, Steps } from './api.js';
import type { Step } from './types.js';

export type ExceptionPolicy = 'retry' | 'fail' | 'ignore';

export interface StepContext {
  step: Step;
  args: Record<string, unknown>;
  /** Table prefix of the step's set ('' or 'trading_'). */
  prefix: string;
  db: Knex;
  redis: Redis;
  redisPrefix: string;
  clock: Clock;
  log: Logger;
  config: AppConfig;
  hostname: string;
  /** Aborted on timeout or worker shutdown. */
  signal: AbortSignal;
  /** The Step API bound to this step's set. */
  steps: Steps;
  /** Create this step's child block; the children run while this step stays `running`. */
  createChildBlock(specs: StepSpec[]): Promise<CreatedBlock>;
  /** Retry later (counted against the budget). Default delay: the class backoff. */
  retry(delayMs?: number, reason?: string): never;
  /** Reschedule without counting a retry (rate limits, waiting for data). */
  throttle(delayMs: number, reason?: string): never;
  skip(reason?: string): never;
  stop(reason?: string): never;
  fail(message: string): never;
}

export interface StepClass {
  name: string;
  /** Retry budget (compute runs at retries 0…retries-1). Default 3. */
  retries?: number;
  /** Delay before a retry, in ms: a number, a list by retry count, or a function. Default 10 000. */
  backoffMs?: number | number[] | ((retries: number, step: Step) => number);
  /** Soft timeout of compute (ms). Default 300 000. Also sets when recover-stale calls a run a zombie (+60 s). */
  timeoutMs?: number;
  /** Exception policy; default: retry transient infrastructure errors, fail everything else. */
  onException?: (err: unknown, step: Step) => ExceptionPolicy;
  compute(ctx: StepContext): Promise<unknown>;
}

export const DEFAULT_RETRIES = 3;
export const DEFAULT_BACKOFF_MS = 10_000;
export const DEFAULT_TIMEOUT_MS = 300_000;

const classes = new Map<string, StepClass>();

export function registerStepClass(def: StepClass): void {
  if (!def.name || typeof def.compute !== 'function') throw new Error('A step class needs a name and a compute()');
  classes.set(def.name, def);
}

export function getStepClass(name: string | null | undefined): StepClass | undefined {
  return name ? classes.get(name) : undefined;
}

export function stepClassNames(): string[] {
  return [...classes.keys()].sort();
}

export function budgetOf(cls: StepClass | undefined, fallback = DEFAULT_RETRIES): number {
  const n = cls?.retries;
  return typeof n === 'number' && n > 0 ? n : fallback;
}

export function timeoutOf(cls: StepClass | undefined): number {
  const n = cls?.timeoutMs;
  return typeof n === 'number' && n > 0 ? n : DEFAULT_TIMEOUT_MS;
}

export function backoffOf(cls: StepClass | undefined, retries: number, step: Step): number {
  const b = cls?.backoffMs;
  if (typeof b === 'function') return Math.max(0, b(retries, step));
  if (Array.isArray(b)) return Math.max(0, b[Math.min(retries, b.length - 1)] ?? DEFAULT_BACKOFF_MS);
  if (typeof b === 'number') return Math.max(0, b);
  return DEFAULT_BACKOFF_MS;
}
