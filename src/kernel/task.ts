/**
 * One scheduled task: what runs (a command, a BullMQ job, a named function or a program), when (a
 * five-field cron string, plus `repeatSeconds` for sub-minute tasks), and how (locks, maintenance,
 * background, hooks, output). Everything here is plain data and fluent setters: no I/O, no clock, no
 * heavy import, so loading a schedule costs next to nothing. ./runner.ts gives it life.
 */
import { EVERY_MINUTE, splitCron } from './cron-fields.js';
import * as f from './frequencies.js';
import type { Clock } from '../support/clock.js';
import type { Logger } from '../support/log.js';
import type { Runtime } from '../runtime.js';

export type TaskKind = 'command' | 'job' | 'call' | 'exec';

/** What a `call` function, a `when`/`skip` filter and the hooks receive. */
export interface TaskContext {
  task: Task;
  /** The scheduled slot (epoch ms): the minute, or the second for sub-minute firings. */
  slot: number;
  clock: Clock;
  log: Logger;
  /** Config, DB, Redis of the scheduler process (created lazily; closed by the scheduler). */
  runtime: Runtime;
}

/** A `call` function returns nothing (success), a number (its exit code) or throws (exit code 1). */
export type CallFn = (ctx: TaskContext) => unknown;
export type Filter = (ctx: TaskContext) => boolean | Promise<boolean>;

export interface TaskResult {
  task: Task;
  slot: number;
  exitCode: number;
  /** Everything the task printed (stdout and stderr, interleaved as written). */
  output: string;
  durationMs: number;
  error?: Error;
}

export type BeforeHook = (ctx: TaskContext) => unknown;
export type AfterHook = (result: TaskResult, ctx: TaskContext) => unknown;

export type TimeWindow = { start: number; end: number; inside: boolean };

export class ScheduleDefinitionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScheduleDefinitionError';
  }
}

/** Split `cmd --a="b c" 'd e'` into words the way a shell would (quotes group, backslash escapes in ""). */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  let word: string | null = null;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) word += line[++i]!;
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else if (/\s/.test(c)) {
      if (word !== null) out.push(word);
      word = null;
    } else word = (word ?? '') + c;
  }
  if (quote) throw new ScheduleDefinitionError(`Unbalanced ${quote} in "${line}"`);
  if (word !== null) out.push(word);
  return out;
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`;
}

export interface TaskSpec {
  kind: TaskKind;
  /** command: the command id; exec: the program; job: the job name; call: the function's name. */
  target: string;
  args?: string[];
  data?: unknown;
  queue?: string;
  fn?: CallFn;
}

export class Task {
  readonly kind: TaskKind;
  readonly target: string;
  readonly args: readonly string[];
  readonly data: unknown;
  readonly queue: string;
  readonly fn: CallFn | undefined;

  expression = EVERY_MINUTE;
  repeatSeconds: number | null = null;
  /** The IANA timezone the expression is read in. */
  zone = 'UTC';
  /** APP_ENV values the task runs in (empty: all). */
  envs: string[] = [];
  descriptionText: string | null = null;
  filters: Array<{ type: 'when' | 'skip'; fn: Filter }> = [];
  windows: TimeWindow[] = [];
  overlapMinutes: number | null = null;
  oneServer = false;
  background = false;
  childProcess = false;
  maintenance = false;
  whenPaused = false;
  output: { file: string; append: boolean } | null = null;
  readonly hooks: { before: BeforeHook[]; after: AfterHook[]; success: AfterHook[]; failure: AfterHook[] } = { before: [], after: [], success: [], failure: [] };
  /** Name of the registration gate this task was defined under (see Schedule.registeredWhen). */
  gate: string | null = null;
  private customId: string | null = null;

  constructor(spec: TaskSpec) {
    if (!spec.target || !spec.target.trim()) throw new ScheduleDefinitionError(`A ${spec.kind} task needs a ${spec.kind === 'call' ? 'name' : 'target'}`);
    this.kind = spec.kind;
    this.target = spec.target.trim();
    this.args = Object.freeze([...(spec.args ?? [])]);
    this.data = spec.data;
    this.queue = spec.queue ?? 'default';
    this.fn = spec.fn;
  }

  /** The stable id: the name when one is set, else derived from the command and its arguments. */
  get id(): string {
    if (this.customId) return this.customId;
    switch (this.kind) {
      case 'command':
      case 'call':
        return this.commandLine;
      case 'exec':
        return `exec ${this.commandLine}`;
      case 'job':
        return `job ${this.target}`;
    }
  }

  /** The command line as shown by schedule:list and recorded in schedule_runs.command. */
  get commandLine(): string {
    if (this.kind === 'job') return `job ${this.target} → ${this.queue}`;
    return [this.target, ...this.args].map(quote).join(' ');
  }

  // ── identity ──────────────────────────────────────────────────────────────────────────────────────
  /** Set the task's id (and its description when none is set). Required to tell apart two tasks with the same command. */
  name(id: string): this {
    const v = id.trim();
    if (!v || v.length > 191 || /[\r\n]/.test(v)) throw new ScheduleDefinitionError(`A task name must be 1-191 characters on one line, got "${id}"`);
    this.customId = v;
    this.descriptionText ??= v;
    return this;
  }

  description(text: string): this {
    this.descriptionText = text;
    return this;
  }

  // ── frequencies (pure helpers over the cron string) ───────────────────────────────────────────────
  private set(expression: string): this {
    this.expression = expression;
    return this;
  }

  cron(expression: string): this {
    this.repeatSeconds = null;
    return this.set(f.cron(this.expression, expression));
  }
  private repeat(seconds: number): this {
    this.repeatSeconds = f.repeatSeconds(seconds);
    return this.set(f.everyMinute(this.expression));
  }
  everySecond(): this { return this.repeat(1); }
  everyTwoSeconds(): this { return this.repeat(2); }
  everyFiveSeconds(): this { return this.repeat(5); }
  everyTenSeconds(): this { return this.repeat(10); }
  everyFifteenSeconds(): this { return this.repeat(15); }
  everyTwentySeconds(): this { return this.repeat(20); }
  everyThirtySeconds(): this { return this.repeat(30); }
  everyMinute(): this { return this.set(f.everyMinute(this.expression)); }
  everyTwoMinutes(): this { return this.set(f.everyTwoMinutes(this.expression)); }
  everyThreeMinutes(): this { return this.set(f.everyThreeMinutes(this.expression)); }
  everyFourMinutes(): this { return this.set(f.everyFourMinutes(this.expression)); }
  everyFiveMinutes(): this { return this.set(f.everyFiveMinutes(this.expression)); }
  everyTenMinutes(): this { return this.set(f.everyTenMinutes(this.expression)); }
  everyFifteenMinutes(): this { return this.set(f.everyFifteenMinutes(this.expression)); }
  everyThirtyMinutes(): this { return this.set(f.everyThirtyMinutes(this.expression)); }
  hourly(): this { return this.set(f.hourly(this.expression)); }
  hourlyAt(minutes: number | number[]): this { return this.set(f.hourlyAt(this.expression, minutes)); }
  everyOddHour(minute = 0): this { return this.set(f.everyOddHour(this.expression, minute)); }
  everyTwoHours(minute = 0): this { return this.set(f.everyTwoHours(this.expression, minute)); }
  everyThreeHours(minute = 0): this { return this.set(f.everyThreeHours(this.expression, minute)); }
  everyFourHours(minute = 0): this { return this.set(f.everyFourHours(this.expression, minute)); }
  everySixHours(minute = 0): this { return this.set(f.everySixHours(this.expression, minute)); }
  daily(): this { return this.set(f.daily(this.expression)); }
  dailyAt(time: string): this { return this.set(f.dailyAt(this.expression, time)); }
  at(time: string): this { return this.dailyAt(time); }
  twiceDaily(first = 1, second = 13): this { return this.set(f.twiceDaily(this.expression, first, second)); }
  twiceDailyAt(first = 1, second = 13, minute = 0): this { return this.set(f.twiceDailyAt(this.expression, first, second, minute)); }
  weekly(): this { return this.set(f.weekly(this.expression)); }
  weeklyOn(dayOfWeek: number | number[], time = '0:0'): this { return this.set(f.weeklyOn(this.expression, dayOfWeek, time)); }
  monthly(): this { return this.set(f.monthly(this.expression)); }
  monthlyOn(dayOfMonth = 1, time = '0:0'): this { return this.set(f.monthlyOn(this.expression, dayOfMonth, time)); }
  twiceMonthly(first = 1, second = 16, time = '0:0'): this { return this.set(f.twiceMonthly(this.expression, first, second, time)); }
  lastDayOfMonth(time = '0:0'): this { return this.set(f.lastDayOfMonth(this.expression, time)); }
  daysOfMonth(days: number | number[]): this { return this.set(f.daysOfMonth(this.expression, days)); }
  quarterly(): this { return this.set(f.quarterly(this.expression)); }
  quarterlyOn(dayOfQuarter = 1, time = '0:0'): this { return this.set(f.quarterlyOn(this.expression, dayOfQuarter, time)); }
  yearly(): this { return this.set(f.yearly(this.expression)); }
  yearlyOn(month = 1, dayOfMonth = 1, time = '0:0'): this { return this.set(f.yearlyOn(this.expression, month, dayOfMonth, time)); }

  // ── day constraints ───────────────────────────────────────────────────────────────────────────────
  days(days: number | string | Array<number | string>): this { return this.set(f.days(this.expression, days)); }
  weekdays(): this { return this.set(f.weekdays(this.expression)); }
  weekends(): this { return this.set(f.weekends(this.expression)); }
  mondays(): this { return this.set(f.mondays(this.expression)); }
  tuesdays(): this { return this.set(f.tuesdays(this.expression)); }
  wednesdays(): this { return this.set(f.wednesdays(this.expression)); }
  thursdays(): this { return this.set(f.thursdays(this.expression)); }
  fridays(): this { return this.set(f.fridays(this.expression)); }
  saturdays(): this { return this.set(f.saturdays(this.expression)); }
  sundays(): this { return this.set(f.sundays(this.expression)); }

  // ── other constraints ─────────────────────────────────────────────────────────────────────────────
  /** Run only while the local time (in the task's timezone) is within [start, end]; wraps midnight. */
  between(start: string, end: string): this {
    return this.window(start, end, true);
  }
  /** Skip while the local time is within [start, end]; wraps midnight ("23:00" → "4:00"). */
  unlessBetween(start: string, end: string): this {
    return this.window(start, end, false);
  }
  private window(start: string, end: string, inside: boolean): this {
    const [sh, sm] = f.parseTime(start);
    const [eh, em] = f.parseTime(end);
    this.windows.push({ start: sh * 60 + sm, end: eh * 60 + em, inside });
    return this;
  }

  /** Evaluate the expression in this IANA timezone (default UTC). Checked against Intl by `schedule:list` and the tests. */
  timezone(tz: string): this {
    if (!/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(tz)) throw new ScheduleDefinitionError(`"${tz}" is not a timezone name`);
    this.zone = tz;
    return this;
  }

  /** Run only when APP_ENV is one of these. */
  environments(envs: string[]): this {
    this.envs = [...envs];
    return this;
  }

  /** Run only when every `when` filter is true (evaluated at run time, after due-ness). */
  when(fn: Filter | boolean): this {
    this.filters.push({ type: 'when', fn: typeof fn === 'boolean' ? () => fn : fn });
    return this;
  }
  /** Skip when any `skip` filter is true. */
  skip(fn: Filter | boolean): this {
    this.filters.push({ type: 'skip', fn: typeof fn === 'boolean' ? () => fn : fn });
    return this;
  }

  // ── behaviour ─────────────────────────────────────────────────────────────────────────────────────
  /**
   * Skip a run while the previous one still holds the task's lock. The lock is a short lease (30 s by
   * default) renewed by a heartbeat while the task runs, so a crashed run frees it within the lease;
   * `expiresMinutes` (required, no 24-hour default) caps how long one run may hold it.
   */
  withoutOverlapping(expiresMinutes: number): this {
    if (!Number.isFinite(expiresMinutes) || expiresMinutes <= 0) throw new ScheduleDefinitionError(`withoutOverlapping() needs the lock's expiry in minutes (got ${String(expiresMinutes)}); there is no default`);
    this.overlapMinutes = expiresMinutes;
    return this;
  }
  /** Run on one server only: the first box to claim (task, slot) in Redis runs it. */
  onOneServer(): this {
    this.oneServer = true;
    return this;
  }
  /** Start the task in a detached child process (`schedule:background`) and move on. */
  runInBackground(): this {
    this.background = true;
    return this;
  }
  /** Run a command task in its own `bin/artisan` process instead of in-process (see docs/scheduler.md). */
  inChildProcess(): this {
    if (this.kind !== 'command') throw new ScheduleDefinitionError(`inChildProcess() applies to command tasks; "${this.id}" is a ${this.kind} task`);
    this.childProcess = true;
    return this;
  }
  evenInMaintenanceMode(): this {
    this.maintenance = true;
    return this;
  }
  evenWhenPaused(): this {
    this.whenPaused = true;
    return this;
  }

  // ── hooks and output ──────────────────────────────────────────────────────────────────────────────
  before(fn: BeforeHook): this {
    this.hooks.before.push(fn);
    return this;
  }
  after(fn: AfterHook): this {
    this.hooks.after.push(fn);
    return this;
  }
  then(fn: AfterHook): this {
    return this.after(fn);
  }
  onSuccess(fn: AfterHook): this {
    this.hooks.success.push(fn);
    return this;
  }
  onFailure(fn: AfterHook): this {
    this.hooks.failure.push(fn);
    return this;
  }
  /** Write the task's output to a file (replacing it) after each run. Relative paths are under the project root. */
  sendOutputTo(file: string): this {
    this.output = { file, append: false };
    return this;
  }
  appendOutputTo(file: string): this {
    this.output = { file, append: true };
    return this;
  }

  /** Definition-time checks that need the whole task (called by Schedule.validate()). */
  check(): void {
    splitCron(this.expression);
    if (this.background && this.childProcess) throw new ScheduleDefinitionError(`"${this.id}": runInBackground() already runs in a child process; drop inChildProcess()`);
  }
}
