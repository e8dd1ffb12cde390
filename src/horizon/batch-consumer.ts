/**
 * The batching consumer of one shard queue (BullMQ manual job processing). A horizon `shards` process runs
 * it instead of a QueueWorker when a batch processor is registered for the queue (src/queue/batch-processors.ts;
 * the user-data shards register applyUserDataFrames). It is the ONLY consumer of its shard (horizon's lease,
 * src/horizon/leases.ts), so taking several jobs at once keeps the shard's order:
 *
 *   loop: block for the first job (getNextJob, block) → take up to maxBatch − 1 more WITHOUT blocking
 *         (as many pipelined getNextJob calls, in queue order, as LLEN says are waiting) → apply them with ONE batch call (one DB transaction)
 *         → moveToCompleted / moveToFailed every job (pipelined, fetchNext false) → report each job.
 *   While a batch of PREFETCH_FROM or more applies, the next one is fetched (taken, applied after it).
 *
 *  - Retry in place: a batch call that throws is retried up to retryAttempts times (backoff retryBackoffMs ×
 *    attempt) while the shard waits; if it keeps failing the batch is split in halves, in order, until the
 *    job that fails alone is found; that job gets its own in-place retries and then fails for good
 *    (UnrecoverableError → failed_jobs, like QueueWorker) while every other job is applied.
 *  - Locks: BullMQ does not renew locks of manually fetched jobs; every job in hand gets its lock extended
 *    every lockDuration / 2 (one extendLocks call) until it is finished, so a long batch never looks stalled.
 *  - close() (pause, graceful stop, recycling, liveness): no new batch is taken; a blocking wait is woken at
 *    once (a marker is added, as BullMQ does for a new job); the batch in hand is finished; after closeTimeoutMs
 *    the batch call's signal is aborted and the BullMQ worker is force-closed, leaving the unfinished jobs
 *    active under their lock (the next lease holder recovers them to the head of the shard; the processor
 *    is idempotent).
 *  - Redis trouble: a failed fetch is retried after a pause; a failed finish (moveToCompleted) is retried a
 *    few times — the frames are committed, so if it never succeeds the job is replayed later as a no-op.
 *
 * Metrics: onJobStart when a job is taken, onJobEnd(job, {ok, final, waitMs, runtimeMs}) once it is finished;
 * runtimeMs is the batch's duration divided by its size (what one job cost), waitMs the time from when the job
 * became runnable to when it was taken.
 */
import crypto from 'node:crypto';
import type { Job, Worker } from 'bullmq';
import { Notifier } from '../notify/notifier.js';
import type { BatchOutcome, BatchProcessor } from '../queue/batch-processors.js';
import type { WorkerContext } from '../queue/processors.js';
import { QueueFactory } from '../queue/queues.js';
import { WORKER_METRICS_MINUTES, type JobOutcome, type QueueWorkerDeps } from '../queue/worker.js';
import { queuePrefix } from '../redis/keys.js';
import { errorMessage } from '../support/errors.js';
import { ShardLeases } from './leases.js';
import { finalError, isUnrecoverable, retryInPlace, RetryAbandoned } from '../support/retry-in-place.js';

export const DEFAULT_MAX_BATCH = 200;
/** Smallest batch during whose apply the next batch is fetched. */
const PREFETCH_FROM = 16;
/** getNextJob calls in flight at once while filling a batch. */
const FETCH_PIPELINE = 100;

export interface BatchConsumerOptions {
  queue: string;
  processor: BatchProcessor;
  /** Most jobs per batch call (default 200). 1 = one job per call. */
  maxBatch?: number;
  /** BullMQ lock duration (ms), extended every half of it while a job is in hand. */
  lockDurationMs: number;
  /** Attempts of a failing batch (and of an isolated job) before its job fails for good. */
  retryAttempts: number;
  retryBackoffMs: number;
  /** How long close() waits for the batch in hand before forcing. */
  closeTimeoutMs: number;
  /** Longest blocking wait for the first job, seconds (default 5; close() wakes it anyway). */
  blockSeconds?: number;
  /** Mirror final failures into failed_jobs (default true). */
  recordFailures?: boolean;
  onJobStart?: (job: Job) => void;
  onJobEnd?: (job: Job, outcome: JobOutcome) => void;
}

class Abandoned extends Error {}

export class BatchConsumer {
  private worker: Worker | null = null;
  private readonly queues: QueueFactory;
  private readonly token = `batch:${crypto.randomUUID()}`;
  private readonly shutdown = new AbortController();
  /** Wakes the pauses between retries when closing. */
  private readonly closingSignal = new AbortController();
  private closingFlag = false;
  private loop: Promise<void> | null = null;
  private inHand: Job[] = [];
  private waiting = false;
  private taken = 0;
  private processed = 0;
  private failed = 0;
  private batches = 0;
  private ctx!: WorkerContext;
  private readonly maxBatch: number;

  constructor(
    private readonly deps: QueueWorkerDeps,
    private readonly opts: BatchConsumerOptions,
  ) {
    this.queues = new QueueFactory({ prefix: deps.config.redis.prefix, connection: deps.redis });
    this.waitKey = `${queuePrefix(deps.config.redis.prefix)}:${opts.queue}:wait`;
    const n = opts.maxBatch ?? DEFAULT_MAX_BATCH;
    if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new Error(`batch consumer of ${opts.queue}: maxBatch must be an integer 1..10000 (got ${String(n)})`);
    this.maxBatch = n;
  }

  /** Same shape as QueueWorker.stats: active = jobs taken and not yet finished. */
  get stats(): { processed: number; failed: number; active: number; batches: number } {
    return { processed: this.processed, failed: this.failed, active: this.taken - this.processed - this.failed, batches: this.batches };
  }

  /** The BullMQ worker (the horizon child force-closes it when its lease is lost). */
  get bullWorker(): Worker | null {
    return this.worker;
  }

  async start(): Promise<void> {
    const { config, db, redis, clock, log } = this.deps;
    const { Worker } = await this.queues.module();
    const deferred = new Map<string, Array<() => Promise<void>>>();
    this.deferred = deferred;
    this.ctx = {
      config,
      db,
      redis,
      redisPrefix: config.redis.prefix,
      clock,
      log,
      hostname: config.hostname,
      queues: this.queues,
      notifier: new Notifier({ db, redis, prefix: config.redis.prefix, log, clock, hostname: config.hostname, webhookUrl: config.notifyWebhookUrl }),
      signal: this.shutdown.signal,
      afterFinished: (job, fn) => {
        const key = String(job.id);
        deferred.set(key, [...(deferred.get(key) ?? []), fn]);
      },
    };
    this.worker = new Worker(this.opts.queue, null, {
      ...this.queues.baseOptions(),
      autorun: false,
      lockDuration: this.opts.lockDurationMs,
      stalledInterval: this.opts.lockDurationMs,
      // A shard job is never failed for stalling: a dead holder's job is recovered to the head instead.
      maxStalledCount: 1_000_000,
      drainDelay: this.opts.blockSeconds ?? 5,
      metrics: { maxDataPoints: WORKER_METRICS_MINUTES },
    });
    this.worker.on('error', (err) => log.warn('worker error', { queue: this.opts.queue, error: errorMessage(err) }));
    await this.worker.waitUntilReady();
    await this.worker.startStalledCheckTimer();
    // BullMQ does not renew the locks of manually fetched jobs: every job in hand (being filled, applied,
    // prefetched or acknowledged) gets its lock extended every lockDuration / 2.
    this.keepLocks = setInterval(() => this.extendLocks(), Math.max(250, Math.floor(this.opts.lockDurationMs / 2)));
    this.keepLocks.unref();
    this.loop = this.run().catch((err) => {
      if (!(err instanceof Abandoned)) log.error('batch consumer stopped with an error', { queue: this.opts.queue, error: errorMessage(err) });
    });
    log.info('batch consumer started', { queue: this.opts.queue, max_batch: this.maxBatch });
  }

  private deferred = new Map<string, Array<() => Promise<void>>>();
  private readonly waitKey: string;
  private keepLocks: NodeJS.Timeout | null = null;

  private extendLocks(): void {
    const w = this.worker;
    const live = this.inHand;
    if (!w || !live.length || this.gone) return;
    w.extendJobLocks(
      live.map((j) => j.id!),
      live.map(() => this.token),
      this.opts.lockDurationMs,
    ).catch((err) => this.deps.log.warn('extending job locks failed', { queue: this.opts.queue, error: errorMessage(err) }));
  }

  private get gone(): boolean {
    return this.shutdown.signal.aborted || !!this.worker?.closing;
  }

  private async pause(ms: number): Promise<void> {
    try {
      await this.deps.clock.sleep(ms, this.closingSignal.signal);
    } catch {
      /* closing */
    }
  }

  private fetchFailed = false;
  /** Consecutive empty answers of a blocking fetch that came back at once. */
  private instantEmpty = 0;

  private async run(): Promise<void> {
    const w = this.worker!;
    let next: Job[] = [];
    while (next.length || (!this.closingFlag && !this.gone)) {
      if (this.gone) return; // forced: the jobs in hand stay active for the next lease holder
      let batch = next;
      next = [];
      let fillMs = 0;
      if (!batch.length) {
        if (this.fetchFailed) {
          // A fetch whose reply was lost may have moved a job to active that we do not hold. We are the shard's
          // only consumer and hold nothing now: every active job of the shard goes back to the head of wait,
          // so it runs before anything newer (the same recovery a new lease holder does).
          try {
            const back = await this.leases().recover(this.opts.queue);
            if (back.length) this.deps.log.warn('recovered jobs of a failed fetch', { queue: this.opts.queue, jobs: back });
            this.fetchFailed = false;
          } catch (err) {
            this.deps.log.warn('recovering after a failed fetch failed; retrying', { queue: this.opts.queue, error: errorMessage(err) });
            await this.pause(1000);
            continue;
          }
        }
        let first: Job | undefined;
        const asked = Date.now();
        try {
          this.waiting = true;
          first = await w.getNextJob(this.token, { block: true });
        } catch (err) {
          if (this.closingFlag || this.gone) break;
          this.deps.log.warn('fetching a job failed; retrying', { queue: this.opts.queue, error: errorMessage(err) });
          this.fetchFailed = true;
          await this.pause(1000);
          continue;
        } finally {
          this.waiting = false;
        }
        if (!first) {
          // An empty answer normally comes after the block timeout. Instant ones are expected right after a
          // batch: BullMQ only blocks once a fetch has found the queue empty ("drained"), and the wake-up
          // marker of the jobs the batch took without blocking is still there. Ask again at once (a pause
          // here cost every frame after a quiet spell 50 ms on average). Several in a row (a paused or
          // rate-limited BullMQ worker) must not spin: pause.
          if (Date.now() - asked < 50) {
            if (++this.instantEmpty > 3) await this.pause(100);
          } else this.instantEmpty = 0;
          continue;
        }
        this.instantEmpty = 0;
        batch = [first];
        this.took(first);
        const t = this.deps.clock.now();
        await this.fill(batch);
        fillMs = this.deps.clock.now() - t;
      }
      // Apply this batch; while a big one applies, the next is fetched (applied only once this one is finished).
      const applying = this.runBatch(batch, fillMs);
      applying.catch(() => undefined);
      // Prefetching pays when frames arrive faster than batches are applied. A small batch means a quiet shard,
      // where the look mostly found nothing; what arrives meanwhile is fetched right after. Measured: without it
      // below 16, the end-to-end p99 at 500 frames/s went from 71–89 ms to 42–48 ms (docs/horizon.md).
      if (!this.closingFlag && !this.gone && batch.length >= PREFETCH_FROM) {
        const pre: Job[] = [];
        await this.fill(pre);
        next = pre;
      }
      await applying;
      if (next.length && this.closingFlag && !this.gone) next = await this.putBack(next);
    }
  }

  /**
   * Stopping with a prefetched batch not yet started: the batch in hand is finished, so the shard's only active
   * jobs are the prefetched ones; they go back to the head of wait in order (untouched). If that fails they
   * are processed instead.
   */
  private async putBack(jobs: Job[]): Promise<Job[]> {
    try {
      const back = await this.leases().recover(this.opts.queue);
      this.taken -= jobs.length;
      this.inHand = this.inHand.filter((j) => !jobs.includes(j));
      this.deps.log.info('stopping: prefetched jobs put back at the head of the shard', { queue: this.opts.queue, jobs: back.length });
      return [];
    } catch (err) {
      this.deps.log.warn('could not put the prefetched jobs back; processing them before stopping', { queue: this.opts.queue, error: errorMessage(err) });
      return jobs;
    }
  }

  /** Take waiting jobs without blocking until `batch` is full or the queue is empty. A stop that arrives now still lets the jobs already taken finish. */
  private async fill(batch: Job[]): Promise<void> {
    const w = this.worker!;
    while (batch.length < this.maxBatch && !this.closingFlag && !this.gone) {
      // Ask for as many jobs as are waiting (one LLEN), not a full pipeline: at a low rate most of a blind
      // round of fetches would find the queue empty, and each costs a script call on both sides.
      let waiting: number;
      try {
        waiting = await this.deps.redis.llen(this.waitKey);
      } catch (err) {
        this.deps.log.warn('reading the shard length failed while filling a batch', { queue: this.opts.queue, error: errorMessage(err) });
        return;
      }
      if (waiting <= 0) return;
      const want = Math.min(FETCH_PIPELINE, this.maxBatch - batch.length, waiting);
      const got = await Promise.allSettled(Array.from({ length: want }, () => w.getNextJob(this.token, { block: false })));
      // The calls run in order on one connection: once one finds the queue empty, any later hit is newer still.
      let short = false;
      for (const r of got) {
        if (r.status === 'fulfilled' && r.value) {
          batch.push(r.value);
          this.took(r.value);
        } else {
          short = true;
          if (r.status === 'rejected') {
            this.fetchFailed = true;
            this.deps.log.warn('fetching a job failed while filling a batch', { queue: this.opts.queue, error: errorMessage(r.reason) });
          }
        }
      }
      if (short || want < FETCH_PIPELINE) return;
    }
  }

  private leases(): ShardLeases {
    return new ShardLeases(this.deps.redis, () => '', queuePrefix(this.deps.config.redis.prefix));
  }

  private took(job: Job): void {
    this.taken++;
    this.inHand.push(job);
    this.opts.onJobStart?.(job);
  }

  private async runBatch(jobs: Job[], fillMs = 0): Promise<void> {
    const t0 = this.deps.clock.now();
    let outcomes: BatchOutcome[];
    try {
      outcomes = await this.applyInPlace(jobs);
    } catch (err) {
      if (err instanceof Abandoned) return; // forced close: the jobs stay active for the next lease holder
      throw err;
    }
    this.batches++;
    const t1 = this.deps.clock.now();
    const per = Math.round((t1 - t0) / jobs.length);
    await this.finish(jobs, outcomes, per);
    this.deps.log.debug('batch done', { queue: this.opts.queue, jobs: jobs.length, fill_ms: fillMs, apply_ms: t1 - t0, ack_ms: this.deps.clock.now() - t1 });
  }


  /** The batch with in-place retries; a batch that keeps failing is split to isolate the failing job. */
  private async applyInPlace(jobs: Job[]): Promise<BatchOutcome[]> {
    let r;
    try {
      r = await retryInPlace(() => this.applyOnce(jobs), {
        attempts: this.opts.retryAttempts,
        backoffMs: this.opts.retryBackoffMs,
        clock: this.deps.clock,
        signal: this.shutdown.signal,
        log: this.deps.log,
        what: 'shard batch',
        fields: { queue: this.opts.queue, jobs: jobs.length, first: jobs[0]!.id },
        isFinal: (err) => jobs.length === 1 && isUnrecoverable(err),
      });
    } catch (err) {
      if (err instanceof RetryAbandoned) throw new Abandoned('closed');
      throw err;
    }
    if (r.ok) return r.value;
    if (jobs.length === 1) return [{ ok: false, error: isUnrecoverable(r.error) ? (r.error as Error) : await finalError(r.error, r.attempts) }];
    this.deps.log.warn('shard batch keeps failing; splitting it to isolate the failing job', { queue: this.opts.queue, jobs: jobs.length, first: jobs[0]!.id, error: errorMessage(r.error) });
    return this.isolate(jobs);
  }

  /** Halves in order: each half is tried once; a failing half is split again; a single job gets its full retries. */
  private async isolate(jobs: Job[]): Promise<BatchOutcome[]> {
    if (jobs.length === 1) return this.applyInPlace(jobs);
    const mid = Math.ceil(jobs.length / 2);
    const out: BatchOutcome[] = [];
    for (const half of [jobs.slice(0, mid), jobs.slice(mid)]) {
      const r = half.length === 1 ? null : await this.tryOnce(half);
      out.push(...(r?.ok ? r.outcomes : await this.isolate(half)));
    }
    return out;
  }

  /** One call of the batch processor; throws its error (Abandoned once the consumer is force-closed). */
  private async applyOnce(jobs: Job[]): Promise<BatchOutcome[]> {
    if (this.shutdown.signal.aborted) throw new Abandoned('closed');
    try {
      const outcomes = await this.opts.processor(jobs, this.ctx);
      if (!Array.isArray(outcomes) || outcomes.length !== jobs.length) throw new Error(`the batch processor of ${this.opts.queue} returned ${Array.isArray(outcomes) ? outcomes.length : typeof outcomes} outcomes for ${jobs.length} jobs`);
      return outcomes;
    } catch (error) {
      if (this.shutdown.signal.aborted) throw new Abandoned('closed');
      throw error;
    }
  }

  private async tryOnce(jobs: Job[]): Promise<{ ok: true; outcomes: BatchOutcome[] } | { ok: false; error: unknown }> {
    try {
      return { ok: true, outcomes: await this.applyOnce(jobs) };
    } catch (error) {
      if (error instanceof Abandoned) throw error;
      return { ok: false, error };
    }
  }

  /** Acknowledge every job (pipelined, in order), then report it. */
  private async finish(jobs: Job[], outcomes: BatchOutcome[], runtimeMs: number): Promise<void> {
    const errors = await this.withRedisRetries(jobs, (j, i) => {
      const o = outcomes[i]!;
      return o.ok ? j.moveToCompleted(o.value ?? null, this.token, false) : j.moveToFailed(o.error, this.token, false);
    });
    const now = this.deps.clock.now();
    const finals: Array<Promise<void>> = [];
    jobs.forEach((job, i) => {
      const o = outcomes[i]!;
      const started = job.processedOn ?? now;
      const waitMs = Math.max(0, started - (job.timestamp + (job.opts.delay ?? 0)));
      if (o.ok) this.processed++;
      else {
        this.failed++;
        this.deps.log.error('job failed', { queue: this.opts.queue, job: job.id, name: job.name, error: errorMessage(o.error) });
        if (this.opts.recordFailures !== false) finals.push(this.recordFailure(job, o.error));
      }
      if (errors[i]) this.deps.log.error('could not acknowledge a finished job; it will be replayed (idempotent)', { queue: this.opts.queue, job: job.id, error: errorMessage(errors[i]) });
      this.inHand = this.inHand.filter((j) => j !== job);
      this.opts.onJobEnd?.(job, { ok: o.ok, final: !o.ok, waitMs, runtimeMs, ...(o.ok ? {} : { error: errorMessage(o.error) }) });
    });
    await Promise.all(finals);
    await this.runDeferred(jobs);
  }

  /** Run `fn` on every job at once; jobs whose call failed are retried (in order) a few times. Returns the last error per job. */
  private async withRedisRetries(jobs: Job[], fn: (j: Job, i: number) => Promise<unknown>): Promise<Array<unknown>> {
    const errors: unknown[] = new Array(jobs.length).fill(null);
    let todo = jobs.map((_, i) => i);
    for (let attempt = 1; todo.length && attempt <= 5; attempt++) {
      if (attempt > 1) {
        if (this.gone) break;
        await this.pause(500 * attempt);
      }
      const res = await Promise.allSettled(todo.map((i) => fn(jobs[i]!, i)));
      const next: number[] = [];
      res.forEach((r, k) => {
        const i = todo[k]!;
        if (r.status === 'rejected') {
          errors[i] = r.reason;
          // A missing lock means the job is no longer ours (recovered or forced): retrying cannot help.
          if (!/Missing lock|not in the active/i.test(errorMessage(r.reason))) next.push(i);
        } else errors[i] = null;
      });
      todo = next;
    }
    return errors;
  }

  private async recordFailure(job: Job, err: Error): Promise<void> {
    try {
      const { recordFailedJob } = await import('../db/repositories/failed-jobs.js');
      await recordFailedJob(this.deps.db, { queue: this.opts.queue, name: job.name, jobId: job.id ?? null, payload: job.data, exception: err.stack ?? errorMessage(err), failedAt: new Date(this.deps.clock.now()) });
    } catch (e) {
      this.deps.log.error('could not record the failed job', { queue: this.opts.queue, job: job.id, error: errorMessage(e) });
    }
  }

  private async runDeferred(jobs: Job[]): Promise<void> {
    for (const job of jobs) {
      const fns = this.deferred.get(String(job.id));
      if (!fns) continue;
      this.deferred.delete(String(job.id));
      for (const fn of fns) {
        try {
          await fn();
        } catch (err) {
          this.deps.log.error('after-job action failed', { job: job.id, error: errorMessage(err) });
        }
      }
    }
  }

  /** Wake a blocking getNextJob: the marker BullMQ itself adds for a new job. */
  private async wake(): Promise<void> {
    await this.deps.redis.zadd(`${queuePrefix(this.deps.config.redis.prefix)}:${this.opts.queue}:marker`, 0, '0');
  }

  private closing: Promise<void> | null = null;

  /** Take no new batch, finish the one in hand (forced after closeTimeoutMs), close. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closingFlag = true;
      this.closingSignal.abort();
      const w = this.worker;
      if (this.waiting) await this.wake().catch((err) => this.deps.log.warn('could not wake the blocked consumer', { queue: this.opts.queue, error: errorMessage(err) }));
      if (this.loop) {
        const loop = this.loop.then(() => true);
        const within = async (ms: number) => {
          let timer: NodeJS.Timeout | undefined;
          const ok = await Promise.race([loop, new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))]);
          clearTimeout(timer);
          return ok;
        };
        // Blocked with nothing in hand: the wake-up returns at once unless the blocking connection is dead (the
        // liveness case); then there is nothing to wait for. A batch in hand gets the full closeTimeoutMs.
        let done = await within(this.waiting && !this.inHand.length ? Math.min(2000, this.opts.closeTimeoutMs) : this.opts.closeTimeoutMs);
        if (!done && this.inHand.length) done = await within(this.opts.closeTimeoutMs);
        if (!done) {
          this.deps.log.warn('batch still running at shutdown deadline; forcing close', { queue: this.opts.queue, in_hand: this.inHand.length });
          this.shutdown.abort();
          await w?.close(true);
        }
      }
      this.shutdown.abort();
      if (this.keepLocks) clearInterval(this.keepLocks);
      await w?.close().catch((err) => this.deps.log.warn('closing the worker failed', { queue: this.opts.queue, error: errorMessage(err) }));
      await this.queues.close();
    })();
    return this.closing;
  }
}
