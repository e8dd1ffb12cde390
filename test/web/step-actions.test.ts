/**
 * Retry and cancel from the admin UI go through the dispatcher's own operator code (src/steps/operator.ts,
 * the functions behind steps:retry / steps:cancel) on the real step tables of migration 0200: the same
 * state rules, the same revival of the siblings a failure cancelled, and a wake-up for the dispatch daemon.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { notifyStreamKey, parseNotifyEntries } from '../../src/steps/notify.js';
import { insertStep, seedSteps, seedUser } from './support/fixtures.js';
import { buildTestWeb, Browserless, type TestWeb } from './support/web.js';

let ctx: TestContext;
let web: TestWeb;
let ids: Record<string, number>;
const now = new Date();

beforeAll(async () => {
  ctx = await createTestContext('web-step-actions');
  ids = await seedSteps(ctx.db, '', now);
  await seedSteps(ctx.db, 'trading_', now);
  await seedUser(ctx.db, 'admin@athena.test', 'admin', 'correct horse battery staple');
  web = await buildTestWeb(ctx);
});

afterAll(async () => {
  await web?.close();
  await ctx?.cleanup();
});

async function loggedIn(): Promise<Browserless> {
  const b = new Browserless(web.app);
  await b.login('admin@athena.test', 'correct horse battery staple');
  return b;
}

async function wakeSignals(): Promise<Array<{ set: string; group: string | null; moved?: boolean }>> {
  const entries = (await ctx.redis.xrange(notifyStreamKey(ctx.prefix), '-', '+')) as Array<[string, string[]]>;
  return parseNotifyEntries(entries);
}

const stateOf = async (table: string, id: number) => ((await ctx.db(table).where({ id }).first('state')) as { state: string }).state;

describe('from the step browser', () => {
  it('retries and cancels with CSRF, flashes the outcome, audits it with the previous error and wakes the dispatcher', async () => {
    const b = await loggedIn();
    const id = await insertStep(ctx.db, 'trading_', { state: 'failed', group: 'delta', error_message: 'timeout talking to Binance', retries: 3, completed_at: now }, now);
    const page = await b.get(`/steps/trading/${id}`);
    expect(page.body).toContain(`action="/steps/trading/${id}/retry"`);
    expect(page.body).not.toContain(`action="/steps/trading/${id}/cancel"`); // a failed step cannot be cancelled
    const token = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
    await ctx.redis.del(notifyStreamKey(ctx.prefix));
    const res = await b.post(`/steps/trading/${id}/retry`, { _csrf: token });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe(`/steps/trading/${id}`);
    const after = await b.get(`/steps/trading/${id}`);
    expect(after.body).toContain(`Step ${id}: failed → pending.`);
    // revived with a fresh budget: retries, error and timings reset by the operator code
    const row = await ctx.db('trading_steps').where({ id }).first();
    expect(row).toMatchObject({ state: 'pending', error_message: null, completed_at: null });
    expect(Number(row.retries)).toBe(0);
    expect(await wakeSignals()).toEqual([{ set: 'trading', group: 'delta', due: 0, moved: true }]);

    const cancel = await b.post(`/steps/trading/${id}/cancel`, { _csrf: token });
    expect(cancel.statusCode).toBe(303);
    expect(await stateOf('trading_steps', id)).toBe('cancelled');
    expect((await b.get(`/steps/trading/${id}`)).body).toContain(`Step ${id}: pending → cancelled.`);

    const audit = await ctx.db('audit_log').whereIn('action', ['step.retry', 'step.cancel']).orderBy('id');
    expect(audit.map((a: { action: string; target: string }) => [a.action, a.target])).toEqual([
      ['step.retry', `trading:${id}`],
      ['step.cancel', `trading:${id}`],
    ]);
    expect(JSON.parse(audit[0].details)).toMatchObject({ ok: true, from: 'failed', to: 'pending', revived: [], previous_error: 'timeout talking to Binance' });

    // a conflicting action is refused with the operator code's reason
    const again = await b.post(`/steps/trading/${id}/cancel`, { _csrf: token }, { accept: 'application/json' });
    expect(again.statusCode).toBe(409);
    expect(JSON.parse(again.body)).toMatchObject({ ok: false, message: `Step ${id} is already cancelled.`, from: 'cancelled' });
    expect(await stateOf('trading_steps', id)).toBe('cancelled');
  });

  it('revives the later siblings a failed child cancelled, as steps:retry does', async () => {
    const b = await loggedIn();
    const token = await b.csrf(`/steps/default/${ids.childFailed}`);
    const res = await b.post(`/steps/default/${ids.childFailed}/retry`, { _csrf: token }, { accept: 'application/json' });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ ok: true, from: 'failed', to: 'pending', revived: [ids.childCancelled] });
    expect(JSON.parse(res.body).message).toBe(`Step ${ids.childFailed}: failed → pending (also revived ${ids.childCancelled}).`);
    expect(await stateOf('steps', ids.childFailed!)).toBe('pending');
    expect(await stateOf('steps', ids.childCancelled!)).toBe('pending');
    expect(await stateOf('steps', ids.parent!)).toBe('running'); // it was waiting for its children, not failed
  });

  it('refuses to cancel a running step and to retry a completed one, and changes nothing', async () => {
    const b = await loggedIn();
    const token = await b.csrf(`/steps/default/${ids.running}`);
    const page = await b.get(`/steps/default/${ids.running}`);
    expect(page.body).not.toContain(`action="/steps/default/${ids.running}/cancel"`);
    expect(page.body).toContain('A running step belongs to its worker');
    const cancel = await b.post(`/steps/default/${ids.running}/cancel`, { _csrf: token }, { accept: 'application/json' });
    expect(cancel.statusCode).toBe(409);
    expect(JSON.parse(cancel.body).message).toBe(`Step ${ids.running} is running and cannot be cancelled (the state machine has no running → cancelled); it will finish or fail.`);
    const retry = await b.post(`/steps/default/${ids.done}/retry`, { _csrf: token }, { accept: 'application/json' });
    expect(retry.statusCode).toBe(409);
    expect(JSON.parse(retry.body).message).toBe(`Step ${ids.done} already completed; there is nothing to retry.`);
    expect(await stateOf('steps', ids.running!)).toBe('running');
    expect(await stateOf('steps', ids.done!)).toBe('completed');
    const missing = await b.post('/steps/default/999999/retry', { _csrf: token }, { accept: 'application/json' });
    expect(missing.statusCode).toBe(409);
    expect(JSON.parse(missing.body).message).toBe('Step 999999 does not exist in steps.');
  });

  it('offers "Run now" only for a delayed pending step, and makes it due now', async () => {
    const b = await loggedIn();
    const delayed = await insertStep(ctx.db, '', { state: 'pending', dispatch_after: new Date(now.getTime() + 3600_000) }, now);
    const page = await b.get(`/steps/default/${delayed}`);
    expect(page.body).toContain('>Run now</button>');
    expect((await b.get(`/steps/default/${ids.pending}`)).body).not.toContain(`action="/steps/default/${ids.pending}/retry"`);
    const token = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
    expect((await b.post(`/steps/default/${delayed}/retry`, { _csrf: token })).statusCode).toBe(303);
    const row = await ctx.db('steps').where({ id: delayed }).first();
    expect(row.state).toBe('pending');
    expect(row.dispatch_after).toBeNull();
  });

  it('shows an archived step read-only, from the archive table', async () => {
    const b = await loggedIn();
    const row = await ctx.db('steps').where({ id: ids.done }).first();
    await ctx.db('steps_archive').insert(row);
    await ctx.db('steps').where({ id: ids.done }).delete();
    const page = await b.get(`/steps/default/${ids.done}`);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('This step was archived');
    expect(page.body).not.toContain(`action="/steps/default/${ids.done}/retry"`);
    expect((await b.get('/steps/default/987654')).statusCode).toBe(404);
  });

  it('pauses and resumes dispatch for one set through the contract flag', async () => {
    const b = await loggedIn();
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
