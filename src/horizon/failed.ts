/**
 * Acting on failed_jobs: put a failed job back on its queue (queue:retry, the admin UI). The job is added
 * again with its original name and payload (a new BullMQ id) and its failed_jobs row is deleted once the add
 * succeeded. On a user-data shard the retried frame goes to the tail of the shard: the processor is
 * idempotent and order-safe for a replay (docs/horizon.md).
 */
import type { Knex } from 'knex';
import type { QueueFactory } from '../queue/queues.js';
import { allFailed, deleteFailed, findFailed, type FailedJob } from '../db/repositories/failed-jobs.js';
import { UserError } from '../support/errors.js';

export interface RetryResult {
  uuid: string;
  queue: string;
  name: string;
  jobId: string;
}

async function requeue(db: Knex, queues: QueueFactory, f: FailedJob): Promise<RetryResult> {
  const q = await queues.queue(f.queue);
  const job = await q.add(f.name, f.payload ?? {}, { attempts: 1 });
  await deleteFailed(db, f.id);
  return { uuid: f.uuid, queue: f.queue, name: f.name, jobId: String(job.id) };
}

/** Retry one failed job (uuid or numeric id) or, with 'all', every one, oldest first. */
export async function retryFailed(db: Knex, queues: QueueFactory, idOrAll: string): Promise<RetryResult[]> {
  if (idOrAll === 'all') {
    const out: RetryResult[] = [];
    for (const f of await allFailed(db)) out.push(await requeue(db, queues, f));
    return out;
  }
  const f = await findFailed(db, validId(idOrAll));
  if (!f) throw new UserError(`No failed job with id "${idOrAll}" (see queue:failed)`);
  return [await requeue(db, queues, f)];
}

/** A uuid or a positive integer id; anything else is rejected before touching the database. */
export function validId(id: string): string {
  if (/^[1-9]\d{0,17}$/.test(id) || /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return id;
  throw new UserError(`"${id}" is not a failed job id (a uuid or a number from queue:failed)`);
}
