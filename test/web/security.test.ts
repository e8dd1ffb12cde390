/**
 * Security of the web server, through fastify inject() on the real app (real DB, real Redis):
 * host routing, headers, authentication on every admin route, CSRF, roles, the command allow-list and
 * literal arguments, throttling, session cookie flags.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { seedDemo } from '../../src/db/seed/demo.js';
import { requireKey } from '../../src/crypto/secrets.js';
import { loadConfig } from '../../src/config/index.js';
import { buildTestWeb, Browserless, HOSTS, type TestWeb } from './support/web.js';
import { seedSteps, seedUser } from './support/fixtures.js';

let ctx: TestContext;
let web: TestWeb;
let ids: Record<string, number>;
const ADMIN = { email: 'admin@athena.test', password: 'correct horse battery staple' };
const VIEWER = { email: 'viewer@athena.test', password: 'viewer password 123' };

async function waitForRun(b: Browserless, runId: number): Promise<Record<string, unknown>> {
  for (let i = 0; i < 200; i++) {
    const r = JSON.parse((await b.get(`/api/runs/${runId}`)).body) as Record<string, unknown>;
    if (r.status !== 'running') return r;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`run ${runId} did not finish`);
}

beforeAll(async () => {
  ctx = await createTestContext('web-security');
  const appKey = requireKey(loadConfig(ctx.env).appKey);
  await seedDemo(ctx.db, appKey);
  ids = await seedSteps(ctx.db, '', new Date());
  await seedUser(ctx.db, ADMIN.email, 'admin', ADMIN.password);
  await seedUser(ctx.db, VIEWER.email, 'viewer', VIEWER.password);
  web = await buildTestWeb(ctx);
});

afterAll(async () => {
  await web?.close();
  await ctx?.cleanup();
});

describe('host routing', () => {
  it('answers 421 to an unknown Host and to a missing one', async () => {
    for (const host of ['evil.example', 'admin.athena.test.evil.example', '127.0.0.1']) {
      const r = await web.app.inject({ method: 'GET', url: '/', headers: { host } });
      expect(r.statusCode, host).toBe(421);
    }
    const r = await web.app.inject({ method: 'GET', url: '/dashboard', headers: { host: 'nope.test' } });
    expect(r.statusCode).toBe(421);
  });

  it('routes each configured host (with or without a port) to its own site, and each answers /up', async () => {
    for (const [host, name] of [
      [HOSTS.ADMIN_HOST, 'admin'],
      [`${HOSTS.DOCS_HOST}:8443`, 'docs'],
      [HOSTS.MARKETING_HOST.toUpperCase(), 'marketing'],
    ]) {
      const up = await web.app.inject({ method: 'GET', url: '/up', headers: { host: host! } });
      expect(up.statusCode).toBe(200);
      expect(up.body).toBe(`up ${name}\n`);
    }
    const docs = await web.app.inject({ method: 'GET', url: '/', headers: { host: HOSTS.DOCS_HOST } });
    expect(docs.body).toContain('Athena docs');
    const mk = await web.app.inject({ method: 'GET', url: '/', headers: { host: HOSTS.MARKETING_HOST } });
    expect(mk.body).toContain('Survive the cascade');
    // the same path is a different page on another vhost
    const priv = await web.app.inject({ method: 'GET', url: '/privacy-policy', headers: { host: HOSTS.DOCS_HOST } });
    expect(priv.statusCode).toBe(404);
  });
});

describe('security headers', () => {
  it('sends a CSP without unsafe-eval/unsafe-inline, with frame-ancestors none, nosniff and a referrer policy; admin pages get a fresh nonce', async () => {
    for (const host of [HOSTS.ADMIN_HOST, HOSTS.DOCS_HOST, HOSTS.MARKETING_HOST]) {
      const r = await web.app.inject({ method: 'GET', url: host === HOSTS.ADMIN_HOST ? '/login' : '/', headers: { host } });
      const csp = String(r.headers['content-security-policy']);
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("object-src 'none'");
      expect(csp).not.toContain('unsafe-eval');
      expect(csp).not.toContain('unsafe-inline');
      expect(r.headers['x-content-type-options']).toBe('nosniff');
      expect(r.headers['x-frame-options']).toBe('DENY');
      expect(r.headers['referrer-policy']).toBe('strict-origin-when-cross-origin');
      expect(r.headers['permissions-policy']).toBe('camera=(), microphone=(), geolocation=(), payment=(), usb=()');
      expect(r.headers['strict-transport-security']).toBeUndefined();
      if (host !== HOSTS.ADMIN_HOST) expect(csp).toContain("script-src 'self'; style-src 'self';");
    }
    const user = new Browserless(web.app);
    await user.login(ADMIN.email, ADMIN.password);
    const a = await user.get('/dashboard');
    const b = await user.get('/dashboard');
    const nonce = (h: unknown) => /script-src 'self' 'nonce-([A-Za-z0-9+/=]{24})'/.exec(String(h))![1];
    expect(nonce(a.headers['content-security-policy'])).not.toBe(nonce(b.headers['content-security-policy']));
    expect(a.body).toContain(`nonce="${nonce(a.headers['content-security-policy'])}"`);
    expect(a.body).not.toMatch(/<script>(?!<\/script>)/); // no inline script bodies
    expect(a.body).not.toMatch(/ style="/); // no inline styles either
  });

  it('adds HSTS only over TLS as told by a trusted proxy, never for X-Forwarded-Proto from anyone else', async () => {
    const trusted = await web.app.inject({ method: 'GET', url: '/', headers: { host: HOSTS.MARKETING_HOST, 'x-forwarded-proto': 'https' }, remoteAddress: '127.0.0.1' });
    expect(trusted.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    const spoofed = await web.app.inject({ method: 'GET', url: '/', headers: { host: HOSTS.MARKETING_HOST, 'x-forwarded-proto': 'https' }, remoteAddress: '203.0.113.9' });
    expect(spoofed.headers['strict-transport-security']).toBeUndefined();
  });

  it('serves static assets compressed and cacheable', async () => {
    const r = await web.app.inject({ method: 'GET', url: '/assets/admin.css?v=x', headers: { host: HOSTS.DOCS_HOST, 'accept-encoding': 'br, gzip' } });
    expect(r.statusCode).toBe(200);
    expect(['br', 'gzip']).toContain(r.headers['content-encoding']);
    expect(String(r.headers['cache-control'])).toContain('immutable');
    expect(r.headers.etag).toBeTruthy();
  });
});

describe('authentication', () => {
  it('sends every admin route to the login without a session (HTML: 302 to /login; /api: 401 JSON)', async () => {
    const routes = web.services.adminRoutes.filter((r) => !r.public);
    expect(routes.length).toBeGreaterThan(25);
    const fill = (url: string) => url.replace(':set', 'default').replace(':id', '1').replace(':uuid', 'abc').replace(':runId', '1');
    for (const r of routes) {
      const res = await web.app.inject({ method: r.method as 'GET', url: fill(r.url), headers: { host: HOSTS.ADMIN_HOST, 'content-type': 'application/x-www-form-urlencoded' }, payload: r.method === 'POST' ? 'a=1' : undefined });
      if (r.url.startsWith('/api/')) {
        expect(res.statusCode, `${r.method} ${r.url}`).toBe(401);
        expect(JSON.parse(res.body)).toEqual({ error: 'Authentication required.' });
      } else {
        expect(res.statusCode, `${r.method} ${r.url}`).toBe(302);
        expect(res.headers.location, `${r.method} ${r.url}`).toMatch(/^\/login\?next=/);
      }
    }
  });

  it('issues an HttpOnly, SameSite=Lax session cookie, Secure behind TLS, and regenerates it at login', async () => {
    const b = new Browserless(web.app);
    await b.csrf('/login');
    const before = b.cookies.get('athena_session');
    const res = await b.login(ADMIN.email, ADMIN.password);
    expect(res.statusCode).toBe(303);
    const cookie = res.cookies.find((c) => c.name === 'athena_session')!;
    expect(cookie.httpOnly).toBe(true);
    expect(String(cookie.sameSite).toLowerCase()).toBe('lax');
    expect(cookie.secure).toBeFalsy();
    expect(cookie.value).not.toBe(before);
    const tls = await web.app.inject({ method: 'GET', url: '/login', headers: { host: HOSTS.ADMIN_HOST, 'x-forwarded-proto': 'https' } });
    const tlsCookie = tls.cookies.find((c) => c.name === 'athena_session')!;
    expect(tlsCookie.secure).toBe(true);
  });

  it('rejects a bad password and locks an e-mail+IP pair out after 5 failures', async () => {
    const b = new Browserless(web.app);
    const bad = await b.login('throttle@athena.test', 'wrong password!!');
    expect(bad.statusCode).toBe(401);
    expect(bad.body).toContain('These credentials do not match');
    for (let i = 0; i < 4; i++) await b.login('throttle@athena.test', 'wrong password!!');
    const locked = await b.login('throttle@athena.test', 'wrong password!!');
    expect(locked.statusCode).toBe(429);
    expect(locked.body).toMatch(/Too many failed attempts\. Try again in \d+ seconds/);
    // another IP is not locked out by this pair
    const other = await web.app.inject({ method: 'GET', url: '/login', headers: { host: HOSTS.ADMIN_HOST }, remoteAddress: '10.9.9.9' });
    expect(other.statusCode).toBe(200);
  });
});

describe('CSRF', () => {
  it('refuses a state-changing request without a valid token (403), for forms and JSON alike', async () => {
    const b = new Browserless(web.app);
    await b.login(ADMIN.email, ADMIN.password);
    const noToken = await b.post(`/steps/default/${ids.pending}/cancel`, {});
    expect(noToken.statusCode).toBe(403);
    expect(noToken.body).toContain('invalid CSRF token');
    const badToken = await b.post(`/steps/default/${ids.pending}/cancel`, { _csrf: 'forged-token' });
    expect(badToken.statusCode).toBe(403);
    const json = await b.postJson('/api/sql', { query: 'select 1' });
    expect(json.statusCode).toBe(403);
    expect(JSON.parse(json.body).error).toMatch(/CSRF/);
    const row = await ctx.db('steps').where({ id: ids.pending }).first('state');
    expect(row.state).toBe('pending');
    // a login form without the token is refused too
    const anon = new Browserless(web.app);
    const login = await anon.post('/login', { email: ADMIN.email, password: ADMIN.password });
    expect(login.statusCode).toBe(403);
  });
});

describe('roles', () => {
  it('lets a viewer read pages but not retry a step, run a write command, pause dispatch or use SQL', async () => {
    const b = new Browserless(web.app);
    expect((await b.login(VIEWER.email, VIEWER.password)).statusCode).toBe(303);
    expect((await b.get('/dashboard')).statusCode).toBe(200);
    expect((await b.get(`/steps/default/${ids.childFailed}`)).body).toContain('Retry and cancel need the admin role');
    const token = await b.csrf('/dashboard');
    const retry = await b.post(`/steps/default/${ids.childFailed}/retry`, { _csrf: token });
    expect(retry.statusCode).toBe(403);
    expect((await ctx.db('steps').where({ id: ids.childFailed }).first('state')).state).toBe('failed');
    const write = await b.post('/commands/kraite:account-remove', { _csrf: token, 'arg.id': '1' });
    expect(write.statusCode).toBe(403);
    expect(JSON.parse(write.body).error).toMatch(/viewer role may run read-only commands only/);
    expect((await b.post('/steps/default/pause', { _csrf: token })).statusCode).toBe(403);
    expect((await b.get('/sql')).statusCode).toBe(403);
    const readOnly = await b.post('/commands/kraite:account-list', { _csrf: token, 'flag.json': 'on' });
    expect(readOnly.statusCode).toBe(303);
    const runId = Number(/\/runs\/(\d+)/.exec(String(readOnly.headers.location))![1]);
    const run = await waitForRun(b, runId);
    expect(run.status).toBe('succeeded');
  });
});

describe('commands runner', () => {
  it('rejects commands that are not allow-listed, even for admins', async () => {
    const b = new Browserless(web.app);
    await b.login(ADMIN.email, ADMIN.password);
    const token = await b.csrf('/commands');
    for (const id of ['key:generate', 'migrate:fresh', 'user:create', 'db:seed', 'web', 'nonexistent:thing']) {
      const r = await b.post(`/commands/${id}`, { _csrf: token });
      expect(r.statusCode, id).toBe(403);
      expect(JSON.parse(r.body).error).toBe(`${id} is not an allow-listed command.`);
    }
    const list = await b.get('/commands');
    expect(list.body).toContain('kraite:account-list');
    expect(list.body).not.toContain('key:generate');
    const audit = await ctx.db('audit_log').where({ action: 'command.refused' }).count({ n: '*' }).first();
    expect(Number(audit!.n)).toBeGreaterThanOrEqual(6);
  });

  it('passes shell metacharacters to the command as literal text (no shell)', async () => {
    const b = new Browserless(web.app);
    await b.login(ADMIN.email, ADMIN.password);
    const token = await b.csrf('/commands/kraite:account-add');
    const marker = path.join(os.tmpdir(), `athena-pwned-${process.pid}-${Date.now()}`);
    const name = `x"; touch ${marker}; $(touch ${marker}) \`touch ${marker}\` | cat && echo '&' > /dev/null`.slice(0, 100);
    const res = await b.post('/commands/kraite:account-add', { _csrf: token, 'flag.name': name, 'flag.api-key': 'A'.repeat(32), 'flag.api-secret': 'B'.repeat(32) });
    expect(res.statusCode).toBe(303);
    const runId = Number(/\/runs\/(\d+)/.exec(String(res.headers.location))![1]);
    const run = await waitForRun(b, runId);
    expect(run.status, String(run.output)).toBe('succeeded');
    const row = await ctx.db('accounts').where({ name }).first('name');
    expect(row?.name).toBe(name);
    expect(fs.existsSync(marker)).toBe(false);
    // the secret flag values are masked in history and audit, never stored
    expect(JSON.stringify(run.args)).toContain('--api-secret=****');
    expect(JSON.stringify(run.args)).not.toContain('BBBBBBBB');
    const audit = (await ctx.db('audit_log').where({ action: 'command.run' }).orderBy('id', 'desc').first('details')) as { details: string };
    expect(audit.details).not.toContain('BBBBBBBB');
  });

  it('refuses unknown flag values and options outside the declared set', async () => {
    const b = new Browserless(web.app);
    await b.login(ADMIN.email, ADMIN.password);
    const token = await b.csrf('/commands/kraite:account-add');
    const r = await b.post('/commands/kraite:account-add', { _csrf: token, 'flag.name': 'x', 'flag.api-key': 'A'.repeat(20) });
    expect(r.statusCode).toBe(422);
    expect(r.body).toContain('--api-secret is required.');
  });
});

describe('maintenance', () => {
  it('answers 503 on the public vhosts while down, keeps the admin and /up reachable, and honours the bypass secret', async () => {
    await web.redis.set(`${ctx.prefix}:app:down`, JSON.stringify({ since: new Date().toISOString(), retry: 90, secret: 'let-me-in' }));
    await new Promise((r) => setTimeout(r, 1100)); // the flag is cached for 1 s
    try {
      const mk = await web.app.inject({ method: 'GET', url: '/', headers: { host: HOSTS.MARKETING_HOST } });
      expect(mk.statusCode).toBe(503);
      expect(mk.headers['retry-after']).toBe('90');
      expect(mk.body).toContain('Down for maintenance');
      expect((await web.app.inject({ method: 'GET', url: '/contracts', headers: { host: HOSTS.DOCS_HOST } })).statusCode).toBe(503);
      expect((await web.app.inject({ method: 'GET', url: '/up', headers: { host: HOSTS.DOCS_HOST } })).statusCode).toBe(200);
      expect((await web.app.inject({ method: 'GET', url: '/login', headers: { host: HOSTS.ADMIN_HOST } })).statusCode).toBe(200);
      const bypass = await web.app.inject({ method: 'GET', url: '/let-me-in', headers: { host: HOSTS.MARKETING_HOST } });
      expect(bypass.statusCode).toBe(302);
      const cookie = bypass.cookies[0]!;
      expect(cookie.value).not.toContain('let-me-in');
      const through = await web.app.inject({ method: 'GET', url: '/', headers: { host: HOSTS.MARKETING_HOST, cookie: `${cookie.name}=${cookie.value}` } });
      expect(through.statusCode).toBe(200);
    } finally {
      await web.redis.del(`${ctx.prefix}:app:down`);
    }
  });
});
