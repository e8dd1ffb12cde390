/** History of the commands started from the admin runner. */
import type { Knex } from 'knex';
import { parseJson, toDate } from '../../support/sql-values.js';
import { insertId } from '../helpers.js';

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'timed-out' | 'cancelled' | 'interrupted' | 'error';

export interface CommandRun {
  id: number;
  command: string;
  args: string[];
  userId: number | null;
  actor: string;
  status: RunStatus;
  exitCode: number | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  durationMs: number | null;
  output: string | null;
  outputTruncated: boolean;
  host: string;
  pid: number | null;
}

/** Output kept per run in SQL: the last 256 KiB. */
export const MAX_STORED_OUTPUT = 256 * 1024;

function fromRow(r: Record<string, unknown>): CommandRun {
  return {
    id: Number(r.id),
    command: String(r.command),
    args: parseJson<string[]>(r.args) ?? [],
    userId: r.user_id === null || r.user_id === undefined ? null : Number(r.user_id),
    actor: String(r.actor),
    status: String(r.status) as RunStatus,
    exitCode: r.exit_code === null || r.exit_code === undefined ? null : Number(r.exit_code),
    startedAt: toDate(r.started_at),
    finishedAt: toDate(r.finished_at),
    durationMs: r.duration_ms === null || r.duration_ms === undefined ? null : Number(r.duration_ms),
    output: (r.output as string | null) ?? null,
    outputTruncated: r.output_truncated === true || r.output_truncated === 1 || r.output_truncated === '1',
    host: String(r.host),
    pid: r.pid === null || r.pid === undefined ? null : Number(r.pid),
  };
}

export async function startRun(db: Knex, run: { command: string; args: string[]; userId: number | null; actor: string; host: string; now: Date }): Promise<number> {
  return insertId(db, 'command_runs', {
    command: run.command,
    args: JSON.stringify(run.args),
    user_id: run.userId,
    actor: run.actor,
    status: 'running',
    started_at: run.now,
    host: run.host,
    output_truncated: false,
  });
}

export async function setRunPid(db: Knex, id: number, pid: number | null): Promise<void> {
  await db('command_runs').where({ id }).update({ pid });
}

export async function finishRun(
  db: Knex,
  id: number,
  fin: { status: RunStatus; exitCode: number | null; now: Date; durationMs: number; output: string; truncated: boolean },
): Promise<void> {
  const tooLong = fin.output.length > MAX_STORED_OUTPUT;
  await db('command_runs')
    .where({ id })
    .update({
      status: fin.status,
      exit_code: fin.exitCode,
      finished_at: fin.now,
      duration_ms: fin.durationMs,
      output: tooLong ? fin.output.slice(-MAX_STORED_OUTPUT) : fin.output,
      output_truncated: fin.truncated || tooLong,
    });
}

export async function getRun(db: Knex, id: number): Promise<CommandRun | null> {
  const r = (await db('command_runs').where({ id }).first()) as Record<string, unknown> | undefined;
  return r ? fromRow(r) : null;
}

export async function listRuns(db: Knex, q: { command?: string; beforeId?: number; limit?: number } = {}): Promise<CommandRun[]> {
  const query = db('command_runs')
    .select('id', 'command', 'args', 'user_id', 'actor', 'status', 'exit_code', 'started_at', 'finished_at', 'duration_ms', 'output_truncated', 'host', 'pid')
    .orderBy('id', 'desc')
    .limit(Math.min(q.limit ?? 50, 200));
  if (q.command) query.where({ command: q.command });
  if (q.beforeId) query.where('id', '<', q.beforeId);
  return ((await query) as Array<Record<string, unknown>>).map((r) => fromRow({ ...r, output: null }));
}

/** The newest run of a command still marked running (the one holding the runner's lock), if any. */
export async function latestRunningRunId(db: Knex, command: string): Promise<number | null> {
  const row = (await db('command_runs').where({ command, status: 'running' }).orderBy('id', 'desc').first('id')) as { id: number } | undefined;
  return row ? Number(row.id) : null;
}

/** Runs left 'running' by a web process that died on this host: mark them interrupted. */
export async function interruptOrphanRuns(db: Knex, host: string, now: Date): Promise<number> {
  return db('command_runs').where({ host, status: 'running' }).update({ status: 'interrupted', finished_at: now });
}
