/**
 * Retrying in place (src/support/retry-in-place.ts) on the real database: a deadlock victim (PostgreSQL,
 * MariaDB) or a busy SQLite file is transient — retried without spending an attempt — while an ordinary
 * failure spends its attempts and is then returned. Nothing here is faked: the errors come from the server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import { createTestContext, type TestContext } from '../support/context.js';
import { createDb } from '../../src/db/connection.js';
import { systemClock } from '../../src/support/clock.js';
import { createLogger } from '../../src/support/log.js';
import { isTransientError, retryInPlace, RetryAbandoned } from '../../src/support/retry-in-place.js';

let ctx: TestContext;
let other: Knex;
const lines: string[] = [];
const log = createLogger('test', {}, { write: (l: string) => void lines.push(l) });

beforeAll(async () => {
  ctx = await createTestContext('transient-errors');
  await ctx.db.schema.createTable('tx_rows', (t) => {
    t.integer('id').primary();
    t.integer('v').notNullable();
  });
  await ctx.db('tx_rows').insert([{ id: 1, v: 0 }, { id: 2, v: 0 }]);
  // A second, independent connection pool (another worker process, as far as the server can tell).
  other = await createDb(ctx.config.database, { poolMax: 1 });
  // SQLite: give up on a held lock after 50 ms instead of the usual 10 s (one pooled connection keeps it).
  if (ctx.config.database.client === 'sqlite') await other.raw('pragma busy_timeout = 50');
});
afterAll(async () => {
  await other?.destroy();
  await ctx?.cleanup();
});

/** Provoke the server's own lock conflict and return the error the losing side got. */
async function lockConflict(): Promise<unknown> {
  const client = ctx.config.database.client;
  if (client === 'sqlite') {
    // One connection holds the write lock; the other (busy_timeout 50 ms) gives up with SQLITE_BUSY.
    const trx = await ctx.db.transaction();
    try {
      await trx('tx_rows').where('id', 1).update({ v: 1 });
      return await other('tx_rows').where('id', 2).update({ v: 1 }).then(() => null, (err: unknown) => err);
    } finally {
      await trx.rollback();
    }
  }
  // Two transactions lock rows 1 and 2 in opposite orders: the server picks one as the deadlock victim.
  const a = await ctx.db.transaction();
  const b = await other.transaction();
  try {
    await a('tx_rows').where('id', 1).update({ v: 1 });
    await b('tx_rows').where('id', 2).update({ v: 1 });
    const results = await Promise.allSettled([a('tx_rows').where('id', 2).update({ v: 2 }), b('tx_rows').where('id', 1).update({ v: 2 })]);
    const lost = results.find((r) => r.status === 'rejected');
    return lost ? (lost as PromiseRejectedResult).reason : null;
  } finally {
    await a.rollback().catch(() => undefined); // the victim's transaction is already gone
    await b.rollback().catch(() => undefined);
  }
}

describe('transient database errors', () => {
  it('the server\'s lock-conflict error (deadlock victim, busy SQLite) is classed transient', async () => {
    const err = await lockConflict();
    expect(err, 'the server reported no conflict').not.toBeNull();
    expect(isTransientError(err)).toBe(true);
    // An ordinary error is not: a syntax error from the same server.
    const syntax = await ctx.db.raw('selec 1').then(() => null, (e: unknown) => e);
    expect(syntax).not.toBeNull();
    expect(isTransientError(syntax)).toBe(false);
  }, 60_000);

  it('retries a transient failure without spending an attempt; an ordinary one spends them and is returned', async () => {
    const opts = { attempts: 2, backoffMs: 1, clock: systemClock, signal: new AbortController().signal, log, what: 'test work', fields: {} };
    let calls = 0;
    const conflicts = 3;
    const ok = await retryInPlace(async () => {
      calls++;
      if (calls <= conflicts) throw await lockConflict();
      return 'done';
    }, opts);
    expect(ok).toEqual({ ok: true, value: 'done' });
    expect(calls).toBe(conflicts + 1); // 3 transient failures did not use up the 2 attempts
    expect(lines.filter((l) => l.includes('test work waits for the database or Redis')).length).toBe(conflicts);

    let tries = 0;
    const failed = await retryInPlace(async () => {
      tries++;
      throw new Error('bad frame');
    }, opts);
    expect(failed).toMatchObject({ ok: false, attempts: 2 });
    expect(tries).toBe(2);
    expect(errorText(failed)).toBe('bad frame');
  }, 60_000);

  it('stops waiting when the signal aborts (the work is left for the next holder)', async () => {
    const ac = new AbortController();
    const p = retryInPlace(async () => {
      setTimeout(() => ac.abort(), 20);
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    }, { attempts: 1, backoffMs: 10_000, clock: systemClock, signal: ac.signal, log, what: 'test work', fields: {} });
    await expect(p).rejects.toBeInstanceOf(RetryAbandoned);
  });
});

function errorText(r: { ok: boolean; error?: unknown }): string {
  return r.ok ? '' : String((r.error as Error).message);
}
