/**
 * The scheduler's wiring to the outside world: Redis (locks and flags), SQL (schedule_runs and the
 * cooling-down flag), oclif (in-process commands), BullMQ (jobs) and child processes (background tasks).
 * Loaded lazily: `schedule:run` only gets here when some task may be due.
 */
import { spawn } from 'node:child_process';
import type { Config } from '@oclif/core';
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../config/index.js';
import * as repo from '../db/repositories/schedule.js';
import { QueueFactory } from '../queue/queues.js';
import { closeRedis, connectRedis } from '../redis/connection.js';
import { Runtime } from '../runtime.js';
import type { Clock } from '../support/clock.js';
import { errorMessage } from '../support/errors.js';
import { writeHeartbeat } from '../support/heartbeat.js';
import { createLogger, type Logger } from '../support/log.js';
import { projectRoot } from '../support/paths.js';
import { loadSchedule } from './loader.js';
import { ARTISAN, ChildCommandRunner, DefaultExecutor, exitProcess, InProcessCommandRunner } from './executors.js';
import { kernelLogSink } from './log-sink.js';
import type { EventMutex, HeldLock, SchedulingMutex } from './mutex.js';
import { NOTHING_DUE, outcomeLine } from './present.js';
import { RedisEventMutex, RedisSchedulingMutex } from './redis-mutex.js';
import { ScheduleRunner, type BackgroundRequest, type MinuteSummary, type RunRecorder, type SkipReason, type TaskOutcome } from './runner.js';
import type { Schedule } from './schedule.js';
import { readFlags, schedulerBeat, SCHEDULER_HEARTBEAT_TTL_S } from './state.js';
import type { Task } from './task.js';

/** Records runs in schedule_runs; a failure to record is logged and remembered (schedule:run then exits 1). */
export class SqlRecorder implements RunRecorder {
  failed = false;

  constructor(
    private readonly db: () => Promise<Knex>,
    private readonly log: Logger,
  ) {}

  private fail(what: string, err: unknown): null {
    this.failed = true;
    this.log.error(`could not ${what} in schedule_runs`, { err });
    return null;
  }

  async start(run: repo.RunStart): Promise<number | null> {
    try {
      return await repo.startRun(await this.db(), run);
    } catch (err) {
      return this.fail('record a run start', err);
    }
  }

  async finish(id: number | null, fin: repo.RunFinish): Promise<void> {
    if (id === null) return;
    try {
      await repo.finishRun(await this.db(), id, fin);
    } catch (err) {
      this.fail('record a run end', err);
    }
  }

  async skip(run: repo.RunStart, reason: SkipReason): Promise<number | null> {
    try {
      return await repo.recordSkip(await this.db(), run, reason);
    } catch (err) {
      return this.fail('record a skipped run', err);
    }
  }
}

/** Grace given to handles a task left open (a socket, a timer) before the process exits anyway. */
export const EXIT_GRACE_MS = 5000;

export interface KernelOptions {
  /** The loaded oclif config when running under oclif (saves loading it again for in-process commands). */
  oclifConfig?: Config;
  /** The shift of a `--at` clock, passed on to background children. */
  clockOffsetMs?: number;
}

export interface RunOptions {
  whisper?: boolean;
  json?: boolean;
  write(line: string): void;
}

export interface ScheduleRunResult {
  exitCode: number;
  document: MinuteSummary;
}

export class Kernel {
  readonly runtime: Runtime;
  readonly log: Logger;
  readonly pid = process.pid;
  private redisClient: Promise<Redis> | null = null;
  private queueFactory: QueueFactory | null = null;
  private recorderInstance: SqlRecorder | null = null;

  constructor(
    readonly config: AppConfig,
    readonly clock: Clock,
    private readonly opts: KernelOptions = {},
  ) {
    this.runtime = new Runtime({ config, clock, component: 'scheduler' });
    this.log = createLogger('scheduler', { host: config.hostname }, kernelLogSink);
  }

  get host(): string {
    return this.config.hostname;
  }

  get prefix(): string {
    return this.config.redis.prefix;
  }

  /**
   * The scheduler's Redis client: fails fast like every CLI client ("Redis is not reachable at …"), but
   * reconnects if the connection drops later, so a long task's lock keeps being renewed.
   */
  redis(): Promise<Redis> {
    this.redisClient ??= connectRedis(this.config.redis, 'cli', { retryStrategy: (n: number) => Math.min(200 * n, 2000), enableOfflineQueue: true, maxRetriesPerRequest: 3 });
    return this.redisClient;
  }

  async eventMutex(): Promise<EventMutex> {
    return new RedisEventMutex(await this.redis(), this.prefix, this.clock);
  }

  async schedulingMutex(): Promise<SchedulingMutex> {
    return new RedisSchedulingMutex(await this.redis(), this.prefix);
  }

  get recorder(): SqlRecorder {
    this.recorderInstance ??= new SqlRecorder(() => this.runtime.db(), this.log);
    return this.recorderInstance;
  }

  /** kraite.is_cooling_down; throws when unreadable (the loader's gate fails closed). */
  async readCoolingDown(): Promise<boolean> {
    return repo.readCoolingDown(await this.runtime.db());
  }

  async queues(): Promise<QueueFactory> {
    this.queueFactory ??= new QueueFactory({ prefix: this.prefix, connection: await this.redis() });
    return this.queueFactory;
  }

  async runner(schedule: Schedule, onOutcome?: (o: TaskOutcome) => void): Promise<ScheduleRunner> {
    const redis = await this.redis();
    return new ScheduleRunner({
      schedule,
      clock: this.clock,
      host: this.host,
      pid: this.pid,
      appEnv: this.config.appEnv,
      log: this.log,
      eventMutex: await this.eventMutex(),
      schedulingMutex: await this.schedulingMutex(),
      readFlags: (slot) => readFlags(redis, this.prefix, slot),
      recorder: this.recorder,
      executor: new DefaultExecutor({ commands: new InProcessCommandRunner(this.opts.oclifConfig), childCommands: new ChildCommandRunner(), queues: () => this.queues() }),
      launchBackground: (req) => this.launchBackground(req),
      context: (task, slot) => ({ task, slot, clock: this.clock, log: this.log.child('task', { task: task.id }), runtime: this.runtime }),
      onOutcome,
    });
  }

  /** Start `schedule:background` detached; it renews and releases the lock and records the run's end. */
  private launchBackground(req: BackgroundRequest): Promise<number> {
    const args = [ARTISAN, 'schedule:background', `--task=${req.task.id}`, `--slot=${req.slot}`];
    if (req.runId !== null) args.push(`--run-id=${req.runId}`);
    if (req.lock) args.push(`--lock-until=${req.lock.maxUntil}`);
    if (this.opts.clockOffsetMs) args.push(`--clock-offset=${this.opts.clockOffsetMs}`);
    // The owner token travels in the environment, not on the command line (ps shows argv to everyone).
    const env = { ...process.env, SCHEDULE_LOCK_TOKEN: req.lock?.token ?? '' };
    const child = spawn(process.execPath, args, { detached: true, stdio: 'ignore', env, cwd: projectRoot });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => {
        child.unref();
        resolve(child.pid!);
      });
    });
  }

  /**
   * While tasks run in this process: release its locks when SIGTERM/SIGINT arrives, then exit (128 +
   * signal); and keep a promise rejection a task left behind from ending the whole run (it is logged
   * against the task that was running). Returns the function that removes both.
   */
  private guardSignals(runner: ScheduleRunner): () => void {
    const onRejection = (reason: unknown) => {
      // Logged, not rethrown: one task's stray promise must not stop the tasks after it.
      this.log.error('a task left an unhandled promise rejection', { task: runner.currentTask, err: reason });
    };
    process.on('unhandledRejection', onRejection);
    const onSignal = (signal: NodeJS.Signals) => {
      this.log.warn('signal received: releasing held locks and stopping', { signal });
      void runner
        .releaseAll()
        .catch((err: unknown) => this.log.error('could not release locks on signal', { err }))
        .finally(() => exitProcess(signal === 'SIGINT' ? 130 : 143)); // the real exit: a running task sees a guarded one
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    return () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      process.off('unhandledRejection', onRejection);
    };
  }

  async heartbeat(startedAt: number, summary: Pick<MinuteSummary, 'slot' | 'due' | 'failed'>): Promise<boolean> {
    try {
      await writeHeartbeat(await this.redis(), this.prefix, schedulerBeat(this.host, this.pid, startedAt, this.clock.now(), summary), SCHEDULER_HEARTBEAT_TTL_S);
      return true;
    } catch (err) {
      this.log.error('could not write the scheduler heartbeat', { err });
      return false;
    }
  }

  /** schedule:run once something may be due: run the minute, print a line per task, heartbeat. */
  async runSchedule(schedule: Schedule, startedAt: number, opts: RunOptions): Promise<ScheduleRunResult> {
    const print = (o: TaskOutcome) => {
      const line = outcomeLine(o);
      if (line && !opts.json) opts.write(line);
    };
    const runner = await this.runner(schedule, print);
    const unguard = this.guardSignals(runner);
    let summary: MinuteSummary;
    try {
      summary = await runner.runMinute({ afterMainPass: (s) => this.heartbeat(startedAt, s).then(() => undefined) });
    } finally {
      unguard();
    }
    if (summary.due === 0 && !opts.whisper && !opts.json) opts.write(NOTHING_DUE);
    const beat = await this.heartbeat(startedAt, summary);
    return { exitCode: this.recorder.failed || !beat ? 1 : 0, document: summary };
  }

  /** schedule:background: run one task that a schedule:run started, under the lock it handed over. */
  async runBackground(schedule: Schedule, req: { taskId: string; slot: number; runId: number | null; lockUntil: number | null; token: string | null }): Promise<number> {
    const task = schedule.find(req.taskId);
    if (!task) {
      await this.recorder.finish(req.runId, { finished_at: new Date(this.clock.now()), exit_code: 127, output: `Task "${req.taskId}" is not in the schedule.\n` });
      this.log.error('background task not found in the schedule', { task: req.taskId });
      return 1;
    }
    const mutex = await this.eventMutex();
    let lock: HeldLock | null = null;
    if (req.token && req.lockUntil) {
      const holder = (await mutex.holder(task.id)) ?? { host: this.host, pid: this.pid, since: new Date(this.clock.now()).toISOString(), until: new Date(req.lockUntil).toISOString() };
      lock = { taskId: task.id, token: req.token, holder, leaseMs: schedule.lockLeaseMs, maxUntil: req.lockUntil };
      if (!(await mutex.extend(lock))) {
        await this.recorder.finish(req.runId, { finished_at: new Date(this.clock.now()), exit_code: 1, output: 'The overlap lock was lost before the background process started; not running.\n' });
        return 1;
      }
    }
    const runner = await this.runner(schedule);
    const unguard = this.guardSignals(runner);
    try {
      const outcome = await runner.execute(task, req.slot, req.runId, lock);
      return outcome.exit_code ?? 1;
    } finally {
      unguard();
    }
  }

  /** schedule:test: run one task now, ignoring due-ness, pause, maintenance, filters and one-server. */
  async runNow(schedule: Schedule, task: Task): Promise<TaskOutcome> {
    const runner = await this.runner(schedule);
    const unguard = this.guardSignals(runner);
    try {
      return await runner.runTask(task, Math.floor(this.clock.now() / 1000) * 1000, { force: true });
    } finally {
      unguard();
    }
  }

  /**
   * For the CLI, after tasks ran in this process: make sure it ends. A command that leaves a socket or an
   * interval open must not keep schedule:run alive into the next minutes. The timer is unref'd, so a
   * process with nothing left open exits at once, as usual. Never call it in a long-lived process.
   */
  exitIfStuck(graceMs = EXIT_GRACE_MS): void {
    setTimeout(() => {
      this.log.warn(`tasks left handles open; exiting ${graceMs} ms after the run`);
      process.exit();
    }, graceMs).unref();
  }

  async close(): Promise<void> {
    try {
      if (this.queueFactory) await this.queueFactory.close();
    } catch (err) {
      this.log.warn('could not close the job queues', { err: errorMessage(err) });
    }
    if (this.redisClient) await closeRedis(await this.redisClient.catch(() => null));
    await this.runtime.close();
  }
}

/** A kernel and the schedule it serves (schedule:list, schedule:test, schedule:background, clear-cache). */
export async function openKernel(config: AppConfig, clock: Clock, opts: KernelOptions = {}): Promise<{ kernel: Kernel; schedule: Schedule }> {
  const kernel = new Kernel(config, clock, opts);
  try {
    const schedule = await loadSchedule(config, { log: kernel.log, readCoolingDown: () => kernel.readCoolingDown() });
    return { kernel, schedule };
  } catch (err) {
    await kernel.close();
    throw err;
  }
}
