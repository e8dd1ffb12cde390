/**
 * Athena's schedule: the equivalent of Laravel's routes/console.php on the ingestion box.
 *
 * Gates, in the order production evaluates them:
 *  1. SERVER_ROLE must be "ingestion": worker and web boxes schedule nothing.
 *  2. The freeze marker (storage/framework/kraite-frozen, `kraite:freeze`) must be absent.
 *  3. Tasks that create new work are registered only while the box is not cooling down
 *     (SQL kraite.is_cooling_down; unreadable counts as cooling down). During cooldown they do not even
 *     appear in schedule:list. The flag is read lazily: a minute where none of them is due never asks.
 *
 * `withoutOverlapping(N)`: N is the most minutes one run may hold the lock; the lock itself is a 30-second
 * lease renewed while the task runs, so a crashed run frees it within seconds.
 *
 * Commands that later parts of Athena deliver may not exist yet; they are listed all the same and
 * schedule:run records "command not found" (exit 127) for them without touching the other tasks.
 */
import type { ScheduleEnv } from './loader.js';
import type { Schedule } from './schedule.js';
import type { TaskContext } from './task.js';

/** Days of schedule_runs history kept by the daily prune. */
export const SCHEDULE_RUNS_RETENTION_DAYS = 14;

const RECOVER_STALE = 'steps:recover-stale --recover-dispatched --release-locks --watchdog-progress';

export default function defineAthenaSchedule(schedule: Schedule, env: ScheduleEnv): void {
  if (env.serverRole !== 'ingestion' || env.frozen) return;

  schedule.command('kraite:cron-flush-dispatcher-saturation').everyMinute().withoutOverlapping(2).onOneServer();
  schedule.command('kraite:cron-flush-dispatcher-saturation --prefix=trading').everyMinute().withoutOverlapping(2).onOneServer();
  schedule.command(RECOVER_STALE).everyMinute().withoutOverlapping(2);
  schedule.command(`${RECOVER_STALE} --prefix=trading`).everyMinute().withoutOverlapping(2);
  schedule.command('kraite:cron-refresh-binance-listen-keys').everyMinute().withoutOverlapping(2);
  schedule.command('kraite:cron-check-binance-listen-keys-stale').everyFiveMinutes().withoutOverlapping(5);
  schedule.command('kraite:fleet-report').everyFiveMinutes().withoutOverlapping(4).onOneServer().evenInMaintenanceMode();
  schedule.command('kraite:cron-check-system-health').cron('*/7 * * * *').withoutOverlapping(6).evenInMaintenanceMode();

  schedule
    .call('prune-schedule-runs', pruneScheduleRuns)
    .description(`Delete schedule_runs rows older than ${SCHEDULE_RUNS_RETENTION_DAYS} days`)
    .dailyAt('03:10')
    .withoutOverlapping(30)
    .onOneServer();

  schedule.registeredWhen(env.notCoolingDown, () => {
    schedule.command('kraite:cron-sync-orders').everyFiveMinutes().withoutOverlapping(5);
    schedule.command('kraite:cron-refresh-exchange-symbols').hourlyAt(15).withoutOverlapping(30);
    schedule.command('steps:archive --duration=1').dailyAt('04:00').withoutOverlapping(120);
    schedule.command('steps:archive --prefix=trading --duration=1').dailyAt('04:05').withoutOverlapping(120);
    schedule.command('steps:purge --only-archive --days=5').dailyAt('04:30').withoutOverlapping(120);
    schedule.command('steps:purge --prefix=trading --only-archive --days=5').dailyAt('04:35').withoutOverlapping(120);
  });
}

async function pruneScheduleRuns(ctx: TaskContext): Promise<void> {
  const { pruneRuns } = await import('../db/repositories/schedule.js');
  const before = new Date(ctx.clock.now() - SCHEDULE_RUNS_RETENTION_DAYS * 86_400_000);
  const deleted = await pruneRuns(await ctx.runtime.db(), before);
  console.log(`Deleted ${deleted} schedule_runs row(s) older than ${before.toISOString()}`);
}
