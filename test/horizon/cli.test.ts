/** The horizon and queue:* commands as operators run them: --json documents, bad input, exit codes. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { artisan } from '../support/artisan.js';
import { recordFailedJob } from '../../src/db/repositories/failed-jobs.js';
import { horizonKeys } from '../../src/horizon/keys.js';
import { queueFactory } from './helpers.js';
import type { QueueFactory } from '../../src/queue/queues.js';

let ctx: TestContext;
let queues: QueueFactory;

beforeAll(async () => {
  ctx = await createTestContext('horizon-cli', { env: { SERVER_ROLE: 'ingestion' } });
  queues = queueFactory(ctx);
});
afterAll(async () => {
  await queues?.close();
  await ctx?.cleanup();
});

describe('horizon commands', () => {
  it('status, supervisors and snapshot print one JSON document when nothing runs', async () => {
    const st = await artisan(['horizon:status', '--json'], ctx.env);
    expect(st.exitCode).toBe(0);
    expect(JSON.parse(st.stdout)).toEqual({ status: 'inactive', masters: [] });
    const sv = await artisan(['horizon:supervisors', '--json'], ctx.env);
    expect(JSON.parse(sv.stdout)).toEqual({ supervisors: [] });
    expect((await artisan(['horizon:status'], ctx.env)).stdout).toContain('inactive');
    await ctx.redis.rpush(horizonKeys(ctx.prefix).samples(), 'default|Job|12|3|1');
    const snap = await artisan(['horizon:snapshot', '--json'], ctx.env);
    expect(snap.exitCode).toBe(0);
    expect(JSON.parse(snap.stdout).queues.default).toMatchObject({ jobs: 1, runtime_p50_ms: 12 });
  });

  it('horizon:clear empties a configured queue and refuses an unknown one', async () => {
    const q = await queues.queue('user-data-stream-1');
    await q.addBulk([{ name: 'ProcessUserDataEvent', data: { a: 1 } }, { name: 'ProcessUserDataEvent', data: { a: 2 } }]);
    const r = await artisan(['horizon:clear', '--queue=user-data-stream-1', '--json'], ctx.env);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ queue: 'user-data-stream-1', cleared: 2 });
    expect((await q.getJobCounts('wait')).wait).toBe(0);
    const bad = await artisan(['horizon:clear', '--queue=nope'], ctx.env);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('Unknown queue "nope"');
    expect((await artisan(['horizon:clear'], ctx.env)).exitCode).toBe(2);
  });

  it('horizon refuses a bad HORIZON_CONFIG with a clear message', async () => {
    const file = path.join(os.tmpdir(), `athena-bad-horizon-${ctx.prefix}.json`);
    fs.writeFileSync(file, JSON.stringify({ supervisors: [{ name: 'x', kind: 'queues', queues: ['ok'], processes: -1 }] }));
    const r = await artisan(['horizon'], { ...ctx.env, HORIZON_CONFIG: file });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('processes must be a non-negative integer');
    const web = await artisan(['horizon'], { ...ctx.env, SERVER_ROLE: 'web' });
    expect(web.exitCode).toBe(1);
    expect(web.stderr).toContain('runs no horizon supervisors');
  });

  it('pause/continue/terminate write the command lists', async () => {
    const k = horizonKeys(ctx.prefix);
    expect((await artisan(['horizon:pause', '--host=box-a'], ctx.env)).exitCode).toBe(0);
    expect(JSON.parse((await ctx.redis.lrange(k.commands('box-a'), 0, -1))[0]!)).toMatchObject({ command: 'pause' });
    expect((await artisan(['horizon:continue'], ctx.env)).exitCode).toBe(0);
    expect(JSON.parse((await ctx.redis.lrange(k.broadcast(), -1, -1))[0]!)).toMatchObject({ command: 'continue', seq: 1 });
    const t = await artisan(['horizon:terminate', '--wait', '--json'], ctx.env);
    expect(t.exitCode).toBe(0);
    expect(JSON.parse(t.stdout)).toEqual({ sent: 'terminate', host: '*', masters: [], waited: true });
  });
});

describe('queue:failed / retry / forget / flush', () => {
  it('lists, forgets and flushes failed jobs, and rejects bad ids', async () => {
    const a = await recordFailedJob(ctx.db, { queue: 'default', name: 'StepA', jobId: '1', payload: { x: 1 }, exception: 'Error: boom\n at x', failedAt: new Date('2026-11-27T10:00:00Z') });
    await recordFailedJob(ctx.db, { queue: 'orders', name: 'StepB', jobId: '2', payload: { y: 2 }, exception: 'Error: bang', failedAt: new Date('2026-11-27T11:00:00Z') });
    const list = await artisan(['queue:failed', '--json'], ctx.env);
    expect(list.exitCode).toBe(0);
    const doc = JSON.parse(list.stdout);
    expect(doc.total).toBe(2);
    expect(doc.jobs.map((j: { name: string }) => j.name)).toEqual(['StepB', 'StepA']);
    expect(doc.jobs[1]).toMatchObject({ uuid: a, queue: 'default', payload: { x: 1 }, failed_at: '2026-11-27T10:00:00.000Z' });
    expect((await artisan(['queue:failed', '--queue=orders', '--json'], ctx.env)).stdout).toContain('StepB');
    expect((await artisan(['queue:failed'], ctx.env)).stdout).toContain('boom');

    const bad = await artisan(['queue:forget', 'x;drop'], ctx.env);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('is not a failed job id');
    const unknown = await artisan(['queue:forget', '999999'], ctx.env);
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toContain('No failed job with id "999999"');
    expect((await artisan(['queue:retry'], ctx.env)).exitCode).toBe(2);

    const f = await artisan(['queue:forget', a, '--json'], ctx.env);
    expect(JSON.parse(f.stdout)).toEqual({ forgotten: a });
    const flush = await artisan(['queue:flush', '--json'], ctx.env);
    expect(JSON.parse(flush.stdout)).toEqual({ flushed: 1 });
    expect((await artisan(['queue:failed'], ctx.env)).stdout).toContain('No failed jobs');
  });

  it('queue:retry all puts every failed job back on its queue, oldest first', async () => {
    await recordFailedJob(ctx.db, { queue: 'hz-r', name: 'One', jobId: null, payload: { n: 1 }, exception: 'e', failedAt: new Date('2026-11-27T10:00:00Z') });
    await recordFailedJob(ctx.db, { queue: 'hz-r', name: 'Two', jobId: null, payload: { n: 2 }, exception: 'e', failedAt: new Date('2026-11-27T10:01:00Z') });
    const r = await artisan(['queue:retry', 'all', '--json'], ctx.env);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout).retried.map((x: { name: string }) => x.name)).toEqual(['One', 'Two']);
    const jobs = await (await queues.queue('hz-r')).getJobs(['wait'], 0, -1, true);
    expect(jobs.map((j) => j.data.n)).toEqual([1, 2]);
    expect(JSON.parse((await artisan(['queue:failed', '--json'], ctx.env)).stdout).total).toBe(0);
  });
});
