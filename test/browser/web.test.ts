/**
 * Browser tests: Debian's Chromium (headless, driven by playwright-core) against the real `web` server
 * (bin/artisan web, a child process on a free port) with seeded data. Screenshots of every page go to
 * test-results/browser/ (gitignored).
 *
 * The data is seeded into the real tables of the merged parts (steps, schedule_runs, api_snapshots; see
 * test/web/support/fixtures.ts); step retry and cancel run the dispatcher's own operator code.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ARTISAN, ROOT, createTestContext, type TestContext } from '../support/context.js';
import { childEnv } from '../support/artisan.js';
import { seedDemo } from '../../src/db/seed/demo.js';
import { requireKey } from '../../src/crypto/secrets.js';
import { readManifest } from '../../src/launcher/manifest.js';
import { writeHeartbeat } from '../../src/support/heartbeat.js';
import { QueueFactory } from '../../src/queue/queues.js';
import { newTotpSecret, totpCode } from '../../src/web/auth/totp.js';
import { HOSTS } from '../web/support/web.js';
import { enableUserTotp, seedDriftSnapshots, seedFleet, seedNotifications, seedScheduleRuns, seedSteps, seedUser } from '../web/support/fixtures.js';
import { describeOnce } from '../support/passes.js';

const SHOTS = path.join(ROOT, 'test-results', 'browser');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ADMIN = { email: 'admin@athena.test', password: 'correct horse battery staple' };
const TWOFA = { email: 'twofa@athena.test', password: 'second factor password' };
const totpSecret = newTotpSecret();

let ctx: TestContext;
let server: ResultPromise | null = null;
let serverLog = '';
let port = 0;
let browser: BrowserContext;
let ids: Record<string, number>;
let blockUuid: string;
let driftSymbol: string;
const consoleErrors: string[] = [];

const admin = (p: string) => `http://${HOSTS.ADMIN_HOST}:${port}${p}`;
const docs = (p: string) => `http://${HOSTS.DOCS_HOST}:${port}${p}`;
const marketing = (p: string) => `http://${HOSTS.MARKETING_HOST}:${port}${p}`;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

async function newPage(): Promise<Page> {
  const page = await browser.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`${page.url()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`${page.url()}: ${e.message}`));
  page.on('dialog', (d) => void d.accept());
  return page;
}

async function login(page: Page, email: string, password: string): Promise<void> {
  await page.goto(admin('/login'));
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForLoadState('domcontentloaded'), page.click('button[type=submit]')]);
}

beforeAll(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  ctx = await createTestContext('browser');
  const now = new Date();
  await seedDemo(ctx.db, requireKey(ctx.config.appKey), { now: new Date(now.getTime() - 7200_000) });
  ids = await seedSteps(ctx.db, '', now);
  await seedSteps(ctx.db, 'trading_', now);
  blockUuid = (await ctx.db('steps').where({ id: ids.childFailed }).first('block_uuid')).block_uuid;
  await seedScheduleRuns(ctx.db, now);
  await seedNotifications(ctx.db, now);
  await seedFleet(ctx.redis, ctx.prefix, now);
  ({ driftSymbol } = await seedDriftSnapshots(ctx.db, 1, now));
  const sets = { default: { active: true, paused: false, last_tick_at: now.toISOString() }, trading: { active: true, paused: false, last_tick_at: now.toISOString() } };
  await writeHeartbeat(ctx.redis, ctx.prefix, { daemon: 'dispatch-daemon', host: 'athena', pid: 1, started_at: now.toISOString(), at: now.toISOString(), status: 'running', last_cycle_at: now.toISOString(), ticks_per_sec: 20, dispatched_per_min: 120, sets }, 600);
  const queues = new QueueFactory({ prefix: ctx.prefix, connection: ctx.redis });
  await (await queues.queue('positions')).add('OpenPositionJob', { stepId: 1, prefix: '' }, { jobId: 'step:1:0' });
  await queues.close();
  await seedUser(ctx.db, ADMIN.email, 'admin', ADMIN.password);
  const twofa = await seedUser(ctx.db, TWOFA.email, 'admin', TWOFA.password);
  await enableUserTotp(ctx.db, requireKey(ctx.config.appKey), twofa, totpSecret);

  port = await freePort();
  const env = childEnv({ ...ctx.env, ...HOSTS, WEB_SQL_TIMEOUT_MS: '1500', LOG_LEVEL: 'warn' });
  server = execa('node', [ARTISAN, 'web', `--port=${port}`, '--host=127.0.0.1'], { cwd: ROOT, env, extendEnv: false, reject: false, all: true, buffer: false });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`web did not start:\n${serverLog}`)), 30_000);
    server!.all!.on('data', (d: Buffer) => {
      serverLog += d.toString();
      if (serverLog.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void server!.then((r) => reject(new Error(`web exited ${r.exitCode}:\n${serverLog}`)));
  });

  browser = await launchProfile(true);
}, 120_000);

const profiles: string[] = [];

/** A headless Chromium on a fresh --user-data-dir; every host name resolves to this machine. */
async function launchProfile(javaScriptEnabled: boolean): Promise<BrowserContext> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'athena-chromium-'));
  profiles.push(dir);
  return chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: true,
    javaScriptEnabled,
    viewport: { width: 1400, height: 900 },
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP * 127.0.0.1'],
  });
}

afterAll(async () => {
  await browser?.close();
  for (const dir of profiles) fs.rmSync(dir, { recursive: true, force: true });
  if (server?.pid) {
    server.kill('SIGTERM');
    const r = await server;
    expect(r.exitCode, serverLog).toBe(0); // graceful shutdown
  }
  await ctx?.cleanup();
});

describeOnce('login', () => {
  it('refuses a bad password', async () => {
    const page = await newPage();
    await login(page, ADMIN.email, 'not the password');
    expect(await page.locator('.flash-error').innerText()).toBe('These credentials do not match an operator account.');
    expect(new URL(page.url()).pathname).toBe('/login');
    await shot(page, '01-login-bad-password');
    await page.close();
  });

  it('locks an e-mail out after 5 failures, even with the right password', async () => {
    await seedUser(ctx.db, 'locked@athena.test', 'viewer', 'the right password');
    const page = await newPage();
    for (let i = 0; i < 5; i++) await login(page, 'locked@athena.test', `wrong ${i} password`);
    await login(page, 'locked@athena.test', 'the right password');
    expect(await page.locator('.flash-error').innerText()).toMatch(/^Too many failed attempts\. Try again in \d+ seconds\.$/);
    await shot(page, '02-login-throttled');
    await page.close();
  });

  it('asks for the TOTP code when 2FA is on, refuses a wrong one and accepts the right one', async () => {
    const page = await newPage();
    await login(page, TWOFA.email, TWOFA.password);
    expect(new URL(page.url()).pathname).toBe('/login/2fa');
    await shot(page, '03-login-2fa');
    await page.fill('input[name=code]', '000000');
    await Promise.all([page.waitForLoadState('domcontentloaded'), page.click('button[type=submit].primary')]);
    expect(await page.locator('.flash-error').innerText()).toBe('That code is not valid.');
    await page.fill('input[name=code]', totpCode(totpSecret, Date.now()));
    await Promise.all([page.waitForURL(admin('/dashboard')), page.click('button[type=submit].primary')]);
    expect(await page.locator('h1').innerText()).toBe('Dashboard');
    await page.close();
  });
});

describeOnce('admin pages', () => {
  let page: Page;

  beforeAll(async () => {
    await browser.clearCookies(); // the 2FA test left a session
    page = await newPage();
    await login(page, ADMIN.email, ADMIN.password);
    expect(new URL(page.url()).pathname).toBe('/dashboard');
  });

  afterAll(async () => {
    await page.close();
  });

  it('renders every admin page without errors', async () => {
    consoleErrors.length = 0; // the login tests above answer 401/429 on purpose
    const pages: Array<[string, string, string]> = [
      ['/dashboard', 'Dashboard', 'dashboard'],
      ['/steps', 'Steps · default', 'steps'],
      ['/steps?set=trading', 'Steps · trading', 'steps-trading'],
      [`/steps/blocks?set=default&class=PlaceTakeProfitJob&state=failed`, 'Blocks · failed', 'steps-blocks'],
      [`/steps/default/block/${blockUuid}`, 'Block', 'steps-block'],
      [`/steps/default/${ids.childFailed}`, `Step ${ids.childFailed}`, 'step-detail'],
      ['/queues', 'Queues', 'queues'],
      ['/schedule', 'Schedule', 'schedule'],
      ['/fleet', 'Fleet', 'fleet'],
      ['/drift', 'Accounts drift', 'drift'],
      ['/commands', 'Commands', 'commands'],
      ['/commands/kraite:account-list', 'kraite:account-list', 'command-form'],
      ['/runs', 'Command runs', 'runs'],
      ['/sql', 'SQL', 'sql'],
      ['/audit', 'Audit log', 'audit'],
    ];
    for (const [url, title, name] of pages) {
      const res = await page.goto(admin(url));
      expect(res?.status(), url).toBe(200);
      expect(await page.locator('h1').innerText(), url).toBe(title);
      await shot(page, `10-admin-${name}`);
    }
    expect(consoleErrors).toEqual([]); // includes CSP violations, which Chromium reports as console errors
  });

  it('shows honest states for parts that are not running, and the seeded data for the others', async () => {
    await page.goto(admin('/dashboard'));
    const text = await page.locator('main').innerText();
    expect(text).toContain('No Horizon master state in Redis.');
    expect(text).toContain('User-data stream: no heartbeat.');
    expect(text).toContain('Daemon on athena');
    await page.goto(admin('/fleet'));
    const fleet = await page.locator('main').innerText();
    expect(fleet).toMatch(/worker-1[^\n]*\tstale/);
    expect(fleet).toContain('Service kraite-horizon is FATAL');
  });

  it('updates the dashboard live over SSE, without reloading', async () => {
    await page.goto(admin('/dashboard'));
    await page.waitForFunction(() => document.querySelector('[data-live-status]')?.textContent === 'live');
    const first = await page.waitForFunction(() => document.body.getAttribute('data-snapshot-at'));
    const at = await first.jsonValue();
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    await page.waitForFunction((prev) => document.body.getAttribute('data-snapshot-at') !== prev, at, { timeout: 15_000 });
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42); // same document: no reload
    await shot(page, '11-dashboard-live');
  });

  it('runs steps:list --json from the runner with its output streaming in', async () => {
    expect(readManifest()!.commands['steps:list']?.readOnly).toBe(true);
    await page.goto(admin('/commands/steps:list'));
    await page.check('input[name="flag.json"]');
    await Promise.all([page.waitForURL(/\/runs\/\d+$/), page.click('button[type=submit].primary')]);
    const pre = page.locator('pre.terminal');
    await expect.poll(async () => pre.getAttribute('data-run-finished'), { timeout: 30_000 }).toBe('succeeded');
    const out = JSON.parse(await pre.innerText()) as { set: string; counts: Record<string, number>; steps: Array<{ id: number; state: string; class: string }> };
    expect(out.set).toBe('default');
    expect(out.counts).toMatchObject({ running: 2, completed: 2, failed: 1, cancelled: 1, pending: 2 });
    expect(out.steps.find((st) => st.id === ids.childFailed)).toMatchObject({ state: 'failed', class: 'PlaceTakeProfitJob' });
    expect(await page.locator('[data-run-status]').innerText()).toBe('succeeded');
    await shot(page, '12-command-run');
    const history = await page.goto(admin('/runs'));
    expect(history?.status()).toBe(200);
    expect(await page.locator('main').innerText()).toContain('steps:list');
  });

  it('SQL page: rejects DELETE, UPDATE, multiple statements, FOR UPDATE and a slow query; masks secrets; exports CSV', async () => {
    const run = async (sql: string) => {
      await page.goto(admin('/sql'));
      await page.fill('#sql-query', sql);
      await Promise.all([page.waitForLoadState('domcontentloaded'), page.click('button.primary')]);
    };
    const rejections: Array<[string, string]> = [
      ['DELETE FROM accounts', 'only SELECT, WITH or EXPLAIN queries are allowed (this one starts with DELETE)'],
      ["UPDATE accounts SET name = 'x'", 'this one starts with UPDATE'],
      ['SELECT 1; DELETE FROM accounts', 'only one statement is allowed'],
      ['SELECT * FROM accounts FOR UPDATE', 'row locks (FOR UPDATE) are not allowed'],
      ['WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000) SELECT count(*) FROM c a, c b, c d', 'longer than the 1.5 s statement timeout'],
    ];
    for (const [i, [sql, msg]] of rejections.entries()) {
      await run(sql);
      expect(await page.locator('.flash-error').innerText(), sql).toContain(msg);
      await shot(page, `13-sql-rejected-${i + 1}`);
    }
    expect(Number((await ctx.db('accounts').count({ n: '*' }).first())!.n)).toBe(3);

    await run('SELECT id, name, binance_api_key, binance_api_secret AS renamed FROM accounts ORDER BY id');
    const table = await page.locator('table.results').innerText();
    expect(table).toContain('Demo Alpha');
    expect(table).toContain('••••••');
    expect(table).not.toMatch(/v1:[A-Za-z0-9+/]/);
    expect(await page.locator('main').innerText()).toContain('6 secret value(s) hidden');
    await shot(page, '14-sql-masked');

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('button[formaction="/sql/csv"]')]);
    const file = await download.path();
    const csv = fs.readFileSync(file!, 'utf8');
    expect(csv.split('\r\n')[0]).toBe('id,name,binance_api_key,renamed');
    expect(csv).toContain('1,Demo Alpha,••••••,••••••');
  });

  it('retries a failed step and cancels a pending one', async () => {
    await page.goto(admin(`/steps/default/${ids.childFailed}`));
    await Promise.all([page.waitForLoadState('domcontentloaded'), page.click('button:has-text("Retry")')]);
    // the dispatcher's retry also revives the later sibling that the failure had cancelled
    expect(await page.locator('.flash-ok').innerText()).toBe(`Step ${ids.childFailed}: failed → pending (also revived ${ids.childCancelled}).`);
    expect((await ctx.db('steps').where({ id: ids.childFailed }).first('state')).state).toBe('pending');
    expect((await ctx.db('steps').where({ id: ids.childCancelled }).first('state')).state).toBe('pending');
    await shot(page, '15-step-retried');
    await page.goto(admin(`/steps/default/${ids.pending}`));
    await Promise.all([page.waitForLoadState('domcontentloaded'), page.click('button:has-text("Cancel")')]);
    expect(await page.locator('.flash-ok').innerText()).toBe(`Step ${ids.pending}: pending → cancelled.`);
    expect((await ctx.db('steps').where({ id: ids.pending }).first('state')).state).toBe('cancelled');
    await shot(page, '16-step-cancelled');
    await page.goto(admin('/audit'));
    const audit = await page.locator('main').innerText();
    expect(audit).toContain('step.retry');
    expect(audit).toContain('step.cancel');
  });

  it('shows the seeded drift on the accounts drift view', async () => {
    await page.goto(admin('/drift?account=1'));
    const card = page.locator('#account-1');
    const text = await card.innerText();
    expect(text).toContain('3 out of sync');
    expect(text).toContain(driftSymbol);
    expect(text).toMatch(/entry_price: local \S+ ≠ exchange \S+/);
    expect(text).toContain('manual-web-order');
    await shot(page, '17-drift');
    await page.goto(admin('/drift?account=1&only=drift'));
    await shot(page, '18-drift-only');
  });
});

describeOnce('docs and marketing', () => {
  it('docs search finds a command page', async () => {
    const page = await newPage();
    await page.goto(docs('/'));
    await shot(page, '20-docs-home');
    await page.fill('input[name=q]', 'account-list');
    await Promise.all([page.waitForURL(/\/search\?q=account-list/), page.press('input[name=q]', 'Enter')]);
    await shot(page, '21-docs-search');
    await Promise.all([page.waitForURL(docs('/commands/kraite:account-list')), page.click('ol.results a[href="/commands/kraite:account-list"]')]);
    expect(await page.locator('h1').innerText()).toBe('kraite:account-list');
    await shot(page, '22-docs-command');
    for (const slug of ['architecture', 'server', 'daemons', 'runbook', 'web']) {
      const r = await page.goto(docs(`/${slug}`));
      expect(r?.status(), slug).toBe(200);
      await shot(page, `23-docs-${slug}`);
    }
    await page.close();
  });

  it('the marketing site renders with JavaScript off', async () => {
    const noJs = await launchProfile(false);
    const page = await noJs.newPage();
    await page.goto(marketing('/'));
    expect(await page.locator('noscript, script').count()).toBe(0); // and the marketing site has none to run
    expect(await page.locator('h1').innerText()).toBe('Survive the cascade.');
    expect(await page.locator('.status-panel').innerText()).toContain('Market data (mark prices)');
    await shot(page, '30-marketing-home-nojs');
    for (const [p, h] of [
      ['/status', 'System status'],
      ['/privacy-policy', 'Privacy policy'],
      ['/terms-and-conditions', 'Terms and conditions'],
    ]) {
      await page.goto(marketing(p!));
      expect(await page.locator('h1').first().innerText()).toBe(h);
      await shot(page, `31-marketing${p!.replace(/\//g, '-')}`);
    }
    await page.close();
    await noJs.close();
  });
});
