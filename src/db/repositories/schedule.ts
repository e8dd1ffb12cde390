/**
 * SQL of the kernel scheduler: the schedule_runs history and the cooling-down flag the schedule loader reads.
 */
import type { Knex } from 'knex';
import { insertId } from '../helpers.js';
import { toBool, toDate, toNumber } from '../../support/sql-values.js';

export const OUTPUT_TAIL_CHARS = 4000;

export interface RunStart {
  task_id: string;
  command: string;
  slot: Date;
  host: string;
  pid: number;
  started_at: Date;
  background?: boolean;
}

export interface RunFinish {
  finished_at: Date;
  exit_code: number;
  output: string;
}

export type RunStatus = 'running' | 'ok' | 'failed' | 'skipped';

export interface ScheduleRun {
  id: number;
  task_id: string;
  command: string;
  slot: string;
  host: string;
  pid: number;
  started_at: string;
  finished_at: string | null;
  exit_code: number | null;
  skipped_reason: string | null;
  output_tail: string | null;
  background: boolean;
  status: RunStatus;
  duration_ms: number | null;
}

export function tail(output: string, chars = OUTPUT_TAIL_CHARS): string {
  return output.length <= chars ? output : output.slice(output.length - chars);
}

/** Insert the row of a run that is starting; returns its id (finished by finishRun). */
export async function startRun(db: Knex, run: RunStart): Promise<number> {
  return insertId(db, 'schedule_runs', { ...run, background: run.background ?? false });
}

export async function finishRun(db: Knex, id: number, fin: RunFinish): Promise<void> {
  await db('schedule_runs').where({ id }).update({ finished_at: fin.finished_at, exit_code: fin.exit_code, output_tail: tail(fin.output) || null });
}

/** Record a run the scheduler skipped (overlapping, other-server, maintenance, paused). */
export async function recordSkip(db: Knex, run: RunStart, reason: string): Promise<number> {
  return insertId(db, 'schedule_runs', { ...run, background: run.background ?? false, finished_at: run.started_at, skipped_reason: reason });
}

function toRun(r: Record<string, unknown>): ScheduleRun {
  const started = toDate(r.started_at)!;
  const finished = toDate(r.finished_at);
  const exit = toNumber(r.exit_code);
  const skipped = (r.skipped_reason as string | null) ?? null;
  const status: RunStatus = skipped ? 'skipped' : !finished ? 'running' : exit === 0 ? 'ok' : 'failed';
  return {
    id: Number(r.id),
    task_id: String(r.task_id),
    command: String(r.command),
    slot: toDate(r.slot)!.toISOString(),
    host: String(r.host),
    pid: Number(r.pid),
    started_at: started.toISOString(),
    finished_at: finished?.toISOString() ?? null,
    exit_code: exit,
    skipped_reason: skipped,
    output_tail: (r.output_tail as string | null) ?? null,
    background: toBool(r.background),
    status,
    duration_ms: finished && !skipped ? finished.getTime() - started.getTime() : null,
  };
}

/** The latest row of each task (any status), keyed by task id. */
export async function lastRuns(db: Knex): Promise<Map<string, ScheduleRun>> {
  const rows = (await db('schedule_runs').whereIn('id', db('schedule_runs').max('id').groupBy('task_id'))) as Array<Record<string, unknown>>;
  return new Map(rows.map((r) => [String(r.task_id), toRun(r)]));
}

export interface RunQuery {
  taskId?: string;
  limit?: number;
  /** Only runs that finished with a non-zero exit code (status 'failed'). */
  failedOnly?: boolean;
  /** Only rows older than this id (paging). */
  beforeId?: number;
}

/** Recent rows, newest first. */
export async function recentRuns(db: Knex, q: RunQuery = {}): Promise<ScheduleRun[]> {
  const query = db('schedule_runs').orderBy('id', 'desc').limit(q.limit ?? 50);
  if (q.taskId) query.where({ task_id: q.taskId });
  if (q.failedOnly) query.whereNull('skipped_reason').whereNotNull('finished_at').whereNotNull('exit_code').whereNot('exit_code', 0);
  if (q.beforeId) query.where('id', '<', q.beforeId);
  return ((await query) as Array<Record<string, unknown>>).map(toRun);
}

/** Per task: the runs started since `since` (skips included) and how many of them failed. */
export async function runCountsSince(db: Knex, since: Date): Promise<Map<string, { runs: number; failed: number }>> {
  const rows = (await db('schedule_runs')
    .where('started_at', '>=', since)
    .select('task_id', db.raw('count(*) as runs'), db.raw('sum(case when skipped_reason is null and finished_at is not null and exit_code <> 0 then 1 else 0 end) as failed'))
    .groupBy('task_id')) as Array<{ task_id: string; runs: unknown; failed: unknown }>;
  return new Map(rows.map((r) => [String(r.task_id), { runs: Number(r.runs), failed: Number(r.failed ?? 0) }]));
}

/** Delete rows that started before `before`; returns how many. */
export async function pruneRuns(db: Knex, before: Date): Promise<number> {
  return Number(await db('schedule_runs').where('started_at', '<', before).delete());
}

/**
 * The box's cooling-down flag (`kraite.is_cooling_down`, row id 1). Throws when it cannot be read,
 * including when the row is missing: the caller decides to fail closed.
 */
export async function readCoolingDown(db: Knex): Promise<boolean> {
  const row = (await db('kraite').where({ id: 1 }).first('is_cooling_down')) as { is_cooling_down: unknown } | undefined;
  if (!row) throw new Error('the kraite settings row (id 1) is missing');
  return toBool(row.is_cooling_down);
}
