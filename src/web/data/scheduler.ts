/**
 * The scheduler (issue 3) as seen from outside:
 *  - SQL `schedule_runs` (task_id, command, slot, host, pid, started_at, finished_at, exit_code,
 *    skipped_reason, output_tail);
 *  - heartbeat `<prefix>:heartbeat:scheduler:<host>` {last_run_at, last_slot, tasks_due, tasks_failed};
 *  - the pause flag `<prefix>:schedule:paused` (any value = paused; JSON {reason, paused_at, by} when the
 *    web writes it).
 */
import { readHeartbeats } from '../../support/heartbeat.js';
import { toDate, toNumber } from '../../support/sql-values.js';
import { ageSeconds, section, type Section } from './safe.js';
import type { DataContext } from './context.js';

export interface ScheduleRun {
  id: number | null;
  taskId: string;
  command: string;
  slot: string | null;
  host: string | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  exitCode: number | null;
  skippedReason: string | null;
  outputTail: string | null;
  outcome: 'ok' | 'failed' | 'skipped' | 'running';
}

export interface TaskSummary {
  taskId: string;
  command: string;
  lastRun: ScheduleRun;
  failures24h: number;
  runs24h: number;
}

export interface SchedulerView {
  paused: { reason: string | null; since: string | null; by: string | null } | null;
  heartbeat: { host: string; ageSeconds: number | null; lastRunAgeSeconds: number | null; tasksDue: number | null; tasksFailed: number | null } | null;
  tasks: TaskSummary[];
  recentFailures: ScheduleRun[];
}

export function scheduleTaskOutcome(r: { finishedAt: Date | null; exitCode: number | null; skippedReason: string | null }): ScheduleRun['outcome'] {
  if (r.skippedReason) return 'skipped';
  if (!r.finishedAt && r.exitCode === null) return 'running';
  return r.exitCode === 0 ? 'ok' : 'failed';
}

function toRun(r: Record<string, unknown>): ScheduleRun {
  const run = {
    id: toNumber(r.id),
    taskId: String(r.task_id ?? r.command ?? '?'),
    command: String(r.command ?? ''),
    slot: r.slot === null || r.slot === undefined ? null : String(r.slot instanceof Date ? r.slot.toISOString() : r.slot),
    host: (r.host as string | null) ?? null,
    startedAt: toDate(r.started_at),
    finishedAt: toDate(r.finished_at),
    exitCode: toNumber(r.exit_code),
    skippedReason: (r.skipped_reason as string | null) ?? null,
    outputTail: (r.output_tail as string | null) ?? null,
  };
  return { ...run, outcome: scheduleTaskOutcome(run) };
}

export function schedulePausedKey(prefix: string): string {
  return `${prefix}:schedule:paused`;
}

export async function readSchedulePause(ctx: DataContext): Promise<SchedulerView['paused']> {
  const raw = await ctx.redis.get(schedulePausedKey(ctx.prefix));
  if (raw === null) return null;
  try {
    const v = JSON.parse(raw) as Record<string, unknown>;
    if (v && typeof v === 'object') return { reason: (v.reason as string) ?? null, since: (v.paused_at as string) ?? (v.since as string) ?? null, by: (v.by as string) ?? null };
  } catch {
    // a plain value (e.g. "1" or a timestamp) written by another tool: paused, without details
  }
  return { reason: null, since: null, by: null };
}

export async function readScheduler(ctx: DataContext): Promise<SchedulerView> {
  const now = ctx.clock.now();
  const beats = await readHeartbeats(ctx.redis, ctx.prefix, 'scheduler');
  const beat = beats.sort((a, b) => Date.parse(b.at) - Date.parse(a.at))[0] ?? null;
  const paused = await readSchedulePause(ctx);
  const heartbeat = beat
    ? {
        host: beat.host,
        ageSeconds: ageSeconds(now, beat.at),
        lastRunAgeSeconds: ageSeconds(now, (beat.last_run_at as string | undefined) ?? null),
        tasksDue: toNumber(beat.tasks_due),
        tasksFailed: toNumber(beat.tasks_failed),
      }
    : null;
  await ctx.probe.require('schedule_runs', 'The scheduler');
  const since = new Date(now - 24 * 3600_000);
  const rows = ((await ctx.db('schedule_runs').select('*').orderBy('started_at', 'desc').limit(2000)) as Array<Record<string, unknown>>).map(toRun);
  const byTask = new Map<string, TaskSummary>();
  for (const r of rows) {
    let t = byTask.get(r.taskId);
    if (!t) {
      t = { taskId: r.taskId, command: r.command, lastRun: r, failures24h: 0, runs24h: 0 };
      byTask.set(r.taskId, t);
    }
    if (r.startedAt && r.startedAt >= since) {
      t.runs24h++;
      if (r.outcome === 'failed') t.failures24h++;
    }
  }
  return {
    paused,
    heartbeat,
    tasks: [...byTask.values()].sort((a, b) => a.taskId.localeCompare(b.taskId)),
    recentFailures: rows.filter((r) => r.outcome === 'failed').slice(0, 10),
  };
}

export async function readScheduleRuns(ctx: DataContext, f: { task?: string; failedOnly?: boolean; beforeStartedAt?: Date; limit?: number }): Promise<ScheduleRun[]> {
  await ctx.probe.require('schedule_runs', 'The scheduler');
  const q = ctx.db('schedule_runs').select('*').orderBy('started_at', 'desc').limit(Math.min(f.limit ?? 50, 200));
  if (f.task) q.where({ task_id: f.task });
  if (f.failedOnly) q.whereNotNull('exit_code').whereNot('exit_code', 0);
  if (f.beforeStartedAt) q.where('started_at', '<', f.beforeStartedAt);
  return ((await q) as Array<Record<string, unknown>>).map(toRun);
}

export function schedulerSection(ctx: DataContext): Promise<Section<SchedulerView>> {
  return section('scheduler', ctx.log, () => readScheduler(ctx));
}
