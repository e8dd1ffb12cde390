/**
 * The horizon part's `failed_jobs` table (docs/contracts.md: uuid, queue, job name, payload, exception,
 * failed_at), as the admin Queues page reads it. The job name column is `name` (or `job_name`). Callers
 * check that the table exists first: it belongs to a part that may not be installed.
 */
import type { Knex } from 'knex';
import { toDate } from '../../support/sql-values.js';

export interface FailedJobRow {
  uuid: string;
  queue: string;
  name: string;
  exception: string;
  failedAt: Date | null;
}

export async function listFailedJobs(db: Knex, limit = 50): Promise<FailedJobRow[]> {
  const rows = (await db('failed_jobs').select('*').orderBy('failed_at', 'desc').limit(limit)) as Array<Record<string, unknown>>;
  return rows.map((r) => ({
    uuid: String(r.uuid ?? r.id),
    queue: String(r.queue ?? ''),
    name: String(r.name ?? r.job_name ?? r.job ?? ''),
    exception: String(r.exception ?? ''),
    failedAt: toDate(r.failed_at),
  }));
}

/** Delete one failed job by uuid (forget); returns whether a row went. */
export async function forgetFailedJob(db: Knex, uuid: string): Promise<boolean> {
  return Number(await db('failed_jobs').where('uuid', uuid).delete()) > 0;
}
