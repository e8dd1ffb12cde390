/**
 * The real supervisord (Debian's `supervisor` package) for tests: install it when missing, run it in the
 * foreground with a private config in a temporary directory, read program states through supervisorctl.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';

/** Make sure supervisord and supervisorctl exist; install Debian's package (apt-get) when they do not. */
export function ensureSupervisord(): void {
  const has = () => {
    try {
      execFileSync('sh', ['-c', 'command -v supervisord && command -v supervisorctl'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  if (has()) return;
  if (process.getuid?.() !== 0) throw new Error('supervisord is not installed and this test is not root: run `sudo apt-get install -y supervisor` (.ci/run does).');
  try {
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'supervisor'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } catch {
    execFileSync('apt-get', ['update'], { stdio: 'ignore' });
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'supervisor'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  if (!has()) throw new Error('apt-get install supervisor did not provide supervisord');
}

/** Quote a value for supervisor's environment= line (% must be doubled: it is an expansion character). */
export function supervisorValue(v: string): string {
  if (/["\n]/.test(v)) throw new Error(`cannot put ${JSON.stringify(v)} in a supervisor environment line`);
  return `"${v.replace(/%/g, '%%')}"`;
}

export interface RewriteOptions {
  /** The checkout to run (replaces /srv/athena). */
  root: string;
  /** Where the program logs go (replaces /srv/athena/storage/logs). */
  logDir: string;
  /** Added to (and overriding) the conf's environment= line. */
  env: Record<string, string>;
}

/** A production conf of supervisor/ made runnable here: paths, no user switch, extra environment. */
export function rewriteProgramConf(text: string, o: RewriteOptions): string {
  const lines: string[] = [];
  for (const line of text.split('\n')) {
    if (/^user=/.test(line)) continue;
    if (/^environment=/.test(line)) {
      const base = line.slice('environment='.length);
      const keys = new Set(Object.keys(o.env));
      const kept = base.split(/,(?=[A-Z_][A-Z0-9_]*=)/).filter((kv) => !keys.has(kv.split('=')[0]!));
      lines.push(`environment=${[...kept, ...Object.entries(o.env).map(([k, v]) => `${k}=${supervisorValue(v)}`)].join(',')}`);
      continue;
    }
    lines.push(line.replaceAll('/srv/athena/storage/logs', o.logDir).replaceAll('/srv/athena', o.root));
  }
  return lines.join('\n');
}

export interface ProgramStatus {
  name: string;
  state: string;
  pid: number | null;
}

export class Supervisord {
  private child: ChildProcess | null = null;
  readonly conf: string;
  private output = '';

  constructor(
    readonly dir: string,
    programConfs: Record<string, string>,
  ) {
    const confD = path.join(dir, 'conf.d');
    fs.mkdirSync(confD, { recursive: true });
    for (const [name, text] of Object.entries(programConfs)) fs.writeFileSync(path.join(confD, name), text);
    this.conf = path.join(dir, 'supervisord.conf');
    fs.writeFileSync(
      this.conf,
      [
        '[unix_http_server]',
        `file=${path.join(dir, 'supervisor.sock')}`,
        'chmod=0700',
        '',
        '[supervisord]',
        `logfile=${path.join(dir, 'supervisord.log')}`,
        `pidfile=${path.join(dir, 'supervisord.pid')}`,
        `childlogdir=${dir}`,
        'nodaemon=true',
        'loglevel=info',
        ...(process.getuid?.() === 0 ? ['user=root'] : []),
        '',
        '[rpcinterface:supervisor]',
        'supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface',
        '',
        '[supervisorctl]',
        `serverurl=unix://${path.join(dir, 'supervisor.sock')}`,
        '',
        '[include]',
        `files = ${path.join(confD, '*.conf')}`,
        '',
      ].join('\n'),
    );
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  log(): string {
    return this.output;
  }

  start(env: Record<string, string>): void {
    this.child = spawn('supervisord', ['-c', this.conf, '-n'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (c: Buffer) => (this.output += c.toString()));
    this.child.stderr!.on('data', (c: Buffer) => (this.output += c.toString()));
  }

  async ctl(...args: string[]): Promise<{ exitCode: number; stdout: string }> {
    const r = await execa('supervisorctl', ['-c', this.conf, ...args], { reject: false, timeout: 30_000 });
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? '') };
  }

  /** Every program's state and pid (`supervisorctl status`). */
  async status(): Promise<Map<string, ProgramStatus>> {
    const { stdout } = await this.ctl('status');
    const out = new Map<string, ProgramStatus>();
    for (const line of stdout.split('\n')) {
      const m = /^(\S+)\s+([A-Z]+)\s*(?:pid (\d+))?/.exec(line);
      if (m) out.set(m[1]!, { name: m[1]!, state: m[2]!, pid: m[3] ? Number(m[3]) : null });
    }
    return out;
  }

  /** Shut supervisord down (supervisorctl shutdown) and wait for it to exit. */
  async shutdown(timeoutMs = 120_000): Promise<number | null> {
    if (!this.child || this.child.exitCode !== null) return this.child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => this.child!.once('exit', (code) => resolve(code)));
    await this.ctl('shutdown');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)))]);
    clearTimeout(timer);
    if (code === 'timeout') {
      this.child.kill('SIGKILL');
      throw new Error(`supervisord did not exit within ${timeoutMs} ms:\n${this.output}`);
    }
    return code;
  }

  /** Last resort for a failed test: SIGTERM supervisord (it stops its programs), then SIGKILL. */
  async kill(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child!.once('exit', r));
    this.child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 90_000))]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/**
 * Live pids whose environment has `key=value` (from /proc/<pid>/environ). A test gives its programs a
 * unique REDIS_PREFIX, so this finds every process it started, orphans re-parented to init included.
 */
export function pidsWithEnv(key: string, value: string): number[] {
  const needle = `${key}=${value}`;
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    let environ: string;
    try {
      environ = fs.readFileSync(`/proc/${d}/environ`, 'latin1');
    } catch {
      // Gone, or not ours to read.
      continue;
    }
    if (environ.split('\0').includes(needle)) {
      // A zombie has left nothing to kill; count only running processes.
      try {
        const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
        if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      } catch {
        continue;
      }
      out.push(Number(d));
    }
  }
  return out;
}
