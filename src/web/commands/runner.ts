/**
 * Starts allow-listed commands for the admin runner and streams their output.
 *  - `node bin/artisan <id> <argv…>` through execa with an argument array: no shell, ever.
 *  - One run per command at a time, cluster-wide: a Redis lock `<prefix>:web:command-lock:<id>` taken with
 *    SET NX PX (TTL = timeout + 60 s) and released by compare-and-delete.
 *  - A timeout (WEB_COMMAND_TIMEOUT, default 300 s) and a cancel: SIGTERM, then SIGKILL after 5 s.
 *  - Output is kept in memory for live viewers (the last 1 MiB) and stored in `command_runs` at the end
 *    (the last 256 KiB) with status, exit code and duration.
 * The runner lives in the web process; a restart interrupts running children (they are killed with it)
 * and their rows are marked `interrupted` at the next start.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import { finishRun, getRun, latestRunningRunId, setRunPid, startRun, type RunStatus } from '../../db/repositories/command-runs.js';
import type { Clock } from '../../support/clock.js';
import type { Logger } from '../../support/log.js';
import { projectRoot } from '../../support/paths.js';
import type { BuiltArgv } from './argv.js';

export const LIVE_OUTPUT_LIMIT = 1024 * 1024;

export type RunEvent = { type: 'output'; data: string } | { type: 'end'; status: RunStatus; exitCode: number | null; durationMs: number };

export class RunConflict extends Error {
  constructor(
    message: string,
    readonly runningId: number | null,
  ) {
    super(message);
    this.name = 'RunConflict';
  }
}

interface LiveRun {
  id: number;
  command: string;
  startedAt: number;
  output: string;
  truncated: boolean;
  listeners: Set<(e: RunEvent) => void>;
  abort: AbortController;
  cancelledBy: string | null;
  finished: Promise<void>;
  end: Extract<RunEvent, { type: 'end' }> | null;
}

export interface RunnerDeps {
  db: Knex;
  redis: Redis;
  prefix: string;
  clock: Clock;
  log: Logger;
  host: string;
  timeoutSeconds: number;
  /** The environment for the child (the web's configuration environment). */
  env: Record<string, string | undefined>;
  artisanPath?: string;
}

const RELEASE_LUA = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

export class CommandRunner {
  private live = new Map<number, LiveRun>();
  private closing = false;

  constructor(private readonly deps: RunnerDeps) {}

  lockKey(command: string): string {
    return `${this.deps.prefix}:web:command-lock:${command}`;
  }

  get(id: number): LiveRun | undefined {
    return this.live.get(id);
  }

  runningCount(): number {
    return [...this.live.values()].filter((r) => !r.end).length;
  }

  async start(command: string, built: BuiltArgv, actor: { userId: number | null; email: string }): Promise<number> {
    if (this.closing) throw new RunConflict('The web server is shutting down; try again in a moment.', null);
    const { db, redis, clock } = this.deps;
    const token = crypto.randomUUID();
    const ttlMs = (this.deps.timeoutSeconds + 60) * 1000;
    const got = await redis.set(this.lockKey(command), token, 'PX', ttlMs, 'NX');
    if (got !== 'OK') {
      const running = await latestRunningRunId(db, command);
      throw new RunConflict(`${command} is already running${running !== null ? ` (run #${running})` : ''}; one run per command at a time.`, running);
    }
    let id: number;
    try {
      id = await startRun(db, { command, args: built.display, userId: actor.userId, actor: actor.email, host: this.deps.host, now: new Date(clock.now()) });
    } catch (err) {
      await redis.eval(RELEASE_LUA, 1, this.lockKey(command), token);
      throw err;
    }
    const run: LiveRun = {
      id,
      command,
      startedAt: Date.now(),
      output: '',
      truncated: false,
      listeners: new Set(),
      abort: new AbortController(),
      cancelledBy: null,
      finished: Promise.resolve(),
      end: null,
    };
    this.live.set(id, run);
    run.finished = this.execute(run, built.argv, token);
    return id;
  }

  private emit(run: LiveRun, e: RunEvent): void {
    for (const l of run.listeners) {
      try {
        l(e);
      } catch (err) {
        this.deps.log.warn('run listener failed', { runId: run.id, err });
      }
    }
  }

  private async execute(run: LiveRun, argv: string[], token: string): Promise<void> {
    const { db, redis, clock, log } = this.deps;
    const artisan = this.deps.artisanPath ?? path.join(projectRoot, 'bin', 'artisan');
    let status: RunStatus = 'error';
    let exitCode: number | null = null;
    try {
      const { execa } = await import('execa');
      const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };
      for (const [k, v] of Object.entries(this.deps.env)) if (v !== undefined) env[k] = v;
      Object.assign(env, { NO_COLOR: '1', FORCE_COLOR: '0', ATHENA_RUN_ID: String(run.id) });
      const sub = execa(process.execPath, [artisan, run.command, ...argv], {
        cwd: projectRoot,
        env,
        extendEnv: false,
        stdin: 'ignore',
        all: true,
        buffer: false,
        reject: false,
        timeout: this.deps.timeoutSeconds * 1000,
        cancelSignal: run.abort.signal,
        forceKillAfterDelay: 5000,
        encoding: 'utf8',
      });
      if (sub.pid) await setRunPid(db, run.id, sub.pid);
      sub.all?.on('data', (chunk: string | Buffer) => {
        const s = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
        run.output += s;
        if (run.output.length > LIVE_OUTPUT_LIMIT) {
          run.output = run.output.slice(-LIVE_OUTPUT_LIMIT);
          run.truncated = true;
        }
        this.emit(run, { type: 'output', data: s });
      });
      const result = await sub;
      exitCode = typeof result.exitCode === 'number' ? result.exitCode : null;
      if (result.timedOut) status = 'timed-out';
      else if (result.isCanceled || run.cancelledBy) status = 'cancelled';
      else if (exitCode === 0) status = 'succeeded';
      else status = 'failed';
      if (result.timedOut) this.appendNote(run, `\n[athena] stopped after the ${this.deps.timeoutSeconds} s timeout\n`);
      if (status === 'cancelled') this.appendNote(run, `\n[athena] cancelled by ${run.cancelledBy ?? 'shutdown'}\n`);
    } catch (err) {
      log.error('command run failed to start', { runId: run.id, command: run.command, err });
      this.appendNote(run, `\n[athena] could not start the command: ${(err as Error).message}\n`);
      status = 'error';
    }
    const durationMs = Date.now() - run.startedAt;
    try {
      await finishRun(db, run.id, { status, exitCode, now: new Date(clock.now()), durationMs, output: run.output, truncated: run.truncated });
    } catch (err) {
      log.error('could not record the end of a command run', { runId: run.id, err });
    }
    try {
      await redis.eval(RELEASE_LUA, 1, this.lockKey(run.command), token);
    } catch (err) {
      // the lock's TTL (timeout + 60 s) frees it anyway
      log.warn('could not release a command lock', { command: run.command, err });
    }
    run.end = { type: 'end', status, exitCode, durationMs };
    this.emit(run, run.end);
    run.listeners.clear();
    // keep the finished run in memory briefly for viewers that connect late, then rely on SQL
    setTimeout(() => this.live.delete(run.id), 60_000).unref();
  }

  private appendNote(run: LiveRun, note: string): void {
    run.output += note;
    this.emit(run, { type: 'output', data: note });
  }

  /** Subscribe to a live run; returns null when the run is not live in this process. */
  subscribe(id: number, listener: (e: RunEvent) => void): { output: string; end: RunEvent | null; unsubscribe: () => void } | null {
    const run = this.live.get(id);
    if (!run) return null;
    if (!run.end) run.listeners.add(listener);
    return { output: run.output, end: run.end, unsubscribe: () => run.listeners.delete(listener) };
  }

  cancel(id: number, by: string): boolean {
    const run = this.live.get(id);
    if (!run || run.end) return false;
    run.cancelledBy = by;
    run.abort.abort(new Error(`cancelled by ${by}`));
    return true;
  }

  /** Cancel every live run and wait for their rows to be written (graceful shutdown). */
  async close(): Promise<void> {
    this.closing = true;
    for (const r of this.live.values()) if (!r.end) this.cancel(r.id, 'web shutdown');
    await Promise.all([...this.live.values()].map((r) => r.finished));
  }

  async load(id: number) {
    return getRun(this.deps.db, id);
  }
}
