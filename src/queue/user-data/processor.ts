/**
 * The BullMQ processor of `ProcessUserDataEvent` jobs on `user-data-stream` and its shards
 * `user-data-stream-<n>` (contract: src/queue/user-data.ts, docs/contracts.md). Imported for its
 * registration by loadProcessorModules() (PROCESSOR_MODULES in src/queue/processors.ts).
 *
 * A job is one frame: {accountId, payload, receivedAt, apiSystem}. It is applied by applyUserDataFrames()
 * in its own transaction. A job without a usable account id cannot be stored and fails without retries
 * (UnrecoverableError: it lands in the failed jobs, never silently dropped); a malformed payload is
 * stored as event_type `malformed`. Database errors throw, so BullMQ retries the job (attempts 5), and the
 * idempotency key makes the retry apply the frame exactly once.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import { registerProcessor, type WorkerContext } from '../processors.js';
import { registerBatchProcessor } from '../batch-processors.js';
import { processUserDataBatch } from './batch.js';
import { USER_DATA_JOB } from '../user-data.js';
import { applyUserDataFrames, type ApplyDeps, type FrameResult } from './apply.js';

/** The queues this processor owns: the logical name and every shard. */
export const USER_DATA_QUEUE_PATTERN = /^user-data-stream(-\d+)?$/;

/** ApplyDeps from a worker's context (the allow-list comes from USER_DATA_APPLY_EXECUTION_TYPES). */
export function applyDepsFromContext(ctx: Pick<WorkerContext, 'config' | 'clock' | 'log' | 'redis' | 'redisPrefix'>): ApplyDeps {
  return { clock: ctx.clock, log: ctx.log, redis: ctx.redis, redisPrefix: ctx.redisPrefix, applyExecutionTypes: ctx.config.userDataApplyExecutionTypes };
}

let recordOnlyWarned = false;

export async function processUserDataJob(job: Pick<Job, 'name' | 'data' | 'id'>, ctx: WorkerContext): Promise<FrameResult> {
  if (!recordOnlyWarned && ctx.config.userDataApplyExecutionTypes.length === 0) {
    recordOnlyWarned = true;
    ctx.log.warn('USER_DATA_APPLY_EXECUTION_TYPES is empty: user-data frames are recorded only (no order mirror, no follow-up steps)');
  }
  if (job.name !== USER_DATA_JOB) throw new UnrecoverableError(`unexpected job "${job.name}" on a user-data queue (expected ${USER_DATA_JOB})`);
  const data = (job.data ?? {}) as Record<string, unknown>;
  if (typeof data !== 'object' || Array.isArray(data)) throw new UnrecoverableError(`${USER_DATA_JOB} job ${String(job.id)}: data must be an object {accountId, payload, receivedAt, apiSystem}`);
  const [res] = await applyUserDataFrames(ctx.db, [{ accountId: data.accountId, payload: data.payload, receivedAt: data.receivedAt, apiSystem: data.apiSystem }], applyDepsFromContext(ctx));
  if (!res || res.rejected) throw new UnrecoverableError(`${USER_DATA_JOB} job ${String(job.id)}: ${res?.rejected ?? 'no result'}`);
  return res;
}

registerProcessor(USER_DATA_QUEUE_PATTERN, processUserDataJob);
registerBatchProcessor(USER_DATA_QUEUE_PATTERN, processUserDataBatch, processUserDataJob); // horizon's shard consumer: N frames, one transaction
