/**
 * The batch form of ProcessUserDataEvent (src/queue/batch-processors.ts): the jobs of one shard, in order,
 * applied by ONE applyUserDataFrames() call (one transaction). A job that is not a ProcessUserDataEvent
 * with an object payload, or whose frame is refused (no usable account id), gets an UnrecoverableError
 * outcome (→ failed_jobs) while the others are applied. A database error throws: nothing of the batch was
 * committed, and the consumer retries it in place.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import type { BatchOutcome } from '../batch-processors.js';
import type { WorkerContext } from '../processors.js';
import { USER_DATA_JOB } from '../user-data.js';
import { applyUserDataFrames, type UserDataFrame } from './apply.js';
import { applyDepsFromContext } from './processor.js';

export async function processUserDataBatch(jobs: readonly Job[], ctx: WorkerContext): Promise<BatchOutcome[]> {
  const out: BatchOutcome[] = new Array(jobs.length);
  const frames: UserDataFrame[] = [];
  const at: number[] = [];
  jobs.forEach((job, i) => {
    const data = job.data as unknown;
    if (job.name !== USER_DATA_JOB) {
      out[i] = { ok: false, error: new UnrecoverableError(`unexpected job "${job.name}" on a user-data queue (expected ${USER_DATA_JOB})`) };
    } else if (!data || typeof data !== 'object' || Array.isArray(data)) {
      out[i] = { ok: false, error: new UnrecoverableError(`${USER_DATA_JOB} job ${String(job.id)}: data must be an object {accountId, payload, receivedAt, apiSystem}`) };
    } else {
      const d = data as Record<string, unknown>;
      frames.push({ accountId: d.accountId, payload: d.payload, receivedAt: d.receivedAt, apiSystem: d.apiSystem });
      at.push(i);
    }
  });
  if (frames.length) {
    const results = await applyUserDataFrames(ctx.db, frames, applyDepsFromContext(ctx));
    results.forEach((res, k) => {
      const i = at[k]!;
      out[i] = res.rejected ? { ok: false, error: new UnrecoverableError(`${USER_DATA_JOB} job ${String(jobs[i]!.id)}: ${res.rejected}`) } : { ok: true, value: res };
    });
  }
  return out;
}
