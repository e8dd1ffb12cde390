/**
 * Real processes for the chaos suite: every program runs as `node bin/artisan …` in its own process group,
 * its output in a log file of the run. `Supervised` restarts a program when it exits, the way supervisord's
 * autorestart does. Every spawned process carries ATHENA_CHAOS_RUN=<run id> in its environment, so the
 * suite can prove afterwards that no process of the run (children of children included) survived.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ARTISAN, ROOT } from '../../support/context.js';
import { childEnv } from '../../support/artisan.js';

export const RUN_MARK = 'ATHENA_CHAOS_RUN';

/** Process groups started here (kept after the leader exits: its children may still be in the group). */
const groups = new Set<number>();

/** SIGKILL every process group this module started; synchronous so it also works from process 'exit'. */
export function killEverything(): void {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // the group is gone already
    }
  }
  groups.clear();
}
process.once('exit', killEverything);
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.once(sig, () => {
    killEverything();
    process.exit(128 + (sig === 'SIGHUP' ? 1 : sig === 'SIGINT' ? 2 : 15));
  });
}

/** Pids of every process whose environment carries ATHENA_CHAOS_RUN=<runId> (Linux /proc). */
export function processesOfRun(runId: string): Array<{ pid: number; cmd: string }> {
  const out: Array<{ pid: number; cmd: string }> = [];
  const needle = `${RUN_MARK}=${runId}\0`;
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const env = fs.readFileSync(`/proc/${d}/environ`, 'latin1');
      if (!(env + '\0').includes(needle)) continue;
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'latin1');
      if (/^\d+ \(.*\) Z /.test(stat)) continue; // a zombie waiting for its parent to reap it is not running
      out.push({ pid: Number(d), cmd: fs.readFileSync(`/proc/${d}/cmdline`, 'latin1').replace(/\0/g, ' ').trim() });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return out;
}

export interface ProcOptions {
  name: string;
  args: string[];
  env: Record<string, string>;
  logDir: string;
  runId: string;
  /** Extra NODE_OPTIONS (e.g. --import of a fixture module). */
  nodeOptions?: string;
}

export class Proc {
  readonly child: ChildProcess;
  readonly startedAt = Date.now();
  exitCode: number | null = null;
  signal: NodeJS.Signals | null = null;
  readonly exited: Promise<void>;

  constructor(readonly opts: ProcOptions) {
    fs.mkdirSync(opts.logDir, { recursive: true });
    const fd = fs.openSync(path.join(opts.logDir, `${opts.name}.log`), 'a');
    const env = childEnv({ ...opts.env, [RUN_MARK]: opts.runId, ...(opts.nodeOptions ? { NODE_OPTIONS: opts.nodeOptions } : {}) });
    this.child = spawn(process.execPath, [ARTISAN, ...opts.args], { cwd: ROOT, env, detached: true, stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    if (this.child.pid) groups.add(this.child.pid);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitCode = code;
        this.signal = signal;
        resolve();
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exitCode === null && this.signal === null;
  }

  kill9(): void {
    if (this.running) process.kill(this.pid, 'SIGKILL');
  }

  /** SIGTERM, then SIGKILL of the whole group after `graceMs`. Resolves with the exit code (null = signal). */
  async stop(graceMs = 15_000): Promise<number | null> {
    if (this.running) {
      try {
        process.kill(this.pid, 'SIGTERM');
      } catch {
        // exited meanwhile
      }
      const timer = setTimeout(() => this.killGroup(), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    this.killGroup();
    return this.exitCode;
  }

  killGroup(): void {
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // no process left in the group
    }
  }

  log(): string {
    try {
      return fs.readFileSync(path.join(this.opts.logDir, `${this.opts.name}.log`), 'utf8');
    } catch {
      return '';
    }
  }
}

/** supervisord's autorestart: a program that exits (for any reason) is started again after `delayMs`. */
export class Supervised {
  current: Proc;
  starts = 1;
  readonly exits: Array<{ pid: number; code: number | null; signal: string | null; at: number }> = [];
  private stopping = false;
  private restartTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly opts: ProcOptions,
    private readonly delayMs = 200,
  ) {
    this.current = this.spawn();
  }

  private spawn(): Proc {
    const p = new Proc(this.opts);
    void p.exited.then(() => {
      this.exits.push({ pid: p.pid, code: p.exitCode, signal: p.signal, at: Date.now() });
      if (this.stopping) return;
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        if (this.stopping) return;
        this.starts++;
        this.current = this.spawn();
      }, this.delayMs);
    });
    return p;
  }

  /** kill -9 the running process; resolves with its pid once it is gone. */
  async kill9(): Promise<{ pid: number; at: number }> {
    const p = this.current;
    const at = Date.now();
    p.kill9();
    await p.exited;
    return { pid: p.pid, at };
  }

  /** Stop supervising and stop the program (SIGTERM, then SIGKILL of its group). */
  async stop(graceMs = 15_000): Promise<number | null> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    return this.current.stop(graceMs);
  }

  /** Exits other than the ones the test caused with kill -9. */
  unexpectedExits(killedPids: Set<number>): Array<{ pid: number; code: number | null; signal: string | null }> {
    return this.exits.filter((e) => !killedPids.has(e.pid) && !(this.stopping && e.pid === this.current.pid));
  }
}
