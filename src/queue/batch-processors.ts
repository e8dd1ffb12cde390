/**
 * Batch processors: code that applies several jobs of ONE queue in order in one call (e.g. one database
 * transaction for up to N user-data frames of a shard). The horizon shard consumer (src/horizon/batch-consumer.ts)
 * uses the batch processor registered for its queue instead of the per-job processor (src/queue/processors.ts).
 *
 * Contract of a BatchProcessor(jobs, ctx):
 *  - jobs are in queue order; the processor applies them in that order;
 *  - it returns one outcome per job, same order: {ok: true, value} or {ok: false, error} for a job that can
 *    never succeed (its error should be an UnrecoverableError; the others of the batch are still applied);
 *  - it THROWS when the batch as a whole failed and nothing of it was applied (a database error rolls the
 *    transaction back); the consumer then retries the batch in place and, if it keeps failing, splits it to
 *    isolate the job that fails;
 *  - it must be idempotent: a batch replayed after a crash (some of it committed, none of it acknowledged)
 *    changes nothing the first run already did.
 */
import type { Job } from 'bullmq';
import { loadProcessorModules, type JobProcessor, type WorkerContext } from './processors.js';

export type BatchOutcome = { ok: true; value: unknown } | { ok: false; error: Error };

export type BatchProcessor = (jobs: readonly Job[], ctx: WorkerContext) => Promise<BatchOutcome[]>;

interface Entry {
  processor: BatchProcessor;
  /** The per-job processor this batches; when given, the batch form is used only while that one is the queue's processor. */
  batches?: JobProcessor;
}

const exact = new Map<string, Entry>();
const patterns: Array<Entry & { re: RegExp }> = [];

/**
 * Register the batch processor of a queue name or of every queue matching a pattern. `batches` names the
 * per-job processor it is the batch form of: if another processor was registered for a queue first (a test
 * or benchmark module), that queue is not batched.
 */
export function registerBatchProcessor(queue: string | RegExp, processor: BatchProcessor, batches?: JobProcessor): void {
  if (typeof queue === 'string') exact.set(queue, { processor, batches });
  else patterns.push({ re: queue, processor, batches });
}

/** The batch processor of `queue` (exact name first, then the first matching pattern), or null. `jobProcessor`: the queue's resolved per-job processor. */
export async function resolveBatchProcessor(queue: string, jobProcessor?: JobProcessor): Promise<BatchProcessor | null> {
  await loadProcessorModules();
  const e = exact.get(queue) ?? patterns.find((p) => p.re.test(queue));
  if (!e || (e.batches && jobProcessor && e.batches !== jobProcessor)) return null;
  return e.processor;
}
