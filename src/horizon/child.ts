/**
 * One horizon worker process (forked by a Supervisor, entry ./child-main.ts). It runs QueueWorkers:
 *  - kind 'queues': one BullMQ worker per queue of its supervisor;
 *  - kind 'shards': it claims up to `shardsPerProcess` shard queues through leases (src/horizon/leases.ts),
 *    recovers each claimed shard's stale active jobs to the head of wait, then runs ONE consumer with
 *    concurrency 1 on it. A failing shard job is retried in place (bounded, short backoff) so later frames of
 *    the shard never overtake it; after the last attempt it fails for good (UnrecoverableError → failed_jobs)
 *    and the shard moves on. A lease that cannot be renewed makes the process exit at once (its jobs stay
 *    active and the next holder recovers them).
 *
 * Every `tick()` (1 s): report a heartbeat to the supervisor over IPC, renew/claim leases, check liveness
 * (a queue with a job waiting longer than livenessMs and no pickup in that time gets its worker recreated,
 * the cure for a BullMQ worker that stopped fetching after a reconnect), check memory, maxJobs and maxTime,
 * and flush metric samples to Redis.
 */
import type { Job } from 'bullmq';
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../config/index.js';
import { queuePrefix } from '../redis/keys.js';
import type { Clock } from '../support/clock.js';
import { errorMessage } from '../support/errors.js';
import type { Logger } from '../support/log.js';
import { retryJobInPlace } from '../queue/retry-job.js';
import { resolveProcessor, type JobProcessor } from '../queue/processors.js';
import { QueueWorker, type JobOutcome } from '../queue/worker.js';
import { QueueFactory } from '../queue/queues.js';
import type { SupervisorConfig } from './config.js';
import { horizonKeys } from './keys.js';
import { ShardLeases } from './leases.js';

export interface ChildSpec extends SupervisorConfig {
  /** Shard supervisors: most shards one process holds at once. */
  shardsPerProcess: number;
  /** Start paused (the master is paused). */
  paused: boolean;
  /** How long a graceful stop waits for the jobs in hand. */
  terminateWaitMs: number;
}

export interface ChildDeps {
  config: AppConfig;
  db: Knex;
  /** 'daemon' mode client. */
  redis: Redis;
  clock: Clock;
  log: Logger;
  /** IPC to the supervisor (absent in-process). */
  send?: (msg: ChildMessage) => void;
  /** Resident memory in MB (injected by tests). */
  rssMb?: () => number;
  pid?: number;
}

export type ChildMessage =
  | { t: 'hb'; pid: number; status: string; jobs: number; failed: number; runtimeMs: number; rss_mb: number; queues: string[]; busy: number }
  | { t: 'bye'; reason: string };

export type ParentMessage = { t: 'pause' } | { t: 'continue' } | { t: 'stop'; reason?: string };

interface Consumer {
  queue: string;
  worker: Pick<QueueWorker, 'start' | 'close' | 'stats' | 'bullWorker'>;
  lastPickAt: number;
  busy: number;
}

const MAX_SAMPLES = 100_000;

export class HorizonChild {
  private readonly consumers = new Map<string, Consumer>();
  /** Shards whose lease we hold (from the claim on, before the consumer is up). */
  private readonly held = new Set<string>();
  private readonly leases: ShardLeases;
  private readonly keys;
  private readonly token: string;
  private readonly queues: QueueFactory;
  private paused: boolean;
  private stopping: string | null = null;
  private jobs = 0;
  private warnedBaseline = false;
  private rssCheckedAt = -Infinity;
  private failed = 0;
  private runtimeMs = 0;
  private readonly startedAt: number;
  private samples: string[] = [];
  private readonly stopped = new AbortController();
  private processors = new Map<string, JobProcessor>();
  private ticking: Promise<void> | null = null;

  constructor(
    private readonly deps: ChildDeps,
    readonly spec: ChildSpec,
  ) {
    this.keys = horizonKeys(deps.config.redis.prefix);
    this.leases = new ShardLeases(deps.redis, (q) => this.keys.lease(q), queuePrefix(deps.config.redis.prefix));
    this.token = `${deps.config.hostname}|${deps.pid ?? process.pid}`;
    this.queues = new QueueFactory({ prefix: deps.config.redis.prefix, connection: deps.redis });
    this.paused = spec.paused;
    this.startedAt = deps.clock.now();
  }

  get leaseToken(): string {
    return this.token;
  }

  get ownedQueues(): string[] {
    return [...this.consumers.keys()];
  }

  get stats(): { jobs: number; failed: number } {
    return { jobs: this.jobs, failed: this.failed };
  }

  consumer(queue: string): Consumer['worker'] | null {
    return this.consumers.get(queue)?.worker ?? null;
  }

  private rss(): number {
    return this.deps.rssMb ? this.deps.rssMb() : Math.round(process.memoryUsage.rss() / 1048576);
  }

  private async processorFor(queue: string): Promise<JobProcessor> {
    let p = this.processors.get(queue);
    if (p) return p;
    const base = await resolveProcessor(queue);
    p = this.spec.kind === 'shards' ? retryJobInPlace(base, this.spec, this.deps) : base;
    this.processors.set(queue, p);
    return p;
  }

  private async startConsumer(queue: string): Promise<void> {
    const shard = this.spec.kind === 'shards';
    const c: Consumer = { queue, worker: null as unknown as QueueWorker, lastPickAt: this.deps.clock.now(), busy: 0 };
    // A shard with a batch processor (user-data): N jobs per call, one transaction (src/horizon/batch-consumer.ts).
    const batch = shard ? await (await import('../queue/batch-processors.js')).resolveBatchProcessor(queue, await resolveProcessor(queue)) : null;
    const maxBatch = (this.spec as { batchSize?: number }).batchSize;
    if (batch && maxBatch !== 0) {
      const { BatchConsumer } = await import('./batch-consumer.js');
      c.worker = new BatchConsumer(
        { config: this.deps.config, db: this.deps.db, redis: this.deps.redis, clock: this.deps.clock, log: this.deps.log },
        {
          queue,
          processor: batch,
          maxBatch,
          lockDurationMs: this.spec.lockDurationMs,
          retryAttempts: this.spec.retryAttempts,
          retryBackoffMs: this.spec.retryBackoffMs,
          closeTimeoutMs: Math.max(1000, this.spec.terminateWaitMs),
          onJobStart: () => {
            c.lastPickAt = this.deps.clock.now();
            c.busy++;
          },
          onJobEnd: (job, outcome) => {
            c.busy = Math.max(0, c.busy - 1);
            c.lastPickAt = this.deps.clock.now();
            this.onJobEnd(job, outcome);
          },
        },
      );
    } else c.worker = new QueueWorker(
      { config: this.deps.config, db: this.deps.db, redis: this.deps.redis, clock: this.deps.clock, log: this.deps.log },
      {
        queue,
        concurrency: shard ? 1 : this.spec.concurrency,
        processor: await this.processorFor(queue),
        lockDurationMs: this.spec.lockDurationMs,
        stalledIntervalMs: shard ? this.spec.lockDurationMs : undefined,
        // A shard job is never failed for stalling: a dead holder's job is recovered to the head instead.
        maxStalledCount: shard ? 1_000_000 : undefined,
        closeTimeoutMs: Math.max(1000, this.spec.terminateWaitMs),
        onJobStart: () => {
          c.lastPickAt = this.deps.clock.now();
          c.busy++;
        },
        onJobEnd: (job, outcome) => {
          c.busy = Math.max(0, c.busy - 1);
          c.lastPickAt = this.deps.clock.now();
          this.onJobEnd(job, outcome);
        },
      },
    );
    this.consumers.set(queue, c);
    try {
      await c.worker.start();
    } catch (err) {
      this.consumers.delete(queue);
      throw err;
    }
  }

  private onJobEnd(job: Job, o: JobOutcome): void {
    if (o.ok || o.final) this.jobs++;
    if (!o.ok && o.final) this.failed++;
    this.runtimeMs += o.runtimeMs;
    if (this.samples.length < 10_000) this.samples.push(`${job.queueName}|${job.name}|${o.runtimeMs}|${o.waitMs}|${o.ok ? 1 : o.final ? 0 : 2}`);
    if (this.spec.maxJobs > 0 && this.jobs >= this.spec.maxJobs) this.stop('max-jobs');
    // Reading the RSS costs a system call: after a job, at most every 250 ms (a batch finishes many at once).
    const now = this.deps.clock.now();
    if (now - this.rssCheckedAt >= 250 || this.deps.rssMb) {
      this.rssCheckedAt = now;
      if (this.rss() > this.spec.memoryMb) this.stop('memory');
    }
  }

  /** Start consuming (kind 'queues') or claim shards (kind 'shards'). */
  /** Heartbeats on their own loop, so a slow tick (a worker starting on a loaded box) never looks like a hang. */
  private async heartbeatLoop(): Promise<void> {
    while (!this.stopping) {
      this.heartbeat();
      try {
        await this.deps.clock.sleep(1000, this.stopped.signal);
      } catch {
        return;
      }
    }
  }

  async start(): Promise<void> {
    this.beating = this.heartbeatLoop();
    // Load the processors before claiming anything: on a loaded box importing them can take seconds.
    for (const q of this.spec.queues) await this.processorFor(q);
    if (this.spec.kind === 'shards') this.renewing = this.renewLoop();
    if (!this.paused && this.spec.kind === 'queues') for (const q of this.spec.queues) await this.startConsumer(q);
    await this.tick();
  }

  private renewing: Promise<void> | null = null;
  private beating: Promise<void> | null = null;

  /** One iteration: leases, liveness, limits, metrics, heartbeat. Errors are logged, not thrown. */
  tick(): Promise<void> {
    this.ticking ??= this.doTick().finally(() => (this.ticking = null));
    return this.ticking;
  }

  private async doTick(): Promise<void> {
    try {
      if (!this.stopping) {
        if (this.spec.kind === 'shards') await this.maintainLeases();
        else if (!this.paused) for (const q of this.spec.queues) if (!this.consumers.has(q)) await this.startConsumer(q);
        await this.checkLiveness();
        this.checkLimits();
      }
      await this.flushSamples();
    } catch (err) {
      this.deps.log.error('horizon worker tick failed', { supervisor: this.spec.name, error: errorMessage(err) });
    }
    this.heartbeat();
  }

  /** Renew every held lease; a lost one stops the process at once. Runs on its own loop (leaseMs / 4). */
  async renewLeases(): Promise<void> {
    for (const q of [...this.held]) {
      if (this.stopping) return;
      if (!(await this.leases.renew(q, this.token, this.spec.leaseMs))) {
        this.deps.log.error('shard lease lost; exiting so the new holder owns the shard alone', { queue: q });
        this.stop('lease-lost', true);
        return;
      }
    }
  }

  private async renewLoop(): Promise<void> {
    const every = Math.max(250, Math.floor(this.spec.leaseMs / 4));
    while (!this.stopping) {
      try {
        await this.deps.clock.sleep(every, this.stopped.signal);
      } catch {
        return;
      }
      await this.renewLeases().catch((err) => this.deps.log.warn('lease renewal failed', { error: errorMessage(err) }));
    }
  }

  private async maintainLeases(): Promise<void> {
    const ttl = this.spec.leaseMs;
    if (this.paused) return;
    const cap = Math.max(1, this.spec.shardsPerProcess);
    if (this.held.size >= cap) return;
    // Start at a pid-dependent offset so sibling processes try different shards first.
    const n = this.spec.queues.length;
    const offset = (this.deps.pid ?? process.pid) % n;
    for (let i = 0; i < n && this.held.size < cap; i++) {
      const q = this.spec.queues[(offset + i) % n]!;
      if (this.held.has(q)) continue;
      if (!(await this.leases.claim(q, this.token, ttl))) continue;
      this.held.add(q);
      const recovered = await this.leases.recover(q);
      if (recovered.length) this.deps.log.warn('recovered in-flight jobs of the previous shard holder', { queue: q, jobs: recovered });
      this.deps.log.info('shard claimed', { queue: q, holder: this.token });
      // Hold the lease in the consumer map before the (slow) start so the renew loop keeps it alive.
      await this.startConsumer(q);
    }
  }

  private async checkLiveness(): Promise<void> {
    if (this.paused || this.spec.livenessMs <= 0) return;
    const now = this.deps.clock.now();
    for (const c of [...this.consumers.values()]) {
      if (c.busy > 0 || now - c.lastPickAt < this.spec.livenessMs) continue;
      const q = await this.queues.queue(c.queue);
      const [oldest] = (await q.getJobs(['wait'], 0, 0, true)) as Job[];
      if (!oldest || now - oldest.timestamp < this.spec.livenessMs) continue;
      this.deps.log.warn('worker stopped fetching; recreating it', { queue: c.queue, idle_ms: now - c.lastPickAt, oldest_wait_ms: now - oldest.timestamp });
      this.consumers.delete(c.queue);
      await c.worker.close().catch((err) => this.deps.log.warn('closing the stuck worker failed', { queue: c.queue, error: errorMessage(err) }));
      await this.startConsumer(c.queue);
    }
  }

  private checkLimits(): void {
    if (this.spec.maxTimeMs > 0 && this.deps.clock.now() - this.startedAt >= this.spec.maxTimeMs) this.stop('max-time');
    else if (this.rss() > this.spec.memoryMb) {
      // Memory grows with work. A worker that is over the limit before its first job would only be
      // restarted into the same state, in a loop that drains nothing: warn once and keep working.
      if (this.jobs > 0) this.stop('memory');
      else if (!this.warnedBaseline) {
        this.warnedBaseline = true;
        this.deps.log.warn('memory limit is below a fresh worker\'s footprint; recycling waits for the first job', { rss_mb: this.rss(), memory_mb: this.spec.memoryMb });
      }
    }
  }

  private async flushSamples(): Promise<void> {
    if (!this.samples.length) return;
    const batch = this.samples;
    this.samples = [];
    await this.deps.redis.multi().rpush(this.keys.samples(), ...batch).ltrim(this.keys.samples(), -MAX_SAMPLES, -1).exec();
  }

  private heartbeat(): void {
    const busy = [...this.consumers.values()].reduce((n, c) => n + c.busy, 0);
    const status = this.stopping ? 'stopping' : this.paused ? 'paused' : busy > 0 ? 'working' : 'idle';
    this.deps.send?.({ t: 'hb', pid: this.deps.pid ?? process.pid, status, jobs: this.jobs, failed: this.failed, runtimeMs: this.runtimeMs, rss_mb: this.rss(), queues: this.ownedQueues, busy });
  }

  /** Stop taking jobs (the jobs in hand finish). Shard leases are kept. */
  async pause(): Promise<void> {
    if (this.paused) return;
    this.paused = true;
    await Promise.all([...this.consumers.values()].map((c) => c.worker.close()));
    const queues = [...this.consumers.keys()];
    this.consumers.clear();
    this.pausedShards = this.spec.kind === 'shards' ? queues : [];
    this.heartbeat();
  }

  private pausedShards: string[] = [];

  async resume(): Promise<void> {
    if (!this.paused) return;
    this.paused = false;
    // Shards we still hold the lease of are resumed directly (nothing of them ran meanwhile).
    for (const q of this.pausedShards) {
      if (await this.leases.renew(q, this.token, this.spec.leaseMs)) await this.startConsumer(q);
    }
    this.pausedShards = [];
    await this.tick();
  }

  /**
   * Stop: no new jobs; the jobs in hand finish (forced after closeTimeout), leases are released, run()
   * returns. `hard`: close at once without waiting (lease lost).
   */
  stop(reason: string, hard = false): void {
    if (this.stopping) return;
    this.stopping = reason;
    this.deps.log.info('horizon worker stopping', { reason, supervisor: this.spec.name });
    if (hard) {
      this.hard = true;
      for (const c of this.consumers.values()) c.worker.bullWorker?.close(true).catch((err) => this.deps.log.warn('hard close of a worker failed', { queue: c.queue, error: errorMessage(err) }));
    }
    this.stopped.abort();
  }

  private hard = false;

  get stopReason(): string | null {
    return this.stopping;
  }

  /** start(), tick every second until stop(), then close. Returns the stop reason. */
  async run(tickMs = 1000): Promise<string> {
    await this.start();
    while (!this.stopping) {
      try {
        await this.deps.clock.sleep(tickMs, this.stopped.signal);
      } catch {
        break;
      }
      await this.tick();
    }
    await this.close();
    return this.stopping ?? 'stop';
  }

  async close(): Promise<void> {
    this.stopping ??= 'close';
    this.stopped.abort();
    await this.ticking;
    await this.renewing;
    await this.beating;
    const release = [...this.pausedShards];
    if (!this.hard) {
      await Promise.all(
        [...this.consumers.values()].map(async (c) => {
          await c.worker.close();
          // A job still in hand after the deadline stays active under our lease until it expires; the next
          // holder then recovers it. Otherwise the shard is released at once.
          if (c.worker.stats.active === 0) release.push(c.queue);
        }),
      );
    }
    this.consumers.clear();
    if (this.spec.kind === 'shards' && !this.hard) await this.leases.releaseAll(release, this.token).catch(() => []);
    this.held.clear();
    await this.flushSamples().catch((err) => this.deps.log.warn('the last metrics samples could not be written', { error: errorMessage(err) }));
    await this.queues.close();
    this.deps.send?.({ t: 'bye', reason: this.stopping });
  }
}
