/**
 * How each kind of task runs in the foreground, and how its output is captured.
 *
 *  - command: in-process through oclif's Config.runCommand (the default), or in its own `bin/artisan`
 *    process for tasks marked inChildProcess(). docs/scheduler.md explains the choice (benchmark 2).
 *  - exec:    a child process (no shell), stdout and stderr captured.
 *  - job:     `Queue.add(name, data)` on the box's BullMQ queue (QueueFactory).
 *  - call:    the function, with its console output captured.
 *
 * A failure is always an outcome (exit code + output), never a throw: the runner records it and moves on.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { format } from 'node:util';
import type { Config } from '@oclif/core';
import type { QueueFactory } from '../queue/queues.js';
import { readManifest } from '../launcher/manifest.js';
import { projectRoot } from '../support/paths.js';
import type { Task, TaskContext } from './task.js';

export interface ExecOutcome {
  exitCode: number;
  output: string;
  error?: Error;
}

export const COMMAND_NOT_FOUND = 127;

export interface CommandRunner {
  /** Run an artisan command; resolves with its exit code and output, whatever happens. */
  run(id: string, args: string[]): Promise<ExecOutcome>;
}

export interface TaskExecutor {
  execute(task: Task, ctx: TaskContext): Promise<ExecOutcome>;
}

export const ARTISAN = path.join(projectRoot, 'bin', 'artisan');

/** The real process.exit, taken before any task runs (tasks see a guarded one, see guarded()). */
export const exitProcess: (code?: number) => never = process.exit.bind(process);

function errorText(err: unknown): string {
  if (err instanceof Error) return `${err.stack ?? `${err.name}: ${err.message}`}\n`;
  return `${String(err)}\n`;
}

type WriteFn = typeof process.stdout.write;

/**
 * Run `fn` with process.stdout and process.stderr captured (foreground tasks run one at a time, so one
 * capture is active at once). The writes are restored even when `fn` throws.
 */
export async function captureOutput<T>(fn: () => Promise<T>): Promise<{ value?: T; error?: unknown; output: string }> {
  const chunks: string[] = [];
  const savedOut = process.stdout.write;
  const savedErr = process.stderr.write;
  const hook = ((chunk: string | Uint8Array, enc?: unknown, cb?: unknown) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    const done = typeof enc === 'function' ? enc : typeof cb === 'function' ? cb : null;
    if (done) process.nextTick(done as () => void);
    return true;
  }) as WriteFn;
  // console is captured too: it normally writes to process.stdout, but a host (a test runner) may replace it.
  const methods = ['log', 'info', 'warn', 'error', 'debug'] as const;
  const savedConsole = methods.map((m) => console[m]);
  process.stdout.write = hook;
  process.stderr.write = hook;
  for (const m of methods) console[m] = (...args: unknown[]) => void chunks.push(`${format(...args)}\n`);
  try {
    const value = await fn();
    return { value, output: chunks.join('') };
  } catch (error) {
    return { error, output: chunks.join('') };
  } finally {
    process.stdout.write = savedOut;
    process.stderr.write = savedErr;
    methods.forEach((m, i) => (console[m] = savedConsole[i]!));
  }
}

class ProcessExitAttempt extends Error {
  constructor(readonly code: number) {
    super(`the task called process.exit(${code}); the scheduler stopped it there`);
    this.name = 'ProcessExitAttempt';
  }
}

function exitCodeOf(err: unknown): number {
  const code = (err as { oclif?: { exit?: unknown } })?.oclif?.exit;
  return typeof code === 'number' ? code : 1;
}

/**
 * Run `fn` as a task in this process: output captured, and process.exit / process.exitCode guarded so a
 * task cannot end or re-code the scheduler (process.exit throws instead; exitCode is read and restored).
 */
async function guarded<T>(fn: () => Promise<T>): Promise<{ value?: T; error?: unknown; output: string; exitCode: number | undefined }> {
  const savedExitCode = process.exitCode;
  const savedExit = process.exit;
  process.exitCode = undefined;
  process.exit = ((code?: number) => {
    throw new ProcessExitAttempt(Number(code ?? process.exitCode ?? 0));
  }) as typeof process.exit;
  try {
    const r = await captureOutput(fn);
    return { ...r, exitCode: process.exitCode === undefined ? undefined : Number(process.exitCode) };
  } finally {
    process.exit = savedExit;
    process.exitCode = savedExitCode;
  }
}

/**
 * Commands in this process, through oclif. The process's exit code, process.exit and the output streams
 * are put back as they were after each command, so one command cannot change how the next one runs or
 * how schedule:run exits.
 */
export class InProcessCommandRunner implements CommandRunner {
  private config: Promise<Config> | null = null;

  constructor(config?: Config) {
    if (config) this.config = Promise.resolve(config);
  }

  private load(): Promise<Config> {
    this.config ??= import('@oclif/core').then(({ Config }) => Config.load({ root: projectRoot }));
    return this.config;
  }

  async run(id: string, args: string[]): Promise<ExecOutcome> {
    // The manifest answers "no such command" without loading oclif (~100 ms); oclif has the last word.
    const manifest = readManifest();
    if (manifest && !Object.values(manifest.commands).some((c) => c.id === id || c.aliases?.includes(id))) return notFound(id);
    const config = await this.load();
    if (!config.findCommand(id)) return notFound(id);
    const r = await guarded(() => config.runCommand(id, args));
    if (r.error === undefined) return { exitCode: r.exitCode ?? 0, output: r.output };
    if (r.error instanceof ProcessExitAttempt) return { exitCode: r.error.code, output: `${r.output}${r.error.message}\n` };
    const code = exitCodeOf(r.error);
    // EEXIT means the command already printed its reason; anything else is reported here.
    const isExit = (r.error as { code?: string }).code === 'EEXIT';
    return { exitCode: code === 0 && !isExit ? 1 : code, output: isExit ? r.output : `${r.output}${errorText(r.error)}`, error: isExit ? undefined : (r.error as Error) };
  }
}

function notFound(id: string): ExecOutcome {
  return { exitCode: COMMAND_NOT_FOUND, output: `Command "${id}" is not defined.\n` };
}

export interface ProcessOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Run a program without a shell; stdout and stderr interleaved in one string. */
export function runProcess(program: string, args: readonly string[], opts: ProcessOptions = {}): Promise<ExecOutcome> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const child = spawn(program, [...args], { cwd: opts.cwd ?? projectRoot, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => chunks.push(c));
    child.once('error', (err) => {
      // spawn failures (ENOENT, EACCES) arrive here instead of an exit code: report them as "not found".
      resolve({ exitCode: COMMAND_NOT_FOUND, output: `${Buffer.concat(chunks).toString('utf8')}${err.message}\n`, error: err });
    });
    child.once('close', (code, signal) => {
      const output = Buffer.concat(chunks).toString('utf8');
      resolve({ exitCode: code ?? 128 + (signal ? signalNumber(signal) : 0), output: signal ? `${output}killed by ${signal}\n` : output });
    });
  });
}

function signalNumber(signal: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[signal] ?? 1;
}

/** Commands in their own `node bin/artisan <command>` process. */
export class ChildCommandRunner implements CommandRunner {
  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  run(id: string, args: string[]): Promise<ExecOutcome> {
    return runProcess(process.execPath, [ARTISAN, id, ...args], { env: this.env });
  }
}

export interface ExecutorDeps {
  commands: CommandRunner;
  childCommands: CommandRunner;
  queues: () => Promise<QueueFactory>;
  env?: NodeJS.ProcessEnv;
}

export class DefaultExecutor implements TaskExecutor {
  constructor(private readonly deps: ExecutorDeps) {}

  async execute(task: Task, ctx: TaskContext): Promise<ExecOutcome> {
    switch (task.kind) {
      case 'command':
        return (task.childProcess ? this.deps.childCommands : this.deps.commands).run(task.target, [...task.args]);
      case 'exec':
        return runProcess(task.target, task.args, { env: this.deps.env });
      case 'job':
        return this.enqueue(task);
      case 'call':
        return this.call(task, ctx);
    }
  }

  private async enqueue(task: Task): Promise<ExecOutcome> {
    try {
      const queue = await (await this.deps.queues()).queue(task.queue);
      const job = await queue.add(task.target, task.data ?? {});
      return { exitCode: 0, output: `Queued ${task.target} as job ${job.id} on ${task.queue}\n` };
    } catch (err) {
      return { exitCode: 1, output: errorText(err), error: err as Error };
    }
  }

  private async call(task: Task, ctx: TaskContext): Promise<ExecOutcome> {
    const r = await guarded(async () => task.fn!(ctx));
    if (r.error instanceof ProcessExitAttempt) return { exitCode: r.error.code, output: `${r.output}${r.error.message}\n` };
    if (r.error !== undefined) return { exitCode: 1, output: `${r.output}${errorText(r.error)}`, error: r.error as Error };
    const code = typeof r.value === 'number' && Number.isInteger(r.value) ? r.value : (r.exitCode ?? 0);
    return { exitCode: code, output: r.output };
  }
}
