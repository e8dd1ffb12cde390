import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { createTestContext, ARTISAN, type TestContext } from '../support/context.js';
import { artisan, childEnv } from '../support/artisan.js';

let ctx: TestContext;

beforeAll(async () => {
  ctx = await createTestContext('cli');
});
afterAll(async () => {
  await ctx?.cleanup();
});

describe('bin/artisan basics', () => {
  it('lists every command grouped by topic', async () => {
    const r = await artisan([], ctx.env);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/Available commands:/);
    expect(r.stdout).toMatch(/\n kraite\n\s+kraite:account-add\s+Add a Binance account/);
    expect(r.stdout).toMatch(/\n migrate\n\s+migrate:fresh/);
    const l = await artisan(['list'], ctx.env);
    expect(l.stdout).toBe(r.stdout);
    const j = await artisan(['list', '--json'], ctx.env);
    const doc = JSON.parse(j.stdout);
    expect(doc.commands.map((c: { name: string }) => c.name)).toContain('migrate:status');
  });

  it('prints help with usage, flags and examples', async () => {
    for (const args of [['help', 'kraite:account-add'], ['kraite:account-add', '--help']]) {
      const r = await artisan(args, ctx.env);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toMatch(/USAGE/);
      expect(r.stdout).toMatch(/--api-key=<value>/);
      expect(r.stdout).toMatch(/EXAMPLES/);
    }
  });

  it('rejects an unknown command with suggestions and exit 1', async () => {
    const r = await artisan(['nope:nope'], ctx.env);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^Command "nope:nope" is not defined\./);
    expect(r.stderr).toMatch(/Did you mean/);
    const t = await artisan(['kraite:acount-list'], ctx.env);
    expect(t.exitCode).toBe(1);
    expect(t.stderr).toMatch(/kraite:account-list/);
  });

  it('exits 2 on a bad or missing flag', async () => {
    const bad = await artisan(['kraite:account-list', '--bogus'], ctx.env);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/Nonexistent flag: --bogus/);
    const missing = await artisan(['kraite:account-add', '--name=x'], ctx.env);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/Missing required flag api-key/);
    const notInt = await artisan(['kraite:account-remove', 'abc'], ctx.env);
    expect(notInt.exitCode).toBe(2);
  });

  it('prints the version', async () => {
    const r = await artisan(['--version'], ctx.env);
    expect(r.stdout).toMatch(/^athena\/\d+\.\d+\.\d+ /);
  });

  it('exits 1 naming the variable on invalid configuration', async () => {
    const r = await artisan(['config:show'], { ...ctx.env, WEB_PORT: 'eighty' });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('WEB_PORT: "eighty" is not an integer');
  });

  it('shows the configuration with secrets masked, as one JSON document', async () => {
    const r = await artisan(['config:show', '--json'], { ...ctx.env, REDIS_URL: 'redis://:topsecret@127.0.0.1:6379' });
    expect(r.exitCode).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.config.APP_KEY).toBe('****');
    expect(doc.config.REDIS_PREFIX).toBe(ctx.prefix);
    expect(r.stdout).not.toContain(ctx.appKey.slice(7));
    expect(r.stdout).not.toContain('topsecret');
  });

  it('works from any working directory', async () => {
    const r = await execa('node', [ARTISAN, 'migrate:status', '--json'], { cwd: os.tmpdir(), env: childEnv(ctx.env), extendEnv: false, reject: false });
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(String(r.stdout)).migrations[0].ran).toBe(true);
  });
});

describe('migrations through the CLI', () => {
  it('migrate is idempotent and status reports every migration', async () => {
    const m = await artisan(['migrate', '--json'], ctx.env);
    expect(m.exitCode).toBe(0);
    expect(JSON.parse(m.stdout).ran).toEqual([]);
    const s = await artisan(['migrate:status'], ctx.env);
    expect(s.stdout).toMatch(/0001_shared_tables\s+Ran\s+1/);
  });

  it('guards production', async () => {
    const prod = { ...ctx.env, APP_ENV: 'production' };
    const m = await artisan(['migrate'], prod);
    expect(m.exitCode).toBe(1);
    expect(m.stderr).toMatch(/--force/);
    expect((await artisan(['migrate', '--force'], prod)).exitCode).toBe(0);
    const f = await artisan(['migrate:fresh', '--force'], prod);
    expect(f.exitCode).not.toBe(0);
    const f2 = await artisan(['migrate:fresh'], prod);
    expect(f2.exitCode).toBe(1);
    expect(f2.stderr).toMatch(/disabled in production/);
  });
});

describe('accounts', () => {
  it('stores credentials encrypted and never prints the secret', async () => {
    const key = 'AKEYabcdefghijklmnop0123456789XYZ';
    const secret = 'SECRETqrstuvwxyz9876543210ABCDEFG';
    const add = await artisan(['kraite:account-add', '--name=Main', `--api-key=${key}`, `--api-secret=${secret}`, '--json'], ctx.env);
    expect(add.exitCode).toBe(0);
    const { id } = JSON.parse(add.stdout);
    expect(id).toBeGreaterThan(0);
    const raw = await ctx.db('accounts').where({ id }).first();
    expect(raw.binance_api_key).not.toContain(key);
    expect(raw.binance_api_secret).not.toContain(secret);
    expect(raw.binance_api_secret).toMatch(/^v1:/);
    const list = await artisan(['kraite:account-list', '--json'], ctx.env);
    expect(list.stdout).not.toContain(key);
    expect(list.stdout).not.toContain(secret);
    const acc = JSON.parse(list.stdout).accounts.find((a: { id: number }) => a.id === id);
    expect(acc.api_key).toBe('****6XYZ'.replace('6XYZ', key.slice(-4)));
    const upd = await artisan(['kraite:account-update', String(id), '--inactive', '--hedge', '--json'], ctx.env);
    expect(JSON.parse(upd.stdout).account).toMatchObject({ is_active: false, on_hedge_mode: true });
    expect((await artisan(['kraite:account-remove', String(id)], ctx.env)).exitCode).toBe(0);
    const gone = await artisan(['kraite:account-remove', String(id)], ctx.env);
    expect(gone.exitCode).toBe(1);
    expect(gone.stderr).toMatch(/does not exist/);
  });

  it('names the row when APP_KEY is wrong', async () => {
    await artisan(['kraite:account-add', '--name=K', '--api-key=abcdefghijklmnop1234', '--api-secret=abcdefghijklmnop5678'], ctx.env);
    const other = 'base64:' + Buffer.alloc(32, 9).toString('base64');
    const r = await artisan(['kraite:account-list'], { ...ctx.env, APP_KEY: other });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/Cannot decrypt accounts\.binance_api_key of row \d+/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
  });

  it('rejects malformed credentials without writing anything', async () => {
    const before = await ctx.db('accounts').count({ n: '*' });
    const r = await artisan(['kraite:account-add', '--name=Bad', '--api-key=short', '--api-secret=also-short!'], ctx.env);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/API key must be 16-128 letters and digits/);
    expect(await ctx.db('accounts').count({ n: '*' })).toEqual(before);
  });
});

describe('redis and keys', () => {
  it('fails fast when Redis is unreachable', async () => {
    const r = await artisan(['about'], { ...ctx.env, REDIS_URL: 'redis://127.0.0.1:1' });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('Redis is not reachable at redis://127.0.0.1:1');
    expect(r.durationMs).toBeLessThan(5000);
  });

  it('key:generate writes .env and refuses to replace a key without --force', async () => {
    const file = path.join(os.tmpdir(), `athena-keygen-${process.pid}.env`);
    fs.writeFileSync(file, 'WEB_PORT=8181\n');
    const env = { ...ctx.env, ENV_FILE: file };
    delete (env as Record<string, string>).APP_KEY;
    try {
      expect((await artisan(['key:generate'], env)).exitCode).toBe(0);
      const first = fs.readFileSync(file, 'utf8');
      expect(first).toMatch(/^WEB_PORT=8181\nAPP_KEY=base64:[A-Za-z0-9+/]{43}=\n$/);
      const again = await artisan(['key:generate'], env);
      expect(again.exitCode).toBe(1);
      expect(again.stderr).toMatch(/already set/);
      expect(fs.readFileSync(file, 'utf8')).toBe(first);
      expect((await artisan(['key:generate', '--force'], env)).exitCode).toBe(0);
      expect(fs.readFileSync(file, 'utf8')).not.toBe(first);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
});
