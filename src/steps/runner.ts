/**
 * The worker side of a step (reference §2.5): the processor of every step job.
 *   1. load the step from the job's set; drop the job if the step is gone, terminal, already running
 *      elsewhere or dormant (a duplicate or stale delivery);
 *   2. dispatched|pending → running (conditional: of two deliveries only one runs);
 *   3. fail at once if the retry budget is spent (a recovered step can arrive with retries ≥ budget);
 *   4. compute() with a soft timeout; its result goes to `response` (if response is still empty);
 *   5. the outcome: completed (or stay running as a parent awaiting its children), a counted retry with
 *      backoff through dispatch_after (failed once the budget is spent; high priority from half the
 *      budget), a throttle (rescheduled without counting — applied once BullMQ has removed the finished
 *      job, so the re-dispatch's job id is free), skipped, stopped or failed;
 *   6. wake the dispatch daemon so the next index of the block goes out at once.
 * The processor returns normally in every step-level outcome; it throws only when the database or Redis
 * fails, and then the row is repaired by steps:recover-stale.
 */
import type { Job } from 'bullmq';
import { findStep } from '../db/steps/repository.js';
import { markAwaitingChildren, transitionStep, type TransitionOptions } from '../db/steps/transitions.js';
import { summariseTree } from '../db/steps/tree.js';
import type { WorkerContext } from '../queue/processors.js';
import { normaliseStepPrefix } from '../support/box-flags.js';
import { errorMessage } from '../support/errors.js';
import { Steps } from './api.js';
import './classes/index.js';
import type { StepJobData } from './dispatcher.js';
import { moveStep } from './machine.js';
import { notifyDispatcher } from './notify.js';
import { backoffOf, budgetOf, getStepClass, timeoutOf, type ExceptionPolicy, type StepClass, type StepContext } from './registry.js';
import { isTerminal, type StepState } from './states.js';
import { stepTables, type StepTables } from './tables.js';
import type { Step } from './types.js';

/** Transient backoff for infrastructure errors: 10 s × 2^retries, capped at 120 s (reference §2.5). */
export const TRANSIENT_BASE_MS = 10_000;
export const TRANSIENT_CAP_MS = 120_000;
const MAX_TEXT = 60_000;

class Outcome extends Error {
  constructor(
    readonly kind: 'retry' | 'throttle' | 'skip' | 'stop' | 'fail',
    readonly delayMs: number | null,
    readonly reason: string | null,
  ) {
    super(`step outcome: ${kind}${reason ? ` (${reason})` : ''}`);
    this.name = 'StepOutcome';
  }
}

export class StepTimeoutError extends Error {
  constructor(ms: number) {
    super(`Step timed out after ${ms} ms`);
    this.name = 'StepTimeoutError';
  }
}

export class MaxRetriesReachedError extends Error {
  constructor(retries: number, budget: number) {
    super(`Retry budget exhausted: ${retries} of ${budget}`);
    this.name = 'MaxRetriesReachedError';
  }
}

export interface StepJobResult {
  stepId: number;
  outcome: 'completed' | 'awaiting-children' | 'retry' | 'throttled' | 'skipped' | 'stopped' | 'failed' | 'dropped';
  reason?: string;
}

/** Errors that say "the infrastructure hiccupped" rather than "this step is wrong". */
export function isTransientError(err: unknown): boolean {
  const e = err as { code?: string; errno?: number };
  const code = String(e?.code ?? '');
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'SQLITE_BUSY', 'SQLITE_LOCKED', '40001', '40P01', '57P01', 'ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT', 'PROTOCOL_CONNECTION_LOST'].includes(code) ||
    e?.errno === 1213 ||
    e?.errno === 1205
  );
}

export function defaultPolicy(err: unknown): ExceptionPolicy {
  return isTransientError(err) ? 'retry' : 'fail';
}

export async function processStepJob(job: Job, wctx: WorkerContext): Promise<StepJobResult> {
  const data = job.data as Partial<StepJobData>;
  const stepId = Number(data?.stepId);
  if (!Number.isInteger(stepId) || stepId <= 0) throw new Error(`Job ${job.id} on ${job.queueName} is not a step job (no stepId)`);
  const prefix = normaliseStepPrefix(data.prefix ?? '');
  const tables = stepTables(prefix);
  const log = wctx.log.child('step', { step: stepId, set: tables.set, job: job.id });
  const step = await findStep(wctx.db, tables, stepId);
  if (!step) {
    log.warn('step job dropped: step not found');
    return { stepId, outcome: 'dropped', reason: 'missing' };
  }
  if (isTerminal(step.state) || step.state === 'running' || step.state === 'not-runnable') {
    log.info('step job dropped', { state: step.state });
    return { stepId, outcome: 'dropped', reason: step.state };
  }
  const run = new StepRun(wctx, tables, step, log);
  return run.execute(job);
}

class StepRun {
  private readonly cls: StepClass | undefined;
  private readonly budget: number;

  constructor(
    private readonly w: WorkerContext,
    private readonly tables: StepTables,
    private step: Step,
    private readonly log: WorkerContext['log'],
  ) {
    this.cls = getStepClass(step.class);
    this.budget = budgetOf(this.cls);
  }

  private now(): number {
    return this.w.clock.now();
  }

  private async move(from: StepState, to: StepState, opts: Partial<TransitionOptions> = {}): Promise<boolean> {
    return moveStep(this.w.db, this.tables, this.step.id, from, to, { now: this.now(), hostname: this.w.hostname, ...opts });
  }

  async execute(job: Job): Promise<StepJobResult> {
    const id = this.step.id;
    if (!this.cls) {
      const message = `Unknown step class "${this.step.class}" (known to this worker: see src/steps/classes)`;
      const moved = await this.move(this.step.state, 'failed', { set: { error_message: message } });
      await this.wake(0);
      this.log.error('step failed: unknown class', { class: this.step.class });
      return { stepId: id, outcome: moved ? 'failed' : 'dropped', reason: message };
    }
    if (!(await this.move(this.step.state, 'running'))) {
      this.log.info('step job dropped: another worker took the step');
      return { stepId: id, outcome: 'dropped', reason: 'lost-race' };
    }
    this.step = { ...this.step, state: 'running', started_at: this.now(), hostname: this.w.hostname };
    const started = this.now();
    if (this.step.retries >= this.budget) {
      return this.finishFailed(new MaxRetriesReachedError(this.step.retries, this.budget), started);
    }

    const timeoutMs = timeoutOf(this.cls);
    const abort = new AbortController();
    const onShutdown = () => abort.abort();
    this.w.signal.addEventListener('abort', onShutdown, { once: true });
    const ctx = this.context(abort.signal);
    try {
      const result = await withTimeout(this.cls.compute(ctx), timeoutMs, abort, this.w.clock);
      return await this.finishCompleted(result, started);
    } catch (err) {
      if (err instanceof Outcome) return this.finishOutcome(err, started, job);
      let policy: ExceptionPolicy;
      try {
        policy = this.cls.onException ? this.cls.onException(err, this.step) : defaultPolicy(err);
      } catch (policyErr) {
        // A broken policy must not leave the step running: fail it with both errors.
        this.log.error('exception policy threw', { error: errorMessage(policyErr) });
        policy = 'fail';
      }
      if (policy === 'ignore') {
        this.log.warn('step exception ignored by policy', { error: errorMessage(err) });
        return this.finishCompleted(null, started);
      }
      if (policy === 'retry') {
        const delay = isTransientError(err) && !this.cls.backoffMs ? Math.min(TRANSIENT_BASE_MS * 2 ** this.step.retries, TRANSIENT_CAP_MS) : backoffOf(this.cls, this.step.retries, this.step);
        return this.finishRetry(delay, started, errorMessage(err));
      }
      return this.finishFailed(err, started);
    } finally {
      this.w.signal.removeEventListener('abort', onShutdown);
    }
  }

  private context(signal: AbortSignal): StepContext {
    const steps = new Steps({ db: this.w.db, clock: this.w.clock, redis: this.w.redis, redisPrefix: this.w.redisPrefix, log: this.log }, this.tables.prefix);
    const step = this.step;
    return {
      step,
      args: step.arguments ?? {},
      prefix: this.tables.prefix,
      db: this.w.db,
      redis: this.w.redis,
      redisPrefix: this.w.redisPrefix,
      clock: this.w.clock,
      log: this.log,
      config: this.w.config,
      hostname: this.w.hostname,
      signal,
      steps,
      createChildBlock: (specs) => steps.createChildBlock(step.id, specs),
      retry: (delayMs, reason) => {
        throw new Outcome('retry', delayMs ?? null, reason ?? null);
      },
      throttle: (delayMs, reason) => {
        throw new Outcome('throttle', delayMs, reason ?? null);
      },
      skip: (reason) => {
        throw new Outcome('skip', null, reason ?? null);
      },
      stop: (reason) => {
        throw new Outcome('stop', null, reason ?? null);
      },
      fail: (message) => {
        throw new Outcome('fail', null, message);
      },
    };
  }

  private async finishCompleted(result: unknown, started: number): Promise<StepJobResult> {
    const id = this.step.id;
    const set: Record<string, unknown> = { duration: this.now() - started };
    if (result !== undefined && result !== null && this.step.response == null) set.response = JSON.stringify(result);
    const row = await this.w.db(this.tables.steps).where('id', id).select('child_block_uuid').first();
    const childBlock = (row?.child_block_uuid as string | null) ?? null;
    if (childBlock) {
      const sum = await summariseTree(this.w.db, this.tables, childBlock);
      if (sum.rows !== sum.concluded) {
        await markAwaitingChildren(this.w.db, this.tables, id, this.now(), set);
        await this.wake(0);
        return { stepId: id, outcome: 'awaiting-children' };
      }
    }
    // The parent guard was just checked above (or there is no child block), so the plain transition.
    const moved = await transitionStep(this.w.db, this.tables, id, 'running', 'completed', { now: this.now(), set: { ...set, execution_mode: null } });
    await this.wake(0);
    return { stepId: id, outcome: moved ? 'completed' : 'dropped', reason: moved ? undefined : 'state changed while running' };
  }

  private async finishRetry(delayMs: number, started: number, reason: string | null): Promise<StepJobResult> {
    const id = this.step.id;
    const next = this.step.retries + 1;
    if (next >= this.budget) {
      return this.finishFailed(new MaxRetriesReachedError(next, this.budget), started, reason);
    }
    const at = this.now() + Math.max(0, delayMs);
    const set: Record<string, unknown> = { dispatch_after: new Date(at), is_throttled: false, duration: this.now() - started, error_message: reason ? clip(reason) : null };
    if (this.budget > 0 && next >= this.budget / 2) set.priority = 'high';
    const moved = await this.move('running', 'pending', { set });
    await this.wake(at);
    this.log.info('step will retry', { retries: next, budget: this.budget, at: new Date(at).toISOString(), reason });
    return { stepId: id, outcome: moved ? 'retry' : 'dropped', reason: reason ?? undefined };
  }

  private finishThrottle(delayMs: number, started: number, job: Job, reason: string | null): StepJobResult {
    const id = this.step.id;
    const at = this.now() + Math.max(0, delayMs);
    const set = { dispatch_after: new Date(at), is_throttled: true, was_throttled: true, duration: this.now() - started };
    // Deferred until BullMQ has finished (and removed) this job: the re-dispatch reuses the job id
    // step:<id>:<retries>, which must be free by then.
    this.w.afterFinished(job, async () => {
      try {
        const moved = await this.move('running', 'pending', { set });
        await this.wake(at);
        if (!moved) this.log.warn('throttle not applied: the step left running meanwhile');
      } catch (err) {
        // The step stays running; recover-stale returns it to pending after its timeout.
        this.log.error('throttle could not be applied', { error: errorMessage(err) });
      }
    });
    this.log.info('step throttled', { until: new Date(at).toISOString(), reason });
    return { stepId: id, outcome: 'throttled', reason: reason ?? undefined };
  }

  private async finishOutcome(o: Outcome, started: number, job: Job): Promise<StepJobResult> {
    const id = this.step.id;
    const duration = this.now() - started;
    switch (o.kind) {
      case 'retry':
        return this.finishRetry(o.delayMs ?? backoffOf(this.cls, this.step.retries, this.step), started, o.reason);
      case 'throttle':
        return this.finishThrottle(o.delayMs ?? 0, started, job, o.reason);
      case 'skip': {
        const moved = await this.move('running', 'skipped', { set: { duration, error_message: o.reason } });
        await this.wake(0);
        return { stepId: id, outcome: moved ? 'skipped' : 'dropped', reason: o.reason ?? undefined };
      }
      case 'stop': {
        const moved = await this.move('running', 'stopped', { set: { duration, error_message: o.reason } });
        await this.wake(0);
        return { stepId: id, outcome: moved ? 'stopped' : 'dropped', reason: o.reason ?? undefined };
      }
      default:
        return this.finishFailed(new Error(o.reason ?? 'failed'), started);
    }
  }

  private async finishFailed(err: unknown, started: number, lastError?: string | null): Promise<StepJobResult> {
    const id = this.step.id;
    const message = lastError ? `${errorMessage(err)}; last error: ${lastError}` : errorMessage(err);
    const stack = err instanceof Error ? (err.stack ?? null) : null;
    const moved = await this.move('running', 'failed', { set: { duration: this.now() - started, error_message: clip(message), error_stack_trace: stack ? clip(stack) : null, execution_mode: null } });
    await this.wake(0);
    this.log.warn('step failed', { error: message });
    return { stepId: id, outcome: moved ? 'failed' : 'dropped', reason: message };
  }

  private async wake(due: number): Promise<void> {
    await notifyDispatcher(this.w.redis, this.w.redisPrefix, [{ set: this.tables.set, group: this.step.group, due, moved: true }], this.log);
  }
}

function clip(s: string): string {
  return s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}…` : s;
}

async function withTimeout<T>(p: Promise<T>, ms: number, abort: AbortController, clock: WorkerContext['clock']): Promise<T> {
  const timer = new AbortController();
  const timeout = clock.sleep(ms, timer.signal).then(
    () => {
      abort.abort();
      throw new StepTimeoutError(ms);
    },
    () => undefined as never, // the timer was cancelled because compute finished first
  );
  try {
    return await Promise.race([p, timeout]);
  } finally {
    timer.abort();
  }
}
