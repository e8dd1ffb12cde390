/**
 * The scheduler (issue 3) as seen from outside, through its own code:
 *  - SQL `schedule_runs` through the kernel's repository (src/db/repositories/schedule.ts): the last run of
 *    each task (lastRuns), runs and failures since a time (runCountsSince), history (recentRuns); a run's
 *    status is the kernel's: ok, failed, skipped, or running (finished_at null: running, or died);
 *  - heartbeat `<prefix>:heartbeat:scheduler:<host>` {last_run_at, last_slot, tasks_due, tasks_failed},
 *    written by every schedule:run (TTL 180 s);
 *  - the pause flag `<prefix>:schedule:paused` = JSON {since, reason, host} (src/kernel/state.ts, written by
 *    schedule:pause and by the admin UI through the same function); any other value still reads as paused.
 */
import { lastRuns, recentRuns, runCountsSince, type ScheduleRun } from '../../db/repositories/schedule.js';
import { pausedKey } from '../../kernel/state.js';
import { readHeartbeats } from '../../support/heartbeat.js';
import { toNumber } from '../../support/sql-values.js';
import { ageSeconds, section, type Section } from './safe.js';
import type { DataContext } from './context.js';

export type { ScheduleRun };

export interface TaskSummary {
  taskId: string;
  command: string;
  lastRun: ScheduleRun;
  failures24h: number;
  runs24h: number;
}

export interface SchedulePause {
  reason: string | null;
  since: string | null;
  /** The host that paused (schedule:pause) or the web host (admin UI). */
  host: string | null;
}

export interface SchedulerView {
  paused: SchedulePause | null;
  heartbeat: { host: string; ageSeconds: number | null; lastRunAgeSeconds: number | null; lastSlot: string | null; tasksDue: number | null; tasksFailed: number | null } | null;
  tasks: TaskSummary[];
  recentFailures: ScheduleRun[];
}

export async function readSchedulePause(ctx: DataContext): Promise<SchedulePause | null> {
  const raw = await ctx.redis.get(pausedKey(ctx.prefix));
  if (raw === null) return null;
  try {
    const v = JSON.parse(raw) as Record<string, unknown> | null;
    if (v && typeof v === 'object') {
      const str = (x: unknown) => (typeof x === 'string' ? x : null);
      return { reason: str(v.reason), since: str(v.since) ?? str(v.paused_at), host: str(v.host) ?? str(v.by) };
    }
  } catch {
    // a plain value (e.g. "1" or a timestamp) written by another tool: paused, without details
  }
  return { reason: null, since: null, host: null };
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
        lastSlot: typeof beat.last_slot === 'string' ? beat.last_slot : null,
        tasksDue: toNumber(beat.tasks_due),
        tasksFailed: toNumber(beat.tasks_failed),
      }
    : null;
  await ctx.probe.require('schedule_runs', 'The scheduler');
  const last = await lastRuns(ctx.db);
  const counts = await runCountsSince(ctx.db, new Date(now - 24 * 3600_000));
  const tasks = [...last.values()].map((r) => ({ taskId: r.task_id, command: r.command, lastRun: r, failures24h: counts.get(r.task_id)?.failed ?? 0, runs24h: counts.get(r.task_id)?.runs ?? 0 }));
  return {
    paused,
    heartbeat,
    tasks: tasks.sort((a, b) => a.taskId.localeCompare(b.taskId)),
    recentFailures: await recentRuns(ctx.db, { failedOnly: true, limit: 10 }),
  };
}

export async function readScheduleRuns(ctx: DataContext, f: { task?: string; failedOnly?: boolean; beforeId?: number; limit?: number }): Promise<ScheduleRun[]> {
  await ctx.probe.require('schedule_runs', 'The scheduler');
  return recentRuns(ctx.db, { taskId: f.task, failedOnly: f.failedOnly, beforeId: f.beforeId, limit: Math.min(f.limit ?? 50, 200) });
}

export function schedulerSection(ctx: DataContext): Promise<Section<SchedulerView>> {
  return section('scheduler', ctx.log, () => readScheduler(ctx));
}
