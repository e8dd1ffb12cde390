/**
 * Retry and cancel from the admin UI. Until the dispatcher (issue 4) is merged, the web uses its own
 * minimal conditional UPDATEs (src/db/repositories/step-actions.ts) on the contract tables, which the
 * fixture creates from the reference schema. When steps:retry / steps:cancel exist, the web runs them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { cancelStep, retryStep } from '../../src/db/repositories/step-actions.js';
import { toDate } from '../../src/support/sql-values.js';
import { insertStep, seedSteps, seedUser } from './support/fixtures.js';
import { buildTestWeb, Browserless, type TestWeb } from './support/web.js';

let ctx: TestContext;
let ids: Record<string, number>;
const now = new Date();

beforeAll(async () => {
  ctx = await createTestContext('web-step-actions');
  ids = await seedSteps(ctx.db, '', now);
  await seedSteps(ctx.db, 'trading_', now);
});

afterAll(async () => {
  await ctx?.cleanup();
});

describe('conditional transitions', () => {
  it('retries a failed leaf step: back to pending with retries, timings, host and error cleared', async () => {
    const r = await retryStep(ctx.db, '', ids.childFailed!, now);
    expect(r).toEqual({ ok: true, from: 'failed', to: 'pending', previousError: 'Binance -2021: Order would immediately trigger.' });
    const row = await ctx.db('steps').where({ id: ids.childFailed }).first();
    expect(row).toMatchObject({ state: 'pending', retries: 0, error_message: null, error_stack_trace: null, hostname: null, started_at: null, completed_at: null });
    expect(Number(row.duration)).toBe(0);
  });

  it('refuses to retry what is not failed, stopped or cancelled, and parents', async () => {
    expect(await retryStep(ctx.db, '', ids.running!, now)).toEqual({ ok: false, code: 'conflict', message: `Step ${ids.running} is running; only failed, stopped, cancelled steps can be retried.` });
    await ctx.db('steps').where({ id: ids.parent }).update({ state: 'failed' });
    expect(await retryStep(ctx.db, '', ids.parent!, now)).toMatchObject({ ok: false, message: `Step ${ids.parent} is a parent; retry its failed child steps instead.` });
    expect(await retryStep(ctx.db, '', 999_999, now)).toEqual({ ok: false, code: 'not-found', message: 'Step 999999 does not exist in steps.' });
  });

  it('cancels pending, dispatched and not-runnable steps only; a running step belongs to its worker', async () => {
    expect(await cancelStep(ctx.db, '', ids.pending!, now)).toMatchObject({ ok: true, from: 'pending', to: 'cancelled' });
    expect(await cancelStep(ctx.db, '', ids.running!, now)).toMatchObject({ ok: false, code: 'conflict' });
    const nr = await insertStep(ctx.db, '', { state: 'not-runnable', type: 'resolve-exception' }, now);
    await cancelStep(ctx.db, '', nr, now);
    const row = await ctx.db('steps').where({ id: nr }).first();
    expect(row.state).toBe('cancelled');
    expect(toDate(row.completed_at)?.getTime()).toBe(now.getTime());
  });

  it('lets exactly one of two concurrent cancels win', async () => {
    const id = await insertStep(ctx.db, 'trading_', { state: 'dispatched' }, now);
    const results = await Promise.all([cancelStep(ctx.db, 'trading_', id, now), cancelStep(ctx.db, 'trading_', id, now)]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect((await ctx.db('trading_steps').where({ id }).first()).state).toBe('cancelled');
  });
});

describe('from the step browser', () => {
  let web: TestWeb;
  beforeAll(async () => {
    await seedUser(ctx.db, 'admin@athena.test', 'admin', 'correct horse battery staple');
    web = await buildTestWeb(ctx);
  });
  afterAll(async () => {
    await web?.close();
  });

  it('retries and cancels with CSRF, flashes the outcome and audits it with the previous error', async () => {
    const b = new Browserless(web.app);
    await b.login('admin@athena.test', 'correct horse battery staple');
    const id = await insertStep(ctx.db, 'trading_', { state: 'failed', error_message: 'timeout talking to Binance' }, now);
    const page = await b.get(`/steps/trading/${id}`);
    expect(page.body).toContain(`action="/steps/trading/${id}/retry"`);
    const token = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
    const res = await b.post(`/steps/trading/${id}/retry`, { _csrf: token });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe(`/steps/trading/${id}`);
    const after = await b.get(`/steps/trading/${id}`);
    expect(after.body).toContain(`Step ${id}: failed → pending.`);
    expect((await ctx.db('trading_steps').where({ id }).first()).state).toBe('pending');
    const cancel = await b.post(`/steps/trading/${id}/cancel`, { _csrf: token });
    expect(cancel.statusCode).toBe(303);
    expect((await ctx.db('trading_steps').where({ id }).first()).state).toBe('cancelled');
    const audit = await ctx.db('audit_log').whereIn('action', ['step.retry', 'step.cancel']).orderBy('id');
    expect(audit.map((a: { action: string; target: string }) => [a.action, a.target])).toEqual([
      ['step.retry', `trading:${id}`],
      ['step.cancel', `trading:${id}`],
    ]);
    expect(JSON.parse(audit[0].details).previous_error).toBe('timeout talking to Binance');
    // a conflicting action is refused with the reason
    const again = await b.post(`/steps/trading/${id}/cancel`, { _csrf: token }, { accept: 'application/json' });
    expect(again.statusCode).toBe(409);
    expect(JSON.parse(again.body).message).toBe(`Step ${id} is cancelled; only pending, dispatched, not-runnable steps can be cancelled.`);
  });

  it('pauses and resumes dispatch for one set through the contract flag', async () => {
    const b = new Browserless(web.app);
    await b.login('admin@athena.test', 'correct horse battery staple');
    const token = await b.csrf('/steps?set=trading');
    expect((await b.post('/steps/trading/pause', { _csrf: token, ttl: '900' })).statusCode).toBe(303);
    const flag = JSON.parse((await ctx.redis.get(`${ctx.prefix}:steps:paused:trading`))!);
    expect(flag).toMatchObject({ prefix: 'trading_', expires_in_seconds: 900, reason: 'admin toggle (trading) by admin@athena.test' });
    expect(await ctx.redis.ttl(`${ctx.prefix}:steps:paused:trading`)).toBeGreaterThan(890);
    expect(await ctx.redis.exists(`${ctx.prefix}:steps:paused:default`)).toBe(0);
    expect((await b.get('/steps?set=trading')).body).toContain('Dispatch is paused for <strong>trading</strong>');
    expect((await b.post('/steps/trading/resume', { _csrf: token })).statusCode).toBe(303);
    expect(await ctx.redis.exists(`${ctx.prefix}:steps:paused:trading`)).toBe(0);
  });
});
