/**
 * The Schedule page against the real scheduler: the task list is `schedule:list --json` (a child process
 * loading a test schedule through SCHEDULE_MODULE), joined by task id with the runs schedule:run recorded
 * in schedule_runs; pause and resume write the kernel's own flag.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, createTestContext, type TestContext } from '../support/context.js';
import { finishRun, startRun } from '../../src/db/repositories/schedule.js';
import { seedUser } from './support/fixtures.js';
import { buildTestWeb, Browserless, type TestWeb } from './support/web.js';

let ctx: TestContext;
let web: TestWeb;

beforeAll(async () => {
  ctx = await createTestContext('web-schedule');
  const now = Date.now();
  // two runs of the sub-minute task as schedule:run records them: one ok, one failed
  for (const [i, exit] of [0, 3].entries()) {
    const started = new Date(now - (120 - i * 60) * 1000);
    const id = await startRun(ctx.db, { task_id: 'ticker', command: 'ticker', slot: new Date(Math.floor(started.getTime() / 60_000) * 60_000), host: 'athena', pid: 100 + i, started_at: started });
    await finishRun(ctx.db, id, { finished_at: new Date(started.getTime() + 40), exit_code: exit, output: exit ? 'tick\nError: boom' : 'tick' });
  }
  // a task that ran once but is no longer in the schedule
  const old = await startRun(ctx.db, { task_id: 'kraite:retired-task', command: 'kraite:retired-task', slot: new Date(now - 3600_000), host: 'athena', pid: 9, started_at: new Date(now - 3600_000) });
  await finishRun(ctx.db, old, { finished_at: new Date(now - 3599_000), exit_code: 0, output: '' });
  await seedUser(ctx.db, 'admin@athena.test', 'admin', 'correct horse battery staple');
  web = await buildTestWeb(ctx, { SCHEDULE_MODULE: path.join(ROOT, 'test/fixtures/schedules/listing.mjs') });
}, 60_000);

afterAll(async () => {
  await web?.close();
  await ctx?.cleanup();
});

describe('schedule page', () => {
  it('lists the registered tasks from schedule:list --json with their 24 h runs, and tasks that only have history', async () => {
    const b = new Browserless(web.app);
    await b.login('admin@athena.test', 'correct horse battery staple');
    const page = await b.get('/schedule');
    expect(page.statusCode).toBe(200);
    const row = (id: string) => new RegExp(`<tr><td><code>${id.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}</code>[\\s\\S]*?</tr>`).exec(page.body)?.[0] ?? '';
    const ticker = row('ticker');
    expect(ticker).toContain('<code>* * * * *</code>');
    expect(ticker).toContain('every 10 s');
    expect(ticker).toMatch(/<td class="num bad">1 \/ 2<\/td>/); // 1 failure out of 2 runs
    expect(ticker).toContain('>failed<'); // the last run
    const archive = row('steps:archive --duration=1');
    expect(archive).toContain('<code>0 4 * * *</code>');
    expect(archive).toContain('overlap 120m, background, tz Europe/London');
    expect(row('exec /bin/true')).toContain('env production');
    expect(page.body).toContain('kraite:retired-task</code><br><span class="small">not registered on this box now</span>');
    // history, filtered to failures
    const failures = await b.get('/schedule?task=ticker&failed=1');
    expect(failures.body).toContain('Error: boom');
    expect(failures.body.match(/<td><code>ticker<\/code>/g)?.length).toBe(2); // the task row + one failed run
  }, 30_000);

  it('pauses and resumes the schedule through the kernel flag that schedule:run reads', async () => {
    const b = new Browserless(web.app);
    await b.login('admin@athena.test', 'correct horse battery staple');
    const token = await b.csrf('/schedule');
    expect((await b.post('/schedule/pause', { _csrf: token, reason: 'database work' })).statusCode).toBe(303);
    const flag = JSON.parse((await ctx.redis.get(`${ctx.prefix}:schedule:paused`))!);
    expect(flag).toMatchObject({ reason: 'database work (by admin@athena.test)', host: web.config.hostname });
    expect(Number.isNaN(Date.parse(flag.since))).toBe(false);
    expect((await b.get('/schedule')).body).toContain('The schedule is paused: database work (by admin@athena.test)');
    expect((await b.post('/schedule/resume', { _csrf: token })).statusCode).toBe(303);
    expect(await ctx.redis.exists(`${ctx.prefix}:schedule:paused`)).toBe(0);
    const audit = await ctx.db('audit_log').whereIn('action', ['schedule.pause', 'schedule.resume']).orderBy('id');
    expect(audit.map((a: { action: string }) => a.action)).toEqual(['schedule.pause', 'schedule.resume']);
  }, 30_000);
});
