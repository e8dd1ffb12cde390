/**
 * `steps:recover-stale` (reference §5, with the production 1.20 behaviour): four sweeps over one set, in
 * this order, each move a conditional UPDATE so a step that moved on meanwhile is left alone:
 *  1. --release-locks: dispatcher locks untouched for lockThreshold (30 s) are freed;
 *  2. --recover-dispatched: dispatched rows untouched for stepThreshold (300 s) go back to pending at high
 *     priority on their own queue (a counted retry), or fail when the class's retry budget is spent;
 *  3. --watchdog-progress: a group whose oldest unthrottled pending row is older than progressThreshold
 *     (600 s) while nothing in it reached a terminal state for as long raises `group_no_progress_detected`;
 *  4. always: running zombies — running longer than the class timeout + 60 s (300 + 60 when unknown) and not a
 *     parent with children — go back to pending (counted), or fail when the budget (class retries, 2 when
 *     unknown) is spent. Elapsed time, not a heartbeat.
 * Alerts go through the Notifier (notifications table, log, webhook).
 */
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import { blockHasRows, lastTerminalUpdate, pendingByGroup, releaseStaleLocks, runningRows, staleDispatched, type StaleRow } from '../db/steps/recovery-queries.js';
import { transitionStep } from '../db/steps/transitions.js';
import type { Notifier } from '../notify/notifier.js';
import { dispatchPause } from '../support/box-flags.js';
import type { Clock } from '../support/clock.js';
import type { Logger } from '../support/log.js';
import { notifyDispatcher, type WakeSignal } from './notify.js';
import { budgetOf, DEFAULT_RETRIES, getStepClass, timeoutOf } from './registry.js';
import './classes/index.js';
import { stepTables, type StepTables } from './tables.js';

export interface RecoverOptions {
  releaseLocks?: boolean;
  recoverDispatched?: boolean;
  watchdogProgress?: boolean;
  /** Seconds a dispatched row may sit untouched. Default 300. */
  stepThreshold?: number;
  /** Seconds a lock may sit untouched. Default 30. */
  lockThreshold?: number;
  /** Seconds without progress before a group alarms. Default 600. */
  progressThreshold?: number;
}

export interface RecoverDeps {
  db: Knex;
  redis: Redis;
  redisPrefix: string;
  clock: Clock;
  log: Logger;
  notifier: Notifier;
  hostname: string;
}

export interface RecoverReport {
  set: string;
  releasedLocks: number;
  dispatched: { stale: number; requeued: number; failed: number; alreadyPromoted: number; promoted: number; stillStuck: boolean };
  stalledGroups: Array<{ group: string; pending_count: number; oldest_pending_at: string; last_terminal_update: string | null }>;
  running: { checked: number; requeued: number; failed: number; skippedParents: number };
  alerts: string[];
}

const ZOMBIE_GRACE_MS = 60_000;
const UNKNOWN_CLASS_BUDGET = 2;

export async function recoverStale(deps: RecoverDeps, prefix: string, opts: RecoverOptions = {}): Promise<RecoverReport> {
  const t = stepTables(prefix);
  const report: RecoverReport = {
    set: t.set,
    releasedLocks: 0,
    dispatched: { stale: 0, requeued: 0, failed: 0, alreadyPromoted: 0, promoted: 0, stillStuck: false },
    stalledGroups: [],
    running: { checked: 0, requeued: 0, failed: 0, skippedParents: 0 },
    alerts: [],
  };
  const wake: WakeSignal[] = [];
  if (opts.releaseLocks) await releaseLocks(deps, t, opts.lockThreshold ?? 30, report);
  if (opts.recoverDispatched) await recoverDispatched(deps, t, opts.stepThreshold ?? 300, report, wake);
  if (opts.watchdogProgress) await watchdog(deps, t, prefix, opts.progressThreshold ?? 600, report);
  await recoverRunning(deps, t, report, wake);
  await notifyDispatcher(deps.redis, deps.redisPrefix, wake, deps.log);
  return report;
}

async function alert(deps: RecoverDeps, report: RecoverReport, a: Parameters<Notifier['notify']>[0]): Promise<void> {
  const r = await deps.notifier.notify(a);
  report.alerts.push(r.delivered ? a.canonical : `${a.canonical} (throttled)`);
}

async function releaseLocks(deps: RecoverDeps, t: StepTables, thresholdS: number, report: RecoverReport): Promise<void> {
  const now = deps.clock.now();
  report.releasedLocks = await releaseStaleLocks(deps.db, t, now - thresholdS * 1000, now);
  if (report.releasedLocks > 0) {
    await alert(deps, report, {
      canonical: 'stale_dispatcher_locks_released',
      key: t.set,
      severity: 'info',
      title: `Released ${report.releasedLocks} stale dispatcher lock(s) in the ${t.set} step set`,
      context: { set: t.set, released_locks: report.releasedLocks, lock_threshold_seconds: thresholdS },
      throttleSeconds: 60,
    });
  }
}

function classBudget(cls: string | null): number {
  const c = getStepClass(cls);
  return budgetOf(c, c ? DEFAULT_RETRIES : UNKNOWN_CLASS_BUDGET);
}

async function recoverDispatched(deps: RecoverDeps, t: StepTables, thresholdS: number, report: RecoverReport, wake: WakeSignal[]): Promise<void> {
  const now = deps.clock.now();
  const cutoff = now - thresholdS * 1000;
  const stale = await staleDispatched(deps.db, t, cutoff);
  report.dispatched.stale = stale.length;
  if (stale.length === 0) return;
  const alreadyPromoted = stale.filter((s) => s.priority === 'high').length;
  report.dispatched.alreadyPromoted = alreadyPromoted;
  const stillStuck = alreadyPromoted === stale.length;
  report.dispatched.stillStuck = stillStuck;
  const stillStale = (q: Knex.QueryBuilder) => q.andWhere('updated_at', '<', new Date(cutoff));
  let oldest: StaleRow | null = null;
  for (const s of stale) {
    oldest ??= s;
    const budget = classBudget(s.class);
    const next = s.retries + (s.is_throttled ? 0 : 1);
    if (next >= budget) {
      const ok = await transitionStep(deps.db, t, s.id, 'dispatched', 'failed', { now, where: stillStale, set: { error_message: `Stale in dispatched for over ${thresholdS} s and its retry budget (${budget}) is spent` } });
      if (ok) report.dispatched.failed++;
    } else {
      // Production 1.20: requeue at high priority on the original queue.
      const ok = await transitionStep(deps.db, t, s.id, 'dispatched', 'pending', { now, where: stillStale, set: { priority: 'high', dispatch_after: null } });
      if (ok) {
        report.dispatched.requeued++;
        if (s.priority !== 'high') report.dispatched.promoted++;
      }
    }
    wake.push({ set: t.set, group: s.group, moved: true });
  }
  const context = { set: t.set, count: stale.length, already_promoted: alreadyPromoted, requeued: report.dispatched.requeued, failed: report.dispatched.failed, oldest_step: oldest?.id, oldest_queue: oldest?.queue, hostname: deps.hostname };
  if (stillStuck) {
    await alert(deps, report, { canonical: 'stale_priority_steps_detected', key: t.set, severity: 'critical', title: `${stale.length} high-priority step(s) still stuck in dispatched (${t.set} set)`, context, throttleSeconds: 60 });
  } else {
    await alert(deps, report, { canonical: 'stale_dispatched_steps_detected', key: t.set, severity: 'warning', title: `${stale.length} step(s) stuck in dispatched requeued at high priority (${t.set} set)`, context, throttleSeconds: 60 });
  }
}

async function watchdog(deps: RecoverDeps, t: StepTables, prefix: string, thresholdS: number, report: RecoverReport): Promise<void> {
  const now = deps.clock.now();
  const cutoff = now - thresholdS * 1000;
  const paused = await dispatchPause(deps.redis, deps.redisPrefix, prefix);
  for (const g of await pendingByGroup(deps.db, t)) {
    if (g.pending === 0 || g.oldest >= cutoff) continue;
    const last = await lastTerminalUpdate(deps.db, t, g.group);
    if (last !== null && last >= cutoff) continue;
    const entry = { group: g.group, pending_count: g.pending, oldest_pending_at: new Date(g.oldest).toISOString(), last_terminal_update: last === null ? null : new Date(last).toISOString() };
    report.stalledGroups.push(entry);
    if (paused) continue; // an intentional pause is not a stall
    await alert(deps, report, {
      canonical: 'group_no_progress_detected',
      key: `${t.set}:${g.group}`,
      severity: 'critical',
      title: `Dispatcher group ${g.group} (${t.set} set) made no progress for ${thresholdS} s`,
      context: { ...entry, set: t.set, progress_threshold_seconds: thresholdS, hostname: deps.hostname },
      throttleSeconds: 600,
    });
  }
}

async function recoverRunning(deps: RecoverDeps, t: StepTables, report: RecoverReport, wake: WakeSignal[]): Promise<void> {
  const now = deps.clock.now();
  // The shortest possible threshold bounds the query; each row is then checked against its own class.
  const rows = await runningRows(deps.db, t, now - ZOMBIE_GRACE_MS);
  const recovered: number[] = [];
  for (const r of rows) {
    const cls = getStepClass(r.class);
    const threshold = timeoutOf(cls) + ZOMBIE_GRACE_MS;
    if (r.started_at === null || r.started_at >= now - threshold) continue;
    report.running.checked++;
    if (r.child_block_uuid && (await blockHasRows(deps.db, t, r.child_block_uuid))) {
      report.running.skippedParents++;
      continue; // a populated tree is never replayed
    }
    const budget = classBudget(r.class);
    const sameRun = (q: Knex.QueryBuilder) => q.andWhere('started_at', new Date(r.started_at!));
    const message = `Running for over ${Math.round(threshold / 1000)} s with no result: the worker was lost`;
    if (r.retries >= budget) {
      if (await transitionStep(deps.db, t, r.id, 'running', 'failed', { now, where: sameRun, set: { error_message: `${message}; retry budget (${budget}) spent` } })) {
        report.running.failed++;
        recovered.push(r.id);
      }
    } else if (await transitionStep(deps.db, t, r.id, 'running', 'pending', { now, where: sameRun, set: { error_message: message, is_throttled: false } })) {
      report.running.requeued++;
      recovered.push(r.id);
    }
    wake.push({ set: t.set, group: r.group, moved: true });
  }
  if (recovered.length) {
    await alert(deps, report, {
      canonical: 'stale_running_steps_recovered',
      key: t.set,
      severity: 'info',
      title: `Recovered ${recovered.length} step(s) left running by a lost worker (${t.set} set)`,
      context: { set: t.set, steps: recovered.slice(0, 50), requeued: report.running.requeued, failed: report.running.failed },
      throttleSeconds: 0,
    });
  }
}
