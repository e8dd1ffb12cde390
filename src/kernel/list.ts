/**
 * schedule:list: one entry per registered task with its next due time, flags, lock holder and last run.
 * Reads Redis (one MGET for every lock) and SQL (the latest schedule_runs row per task).
 */
import type { ScheduleRun } from '../db/repositories/schedule.js';
import { lastRuns } from '../db/repositories/schedule.js';
import { errorMessage } from '../support/errors.js';
import { renderTable } from '../support/table.js';
import { assertExpression, assertTimezone, isDue, nextDue, offsetAt, wallOf } from './due.js';
import type { Kernel } from './kernel.js';
import type { LockHolder } from './mutex.js';
import { formatDuration, offsetText, relative } from './present.js';
import { decodeHolder, lockKey } from './redis-mutex.js';
import type { Schedule } from './schedule.js';
import type { Task } from './task.js';

export interface LastRun {
  status: ScheduleRun['status'];
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
  exit_code: number | null;
  skipped_reason: string | null;
  host: string;
}

export interface ListedTask {
  id: string;
  expression: string;
  command: string;
  description: string | null;
  next_due: string | null;
  next_due_human: string | null;
  timezone: string;
  has_mutex: boolean;
  repeat_seconds: number | null;
  environments: string[];
  last_run: LastRun | null;
  without_overlapping: number | null;
  on_one_server: boolean;
  run_in_background: boolean;
  even_in_maintenance_mode: boolean;
  even_when_paused: boolean;
  lock_holder: Omit<LockHolder, 'until'> | null;
}

export interface ListOptions {
  now: number;
  /** Sort by next due time instead of definition order. */
  next?: boolean;
}

/** "2026-11-27 10:40:00 +01:00" in `tz`. */
export function formatIn(ms: number, tz: string): string {
  return `${new Date(wallOf(ms, tz)).toISOString().slice(0, 19).replace('T', ' ')} ${offsetText(offsetAt(ms, tz))}`;
}

function lastRunOf(run: ScheduleRun | undefined): LastRun | null {
  if (!run) return null;
  return { status: run.status, started_at: run.started_at, finished_at: run.finished_at, duration_ms: run.duration_ms, exit_code: run.exit_code, skipped_reason: run.skipped_reason, host: run.host };
}

function nextOf(task: Task, now: number): number | null {
  assertTimezone(task.zone);
  assertExpression(task.expression);
  if (task.repeatSeconds) {
    // Sub-minute: the next repeat boundary inside this minute, if this minute is a due one.
    const step = task.repeatSeconds * 1000;
    const minute = Math.floor(now / 60_000) * 60_000;
    const boundary = Math.floor(now / step) * step + step;
    if (boundary < minute + 60_000 && isDue(task.expression, minute, task.zone)) return boundary;
  }
  return nextDue(task.expression, now, task.zone);
}

export async function listTasks(kernel: Kernel, schedule: Schedule, opts: ListOptions): Promise<{ tasks: ListedTask[]; warnings: string[] }> {
  const warnings: string[] = [];
  const tasks = await schedule.registered();
  const redis = await kernel.redis();
  const holders = tasks.length ? await redis.mget(...tasks.map((t) => lockKey(kernel.prefix, t.id))) : [];
  let runs = new Map<string, ScheduleRun>();
  try {
    runs = await lastRuns(await kernel.runtime.db());
  } catch (err) {
    warnings.push(`Cannot read the last runs from schedule_runs: ${errorMessage(err)}`);
  }
  const listed = tasks.map((task, i): ListedTask => {
    const holder = decodeHolder(holders[i] ?? null);
    let next: number | null = null;
    try {
      next = nextOf(task, opts.now);
    } catch (err) {
      warnings.push(`${task.id}: ${errorMessage(err)}`); // a bad expression or timezone: shown, not fatal
    }
    return {
      id: task.id,
      expression: task.expression,
      command: task.commandLine,
      description: task.descriptionText,
      next_due: next === null ? null : new Date(next).toISOString(),
      next_due_human: next === null ? null : relative(next, opts.now),
      timezone: task.zone,
      has_mutex: holder !== null,
      repeat_seconds: task.repeatSeconds,
      environments: task.envs,
      last_run: lastRunOf(runs.get(task.id)),
      without_overlapping: task.overlapMinutes,
      on_one_server: task.oneServer,
      run_in_background: task.background,
      even_in_maintenance_mode: task.maintenance,
      even_when_paused: task.whenPaused,
      lock_holder: holder ? { host: holder.host, pid: holder.pid, since: holder.since } : null,
    };
  });
  if (opts.next) listed.sort((a, b) => (a.next_due ?? '9999').localeCompare(b.next_due ?? '9999'));
  return { tasks: listed, warnings };
}

function flagsText(t: ListedTask): string {
  const flags: string[] = [];
  if (t.without_overlapping) flags.push(`overlap ${t.without_overlapping}m`);
  if (t.on_one_server) flags.push('one-server');
  if (t.run_in_background) flags.push('background');
  if (t.even_in_maintenance_mode) flags.push('maintenance');
  if (t.even_when_paused) flags.push('when-paused');
  if (t.timezone !== 'UTC') flags.push(`tz ${t.timezone}`);
  if (t.environments.length) flags.push(`env ${t.environments.join('|')}`);
  return flags.join(', ') || '-';
}

function lastRunText(r: LastRun | null, now: number): string {
  if (!r) return '-';
  const ago = relative(Date.parse(r.started_at), now);
  switch (r.status) {
    case 'ok':
      return `ok ${formatDuration(r.duration_ms)}, ${ago}`;
    case 'failed':
      return `failed (exit ${r.exit_code}) ${formatDuration(r.duration_ms)}, ${ago}`;
    case 'skipped':
      return `skipped (${r.skipped_reason}), ${ago}`;
    case 'running':
      return `running since ${ago.replace(/ ago$/, '')} on ${r.host}`;
  }
}

function lockText(t: ListedTask): string {
  const h = t.lock_holder;
  return h ? `held by ${h.host}:${h.pid} since ${h.since.slice(11, 19)}` : '-';
}

/** The text table of schedule:list; absolute times in `displayTz`. */
export function renderTasks(tasks: ListedTask[], now: number, displayTz: string): string {
  if (tasks.length === 0) return 'No scheduled tasks have been defined (or none is registered on this box).';
  const rows = tasks.map((t) => [
    `${t.expression}${t.repeat_seconds ? ` ${t.repeat_seconds}s` : ''}`,
    t.command,
    t.next_due ? `${formatIn(Date.parse(t.next_due), displayTz)} (${t.next_due_human})` : 'never',
    flagsText(t),
    lockText(t),
    lastRunText(t.last_run, now),
  ]);
  return renderTable(['Expression', 'Task', 'Next due', 'Flags', 'Lock', 'Last run'], rows);
}
