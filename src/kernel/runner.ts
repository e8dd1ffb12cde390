/**
 * The scheduler's engine: which tasks are due in this minute, whether each may run (pause, maintenance,
 * filters, one-server, overlap), running it (foreground, or handed to a detached child), recording it,
 * and the sub-minute loop. Everything outside comes in through RunnerDeps, so the same engine serves
 * schedule:run, schedule:test, schedule:background and the tests (with a FakeClock and memory mutexes).
 *
 * One task's failure never stops the others: every path ends in an outcome that is recorded and logged.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Clock } from '../support/clock.js';
import type { Logger } from '../support/log.js';
import { errorMessage } from '../support/errors.js';
import { fromRoot } from '../support/paths.js';
import type { RunFinish, RunStart } from '../db/repositories/schedule.js';
import { mayBeDue } from './prefilter.js';
import { slotStamp, type EventMutex, type HeldLock, type SchedulingMutex } from './mutex.js';
import { minuteOf, type RunFlags } from './state.js';
import type { Schedule } from './schedule.js';
import type { Task, TaskContext, TaskResult } from './task.js';
import type { ExecOutcome, TaskExecutor } from './executors.js';

export type SkipReason = 'overlapping' | 'other-server' | 'maintenance' | 'paused';

export interface TaskOutcome {
  task: string;
  command: string;
  slot: string;
  status: 'ok' | 'failed' | 'skipped' | 'filtered' | 'background';
  exit_code: number | null;
  skipped_reason: SkipReason | null;
  duration_ms: number | null;
  run_id: number | null;
  /** The task's output; not recorded past the tail, not printed by schedule:run (only schedule:test). */
  output?: string;
}

/** Persists runs; implementations log and remember their own failures instead of throwing. */
export interface RunRecorder {
  start(run: RunStart): Promise<number | null>;
  finish(id: number | null, fin: RunFinish): Promise<void>;
  skip(run: RunStart, reason: SkipReason): Promise<number | null>;
}

export interface BackgroundRequest {
  task: Task;
  slot: number;
  runId: number | null;
  lock: HeldLock | null;
}

/** Starts a detached `schedule:background` child; returns its pid. */
export type BackgroundLauncher = (req: BackgroundRequest) => Promise<number>;

export interface RunnerDeps {
  schedule: Schedule;
  clock: Clock;
  host: string;
  pid: number;
  appEnv: string;
  log: Logger;
  eventMutex: EventMutex;
  schedulingMutex: SchedulingMutex;
  readFlags(slot: number): Promise<RunFlags>;
  recorder: RunRecorder;
  executor: TaskExecutor;
  launchBackground?: BackgroundLauncher;
  context(task: Task, slot: number): TaskContext;
  /** Called as each outcome is known (schedule:run prints a line per task). */
  onOutcome?(outcome: TaskOutcome): void;
}

export interface MinuteSummary {
  slot: string;
  due: number;
  failed: number;
  interrupted: boolean;
  outcomes: TaskOutcome[];
}

const isoOf = (ms: number) => new Date(ms).toISOString();

/** Keeps an overlap lock alive while its task runs: renews every third of the lease until stopped. */
export class LockKeeper {
  private readonly ac = new AbortController();
  private loop: Promise<void> | null = null;

  constructor(
    private readonly mutex: EventMutex,
    private readonly clock: Clock,
    private readonly lock: HeldLock,
    private readonly log: Logger,
  ) {}

  start(): this {
    this.loop = this.run();
    return this;
  }

  private async run(): Promise<void> {
    const every = Math.max(50, Math.floor(this.lock.leaseMs / 3));
    for (;;) {
      try {
        await this.clock.sleep(every, this.ac.signal);
      } catch {
        return; // aborted by stop(): the task is over
      }
      try {
        if (!(await this.mutex.extend(this.lock))) {
          this.log.warn('overlap lock no longer renewed (its expiry was reached or it was cleared)', { task: this.lock.taskId, until: this.lock.holder.until });
          return;
        }
      } catch (err) {
        // Redis hiccup: keep trying; the lease outlives a few missed renewals.
        this.log.warn('could not renew the overlap lock', { task: this.lock.taskId, err });
      }
    }
  }

  async stop(): Promise<void> {
    this.ac.abort();
    await this.loop;
  }
}

export class ScheduleRunner {
  private readonly heldLocks = new Set<HeldLock>();
  /** The id of the task running in the foreground now (for attributing stray errors), or null. */
  currentTask: string | null = null;

  constructor(private readonly deps: RunnerDeps) {}

  /**
   * The tasks due at the minute `slot`, in definition order (prefilter → cron-parser → environment →
   * gate), and the tasks whose expression or timezone the libraries reject (each fails on its own).
   */
  async dueTasks(slot: number): Promise<{ due: Task[]; broken: Array<{ task: Task; err: unknown }> }> {
    const { schedule, appEnv } = this.deps;
    const due: Task[] = [];
    const broken: Array<{ task: Task; err: unknown }> = [];
    const candidates = schedule.tasks.filter((t) => mayBeDue(t, slot));
    if (candidates.length === 0) return { due, broken };
    const { isDue } = await import('./due.js');
    for (const t of candidates) {
      try {
        if (!isDue(t.expression, slot, t.zone)) continue;
      } catch (err) {
        broken.push({ task: t, err });
        continue;
      }
      if (t.envs.length > 0 && !t.envs.includes(appEnv)) continue;
      if (!(await schedule.isRegistered(t))) continue;
      due.push(t);
    }
    return { due, broken };
  }

  /** Run everything due at the start of the minute of `now`, then the sub-minute loop if needed. */
  async runMinute(opts: { signal?: AbortSignal; afterMainPass?: (summary: MinuteSummary) => Promise<void> } = {}): Promise<MinuteSummary> {
    const slot = minuteOf(this.deps.clock.now());
    const summary: MinuteSummary = { slot: isoOf(slot), due: 0, failed: 0, interrupted: false, outcomes: [] };
    const { due, broken } = await this.dueTasks(slot);
    // A task cron-parser or Intl rejects (bad expression, unknown timezone) fails alone, every minute.
    for (const { task, err } of broken) this.note(summary, await this.failBeforeStart(task, slot, new Error(`Cannot evaluate "${task.expression}" in ${task.zone}: ${errorMessage(err)}`)));
    summary.due = due.length;
    for (const task of due) this.note(summary, await this.runTask(task, slot));
    const repeating = due.filter((t) => t.repeatSeconds);
    if (repeating.length > 0) {
      await opts.afterMainPass?.(summary);
      summary.interrupted = await this.repeat(repeating, slot, summary, opts.signal);
    }
    return summary;
  }

  private note(summary: MinuteSummary, outcome: TaskOutcome): void {
    summary.outcomes.push(outcome);
    if (outcome.status === 'failed') summary.failed++;
  }

  /**
   * Fire the sub-minute tasks on each second boundary until the minute ends. Each wait is computed from
   * the clock, so lateness never accumulates; a boundary missed because a task overran is skipped.
   * Returns true when schedule:interrupt stopped the loop.
   */
  private async repeat(tasks: Task[], slot: number, summary: MinuteSummary, signal?: AbortSignal): Promise<boolean> {
    const { clock } = this.deps;
    const end = slot + 60_000;
    let last = slot;
    for (;;) {
      const target = Math.max(Math.floor(clock.now() / 1000) * 1000 + 1000, last + 1000);
      if (target >= end) return false;
      try {
        await clock.sleep(target - clock.now(), signal);
      } catch {
        return false; // aborted (signal): the process is stopping
      }
      last = target;
      const second = (target - slot) / 1000;
      const firing = tasks.filter((t) => second % t.repeatSeconds! === 0);
      if (firing.length === 0) continue;
      const flags = await this.deps.readFlags(target);
      if (flags.interrupted) {
        this.deps.log.info('sub-minute loop interrupted', { slot: slotStamp(slot), at_second: second });
        return true;
      }
      for (const task of firing) this.note(summary, await this.runTask(task, target, { flags }));
    }
  }

  /**
   * Decide and run one task for `slot`. `force` (schedule:test) skips the pause, maintenance, filter and
   * one-server checks but still respects the overlap lock.
   */
  async runTask(task: Task, slot: number, opts: { force?: boolean; flags?: RunFlags } = {}): Promise<TaskOutcome> {
    const { clock, host, pid } = this.deps;
    const ctx = this.deps.context(task, slot);
    let lock: HeldLock | null = null;
    try {
      if (!opts.force) {
        const flags = opts.flags ?? (await this.deps.readFlags(slot));
        if (flags.paused && !task.whenPaused) return await this.skip(task, slot, 'paused');
        if (flags.maintenance && !task.maintenance) return await this.skip(task, slot, 'maintenance');
        if (!(await this.filtersPass(task, ctx))) return this.filtered(task, slot);
        if (task.oneServer && !(await this.deps.schedulingMutex.claim(task.id, slot, host))) return await this.skip(task, slot, 'other-server');
      }
      if (task.overlapMinutes) {
        const now = clock.now();
        lock = await this.deps.eventMutex.acquire(task.id, { host, pid, since: isoOf(now) }, this.deps.schedule.lockLeaseMs, now + task.overlapMinutes * 60_000);
        if (!lock) return await this.skip(task, slot, 'overlapping');
      }
    } catch (err) {
      // A filter that threw, or Redis failing on a lock: this task fails, the others go on.
      if (lock) await this.releaseLock(lock);
      return this.failBeforeStart(task, slot, err);
    }
    if (task.background) return this.launch(task, slot, lock);
    const runId = await this.deps.recorder.start(this.runRow(task, slot, clock.now()));
    return this.execute(task, slot, runId, lock, ctx);
  }

  /** Run a task in this process, under `lock` if given: hooks, record, output file, release. */
  async execute(task: Task, slot: number, runId: number | null, lock: HeldLock | null, ctx = this.deps.context(task, slot)): Promise<TaskOutcome> {
    const { clock, log } = this.deps;
    const keeper = lock ? new LockKeeper(this.deps.eventMutex, clock, lock, log).start() : null;
    if (lock) this.heldLocks.add(lock);
    const started = clock.now();
    let outcome: ExecOutcome;
    this.currentTask = task.id;
    try {
      for (const hook of task.hooks.before) await hook(ctx);
      outcome = await this.deps.executor.execute(task, ctx);
    } catch (err) {
      outcome = { exitCode: 1, output: `${errorMessage(err)}\n`, error: err as Error };
    } finally {
      this.currentTask = null;
    }
    const finished = clock.now();
    const result: TaskResult = { task, slot, exitCode: outcome.exitCode, output: outcome.output, durationMs: finished - started, error: outcome.error };
    try {
      await this.deps.recorder.finish(runId, { finished_at: new Date(finished), exit_code: result.exitCode, output: result.output });
      await this.afterHooks(task, result, ctx);
      await this.writeOutputFile(task, result.output);
    } finally {
      await keeper?.stop();
      if (lock) await this.releaseLock(lock);
    }
    const status = result.exitCode === 0 ? 'ok' : 'failed';
    const fields = { task: task.id, command: task.commandLine, slot: slotStamp(slot), host: this.deps.host, pid: this.deps.pid, duration_ms: result.durationMs, exit_code: result.exitCode, status, run_id: runId };
    if (status === 'ok') log.info('task finished', fields);
    else log.warn('task failed', { ...fields, output_tail: result.output.slice(-300) });
    return this.emit({ task: task.id, command: task.commandLine, slot: isoOf(slot), status, exit_code: result.exitCode, skipped_reason: null, duration_ms: result.durationMs, run_id: runId, output: result.output });
  }

  private async launch(task: Task, slot: number, lock: HeldLock | null): Promise<TaskOutcome> {
    const runId = await this.deps.recorder.start({ ...this.runRow(task, slot, this.deps.clock.now()), background: true });
    try {
      if (!this.deps.launchBackground) throw new Error('this scheduler cannot start background tasks');
      const childPid = await this.deps.launchBackground({ task, slot, runId, lock });
      // The child owns the lock from now on: it renews and releases it. Show its pid as the holder.
      if (lock) await this.deps.eventMutex.handOver(lock, { ...lock.holder, pid: childPid });
      this.deps.log.info('task started in background', { task: task.id, slot: slotStamp(slot), pid: childPid, run_id: runId });
      return this.emit({ task: task.id, command: task.commandLine, slot: isoOf(slot), status: 'background', exit_code: null, skipped_reason: null, duration_ms: null, run_id: runId });
    } catch (err) {
      if (lock) await this.releaseLock(lock);
      await this.deps.recorder.finish(runId, { finished_at: new Date(this.deps.clock.now()), exit_code: 1, output: `could not start the background process: ${errorMessage(err)}\n` });
      this.deps.log.warn('task failed', { task: task.id, slot: slotStamp(slot), exit_code: 1, status: 'failed', err });
      return this.emit({ task: task.id, command: task.commandLine, slot: isoOf(slot), status: 'failed', exit_code: 1, skipped_reason: null, duration_ms: 0, run_id: runId });
    }
  }

  private async failBeforeStart(task: Task, slot: number, err: unknown): Promise<TaskOutcome> {
    const now = this.deps.clock.now();
    const runId = await this.deps.recorder.start(this.runRow(task, slot, now));
    await this.deps.recorder.finish(runId, { finished_at: new Date(now), exit_code: 1, output: `${errorMessage(err)}\n` });
    this.deps.log.warn('task failed', { task: task.id, slot: slotStamp(slot), exit_code: 1, status: 'failed', err });
    return this.emit({ task: task.id, command: task.commandLine, slot: isoOf(slot), status: 'failed', exit_code: 1, skipped_reason: null, duration_ms: 0, run_id: runId });
  }

  private async skip(task: Task, slot: number, reason: SkipReason): Promise<TaskOutcome> {
    const runId = await this.deps.recorder.skip(this.runRow(task, slot, this.deps.clock.now()), reason);
    this.deps.log.info('task skipped', { task: task.id, slot: slotStamp(slot), host: this.deps.host, pid: this.deps.pid, skipped_reason: reason, run_id: runId });
    return this.emit({ task: task.id, command: task.commandLine, slot: isoOf(slot), status: 'skipped', exit_code: null, skipped_reason: reason, duration_ms: null, run_id: runId });
  }

  private filtered(task: Task, slot: number): TaskOutcome {
    // Not recorded: the task's own definition says "not now", like a cron field that does not match.
    this.deps.log.debug('task filtered out', { task: task.id, slot: slotStamp(slot) });
    return { task: task.id, command: task.commandLine, slot: isoOf(slot), status: 'filtered', exit_code: null, skipped_reason: null, duration_ms: null, run_id: null };
  }

  private emit(outcome: TaskOutcome): TaskOutcome {
    this.deps.onOutcome?.(outcome);
    return outcome;
  }

  private runRow(task: Task, slot: number, now: number): RunStart {
    return { task_id: task.id, command: task.commandLine.slice(0, 1000), slot: new Date(slot), host: this.deps.host, pid: this.deps.pid, started_at: new Date(now) };
  }

  private async filtersPass(task: Task, ctx: TaskContext): Promise<boolean> {
    if (task.windows.length > 0) {
      const { minuteOfDay } = await import('./due.js');
      const m = minuteOfDay(this.deps.clock.now(), task.zone);
      for (const w of task.windows) {
        const within = w.start <= w.end ? m >= w.start && m <= w.end : m >= w.start || m <= w.end;
        if (within !== w.inside) return false;
      }
    }
    for (const f of task.filters) {
      const v = await f.fn(ctx);
      if (f.type === 'when' && !v) return false;
      if (f.type === 'skip' && v) return false;
    }
    return true;
  }

  private async afterHooks(task: Task, result: TaskResult, ctx: TaskContext): Promise<void> {
    const hooks = [...task.hooks.after, ...(result.exitCode === 0 ? task.hooks.success : task.hooks.failure)];
    for (const hook of hooks) {
      try {
        await hook(result, ctx);
      } catch (err) {
        // A broken hook must not undo the run it follows: log it and keep the task's own exit code.
        this.deps.log.error('a task hook threw', { task: task.id, err });
      }
    }
  }

  private async writeOutputFile(task: Task, output: string): Promise<void> {
    if (!task.output) return;
    const file = fromRoot(task.output.file);
    try {
      await fs.promises.mkdir(path.dirname(file), { recursive: true });
      if (task.output.append) await fs.promises.appendFile(file, output);
      else await fs.promises.writeFile(file, output);
    } catch (err) {
      // The run itself succeeded or failed on its own; an unwritable output file is reported, not fatal.
      this.deps.log.error('could not write the task output file', { task: task.id, file, err });
    }
  }

  private async releaseLock(lock: HeldLock): Promise<void> {
    this.heldLocks.delete(lock);
    try {
      await this.deps.eventMutex.release(lock);
    } catch (err) {
      // The lease frees it within seconds anyway.
      this.deps.log.warn('could not release the overlap lock; it will expire with its lease', { task: lock.taskId, err });
    }
  }

  /** Release every lock this process holds (on SIGTERM/SIGINT). */
  async releaseAll(): Promise<number> {
    const locks = [...this.heldLocks];
    await Promise.all(locks.map((l) => this.releaseLock(l)));
    return locks.length;
  }
}
