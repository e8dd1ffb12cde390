/**
 * failed_jobs (migration 0400): final job failures mirrored by the worker runtime, read and acted on by
 * queue:failed / queue:retry / queue:forget / queue:flush. The admin UI reads it through web-failed-jobs.ts.
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { parseJson, toDate } from '../../support/sql-values.js';

export interface FailedJobInput {
  queue: string;
  name: string;
  jobId: string | null;
  payload: unknown;
  exception: string;
  failedAt: Date;
}

export interface FailedJob {
  id: number;
  uuid: string;
  queue: string;
  name: string;
  jobId: string | null;
  payload: unknown;
  exception: string;
  failedAt: Date | null;
}

const MAX_EXCEPTION = 60_000;

export async function recordFailedJob(db: Knex, input: FailedJobInput): Promise<string> {
  const uuid = crypto.randomUUID();
  await db('failed_jobs').insert({
    uuid,
    queue: input.queue.slice(0, 191),
    name: input.name.slice(0, 191),
    job_id: input.jobId === null ? null : String(input.jobId).slice(0, 191),
    payload: JSON.stringify(input.payload ?? null),
    exception: input.exception.slice(0, MAX_EXCEPTION),
    failed_at: input.failedAt,
  });
  return uuid;
}

function fromRow(r: Record<string, unknown>): FailedJob {
  return {
    id: Number(r.id),
    uuid: String(r.uuid),
    queue: String(r.queue),
    name: String(r.name),
    jobId: r.job_id === null || r.job_id === undefined ? null : String(r.job_id),
    payload: parseJson(r.payload),
    exception: String(r.exception ?? ''),
    failedAt: toDate(r.failed_at),
  };
}

/** Newest first. */
export async function listFailed(db: Knex, opts: { limit?: number; queue?: string } = {}): Promise<FailedJob[]> {
  const q = db('failed_jobs').select('*').orderBy('failed_at', 'desc').orderBy('id', 'desc').limit(opts.limit ?? 100);
  if (opts.queue) q.where('queue', opts.queue);
  return ((await q) as Array<Record<string, unknown>>).map(fromRow);
}

/** All rows, oldest first (queue:retry all keeps the failure order). */
export async function allFailed(db: Knex): Promise<FailedJob[]> {
  return ((await db('failed_jobs').select('*').orderBy('failed_at', 'asc').orderBy('id', 'asc')) as Array<Record<string, unknown>>).map(fromRow);
}

/** By uuid, or by numeric id. */
export async function findFailed(db: Knex, idOrUuid: string): Promise<FailedJob | null> {
  const q = db('failed_jobs').select('*');
  if (/^\d+$/.test(idOrUuid)) q.where('id', Number(idOrUuid));
  else q.where('uuid', idOrUuid);
  const row = (await q.first()) as Record<string, unknown> | undefined;
  return row ? fromRow(row) : null;
}

export async function deleteFailed(db: Knex, id: number): Promise<boolean> {
  return Number(await db('failed_jobs').where('id', id).delete()) > 0;
}

export async function flushFailed(db: Knex): Promise<number> {
  return Number(await db('failed_jobs').delete());
}

export async function countFailed(db: Knex): Promise<number> {
  const r = (await db('failed_jobs').count({ n: '*' }).first()) as { n: number | string } | undefined;
  return Number(r?.n ?? 0);
}
