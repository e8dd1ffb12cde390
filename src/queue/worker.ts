/**
 * The worker runtime: one BullMQ Worker on one queue, running the processor that resolveProcessor() picks
 * for it. `queue:work` runs one in the foreground; the horizon pool runs one per child process.
 *
 *   const w = new QueueWorker(deps, { queue: 'default', concurrency: 4, maxJobs: 1000 });
 *   const summary = await w.run();          // until a limit is reached or stop() is called
 *
 * Limits (Laravel's queue:work semantics): maxJobs (--once = 1), maxTimeMs, stopWhenEmpty. With
 * concurrency > 1, jobs already taken when a limit is reached are finished, so a run may process up to
 * concurrency − 1 jobs past maxJobs. stop() (SIGTERM/SIGINT) stops fetching and waits for the jobs in hand,
 * up to `closeTimeoutMs`, then force-closes (the unfinished steps are recovered by steps:recover-stale).
 */
import type { Job, Worker } from 'bullmq';
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../config/index.js';
import { Notifier } from '../notify/notifier.js';
import type { Clock } from '../support/clock.js';
import { errorMessage } from '../support/errors.js';
import type { Logger } from '../support/log.js';
import { resolveProcessor, type JobProcessor, type WorkerContext } from './processors.js';
import { QueueFactory } from './queues.js';

/** Minutes of BullMQ metrics each queue keeps (one data point per minute): a day. */
export const WORKER_METRICS_MINUTES = 24 * 60;

export interface QueueWorkerDeps {
  config: AppConfig;
  db: Knex;
  /** Command connection in 'daemon' mode (maxRetriesPerRequest: null); BullMQ duplicates it for blocking reads. */
  redis: Redis;
  clock: Clock;
  log: Logger;
}

export interface QueueWorkerOptions {
  queue: string;
  concurrency?: number;
  /** Stop after this many jobs (1 = --once). */
  maxJobs?: number;
  /** Stop after this long. */
  maxTimeMs?: number;
  /** Stop as soon as the queue has no waiting job. */
  stopWhenEmpty?: boolean;
  /** How long stop() waits for jobs in hand before forcing. Default 10 000. */
  closeTimeoutMs?: number;
  /** BullMQ lock duration (ms). Default 30 000. */
  lockDurationMs?: number;
  /** Use this processor instead of the registry's. */
  processor?: JobProcessor;
  /** BullMQ stalled-job check interval and the stalls a job survives before it fails (defaults 30 000 / 1). */
  stalledIntervalMs?: number;
  maxStalledCount?: number;
  /** Mirror a job's final failure into the failed_jobs table (default true). */
  recordFailures?: boolean;
  /** Called when a job starts and when it ends (the horizon pool's liveness and metrics). */
  onJobStart?: (job: Job) => void;
  onJobEnd?: (job: Job, outcome: JobOutcome) => void;
}

export interface JobOutcome {
  ok: boolean;
  /** processedOn − the time the job became runnable. */
  waitMs: number;
  runtimeMs: number;
  /** The failure was final (no attempt left): mirrored into failed_jobs. */
  final: boolean;
  error?: string;
}

/** Whether a failed job will not be tried again by BullMQ. */
export function isFinalFailure(job: Job, err: Error | undefined): boolean {
  if (err && (err.name === 'UnrecoverableError' || err.name === 'UnrecoverableJobError')) return true;
  return job.attemptsMade >= (job.opts.attempts ?? 1);
}

function timing(job: Job, clockNow: number): { waitMs: number; runtimeMs: number } {
  const runnableAt = job.timestamp + (job.opts.delay ?? 0);
  const started = job.processedOn ?? clockNow;
  const finished = job.finishedOn ?? clockNow;
  return { waitMs: Math.max(0, started - runnableAt), runtimeMs: Math.max(0, finished - started) };
}

export interface WorkerSummary {
  queue: string;
  processed: number;
  failed: number;
  stoppedBy: string;
  durationMs: number;
}

export class QueueWorker {
  private worker: Worker | null = null;
  private queues: QueueFactory;
  private processed = 0;
  private failed = 0;
  private started = 0;
  private stoppedBy: string | null = null;
  private readonly shutdown = new AbortController();
  private done!: Promise<void>;
  private resolveDone!: () => void;
  private readonly deferred = new Map<string, Array<() => Promise<void>>>();
  private readonly inFlight = new Set<Promise<void>>();
  private maxTimeTimer: AbortController | null = null;

  constructor(
    private readonly deps: QueueWorkerDeps,
    private readonly opts: QueueWorkerOptions,
  ) {
    this.queues = new QueueFactory({ prefix: deps.config.redis.prefix, connection: deps.redis });
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  get stats(): { processed: number; failed: number; active: number } {
    return { processed: this.processed, failed: this.failed, active: this.started - this.processed - this.failed };
  }

  /** Start fetching jobs. Resolves once the worker is running. */
  async start(): Promise<void> {
    const { config, db, redis, clock, log } = this.deps;
    const { Worker } = await this.queues.module();
    const processor = this.opts.processor ?? (await resolveProcessor(this.opts.queue));
    const notifier = new Notifier({ db, redis, prefix: config.redis.prefix, log, clock, hostname: config.hostname, webhookUrl: config.notifyWebhookUrl });
    const ctx: WorkerContext = {
      config,
      db,
      redis,
      redisPrefix: config.redis.prefix,
      clock,
      log,
      hostname: config.hostname,
      queues: this.queues,
      notifier,
      signal: this.shutdown.signal,
      afterFinished: (job, fn) => {
        const key = String(job.id);
        this.deferred.set(key, [...(this.deferred.get(key) ?? []), fn]);
      },
    };
    const maxJobs = this.opts.maxJobs ?? 0;
    this.worker = new Worker(
      this.opts.queue,
      async (job: Job) => {
        this.started++;
        if (maxJobs > 0 && this.started >= maxJobs) this.stop('max-jobs');
        this.opts.onJobStart?.(job);
        return processor(job, ctx);
      },
      {
        ...this.queues.baseOptions(),
        concurrency: Math.max(1, this.opts.concurrency ?? 1),
        autorun: false,
        lockDuration: this.opts.lockDurationMs ?? 30_000,
        stalledInterval: this.opts.stalledIntervalMs ?? 30_000,
        maxStalledCount: this.opts.maxStalledCount ?? 1,
        // Per-minute completed/failed counts (Queue.getMetrics), read by the admin UI's throughput column.
        metrics: { maxDataPoints: WORKER_METRICS_MINUTES },
      },
    );
    this.worker.on('completed', (job) => {
      this.processed++;
      this.opts.onJobEnd?.(job, { ok: true, final: false, ...timing(job, Date.now()) });
      void this.runDeferred(job);
      this.checkLimits();
    });
    this.worker.on('failed', (job, err) => {
      this.failed++;
      log.error('job failed', { queue: this.opts.queue, job: job?.id, name: job?.name, error: errorMessage(err) });
      if (job) {
        const final = isFinalFailure(job, err);
        this.opts.onJobEnd?.(job, { ok: false, final, error: errorMessage(err), ...timing(job, Date.now()) });
        if (final && this.opts.recordFailures !== false) this.track(this.recordFailure(job, err));
        void this.runDeferred(job);
      }
      this.checkLimits();
    });
    this.worker.on('error', (err) => {
      // Connection trouble and the like: BullMQ keeps retrying; log so it is visible.
      log.warn('worker error', { queue: this.opts.queue, error: errorMessage(err) });
    });
    if (this.opts.stopWhenEmpty) this.worker.on('drained', () => this.stop('empty'));
    if (this.opts.maxTimeMs && this.opts.maxTimeMs > 0) {
      this.maxTimeTimer = new AbortController();
      clock.sleep(this.opts.maxTimeMs, this.maxTimeTimer.signal).then(
        () => this.stop('max-time'),
        () => undefined, // cancelled at close
      );
    }
    void this.worker.run().catch((err) => {
      log.error('worker stopped with an error', { queue: this.opts.queue, error: errorMessage(err) });
      this.stop('error');
    });
    await this.worker.waitUntilReady();
    log.info('worker started', { queue: this.opts.queue, concurrency: this.opts.concurrency ?? 1 });
  }

  private checkLimits(): void {
    const max = this.opts.maxJobs ?? 0;
    if (max > 0 && this.processed + this.failed >= max) this.stop('max-jobs');
  }

  /** The BullMQ worker (diagnostics and the horizon liveness test). */
  get bullWorker(): Worker | null {
    return this.worker;
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** Mirror a final failure into failed_jobs (queue:failed / queue:retry). A failed write is logged, never thrown. */
  private async recordFailure(job: Job, err: Error): Promise<void> {
    try {
      const { recordFailedJob } = await import('../db/repositories/failed-jobs.js');
      await recordFailedJob(this.deps.db, {
        queue: this.opts.queue,
        name: job.name,
        jobId: job.id ?? null,
        payload: job.data,
        exception: err.stack ?? errorMessage(err),
        failedAt: new Date(this.deps.clock.now()),
      });
    } catch (e) {
      this.deps.log.error('could not record the failed job', { queue: this.opts.queue, job: job.id, error: errorMessage(e) });
    }
  }

  private runDeferred(job: Job): Promise<void> {
    const key = String(job.id);
    const fns = this.deferred.get(key);
    if (!fns) return Promise.resolve();
    this.deferred.delete(key);
    const p = (async () => {
      for (const fn of fns) {
        try {
          await fn();
        } catch (err) {
          // Each deferred action logs its own failure; this only guards the loop.
          this.deps.log.error('after-job action failed', { job: key, error: errorMessage(err) });
        }
      }
    })();
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    return p;
  }

  /** Ask the worker to stop: no new jobs, finish the ones in hand. Idempotent. */
  stop(reason = 'stop'): void {
    if (this.stoppedBy) return;
    this.stoppedBy = reason;
    this.shutdownSoon();
  }

  private shutdownSoon(): void {
    this.close()
      .catch((err) => {
        // Closing failed (Redis gone?): logged; run() still returns so the process can exit.
        this.deps.log.error('worker did not close cleanly', { queue: this.opts.queue, error: errorMessage(err) });
      })
      .finally(() => this.resolveDone());
  }

  private closing: Promise<void> | null = null;

  /** Close the worker (waits for jobs in hand up to closeTimeoutMs, then forces) and its queues. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.maxTimeTimer?.abort();
      const w = this.worker;
      if (w) {
        const timeout = this.opts.closeTimeoutMs ?? 10_000;
        let timer: NodeJS.Timeout | undefined;
        const graceful = w.close().then(() => true);
        const expired = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeout)));
        const ok = await Promise.race([graceful, expired]);
        clearTimeout(timer);
        if (!ok) {
          this.deps.log.warn('jobs still running at shutdown deadline; forcing close', { queue: this.opts.queue });
          this.shutdown.abort();
          await w.close(true);
        }
        // Let the after-job actions of finished jobs complete before the connections go; actions of jobs
        // that never finished are dropped (their steps are repaired by recover-stale).
        await Promise.all([...this.inFlight]);
        this.deferred.clear();
      }
      this.shutdown.abort();
      await this.queues.close();
    })();
    return this.closing;
  }

  /** start(), then wait until a limit or stop() ends the run. */
  async run(): Promise<WorkerSummary> {
    const t0 = Date.now();
    await this.start();
    await this.done;
    await this.close();
    return { queue: this.opts.queue, processed: this.processed, failed: this.failed, stoppedBy: this.stoppedBy ?? 'stop', durationMs: Date.now() - t0 };
  }
}
