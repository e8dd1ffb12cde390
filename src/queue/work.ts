/**
 * What `queue:work` runs: one QueueWorker on one queue until a limit or `signal` stops it.
 *
 * A shard queue (a user-data shard, or a queue a horizon `shards` supervisor leases) has exactly one consumer
 * in the whole fleet, so the worker runs under that shard's horizon lease (src/horizon/shard-guard.ts): the
 * lease is claimed first (a held lease is refused with a UserError, or waited for with `waitLease`), the
 * previous holder's in-flight jobs are recovered to the head, the worker runs with concurrency 1 and retries
 * failures in place, the lease is renewed while it works and released when it stops. A lost lease force-closes
 * the worker at once and ends in a UserError.
 */
import { ShardLeaseGuard, shardPolicy } from '../horizon/shard-guard.js';
import { retryJobInPlace } from './retry-job.js';
import { errorMessage, UserError } from '../support/errors.js';
import { resolveProcessor } from './processors.js';
import { QueueWorker, type QueueWorkerDeps, type WorkerSummary } from './worker.js';

export interface WorkQueueOptions {
  queue: string;
  concurrency: number;
  maxJobs?: number;
  maxTimeMs?: number;
  stopWhenEmpty?: boolean;
  /** Shard queues: wait for the lease while someone else holds it (default: refuse). */
  waitLease?: boolean;
}

export interface WorkQueueSummary extends WorkerSummary {
  /** Shard queues: the lease this run held and the previous holder's jobs it put back at the head. */
  lease?: { holder: string; recovered: number };
}

export async function workQueue(deps: QueueWorkerDeps, opts: WorkQueueOptions, signal: AbortSignal): Promise<WorkQueueSummary> {
  const base = { queue: opts.queue, concurrency: opts.concurrency, maxJobs: opts.maxJobs, maxTimeMs: opts.maxTimeMs, stopWhenEmpty: opts.stopWhenEmpty };
  const policy = shardPolicy(deps.config, opts.queue);
  if (!policy) {
    if (opts.waitLease) throw new UserError(`--wait-lease applies to shard queues only; ${opts.queue} is not one`);
    return runWorker(new QueueWorker(deps, base), opts.queue, signal);
  }
  if (opts.concurrency > 1) {
    throw new UserError(`${opts.queue} is a shard queue: it is consumed one job at a time to keep per-account order (drop --concurrency=${opts.concurrency})`);
  }
  // Load the processor before claiming: importing it can block this process for a while on a loaded box, and
  // the lease is renewed by a timer of this same event loop.
  const processor = retryJobInPlace(await resolveProcessor(opts.queue), policy, deps);
  await import('bullmq'); // the worker's module, likewise (loaded once; the worker's own import is then instant)
  const guard = new ShardLeaseGuard({ redis: deps.redis, prefix: deps.config.redis.prefix, hostname: deps.config.hostname, clock: deps.clock, log: deps.log }, opts.queue, policy);
  if (!(await guard.acquire({ wait: opts.waitLease, signal }))) return stoppedEarly(opts.queue, signal);
  let worker: QueueWorker | null = null;
  // Renew from the claim on: loading the processor and starting the worker can outlast a short lease.
  guard.startRenewing(() => {
    const w = worker;
    if (!w) return; // lost before the worker exists: checked below, before it starts
    // Someone else holds the shard now: stop fetching at once; the job in hand is theirs to recover.
    void w.bullWorker?.close(true).catch((err: Error) => deps.log.warn('force-closing the worker failed', { queue: opts.queue, error: err.message }));
    w.stop('lease-lost');
  });
  try {
    const recovered = await guard.recover();
    worker = new QueueWorker(deps, {
      ...base,
      concurrency: 1,
      processor,
      lockDurationMs: policy.lockDurationMs,
      stalledIntervalMs: policy.lockDurationMs,
      // A shard job is never failed for stalling: a dead holder's job is recovered to the head instead.
      maxStalledCount: 1_000_000,
    });
    if (guard.isLost) throw new UserError(`lost the lease of ${opts.queue} to another consumer before the first job; stopped so it owns the shard alone`);
    const summary = await runWorker(worker, opts.queue, signal);
    if (guard.isLost) {
      throw new UserError(`lost the lease of ${opts.queue} to another consumer after ${summary.processed} job(s); stopped at once so it owns the shard alone`);
    }
    return { ...summary, lease: { holder: guard.token, recovered: recovered.length } };
  } catch (err) {
    // Lost while starting: the forced close can surface as a Redis error ("Connection is closed"); the loss is the news.
    if (guard.isLost && !(err instanceof UserError)) throw new UserError(`lost the lease of ${opts.queue} to another consumer while starting (${errorMessage(err)}); stopped so it owns the shard alone`);
    throw err;
  } finally {
    // Release unless a job is still in hand (forced close): then the lease expires and the next holder recovers it.
    await guard.close((worker?.stats.active ?? 0) === 0);
  }
}

const stoppedEarly = (queue: string, signal: AbortSignal): WorkerSummary => ({ queue, processed: 0, failed: 0, stoppedBy: String(signal.reason ?? 'signal'), durationMs: 0 });

async function runWorker(worker: QueueWorker, queue: string, signal: AbortSignal): Promise<WorkerSummary> {
  if (signal.aborted) return stoppedEarly(queue, signal);
  const onAbort = () => worker.stop(String(signal.reason ?? 'signal'));
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await worker.run();
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
