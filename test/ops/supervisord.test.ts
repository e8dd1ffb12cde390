/**
 * supervisor/*.conf under the real supervisord (Debian's package), rewritten into a temporary directory:
 * the checkout's path, a temporary SQLite/PostgreSQL/MariaDB database, a unique REDIS_PREFIX, and a
 * Binance simulator this test starts. Each program reaches RUNNING; `kill -9` of each program's pid is
 * followed by RUNNING with a new pid within 10 s; supervisord then shuts down cleanly and leaves no
 * process behind. Also: the conf settings themselves, the crontab line and the nginx sample.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROOT, createTestContext, type TestContext } from '../support/context.js';
import { childEnv } from '../support/artisan.js';
import { ensureSupervisord, pidsWithEnv, rewriteProgramConf, Supervisord } from '../support/supervisord.js';
import { BinanceSimulator } from '../../src/binance/simulator/simulator.js';
import { seedDemo } from '../../src/db/seed/demo.js';
import { descendants, isAlive } from '../../src/ops/process-tree.js';
import { freePort } from '../../src/ops/dev/redis.js';
import { hasCommand } from '../../src/ops/dev/box.js';
import { systemClock } from '../../src/support/clock.js';
import { describeOnce } from '../support/passes.js';

const SUPERVISOR_DIR = path.join(ROOT, 'supervisor');

/**
 * Each program's graceful-shutdown time in seconds (what it promises after SIGTERM; see the daemons'
 * close() paths and docs/daemons.md). stopwaitsecs must be above it.
 */
const GRACEFUL_SECONDS: Record<string, number> = {
  'kraite-dispatch-daemon': 10,
  'kraite-stream-binance-user-data': 15,
  'kraite-stream-binance-prices': 10,
  'kraite-horizon': 60,
  'kraite-web': 10,
};
const PROGRAMS = Object.keys(GRACEFUL_SECONDS);

function parseConf(text: string): { program: string; keys: Record<string, string> } {
  const program = /^\[program:([^\]]+)\]$/m.exec(text)?.[1] ?? '';
  const keys: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)=(.*)$/.exec(line);
    if (m) keys[m[1]!] = m[2]!;
  }
  return { program, keys };
}

const until = async <T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs: number): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

describeOnce('supervisor/*.conf', () => {
  it('one conf per long-running program, each with autostart, autorestart, stopasgroup, killasgroup, stopwaitsecs above its graceful shutdown, logs and environment', () => {
    const files = fs.readdirSync(SUPERVISOR_DIR).filter((f) => f.endsWith('.conf'));
    expect(files.sort()).toEqual(PROGRAMS.map((p) => `${p}.conf`).sort());
    for (const f of files) {
      const { program, keys } = parseConf(fs.readFileSync(path.join(SUPERVISOR_DIR, f), 'utf8'));
      expect(program, f).toBe(f.replace(/\.conf$/, ''));
      expect(keys.command, f).toMatch(/^\/usr\/bin\/env node \/srv\/athena\/bin\/artisan \S+/);
      for (const k of ['autostart', 'autorestart', 'stopasgroup', 'killasgroup']) expect(keys[k], `${f} ${k}`).toBe('true');
      expect(Number(keys.stopwaitsecs), `${f} stopwaitsecs`).toBeGreaterThan(GRACEFUL_SECONDS[program]!);
      expect(keys.stopsignal, f).toBe('TERM');
      expect(keys.stdout_logfile, f).toBe(`/srv/athena/storage/logs/${program}.log`);
      expect(keys.redirect_stderr, f).toBe('true');
      expect(keys.environment, f).toContain(`SUPERVISOR_PROGRAM="${program}"`);
      expect(keys.environment, f).toContain('APP_ENV="production"');
      expect(keys.directory, f).toBe('/srv/athena');
    }
  });

  it('the crontab runs schedule:run every minute from the checkout', () => {
    const active = fs
      .readFileSync(path.join(ROOT, 'crontab'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() && !l.trim().startsWith('#'));
    expect(active).toEqual(['* * * * * cd /srv/athena && node bin/artisan schedule:run >> /dev/null 2>&1']);
    expect(hasCommand('schedule:run')).toBe(true);
  });

  it('the nginx sample terminates TLS for the three server names in front of web', () => {
    const text = fs.readFileSync(path.join(ROOT, 'deploy', 'nginx', 'athena.conf'), 'utf8');
    const names = new Set([...text.matchAll(/^\s*server_name\s+([^;]+);/gm)].flatMap((m) => m[1]!.trim().split(/\s+/)));
    for (const n of ['kraite.com', 'admin.kraite.com', 'syntax.kraite.com']) expect(names.has(n), n).toBe(true);
    expect(text).toMatch(/listen 443 ssl;/);
    expect(text).toMatch(/ssl_certificate\s+\S+;/);
    expect(text).toMatch(/proxy_pass http:\/\/athena_web;/);
    expect(text).toMatch(/server 127\.0\.0\.1:8080;/);
    expect(text).toMatch(/proxy_set_header X-Forwarded-Proto \$scheme;/);
    expect(text).toMatch(/proxy_set_header Host \$host;/);
    expect(text).toMatch(/return 301 https:\/\/\$host\$request_uri;/);
    // Balanced braces: a sample that nginx -t would at least parse structurally.
    expect((text.match(/{/g) ?? []).length).toBe((text.match(/}/g) ?? []).length);
  });
});

describeOnce('supervisord runs the programs', () => {
  let ctx: TestContext;
  let sim: BinanceSimulator;
  let sup: Supervisord | null = null;
  let dir: string;

  beforeAll(async () => {
    ensureSupervisord();
    ctx = await createTestContext('supervisord');
    await seedDemo(ctx.db, ctx.config.appKey!);
    sim = await BinanceSimulator.start({ port: 0, clock: systemClock, demoAccounts: 3 });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'athena-supervisord-'));
  });

  afterAll(async () => {
    await sup?.kill();
    await sim?.close();
    await ctx?.cleanup();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('starts every program, restarts each after kill -9 within 10 s, and shuts down cleanly', async () => {
    const programs = PROGRAMS;
    const logDir = path.join(dir, 'logs');
    fs.mkdirSync(logDir);
    const webPort = await freePort();
    const env: Record<string, string> = {
      ...ctx.env,
      ENV_FILE: path.join(dir, 'no.env'),
      BINANCE_REST_URL: sim.restUrl,
      BINANCE_WS_URL: sim.wsUrl,
      WEB_PORT: String(webPort),
      LOG_LEVEL: 'info',
    };
    const confs: Record<string, string> = {};
    for (const p of programs) confs[`${p}.conf`] = rewriteProgramConf(fs.readFileSync(path.join(SUPERVISOR_DIR, `${p}.conf`), 'utf8'), { root: ROOT, logDir, env });
    // The rewritten conf keeps every production setting but the paths, the user and the environment.
    expect(confs['kraite-web.conf']).toContain(`command=/usr/bin/env node ${ROOT}/bin/artisan web`);
    expect(confs['kraite-web.conf']).toContain(`REDIS_PREFIX="${ctx.prefix}"`);
    expect(confs['kraite-web.conf']).not.toMatch(/^user=/m);

    sup = new Supervisord(dir, confs);
    sup.start(childEnv({}));
    const running = async () => {
      const st = await sup!.status();
      return programs.every((p) => st.get(p)?.state === 'RUNNING') ? st : null;
    };
    const first = await until('every program RUNNING', running, 120_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${sup!.log()}\n${programs.map((p) => `--- ${p}\n${tail(path.join(logDir, `${p}.log`))}`).join('\n')}`);
    });
    // The programs really work against the simulator: sockets are open.
    await until('user-data and market sockets on the simulator', async () => {
      const s = sim.state() as { market: { connections: number }; accounts: Record<string, { connections: number }> };
      return s.market.connections > 0 && Object.values(s.accounts).some((a) => a.connections > 0);
    }, 120_000);

    for (const p of programs) {
      const oldPid = first.get(p)!.pid!;
      expect(isAlive(oldPid), p).toBe(true);
      process.kill(oldPid, 'SIGKILL');
      // Within 10 s supervisord has started it again (a new, live pid: STARTING, or RUNNING already)…
      const again = await until(
        `${p} started again with a new pid`,
        async () => {
          const st = (await sup!.status()).get(p);
          return (st?.state === 'STARTING' || st?.state === 'RUNNING') && st.pid && st.pid !== oldPid && isAlive(st.pid) ? st : null;
        },
        10_000,
      );
      // …and it stays up past startsecs: RUNNING with that pid (a slow machine may need longer than 10 s here).
      const back = await until(
        `${p} RUNNING again`,
        async () => {
          const st = (await sup!.status()).get(p);
          return st?.state === 'RUNNING' && st.pid === again.pid ? st : null;
        },
        60_000,
      );
      expect(isAlive(back.pid!)).toBe(true);
      first.set(p, back);
    }

    const pids = [sup.pid!, ...descendants(sup.pid!)];
    expect(await sup.shutdown(180_000)).toBe(0);
    for (const pid of pids) await until(`pid ${pid} gone`, async () => !isAlive(pid), 10_000);
    // Nothing this test started survives, not even a worker orphaned by a kill -9 of its parent.
    await until('no process with this REDIS_PREFIX', async () => pidsWithEnv('REDIS_PREFIX', ctx.prefix).length === 0, 15_000).catch(() => {
      throw new Error(`left behind: ${pidsWithEnv('REDIS_PREFIX', ctx.prefix).map((p) => `${p} ${fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ')}`).join('; ')}`);
    });
    for (const p of programs) expect(fs.existsSync(path.join(logDir, `${p}.log`)), p).toBe(true);
    sup = null;
  }, 480_000);
});

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '(no log)';
  }
}
