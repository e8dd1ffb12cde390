/**
 * `queue:work` on a user-data shard queue runs under the shard's horizon lease (src/horizon/shard-guard.ts), so it
 * is never a second consumer of a shard: refused while a horizon worker (or another queue:work) holds the lease,
 * works when it is free, renews it while it works, releases it on exit, waits for it with --wait-lease, stops
 * at once when the lease is lost, recovers a dead holder's in-flight job first and retries failures in place.
 * The real command, spawned; the recorder processor (loaded with --import) checks each account's order in SQL.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import { Worker } from 'bullmq';
import { ARTISAN, ROOT, createTestContext, type TestContext } from '../support/context.js';
import { artisan, childEnv } from '../support/artisan.js';
import { exitCode, killGroup, trackGroup } from '../support/process-groups.js';
import { horizonKeys } from '../../src/horizon/keys.js';
import { queuePrefix } from '../../src/redis/keys.js';
import type { QueueFactory } from '../../src/queue/queues.js';
import { count, createRecorderTables, queueFactory, RECORDER, resetRecorder, startHorizon, until, writeHorizonConfig, type RunningHorizon } from './helpers.js';

const HOST = 'qw-host';
let ctx: TestContext;
let queues: QueueFactory;
let env: Record<string, string>;
let horizon: RunningHorizon | null = null;
const running: Array<{ proc: ResultPromise; out: () => string }> = [];

const lease = (queue: string) => horizonKeys(ctx.config.redis.prefix).lease(queue);

beforeAll(async () => {
  ctx = await createTestContext('queue-work-shard');
  await createRecorderTables(ctx.db);
  queues = queueFactory(ctx);
  // A short lease (renewed every 250 ms) and quick in-place retries; the same file a horizon of this box reads.
  const cfg = writeHorizonConfig(ctx, 'qw', [{ name: 'user-data', only: true, processes: 1, leaseMs: 3000, retryAttempts: 1000, retryBackoffMs: 20 }]);
  env = { ...ctx.env, APP_HOSTNAME: HOST, HORIZON_CONFIG: cfg, LOG_LEVEL: 'info', NODE_OPTIONS: `--import=${RECORDER}` };
});
afterEach((t) => {
  if (t.task.result?.state !== 'fail') return;
  for (const r of running) process.stderr.write(`--- queue:work output (tail)\n${r.out().slice(-4000)}\n`);
  if (horizon) process.stderr.write(`--- horizon output (tail)\n${horizon.output().slice(-4000)}\n`);
});
afterAll(async () => {
  if (horizon) await horizon.stop();
  for (const r of running) if (r.proc.pid) killGroup(r.proc.pid);
  await queues?.close();
  await ctx?.cleanup();
});

/** A long-running queue:work (its own process group, killed at the end whatever happens). */
function spawnWork(args: string[], extra: Record<string, string> = {}): { proc: ResultPromise; out: () => string; exited: Promise<number> } {
  let out = '';
  const proc = execa('node', [ARTISAN, 'queue:work', ...args], { cwd: ROOT, env: childEnv({ ...env, ...extra }), extendEnv: false, reject: false, all: true, buffer: false, detached: true });
  if (proc.pid) trackGroup(proc.pid);
  proc.all?.on('data', (d: Buffer) => (out += d.toString()));
  const r = { proc, out: () => out, exited: exitCode(proc) };
  running.push(r);
  return r;
}

async function frames(queue: string, accountId: number, seqs: number[]): Promise<void> {
  const q = await queues.queue(queue);
  await q.addBulk(seqs.map((seq) => ({ name: 'ProcessUserDataEvent', data: { accountId, seq, payload: {}, receivedAt: Date.now(), apiSystem: 'binance' }, opts: { attempts: 5, backoff: { type: 'fixed', delay: 10_000 } } })));
}

async function applied(accountId: number): Promise<number[]> {
  return ((await ctx.db('hz_log').where('account_id', accountId).orderBy('id')) as Array<{ seq: number }>).map((r) => Number(r.seq));
}


describe('queue:work on a shard queue', () => {
  it('is refused while a horizon-style lease is held: exit 1 naming the holder, the shard untouched', async () => {
    await ctx.redis.set(lease('user-data-stream-1'), 'other-host|4242', 'PX', 60_000);
    await frames('user-data-stream-1', 1, [1, 2, 3]);
    const r = await artisan(['queue:work', '--queue=user-data-stream-1', '--stop-when-empty'], env);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toContain('user-data-stream-1 is a shard queue and its lease is held by other-host|4242');
    expect(r.stderr).toContain('--wait-lease');
    const json = await artisan(['queue:work', '--queue=user-data-stream-1', '--once', '--json'], env);
    expect(json.exitCode).toBe(1);
    expect(JSON.parse(json.stdout).error.message).toContain('held by other-host|4242');
    expect(await ctx.redis.get(lease('user-data-stream-1'))).toBe('other-host|4242');
    expect((await (await queues.queue('user-data-stream-1')).getJobCounts('wait', 'active')).wait).toBe(3);
    expect(await count(ctx.db, 'hz_log')).toBe(0);
  }, 60_000);

  it('works when the lease is free: holds it as <host>|<pid>, renews it, refuses a second queue:work, releases it on exit', async () => {
    await ctx.redis.del(lease('user-data-stream-1'));
    const w = spawnWork(['--queue=user-data-stream-1']);
    await until('queue:work holds the lease', async () => (await ctx.redis.get(lease('user-data-stream-1'))) === `${HOST}|${w.proc.pid}`, 30_000);
    await until('the waiting frames applied', async () => (await applied(1)).length === 3, 30_000);
    expect(await applied(1)).toEqual([1, 2, 3]);
    // Several lease TTLs later (3 s, renewed every 750 ms) it still holds it.
    await new Promise((r) => setTimeout(r, 7000));
    expect(await ctx.redis.get(lease('user-data-stream-1'))).toBe(`${HOST}|${w.proc.pid}`);
    expect(await ctx.redis.pttl(lease('user-data-stream-1'))).toBeGreaterThan(0);
    const second = await artisan(['queue:work', '--queue=user-data-stream-1', '--stop-when-empty'], env);
    expect(second.exitCode).toBe(1);
    expect(second.stderr).toContain(`held by ${HOST}|${w.proc.pid}`);
    await frames('user-data-stream-1', 1, [4, 5]);
    await until('the later frames applied', async () => (await applied(1)).length === 5, 30_000);
    w.proc.kill('SIGTERM');
    expect(await w.exited, w.out().slice(-3000)).toBe(0);
    expect(w.out()).toContain('shard lease released');
    expect(await ctx.redis.exists(lease('user-data-stream-1'))).toBe(0);
    expect(await count(ctx.db, 'hz_violations')).toBe(0);
  }, 90_000);

  it('--stop-when-empty --json reports the lease it held and releases it when it exits', async () => {
    await frames('user-data-stream-1', 1, [6, 7]);
    const r = await artisan(['queue:work', '--queue=user-data-stream-1', '--stop-when-empty', '--json'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ queue: 'user-data-stream-1', processed: 2, failed: 0, stoppedBy: 'empty', lease: { recovered: 0 } });
    expect(summary.lease.holder).toMatch(new RegExp(`^${HOST}\\|\\d+$`));
    expect(await ctx.redis.exists(lease('user-data-stream-1'))).toBe(0);
    expect(await applied(1)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  }, 60_000);

  it('puts a dead holder\'s in-flight job back at the head and runs it before the later frames', async () => {
    await frames('user-data-stream-4', 4, [1, 2, 3]);
    // A consumer that took frame 1 and died: the job stays in `active` under its lock.
    const conn = ctx.redis.duplicate({ maxRetriesPerRequest: null });
    const dead = new Worker('user-data-stream-4', null, { connection: conn, prefix: queuePrefix(ctx.config.redis.prefix), autorun: false });
    const job = await dead.getNextJob('dead-token');
    expect(job?.data.seq).toBe(1);
    await dead.close(true);
    conn.disconnect();
    const r = await artisan(['queue:work', '--queue=user-data-stream-4', '--stop-when-empty', '--json'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ processed: 3, lease: { recovered: 1 } });
    expect(await applied(4)).toEqual([1, 2, 3]);
  }, 60_000);

  it('retries a failing frame in place: the account\'s later frames wait, nothing is parked in delayed', async () => {
    await ctx.redis.set(`${ctx.prefix}:hztest:broken`, '1');
    await frames('user-data-stream-2', 2, [1, 2, 3]);
    const w = spawnWork(['--queue=user-data-stream-2']);
    await until('the first frame retried in place', () => w.out().includes('shard job failed; retrying in place'), 30_000);
    await new Promise((r) => setTimeout(r, 500));
    const counts = await (await queues.queue('user-data-stream-2')).getJobCounts('wait', 'active', 'delayed', 'failed');
    expect(counts).toMatchObject({ wait: 2, active: 1, delayed: 0, failed: 0 });
    expect(await applied(2)).toEqual([]);
    await ctx.redis.del(`${ctx.prefix}:hztest:broken`);
    await until('the frames applied once fixed', async () => (await applied(2)).length === 3, 30_000);
    expect(await applied(2)).toEqual([1, 2, 3]);
    w.proc.kill('SIGTERM');
    expect(await w.exited, w.out().slice(-3000)).toBe(0);
    expect(await count(ctx.db, 'hz_violations')).toBe(0);
  }, 90_000);

  it('stops at once and exits 1 when its lease is taken over, without touching the new holder\'s lease', async () => {
    const w = spawnWork(['--queue=user-data-stream-3']);
    await until('queue:work holds the lease', async () => (await ctx.redis.get(lease('user-data-stream-3'))) === `${HOST}|${w.proc.pid}`, 30_000);
    await ctx.redis.set(lease('user-data-stream-3'), 'thief|1', 'PX', 60_000);
    const t0 = Date.now();
    expect(await w.exited, w.out().slice(-3000)).toBe(1);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(w.out()).toContain('lost the lease of user-data-stream-3');
    expect(await ctx.redis.get(lease('user-data-stream-3'))).toBe('thief|1');
    await ctx.redis.del(lease('user-data-stream-3'));
  }, 60_000);

  it('refuses --concurrency > 1 on a shard and --wait-lease on a queue that is not one', async () => {
    const c = await artisan(['queue:work', '--queue=user-data-stream-0', '--concurrency=4', '--once'], env);
    expect(c.exitCode).toBe(1);
    expect(c.stderr).toContain('user-data-stream-0 is a shard queue: it is consumed one job at a time');
    expect(await ctx.redis.exists(lease('user-data-stream-0'))).toBe(0);
    const w = await artisan(['queue:work', '--queue=default', '--wait-lease', '--once'], env);
    expect(w.exitCode).toBe(1);
    expect(w.stderr).toContain('--wait-lease applies to shard queues only');
  }, 60_000);
});

describe('queue:work beside a running horizon', () => {
  it('is refused while a horizon worker holds the shard; with --wait-lease it takes over when horizon stops', async () => {
    await resetRecorder(ctx.db);
    const cfg = writeHorizonConfig(ctx, 'qw-horizon', [{ name: 'user-data', only: true, processes: 1 }]);
    horizon = startHorizon(ctx, { HORIZON_CONFIG: cfg, APP_HOSTNAME: 'hz-host' });
    await until('horizon holds shard 0', async () => /^hz-host\|\d+$/.test((await ctx.redis.get(lease('user-data-stream-0'))) ?? ''), 90_000);
    const holder = (await ctx.redis.get(lease('user-data-stream-0')))!;

    const refused = await artisan(['queue:work', '--queue=user-data-stream-0', '--stop-when-empty'], env);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain(`held by ${holder}`);

    const standby = spawnWork(['--queue=user-data-stream-0', '--wait-lease']);
    await until('the standby waits', () => standby.out().includes('waiting for the shard lease'), 30_000);
    await frames('user-data-stream-0', 10, [1, 2, 3]);
    await until('horizon applied the first frames', async () => (await applied(10)).length === 3, 60_000);
    expect(await ctx.redis.get(lease('user-data-stream-0'))).toBe(holder);

    expect(await horizon.stop()).toBe(0);
    horizon = null;
    await until('the standby took the lease', async () => (await ctx.redis.get(lease('user-data-stream-0'))) === `${HOST}|${standby.proc.pid}`, 30_000);
    await frames('user-data-stream-0', 10, [4, 5, 6]);
    await until('the standby applied the later frames', async () => (await applied(10)).length === 6, 30_000);
    expect(await applied(10)).toEqual([1, 2, 3, 4, 5, 6]);
    const pids = (await ctx.db('hz_log').where('account_id', 10).orderBy('id').select('pid')).map((r: { pid: number }) => Number(r.pid));
    expect(new Set(pids.slice(3))).toEqual(new Set([standby.proc.pid]));
    expect(pids.slice(0, 3)).not.toContain(standby.proc.pid);
    standby.proc.kill('SIGTERM');
    expect(await standby.exited, standby.out().slice(-3000)).toBe(0);
    expect(await ctx.redis.exists(lease('user-data-stream-0'))).toBe(0);
    expect(await count(ctx.db, 'hz_violations')).toBe(0);
  }, 240_000);
});
