/** Shared pieces of the horizon tests: the recorder tables, a HORIZON_CONFIG file, a running `horizon`. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import type { Knex } from 'knex';
import { ARTISAN, ROOT, type TestContext } from '../support/context.js';
import { childEnv } from '../support/artisan.js';
import { exitCode, killGroup, stopGroup, trackGroup } from '../support/process-groups.js';
import { QueueFactory } from '../../src/queue/queues.js';
import type { SupervisorConfig } from '../../src/horizon/config.js';

export const RECORDER = path.join(ROOT, 'test/horizon/fixtures/recorder.mjs');

export async function createRecorderTables(db: Knex): Promise<void> {
  await db.schema.createTable('hz_accounts', (t) => {
    t.integer('account_id').primary();
    t.integer('last_seq').notNullable();
  });
  for (const name of ['hz_log', 'hz_dups', 'hz_violations']) {
    await db.schema.createTable(name, (t) => {
      t.increments('id').primary();
      t.integer('account_id').notNullable();
      t.integer('seq').notNullable();
      t.integer('last_seq').nullable();
      t.string('queue', 100).nullable();
      t.integer('pid').nullable();
    });
  }
}

export async function resetRecorder(db: Knex): Promise<void> {
  for (const t of ['hz_accounts', 'hz_log', 'hz_dups', 'hz_violations']) await db(t).delete();
}

export async function count(db: Knex, table: string): Promise<number> {
  const r = (await db(table).count({ n: '*' }).first()) as { n: number | string };
  return Number(r.n);
}

export function writeHorizonConfig(ctx: TestContext, name: string, supervisors: Array<Partial<SupervisorConfig> & { name: string; only?: boolean }>): string {
  const file = path.join(os.tmpdir(), `athena-horizon-${ctx.prefix}-${name}.json`);
  fs.writeFileSync(file, JSON.stringify({ supervisors }));
  return file;
}

export interface RunningHorizon {
  proc: ResultPromise;
  output(): string;
  /**
   * SIGTERM the master and wait for its exit code; if it has not exited after `graceMs` (default 30 s), or
   * once it has, SIGKILL whatever is left of its process group (its workers).
   */
  stop(graceMs?: number): Promise<number>;
  /**
   * Wait (up to timeoutMs) for the master to exit by itself; its exit code (-1 if killed by a signal). What
   * is left of its process group afterwards is SIGKILLed.
   */
  exited(timeoutMs?: number): Promise<number>;
}

/**
 * `bin/artisan horizon`, detached: the master leads its own process group with the workers it forks, so
 * stop() and the exit hook of test/support/process-groups.ts kill them all, even after a timed-out test.
 */
export function startHorizon(ctx: TestContext, env: Record<string, string>): RunningHorizon {
  let out = '';
  const proc = execa('node', [ARTISAN, 'horizon'], {
    cwd: ROOT,
    env: childEnv({ ...ctx.env, HORIZON_PROCESSOR_MODULE: RECORDER, LOG_LEVEL: 'info', ...env }),
    extendEnv: false,
    reject: false,
    all: true,
    buffer: false,
    detached: true,
  });
  if (proc.pid !== undefined) trackGroup(proc.pid);
  proc.all?.on('data', (d: Buffer) => (out += d.toString()));
  const exit = exitCode(proc);
  // The output pipes close once nothing of the group holds them (a few ms after the group is gone).
  const drained = async () => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([proc.then(() => undefined), new Promise((r) => (timer = setTimeout(r, 5000)))]);
    clearTimeout(timer);
  };
  return {
    proc,
    output: () => out,
    async stop(graceMs = 30_000) {
      const code = await stopGroup(proc, { signal: 'SIGTERM', graceMs });
      await drained();
      return code;
    },
    async exited(timeoutMs = 60_000) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`horizon did not exit within ${timeoutMs} ms`)), timeoutMs)));
      try {
        const code = await Promise.race([exit, late]);
        if (proc.pid !== undefined) killGroup(proc.pid);
        await drained();
        return code;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/**
 * Poll `fn` until it is true. On a timeout the error carries `explain()` (progress counts, the warnings of a
 * horizon's output): CI keeps only the end of a failed run's log, which is where the failure summary is.
 */
export async function until(what: string, fn: () => Promise<boolean> | boolean, timeoutMs = 60_000, everyMs = 50, explain?: () => Promise<string> | string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  let detail = '';
  if (explain) detail = `\n${await Promise.resolve().then(explain).catch((err: Error) => `(explaining failed: ${err.message})`)}`;
  throw new Error(`timed out waiting for ${what}${detail}`);
}

/** The warning and error lines of a horizon's output (its last `max`), for a failure message. */
export function troubles(output: string, max = 40): string {
  const lines = output.split('\n').filter((l) => /"level":"(warn|error)"|Error|exited/.test(l));
  return lines.slice(-max).map((l) => l.slice(0, 400)).join('\n') || '(no warning or error in the horizon output)';
}

export function queueFactory(ctx: TestContext): QueueFactory {
  return new QueueFactory({ prefix: ctx.prefix, connection: ctx.redis.duplicate({ maxRetriesPerRequest: null }) });
}

/** Frames of `accounts` accounts, `perAccount` each, enqueued per shard in account-interleaved order. */
export async function enqueueFrames(queues: QueueFactory, shards: number, accounts: number, perAccount: number, firstSeq = 1, extra: Record<string, unknown> = {}): Promise<number> {
  const byQueue = new Map<string, Array<{ name: string; data: unknown; opts: Record<string, unknown> }>>();
  for (let s = firstSeq; s < firstSeq + perAccount; s++) {
    for (let a = 1; a <= accounts; a++) {
      const q = `user-data-stream-${a % shards}`;
      const list = byQueue.get(q) ?? [];
      list.push({ name: 'ProcessUserDataEvent', data: { accountId: a, seq: s, payload: {}, receivedAt: Date.now(), apiSystem: 'binance', ...extra }, opts: { attempts: 5, backoff: { type: 'fixed', delay: 10_000 } } });
      byQueue.set(q, list);
    }
  }
  let n = 0;
  for (const [q, jobs] of byQueue) {
    const queue = await queues.queue(q);
    for (let i = 0; i < jobs.length; i += 500) {
      await queue.addBulk(jobs.slice(i, i + 500) as never);
    }
    n += jobs.length;
  }
  return n;
}

export function pidsOf(state: { supervisors: Array<{ name: string; processes: Array<{ pid: number | null }> }> } | null, supervisor: string): number[] {
  return (state?.supervisors.find((s) => s.name === supervisor)?.processes ?? []).map((p) => p.pid!).filter(Boolean);
}
