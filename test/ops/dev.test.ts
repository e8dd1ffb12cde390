/**
 * `bin/artisan dev` end to end: the real programs against the real Redis and the database of DATABASE_URL,
 * with a temporary storage dir, env file, Redis prefix and free ports. Checks the first-run setup (APP_KEY,
 * seed, operator), every program running, the admin UI with the demo operator, live data (mark prices,
 * user-data frames through horizon into api_data_stream, demo steps completing), a kill -9 restart, and a
 * SIGINT that leaves no process of the box behind. Also the Redis plan (private redis-server, or help).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { ARTISAN, ROOT, createTestContext, type TestContext } from '../support/context.js';
import { artisan, childEnv } from '../support/artisan.js';
import { pidsWithEnv } from '../support/supervisord.js';
import { descendants, isAlive } from '../../src/ops/process-tree.js';
import { groupAlive, ProcessManager } from '../../src/ops/dev/process-manager.js';
import { planRedis, REDIS_HELP, freePort, listening, waitListening } from '../../src/ops/dev/redis.js';
import type { DevState } from '../../src/ops/dev/box.js';
import { connectRedis, closeRedis } from '../../src/redis/connection.js';
import { systemClock } from '../../src/support/clock.js';
import { describeOnce } from '../support/passes.js';

const until = async <T>(what: string, fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 60_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
};

/** Wait for dev's ready banner; fail at once (with its output) if it exits first. */
async function ready(child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 180_000;
  // The banner's last line: the URLs and the login are printed by then.
  while (!output().includes('Ctrl-C stops everything.')) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`dev exited early (${child.exitCode ?? child.signalCode}):\n${output()}`);
    if (Date.now() > deadline) throw new Error(`dev was not ready within 180 s:\n${output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A tiny cookie-keeping HTTP client that sets the Host header (the web routes by it). */
class Client {
  cookies = new Map<string, string>();
  constructor(
    private readonly port: number,
    private readonly host: string,
  ) {}

  request(method: string, url: string, form?: Record<string, string>): Promise<HttpResult> {
    const body = form ? new URLSearchParams(form).toString() : undefined;
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: this.port,
          method,
          path: url,
          headers: {
            host: this.host,
            cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
            ...(body ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            for (const c of res.headers['set-cookie'] ?? []) {
              const [pair] = c.split(';');
              const i = pair!.indexOf('=');
              const name = pair!.slice(0, i);
              const value = pair!.slice(i + 1);
              if (value === '' || /max-age=0/i.test(c)) this.cookies.delete(name);
              else this.cookies.set(name, value);
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
          });
        },
      );
      req.on('error', reject);
      if (body) req.write(body);
      req.end();
    });
  }
}

describeOnce('bin/artisan dev', () => {
  let ctx: TestContext;
  let dev: ChildProcess | null = null;
  let out = '';
  let env: Record<string, string>;
  const stateFile = () => path.join(env.STORAGE_PATH!, 'dev', 'dev.json');
  const readState = (): DevState | null => (fs.existsSync(stateFile()) ? (JSON.parse(fs.readFileSync(stateFile(), 'utf8')) as DevState) : null);

  beforeAll(async () => {
    ctx = await createTestContext('dev', { migrate: false });
    // No APP_KEY: dev must generate one into the env file. A fresh storage dir and env file.
    env = { ...ctx.env, ENV_FILE: path.join(ctx.env.STORAGE_PATH!, '.env'), LOG_LEVEL: 'info' };
    delete env.APP_KEY;
  });

  // A test that failed half-way leaves the box running: stop it (SIGINT, then SIGKILL what is left).
  afterEach(async () => {
    if (!dev || dev.exitCode !== null || dev.signalCode !== null || !dev.pid) return;
    const pids = [dev.pid, ...descendants(dev.pid)];
    const gone = new Promise((r) => dev!.once('exit', r));
    dev.kill('SIGINT');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 40_000))]);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    dev = null;
  });

  afterAll(async () => {
    await ctx?.cleanup();
  });

  it('brings the box up with live demo data, restarts a killed program, and stops with no orphan', async () => {
    try {
      await bringUp();
    } catch (err) {
      // The box's own output is the diagnosis.
      (err as Error).message += `\n--- dev output (last 120 lines)\n${out.split('\n').slice(-120).join('\n')}`;
      throw err;
    }
  }, 600_000);

  async function bringUp(): Promise<void> {
    dev = spawn(process.execPath, [ARTISAN, 'dev', '--port=0', '--sim-port=0', '--order-interval=400', '--steps-interval=1500', '--grace=30'], { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    dev.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    dev.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => dev!.once('exit', (code, signal) => resolve({ code, signal })));

    await ready(dev, () => out);
    const state = readState()!;
    expect(state.ready).toBe(true);
    expect(state.pid).toBe(dev.pid);

    // First run: APP_KEY generated into the env file, password file 0600, banner with URLs and login.
    expect(fs.readFileSync(env.ENV_FILE!, 'utf8')).toMatch(/^APP_KEY=.{40,}$/m);
    const pwFile = path.join(env.STORAGE_PATH!, 'dev', 'admin-password');
    expect(fs.statSync(pwFile).mode & 0o777).toBe(0o600);
    const password = fs.readFileSync(pwFile, 'utf8').trim();
    expect(password.length).toBeGreaterThanOrEqual(12);
    expect(out).toContain(`admin       http://admin.localhost:${state.webPort}/`);
    expect(out).toContain(`docs        http://docs.localhost:${state.webPort}/`);
    expect(out).toContain(`marketing   http://localhost:${state.webPort}/`);
    expect(out).toContain(`login admin@athena.local  password ${password}`);
    expect(out).toMatch(/Seeded 3 demo accounts, 10 symbols, 6 positions and 30 orders/);

    // Every program runs.
    const expected = ['simulator', 'dispatch', 'user-data', 'prices', 'horizon', 'schedule', 'web'];
    for (const name of expected) {
      const pid = state.programs[name];
      expect(pid, name).toBeTypeOf('number');
      expect(isAlive(pid!), name).toBe(true);
    }
    // Prefixed output from the programs.
    expect(out).toMatch(/^simulator \| Binance simulator listening/m);
    // web's own log line travels through its pipe and may trail the banner.
    await until('the prefixed web log line', () => /^web\s+\| Athena web listening/m.test(out), 30_000);

    // The admin UI: log in as the demo operator, read the dashboard and the step browser.
    const admin = new Client(state.webPort, 'admin.localhost');
    const loginPage = await admin.request('GET', '/login');
    expect(loginPage.status).toBe(200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(loginPage.body)![1]!;
    const login = await admin.request('POST', '/login', { _csrf: csrf, email: 'admin@athena.local', password, next: '/dashboard' });
    expect([302, 303]).toContain(login.status);
    expect(login.headers.location).toBe('/dashboard');
    const dashboard = await admin.request('GET', '/dashboard');
    expect(dashboard.status).toBe(200);
    expect(dashboard.body).toContain('Dispatcher');
    const steps = await admin.request('GET', '/steps');
    expect(steps.status).toBe(200);
    expect(steps.body).toMatch(/sleep|noop/);
    const docs = await new Client(state.webPort, 'docs.localhost').request('GET', '/');
    expect(docs.status).toBe(200);
    const marketing = await new Client(state.webPort, 'localhost').request('GET', '/');
    expect(marketing.status).toBe(200);

    // Live data: the simulator sends order frames to the demo accounts' sockets, mark prices are written.
    const simState = async () => (await (await fetch(`http://127.0.0.1:${state.simPort}/_sim/state`)).json()) as { accounts: Record<string, { framesSent: number }> };
    await until('user-data frames sent by the simulator', async () => Object.values((await simState()).accounts).reduce((n, a) => n + a.framesSent, 0) > 10, 120_000);
    const started = new Date(state.startedAt).getTime();
    await until(
      'fresh mark prices',
      async () => {
        const rows = (await ctx.db('exchange_symbol_prices').select('mark_price_synced_at')) as Array<{ mark_price_synced_at: unknown }>;
        return rows.some((r) => new Date(r.mark_price_synced_at as string).getTime() > started);
      },
      120_000,
    );
    // Demo steps keep being created and are dispatched.
    await until('demo steps created while running', async () => Number((await ctx.db('steps').where({ label: 'demo' }).count({ n: '*' }).first())!.n) > 12, 60_000);
    await until('demo steps dispatched', async () => Number((await ctx.db('steps').where({ label: 'demo' }).whereNot({ state: 'pending' }).count({ n: '*' }).first())!.n) > 0, 120_000);
    await until('frames stored in api_data_stream by horizon', async () => Number((await ctx.db('api_data_stream').count({ n: '*' }).first())!.n) > 0, 180_000);
    await until('demo steps completed by horizon', async () => Number((await ctx.db('steps').where({ label: 'demo', state: 'completed' }).count({ n: '*' }).first())!.n) >= 8, 180_000);

    // kill -9 a program (horizon too, whose workers must not outlive it): it comes back with a new pid.
    for (const name of ['dispatch', 'horizon']) {
      const oldPid = readState()!.programs[name]!;
      const oldGroup = [oldPid, ...descendants(oldPid)];
      process.kill(oldPid, 'SIGKILL');
      const newPid = await until(`${name} restarted`, () => {
        const p = readState()?.programs[name];
        return p && p !== oldPid && isAlive(p) ? p : null;
      }, 30_000);
      expect(out).toMatch(new RegExp(`${name} exited \\(SIGKILL\\); restarting in`));
      expect(newPid).not.toBe(oldPid);
      for (const pid of oldGroup) await until(`old ${name} process ${pid} gone`, () => !isAlive(pid), 30_000);
    }

    // SIGINT: everything stops, nothing survives (program groups included).
    const finalState = readState()!;
    const pids = [dev.pid!, ...descendants(dev.pid!)];
    const groups = Object.values(finalState.programs).filter((p): p is number => typeof p === 'number');
    expect(pids.length).toBeGreaterThanOrEqual(expected.length + 1);
    dev.kill('SIGINT');
    const exit = await exited;
    expect(exit.code, out.slice(-3000)).toBe(0);
    expect(out).toContain('Stopped; no program of the box is left running.');
    for (const pid of pids) await until(`pid ${pid} gone`, () => !isAlive(pid), 30_000);
    for (const g of groups) expect(groupAlive(g), `group ${g}`).toBe(false);
    // Nothing started by this box survives, not even a process re-parented to init.
    expect(pidsWithEnv('REDIS_PREFIX', ctx.prefix)).toEqual([]);
    expect(fs.existsSync(stateFile())).toBe(false);
    dev = null;
  }

  it('a second run keeps the key, the seed and the operator password', async () => {
    const key = fs.readFileSync(env.ENV_FILE!, 'utf8');
    const pw = fs.readFileSync(path.join(env.STORAGE_PATH!, 'dev', 'admin-password'), 'utf8');
    let log = '';
    dev = spawn(process.execPath, [ARTISAN, 'dev', '--port=0', '--sim-port=0', '--no-activity'], { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    dev.stdout!.on('data', (c: Buffer) => (log += c.toString()));
    dev.stderr!.on('data', (c: Buffer) => (log += c.toString()));
    const exited = new Promise<number | null>((resolve) => dev!.once('exit', (code) => resolve(code)));
    await ready(dev, () => log);
    const pids = [dev.pid!, ...descendants(dev.pid!)];
    dev.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const pid of pids) await until(`pid ${pid} gone`, () => !isAlive(pid), 30_000);
    dev = null;
    expect(fs.readFileSync(env.ENV_FILE!, 'utf8')).toBe(key);
    expect(fs.readFileSync(path.join(env.STORAGE_PATH!, 'dev', 'admin-password'), 'utf8')).toBe(pw);
    expect(log).not.toMatch(/Generated APP_KEY|Seeded|Migrated|demo operator/);
    expect(Number((await ctx.db('accounts').count({ n: '*' }).first())!.n)).toBe(3);
    expect(Number((await ctx.db('users').count({ n: '*' }).first())!.n)).toBe(1);
  }, 180_000);
});

describeOnce('dev: refusals', () => {
  it('refuses to run a demo box when APP_ENV=production', async () => {
    const r = await artisan(['dev', '--port=0', '--sim-port=0'], { APP_ENV: 'production', ENV_FILE: path.join(os.tmpdir(), 'athena-dev-no-env'), STORAGE_PATH: fs.mkdtempSync(path.join(os.tmpdir(), 'athena-dev-prod-')) });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/refused when APP_ENV=production/);
  });
});

describeOnce('dev: Redis', () => {
  it('starts a private redis-server when REDIS_URL is unset and nothing listens, and stops it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'athena-dev-redis-'));
    const unused = await freePort();
    const plan = await planRedis({ configuredUrl: undefined, dir, probe: { host: '127.0.0.1', port: unused } });
    expect(plan.kind).toBe('private');
    if (plan.kind !== 'private') return;
    const pm = new ProcessManager({ clock: systemClock, write: () => undefined }, [plan.spec]);
    pm.startAll();
    try {
      await waitListening('127.0.0.1', plan.port, 15_000, 'redis');
      const client = await connectRedis({ url: plan.url, prefix: 'x' }, 'cli');
      expect(await client.ping()).toBe('PONG');
      await closeRedis(client);
    } finally {
      await pm.stop(5000);
    }
    expect(pm.state('redis')!.lastExit).not.toBeNull();
    await until('private redis gone', async () => !(await listening('127.0.0.1', plan.port)), 5000);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('uses a configured REDIS_URL or a Redis on the probe port', async () => {
    expect(await planRedis({ configuredUrl: 'redis://10.0.0.9:6380', dir: os.tmpdir() })).toEqual({ kind: 'configured', url: 'redis://10.0.0.9:6380' });
    expect(await planRedis({ configuredUrl: undefined, dir: os.tmpdir(), probe: { host: '127.0.0.1', port: 6379 } })).toEqual({ kind: 'local', url: 'redis://127.0.0.1:6379' });
  });

  it('without REDIS_URL, a listening Redis or redis-server, says how to get one', async () => {
    const unused = await freePort();
    await expect(planRedis({ configuredUrl: undefined, dir: os.tmpdir(), probe: { host: '127.0.0.1', port: unused }, pathEnv: '/nonexistent' })).rejects.toThrow(REDIS_HELP);
    expect(REDIS_HELP).toMatch(/apt-get install redis-server/);
  });
});
