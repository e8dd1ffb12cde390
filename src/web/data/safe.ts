/**
 * Every read of another part's state goes through here, so a part that is not built, not migrated or not
 * running yields an honest "absent" section instead of an error page:
 *  - a missing table or column is recognised on all three databases and reported as `absent`;
 *  - any other failure is logged and reported as `error` with its message (never swallowed);
 *  - nothing is ever invented: a section either carries data read now, or says why it has none.
 */
import type { Knex } from 'knex';
import type { Logger } from '../../support/log.js';
import { errorMessage } from '../../support/errors.js';
import { tableExists } from '../../db/introspect.js';
import { scanAll } from '../../redis/scan.js';

export type Section<T> = { status: 'ok'; data: T } | { status: 'absent'; reason: string } | { status: 'error'; message: string };

export class Absent extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'Absent';
  }
}

/** True for "no such table/column" on SQLite, PostgreSQL and MySQL/MariaDB. */
export function isMissingRelation(err: unknown): boolean {
  const e = err as { code?: string; errno?: number; message?: string };
  if (e?.code === '42P01' || e?.code === '42703' || e?.code === '3F000') return true; // pg: undefined table / column / schema
  if (e?.errno === 1146 || e?.errno === 1054 || e?.code === 'ER_NO_SUCH_TABLE' || e?.code === 'ER_BAD_FIELD_ERROR') return true;
  return /no such table|no such column/i.test(e?.message ?? ''); // SQLite
}

/**
 * Run one section. `Absent` thrown inside (or a missing table/column) becomes {status:'absent'};
 * any other error is logged with the section name and returned as {status:'error'}.
 */
export async function section<T>(name: string, log: Logger, fn: () => Promise<T>): Promise<Section<T>> {
  try {
    return { status: 'ok', data: await fn() };
  } catch (err) {
    if (err instanceof Absent) return { status: 'absent', reason: err.message };
    if (isMissingRelation(err)) return { status: 'absent', reason: `not installed yet (${shortMissing(err)})` };
    log.warn('dashboard section failed', { section: name, err });
    return { status: 'error', message: errorMessage(err) };
  }
}

function shortMissing(err: unknown): string {
  const m = errorMessage(err);
  const t = /(?:no such table|relation|Table)\s*:?\s*["'`]?([\w.]+)["'`]?/i.exec(m);
  return t ? `missing ${t[1]!.split('.').pop()}` : 'missing table';
}

/** Cached table existence (10 s): cheap checks before building queries against optional tables. */
export class TableProbe {
  private cache = new Map<string, { at: number; exists: boolean }>();
  constructor(
    private readonly db: Knex,
    private readonly now: () => number,
    private readonly ttlMs = 10_000,
  ) {}

  async has(table: string): Promise<boolean> {
    const hit = this.cache.get(table);
    const t = this.now();
    if (hit && t - hit.at < this.ttlMs) return hit.exists;
    const exists = await tableExists(this.db, table);
    this.cache.set(table, { at: t, exists });
    return exists;
  }

  async require(table: string, what: string): Promise<void> {
    if (!(await this.has(table))) throw new Absent(`${what} is not installed yet (no ${table} table)`);
  }

  forget(): void {
    this.cache.clear();
  }
}

/** Parse JSON from Redis; a malformed value is reported, not hidden. */
export function parseRedisJson<T>(key: string, raw: string | null): T | null {
  if (raw === null) return null;
  try {
    return JSON.parse(raw) as T;
  } catch (err) {
    throw new Error(`Redis key ${key} holds invalid JSON (${errorMessage(err)})`);
  }
}

/** SCAN keys matching a pattern (never KEYS), capped. */
export async function scanKeys(redis: import('ioredis').Redis, pattern: string, cap = 1000): Promise<string[]> {
  return (await scanAll(redis, pattern, 500, cap)).sort();
}

export function ageSeconds(now: number, at: Date | string | number | null | undefined): number | null {
  if (at === null || at === undefined) return null;
  const t = at instanceof Date ? at.getTime() : typeof at === 'number' ? at : Date.parse(at);
  if (!Number.isFinite(t)) return null;
  return Math.max(0, Math.round((now - t) / 1000));
}
