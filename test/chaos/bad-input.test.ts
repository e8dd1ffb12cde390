/**
 * Bad input, against the running box: malformed and oversized frames from the exchange, garbage sent to
 * the admin's command runner and SQL page over real HTTP, and invalid configuration values given to each
 * daemon command. Each gets a clear error (a log line, an HTTP 4xx, exit 1 naming the variable) and none
 * crashes anything: the programs that were running are still the same processes at the end.
 */
import fs from 'node:fs';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Box, freePort, sleep, timeTo, until } from './support/box.js';
import { FrameCounter } from './support/frames.js';
import { horizonAvailable } from './support/horizon.js';
import { ScenarioReport } from './support/report.js';
import { artisan } from '../support/artisan.js';

const ADMIN_HOST = 'admin.chaos.test';
const EMAIL = 'chaos@athena.test';
const PASSWORD = 'chaos-password-123';

let box: Box;
let report: ScenarioReport;
let frames: FrameCounter;
let webPort: number;

beforeAll(async () => {
  box = await Box.create('bad-input', { accounts: 2, symbols: true });
  report = new ScenarioReport('bad-input', box.ctx.config.database.client);
  frames = new FrameCounter(box.redis, box.prefix, 2);
  webPort = await freePort();
  Object.assign(box.env, { WEB_PORT: String(webPort), ADMIN_HOST, MARKETING_HOST: 'chaos.test', DOCS_HOST: 'docs.chaos.test' });
  const u = await artisan(['user:create', `--email=${EMAIL}`, '--role=admin'], box.env, { input: `${PASSWORD}\n${PASSWORD}\n` });
  if (u.exitCode !== 0) throw new Error(`user:create failed: ${u.stderr}`);
});

afterAll(async () => {
  report?.write();
  await frames?.close();
  await box?.close();
});

/** A tiny HTTP client with a cookie jar, talking to the `web` process with the admin Host header. */
class Client {
  cookies = new Map<string, string>();
  csrf = '';

  request(method: string, url: string, body?: string | Buffer, type?: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { host: ADMIN_HOST, cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
      if (body !== undefined) {
        headers['content-type'] = type ?? 'application/x-www-form-urlencoded';
        headers['content-length'] = String(Buffer.byteLength(body));
      }
      if (this.csrf && method !== 'GET') headers['x-csrf-token'] = this.csrf;
      const req = http.request({ host: '127.0.0.1', port: webPort, method, path: url, headers }, (res) => {
        for (const c of res.headers['set-cookie'] ?? []) {
          const [kv] = c.split(';');
          const i = kv!.indexOf('=');
          this.cookies.set(kv!.slice(0, i), kv!.slice(i + 1));
        }
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  async login(): Promise<void> {
    const page = await this.request('GET', '/login');
    const token = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1];
    if (!token) throw new Error(`no CSRF token on /login (${page.status})`);
    const res = await this.request('POST', '/login', new URLSearchParams({ _csrf: token, email: EMAIL, password: PASSWORD, next: '/dashboard' }).toString());
    if (res.status !== 302 && res.status !== 303) throw new Error(`login failed: ${res.status} ${res.body.slice(0, 300)}`);
    const dash = await this.request('GET', '/sql');
    this.csrf = /name="csrf-token" content="([^"]+)"/.exec(dash.body)?.[1] ?? /name="_csrf" value="([^"]+)"/.exec(dash.body)?.[1] ?? '';
    if (!this.csrf) throw new Error(`no CSRF token after login (${dash.status})`);
  }
}

describe('bad input does not crash the box', () => {
  it('malformed and oversized frames are logged and dropped; the sockets and the daemon stay up', async () => {
    const ud = box.supervise('stream-user-data', ['kraite:stream-binance-user-data', '--stagger-ms=0']);
    await until('accounts connected', async () => (await box.heartbeat('stream-user-data'))?.accounts_connected === 2, 60_000);
    const [a, b] = box.accountIds as [number, number];
    const before = await box.simState();
    const kinds = ['garbage', 'truncated', 'scalar', 'string', 'null', 'empty', 'binary'];
    for (const kind of kinds) {
      const at = Date.now();
      await box.simPost('malformed', { account: kind.length % 2 ? a : b, kind, count: 3 });
      report.fault(`malformed frame (${kind})`, at, 0);
    }
    // an oversized frame: a 4 MiB ORDER_TRADE_UPDATE (Binance frames are a few hundred bytes)
    const bigAt = Date.now();
    await box.simPost('push', { account: a, event: { e: 'ORDER_TRADE_UPDATE', E: Date.now(), T: Date.now(), o: { s: 'BTCUSDT', i: 1, X: 'NEW', x: 'NEW', c: 'oversized', pad: 'x'.repeat(4 * 1024 * 1024) } } });
    // then normal frames: they must still flow on the same sockets
    await box.simPost('push', { account: a, events: [1, 2, 3].map((n) => ({ e: 'ORDER_TRADE_UPDATE', E: n, T: n, o: { s: 'BTCUSDT', i: 100 + n, X: 'NEW', x: 'NEW', c: `after-${n}` } })) });
    await box.simPost('push', { account: b, events: [1, 2, 3].map((n) => ({ e: 'ORDER_TRADE_UPDATE', E: n, T: n, o: { s: 'BTCUSDT', i: 200 + n, X: 'NEW', x: 'NEW', c: `after-${n}` } })) });
    const ms = await timeTo(async () => (await frames.jobs()).filter((j) => String((j.payload as { o?: { c?: string } }).o?.c ?? '').startsWith('after-')).length === 6, bigAt, 30_000);
    report.fault('oversized frame (4 MiB)', bigAt, ms);
    expect(ms, 'frames after the bad ones were not enqueued').not.toBeNull();

    const after = await box.simState();
    const log = ud.current.log();
    const dropped = log.split('\n').filter((l) => l.includes('malformed JSON frame dropped')).length;
    report.note(`malformed frames: ${dropped} "malformed JSON frame dropped" log lines for ${kinds.length * 3} frames`);
    const oversized = (await frames.jobs()).filter((j) => (j.payload as { o?: { c?: string } }).o?.c === 'oversized').length;
    report.note(`the 4 MiB frame: ${oversized ? 'enqueued as is' : 'not enqueued'}; user sockets opened during the test: ${after.accounts[String(a)]!.connectionsOpened - before.accounts[String(a)]!.connectionsOpened}`);
    expect(dropped).toBeGreaterThanOrEqual(kinds.length * 3 - 3); // "empty" frames may not reach the parser as frames
    expect(ud.starts).toBe(1);
    expect(ud.current.running).toBe(true);
    expect(after.accounts[String(b)]!.connectionsOpened).toBe(before.accounts[String(b)]!.connectionsOpened);
  });

  it('garbage to the command runner and the SQL page gets HTTP 4xx and the web process stays up', async () => {
    const web = box.supervise('web', ['web']);
    const c = new Client();
    await until('web answers', async () => (await c.request('GET', '/login').catch(() => ({ status: 0 }))).status === 200, 60_000);
    await c.login();
    const accountsBefore = await box.ctx.db('accounts').count({ n: '*' });
    const garbage: Array<[string, string, string | Buffer, string | undefined]> = [
      ['runner: unknown command', '/api/commands/no:such-command', JSON.stringify({}), 'application/json'],
      ['runner: never-allowed command', '/api/commands/migrate:fresh', JSON.stringify({ flags: { force: true } }), 'application/json'],
      ['runner: daemon command', '/api/commands/kraite:dispatch-daemon', JSON.stringify({}), 'application/json'],
      ['runner: unknown flag', '/api/commands/kraite:cron-sync-orders', JSON.stringify({ flags: { 'no-such-flag': 'x' } }), 'application/json'],
      ['runner: control bytes in a flag', '/api/commands/kraite:cron-sync-orders', JSON.stringify({ flags: { 'order-id': '1\u0007\u001b[2J' } }), 'application/json'],
      ['runner: broken JSON', '/api/commands/kraite:cron-sync-orders', '{"flags": {', 'application/json'],
      ['runner: binary body', '/api/commands/kraite:cron-sync-orders', Buffer.from([0, 159, 146, 150, 255, 0, 1]), 'application/json'],
      ['runner: 1 MiB body', '/api/commands/kraite:cron-sync-orders', JSON.stringify({ flags: { x: 'y'.repeat(1024 * 1024) } }), 'application/json'],
      ['runner: NUL in the name', '/api/commands/kraite%00:cron', JSON.stringify({}), 'application/json'],
      ['sql: write', '/api/sql', JSON.stringify({ query: 'DELETE FROM accounts' }), 'application/json'],
      ['sql: DDL', '/api/sql', JSON.stringify({ query: 'DROP TABLE accounts' }), 'application/json'],
      ['sql: two statements', '/api/sql', JSON.stringify({ query: 'SELECT 1; DELETE FROM accounts' }), 'application/json'],
      ['sql: syntax error', '/api/sql', JSON.stringify({ query: 'SELEC * FORM nowhere' }), 'application/json'],
      ['sql: control bytes', '/api/sql', JSON.stringify({ query: '\u0000\u0001\u0002SELECT' }), 'application/json'],
      ['sql: not a string', '/api/sql', JSON.stringify({ query: { $ne: 1 }, page: -5, per_page: 1e9 }), 'application/json'],
      ['sql: broken JSON', '/api/sql', '{"query": "SELECT', 'application/json'],
      ['sql: 1 MiB query', '/api/sql', JSON.stringify({ query: `SELECT '${'z'.repeat(1024 * 1024)}'` }), 'application/json'],
      ['sql: form garbage', '/sql', 'query=%ZZ%00&page=abc', 'application/x-www-form-urlencoded'],
    ];
    const answers: string[] = [];
    for (const [what, url, body, type] of garbage) {
      const at = Date.now();
      const r = await c.request('POST', url, body, type);
      answers.push(`${what}: ${r.status}`);
      const alive = await timeTo(async () => (await c.request('GET', '/sql')).status === 200, at, 10_000);
      report.fault(`web garbage (${what})`, at, r.status >= 400 && r.status < 500 ? alive : null);
      expect(r.status, `${what} → ${r.status} ${r.body.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
      expect(r.status, `${what} → ${r.status} ${r.body.slice(0, 300)}`).toBeLessThan(500);
    }
    report.note(`web answers: ${answers.join('; ')}`);
    // Shell metacharacters are not an error for the runner: the value is one argv element, never a shell
    // word. The command's own parser refuses it: the run fails with exit 2 and says why.
    const shell = await c.request('POST', '/api/commands/kraite:cron-sync-orders', JSON.stringify({ flags: { 'order-id': '1; touch /tmp/athena-chaos-pwned $(reboot)' } }), 'application/json');
    expect(shell.status, shell.body).toBe(202);
    const runId = (JSON.parse(shell.body) as { run_id: number }).run_id;
    let run: { status: string; exitCode: number | null; output: string } = { status: 'running', exitCode: null, output: '' };
    await until('the run with shell metacharacters ends', async () => (run = JSON.parse((await c.request('GET', `/api/runs/${runId}`)).body)).status !== 'running', 60_000, 250);
    report.note(`runner with shell metacharacters in an integer flag: run ${run.status}, exit ${run.exitCode}, output ${run.output.trim().slice(0, 160)}`);
    expect(run.status).toBe('failed');
    expect(run.exitCode).toBe(2);
    expect(fs.existsSync('/tmp/athena-chaos-pwned')).toBe(false);
    expect(await box.ctx.db('accounts').count({ n: '*' })).toEqual(accountsBefore);
    expect(web.starts).toBe(1);
    expect(web.current.running).toBe(true);
    expect((await c.request('GET', '/sql')).status).toBe(200);
  });

  it('invalid configuration: every daemon command exits 1 naming the variable', async () => {
    const daemons = ['kraite:dispatch-daemon', 'kraite:stream-binance-user-data', 'kraite:stream-binance-prices', 'web', ...(horizonAvailable() ? ['horizon'] : [])];
    const bad: Record<string, string> = {
      DATABASE_URL: 'oracle://nowhere/db',
      REDIS_URL: 'http://not-redis',
      LOG_LEVEL: 'loud',
      USER_DATA_SHARDS: '0',
      CAN_DISPATCH_STEPS: 'maybe',
      WEB_PORT: '99999',
      APP_KEY: 'not-base64-of-32-bytes',
      BINANCE_WS_URL: 'ftp://x',
    };
    const failures: string[] = [];
    // every variable against some daemon, every daemon against three variables (rotating)
    const entries = Object.entries(bad);
    const cases = daemons.flatMap((cmd, d) => [0, 1, 2].map((k) => entries[(d * 3 + k) % entries.length]!).map(([name, value]) => ({ cmd, name, value })));
    // four at a time: each is a Node start-up that must stop at the configuration check
    for (let i = 0; i < cases.length; i += 4) {
      await Promise.all(
        cases.slice(i, i + 4).map(async ({ cmd, name, value }) => {
          const at = Date.now();
          const r = await artisan([cmd], { ...box.env, [name]: value }, { timeout: 120_000 });
          const ok = r.exitCode === 1 && r.stderr.includes(name) && !/\n\s+at .+:\d+:\d+/.test(r.stderr);
          report.fault(`invalid ${name}`, at, ok ? Date.now() - at : null);
          if (!ok) failures.push(`${cmd} with ${name}=${value}: exit ${r.exitCode} after ${r.durationMs} ms, stderr ${r.stderr.slice(0, 300)}`);
        }),
      );
    }
    expect(failures).toEqual([]);
    // the running programs were not disturbed by any of it
    for (const [name, prog] of box.programs) expect(prog.starts, name).toBe(1);
    await sleep(100);
  });
});
