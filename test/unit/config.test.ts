import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeConfig, loadConfig } from '../../src/config/index.js';
import { VARS } from '../../src/config/vars.js';
import { ConfigError } from '../../src/support/errors.js';

const noFile = { ENV_FILE: path.join(os.tmpdir(), 'athena-missing-env-file') };

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig({ ...noFile, ...env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig(noFile);
    expect(c.appEnv).toBe('local');
    expect(c.serverRole).toBe('ingestion');
    expect(c.database.client).toBe('sqlite');
    expect(c.database.filename).toMatch(/storage\/athena\.sqlite$/);
    expect(c.redis).toEqual({ url: 'redis://127.0.0.1:6379', prefix: 'athena', cluster: false, nodes: [] });
    expect(c.binance).toEqual({ restUrl: 'https://fapi.binance.com', wsUrl: 'wss://fstream.binance.com' });
    expect(c.web).toEqual({
      port: 8080,
      adminHost: 'admin.localhost',
      marketingHost: 'localhost',
      docsHost: 'docs.localhost',
      trustedProxies: [],
      commandsAllow: ['kraite:*', 'steps:*', 'schedule:list', 'horizon:status', 'queue:failed'],
      commandTimeoutSeconds: 300,
      sqlTimeoutMs: 5000,
      sqlDatabase: null,
      fleetHosts: [],
      sessionIdleMinutes: 120,
    });
    expect(c.appKey).toBeNull();
    expect(c.canDispatchSteps).toBe(true);
  });

  it('names each bad variable and the problem', () => {
    const problems = problemsOf({
      APP_ENV: 'prod',
      SERVER_ROLE: 'master',
      WEB_PORT: '99999',
      DATABASE_URL: 'oracle://x/y',
      REDIS_URL: 'http://127.0.0.1',
      REDIS_PREFIX: 'has space',
      APP_KEY: 'base64:AAAA',
      BINANCE_WS_URL: 'https://fstream.binance.com',
      CAN_DISPATCH_STEPS: 'maybe',
    });
    const byVar = Object.fromEntries(problems.map((p) => [p.split(':')[0], p]));
    expect(byVar.APP_ENV).toContain('"prod" is not one of local | testing | production');
    expect(byVar.SERVER_ROLE).toContain('ingestion | worker | web');
    expect(byVar.WEB_PORT).toContain('outside 1..65535');
    expect(byVar.DATABASE_URL).toContain('unsupported scheme "oracle:"');
    expect(byVar.REDIS_URL).toContain('redis://');
    expect(byVar.REDIS_PREFIX).toBeDefined();
    expect(byVar.APP_KEY).toContain('32 are required');
    expect(byVar.BINANCE_WS_URL).toContain('ws://');
    expect(byVar.CAN_DISPATCH_STEPS).toContain('not a boolean');
    expect(problems).toHaveLength(9);
  });

  it('parses the three database URL forms', () => {
    expect(loadConfig({ ...noFile, DATABASE_URL: 'postgres://u:p%40ss@db.local:6543/athena' }).database).toMatchObject({ client: 'pg', host: 'db.local', port: 6543, user: 'u', password: 'p@ss', database: 'athena' });
    expect(loadConfig({ ...noFile, DATABASE_URL: 'mysql://root@127.0.0.1/test' }).database).toMatchObject({ client: 'mysql', port: 3306, user: 'root', database: 'test' });
    expect(loadConfig({ ...noFile, DATABASE_URL: 'sqlite:/tmp/x.sqlite' }).database).toMatchObject({ client: 'sqlite', filename: '/tmp/x.sqlite' });
    expect(problemsOf({ DATABASE_URL: 'postgres://host' })[0]).toContain('names no database');
  });

  it('reads .env but lets a real environment variable win', () => {
    const file = path.join(os.tmpdir(), `athena-env-${process.pid}`);
    fs.writeFileSync(file, 'WEB_PORT=9001\nREDIS_PREFIX=fromfile\n');
    try {
      const c = loadConfig({ ENV_FILE: file, REDIS_PREFIX: 'fromenv' });
      expect(c.web.port).toBe(9001);
      expect(c.redis.prefix).toBe('fromenv');
    } finally {
      fs.rmSync(file);
    }
  });

  it('masks secrets in the description used by config:show', () => {
    const rows = describeConfig({ ...noFile, APP_KEY: 'base64:' + Buffer.alloc(32, 7).toString('base64'), DATABASE_URL: 'postgres://u:hunter2@h/db', REDIS_URL: 'redis://:s3cret@127.0.0.1:6379' });
    const byName = Object.fromEntries(rows.map((r) => [r.name, r]));
    expect(byName.APP_KEY!.value).toBe('****');
    expect(byName.DATABASE_URL!.value).toBe('postgres://u:****@h/db');
    expect(byName.REDIS_URL!.value).toBe('redis://:****@127.0.0.1:6379');
    expect(JSON.stringify(rows)).not.toMatch(/hunter2|s3cret/);
    expect(byName.WEB_PORT).toMatchObject({ value: '8080', source: 'default' });
  });

  it('documents every variable in the README table', () => {
    const readme = fs.readFileSync(path.resolve(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    for (const v of VARS) expect(readme, `README is missing ${v.name}`).toContain(`\`${v.name}\``);
  });
});
