/**
 * Private servers for the scenarios that take a server away: a redis-server on its own port with its
 * append-only file in a temporary directory, and a PostgreSQL cluster (initdb + pg_ctl as the `postgres`
 * OS user) on its own port with a temporary data directory. Never the shared servers of the machine.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, sleep, until } from './box.js';

export class PrivateRedis {
  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  static async start(): Promise<PrivateRedis> {
    const r = new PrivateRedis(await freePort(), fs.mkdtempSync(path.join(os.tmpdir(), 'athena-chaos-redis-')));
    await r.up();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  ping(): boolean {
    return spawnSync('redis-cli', ['-p', String(this.port), 'ping'], { timeout: 2000 }).stdout?.toString().trim() === 'PONG';
  }

  async up(): Promise<void> {
    execFileSync('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', this.dir, '--daemonize', 'yes', '--pidfile', path.join(this.dir, 'redis.pid'), '--logfile', path.join(this.dir, 'redis.log')]);
    await until('private redis up', () => this.ping(), 15_000);
  }

  /** SHUTDOWN (the AOF is flushed, so queued jobs survive the restart, as on a production Redis). */
  async down(): Promise<void> {
    spawnSync('redis-cli', ['-p', String(this.port), 'shutdown'], { timeout: 10_000 });
    await until('private redis down', () => !this.ping(), 15_000);
  }

  async close(): Promise<void> {
    spawnSync('redis-cli', ['-p', String(this.port), 'shutdown', 'nosave'], { timeout: 10_000 });
    const pidFile = path.join(this.dir, 'redis.pid');
    await sleep(100);
    if (fs.existsSync(pidFile)) {
      const pid = Number(fs.readFileSync(pidFile, 'utf8'));
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function pgBin(name: string): string {
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base) ? fs.readdirSync(base).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    const p = path.join(base, v, 'bin', name);
    if (fs.existsSync(p)) return p;
  }
  throw new Error(`PostgreSQL's ${name} not found under ${base}/*/bin (install postgresql)`);
}

const asPostgres = (cmd: string, args: string[]) => execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: 'pipe', timeout: 60_000 });

export class PrivatePostgres {
  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  static available(): boolean {
    try {
      pgBin('pg_ctl');
      return process.getuid?.() === 0 && spawnSync('id', ['postgres']).status === 0;
    } catch {
      return false;
    }
  }

  static async start(): Promise<PrivatePostgres> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'athena-chaos-pg-'));
    fs.chmodSync(dir, 0o755);
    execFileSync('chown', ['postgres:postgres', dir]);
    const pg = new PrivatePostgres(await freePort(), dir);
    asPostgres(pgBin('initdb'), ['-D', pg.data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
    await pg.up();
    return pg;
  }

  get data(): string {
    return path.join(this.dir, 'data');
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async up(): Promise<void> {
    asPostgres(pgBin('pg_ctl'), ['-D', this.data, '-l', path.join(this.dir, 'pg.log'), '-o', `-p ${this.port} -c listen_addresses=127.0.0.1 -k ${this.dir} -c fsync=off -c max_connections=100`, '-w', 'start']);
  }

  /** Fast shutdown: open connections are terminated, as when the database host goes away. */
  async down(): Promise<void> {
    asPostgres(pgBin('pg_ctl'), ['-D', this.data, '-m', 'fast', '-w', 'stop']);
  }

  async close(): Promise<void> {
    try {
      asPostgres(pgBin('pg_ctl'), ['-D', this.data, '-m', 'immediate', '-w', 'stop']);
    } catch {
      // not running
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
