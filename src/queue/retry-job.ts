/**
 * A shard job's processor, retried in place (src/support/retry-in-place.ts): up to `retryAttempts` failures
 * (backoff retryBackoffMs × attempt) while the shard's later jobs wait, then UnrecoverableError (the job fails
 * for good and lands in failed_jobs). A transient failure (database or Redis away, deadlock victim) spends no
 * attempt. On a forced shutdown the job is left in hand (never settles), so it stays active for the next holder
 * of the shard. Used by horizon's shard workers and by `queue:work` on a shard.
 */
import type { Clock } from '../support/clock.js';
import type { Logger } from '../support/log.js';
import { finalError, isUnrecoverable, retryInPlace, RetryAbandoned } from '../support/retry-in-place.js';
import type { JobProcessor } from './processors.js';

export interface InPlacePolicy {
  retryAttempts: number;
  retryBackoffMs: number;
}

export function retryJobInPlace(base: JobProcessor, policy: InPlacePolicy, deps: { clock: Clock; log: Logger }): JobProcessor {
  return async (job, ctx) => {
    try {
      const r = await retryInPlace(() => base(job, ctx), {
        attempts: policy.retryAttempts,
        backoffMs: policy.retryBackoffMs,
        clock: deps.clock,
        signal: ctx.signal,
        log: deps.log,
        what: 'shard job',
        fields: { queue: job.queueName, job: job.id },
        isFinal: isUnrecoverable, // the processor says a retry cannot help
      });
      if (r.ok) return r.value;
      throw isUnrecoverable(r.error) ? r.error : await finalError(r.error, r.attempts);
    } catch (err) {
      if (err instanceof RetryAbandoned) return new Promise<never>(() => undefined);
      throw err;
    }
  };
}
