/**
 * Reads and inserts on a step table set. The state machine's writes are in ./transitions.ts and the
 * dispatcher's queries in ./dispatch-queries.ts.
 */
import type { Knex } from 'knex';
import { dialect } from '../connection.js';
import { toStep, type Step } from '../../steps/types.js';
import { toMillis } from '../../support/sql-values.js';
import type { StepTables } from '../../steps/tables.js';
import type { StepState } from '../../steps/states.js';

type Db = Knex | Knex.Transaction;

export async function findStep(db: Db, tables: StepTables, id: number): Promise<Step | null> {
  const row = await db(tables.steps).where('id', id).first();
  return row ? toStep(row) : null;
}

export async function findSteps(db: Db, tables: StepTables, ids: number[]): Promise<Step[]> {
  const out: Step[] = [];
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await db(tables.steps).whereIn('id', ids.slice(i, i + 500)).orderBy('id');
    for (const r of rows) out.push(toStep(r));
  }
  return out;
}

export async function findArchivedStep(db: Db, tables: StepTables, id: number): Promise<Step | null> {
  const row = await db(tables.archive).where('id', id).first();
  return row ? toStep(row) : null;
}

/** Rows of some blocks, ordered by index then id (per chunk of 200 blocks); at most `limit` rows when given. */
export async function blockRows(db: Db, tables: StepTables, blockUuids: string[], limit?: number): Promise<Step[]> {
  if (blockUuids.length === 0) return [];
  const out: Step[] = [];
  for (let i = 0; i < blockUuids.length; i += 200) {
    if (limit !== undefined && out.length >= limit) break;
    const q = db(tables.steps).whereIn('block_uuid', blockUuids.slice(i, i + 200)).orderBy([{ column: 'index' }, { column: 'id' }]);
    if (limit !== undefined) q.limit(limit - out.length);
    for (const r of await q) out.push(toStep(r));
  }
  return out;
}

/** The parent of a block: the row whose child_block_uuid is the block. */
export async function parentOfBlock(db: Db, tables: StepTables, blockUuid: string): Promise<Step | null> {
  const row = await db(tables.steps).where('child_block_uuid', blockUuid).orderBy('id').first();
  return row ? toStep(row) : null;
}

/** Inheritance context of an existing block: any one of its rows. */
export async function blockSibling(db: Db, tables: StepTables, blockUuid: string): Promise<{ group: string | null; workflow_id: string | null } | null> {
  const row = await db(tables.steps).where('block_uuid', blockUuid).orderBy('id').select('group', 'workflow_id').first();
  return row ? { group: row.group ?? null, workflow_id: row.workflow_id ?? null } : null;
}

/**
 * Give a parent a child block uuid if it has none (conditional, so two callers agree on one uuid).
 * Returns the uuid the parent ends up with.
 */
export async function ensureChildBlock(db: Db, tables: StepTables, parentId: number, uuid: string, now: number): Promise<string | null> {
  await db(tables.steps).where('id', parentId).whereNull('child_block_uuid').update({ child_block_uuid: uuid, updated_at: new Date(now) });
  const row = await db(tables.steps).where('id', parentId).select('child_block_uuid').first();
  return row ? (row.child_block_uuid as string | null) : null;
}

export async function findLiveByDedupeKey(db: Db, tables: StepTables, key: string): Promise<Step | null> {
  const row = await db(tables.steps).where('dedupe_key', key).first();
  return row ? toStep(row) : null;
}

/**
 * Insert rows and return their ids in input order. PostgreSQL and SQLite return them (RETURNING); on
 * MySQL a multi-row INSERT reports its first id and InnoDB gives a simple multi-row insert consecutive
 * ids (auto-inc lock modes 0–2 for "simple inserts"); the ids are verified against the block and row
 * order, and read back by block if they do not match.
 */
export async function insertStepRows(db: Db, tables: StepTables, rows: Array<Record<string, unknown>>): Promise<number[]> {
  const ids: number[] = [];
  const d = dialect(db as Knex);
  for (let i = 0; i < rows.length; i += 200) {
    const chunk = rows.slice(i, i + 200);
    if (d === 'mysql') {
      const [first] = (await db(tables.steps).insert(chunk)) as number[];
      const expected = chunk.map((_, k) => Number(first) + k);
      const got: Array<{ id: number; block_uuid: string }> = await db(tables.steps).whereIn('id', expected).select('id', 'block_uuid').orderBy('id');
      const ok = got.length === chunk.length && got.every((r, k) => Number(r.id) === expected[k] && r.block_uuid === chunk[k]!.block_uuid);
      if (ok) ids.push(...expected);
      else {
        // Not consecutive (interleaved auto-increment): read them back by block in insertion order.
        const blocks = [...new Set(chunk.map((r) => String(r.block_uuid)))];
        const back: Array<{ id: number }> = await db(tables.steps).whereIn('block_uuid', blocks).andWhere('id', '>=', Number(first)).orderBy('id').select('id').limit(chunk.length);
        ids.push(...back.map((r) => Number(r.id)));
      }
    } else {
      const res = (await db(tables.steps).insert(chunk, ['id'])) as Array<{ id: number } | number>;
      for (const r of res) ids.push(Number(typeof r === 'object' ? r.id : r));
    }
  }
  return ids;
}

/**
 * Round-robin group selection under a row lock (reference §2.3): the least recently selected named group,
 * stamped with last_selected_at. PostgreSQL and MySQL lock the rows with SELECT … FOR UPDATE SKIP LOCKED, so
 * concurrent creators take different groups (on PostgreSQL a single pick is one UPDATE … WHERE id = (SELECT …
 * FOR UPDATE SKIP LOCKED) RETURNING); SQLite has a single writer, and each pick is one UPDATE … RETURNING
 * (which also makes a surrounding transaction a write transaction from its first statement). Several picks
 * on PostgreSQL or MySQL need a transaction. `count` groups are returned, cycling when count > the number of groups. Falls back to
 * 'alpha' if no group row is available.
 */
export async function pickGroups(trx: Knex | Knex.Transaction, tables: StepTables, count: number, now: number): Promise<string[]> {
  if (count <= 0) return [];
  const d = dialect(trx as unknown as Knex);
  const order = 'CASE WHEN ?? IS NULL THEN 0 ELSE 1 END, ??, ??';
  const orderBindings = ['last_selected_at', 'last_selected_at', 'id'];
  const at = new Date(now);
  // Stamps only move forward (1 ms past the newest stamp when the clock has not moved on), so the group
  // just picked is always the most recent one, however fast picks follow each other.
  let ring: string[] = [];
  if (d === 'pg' && count === 1) {
    // One statement: the row lock lives as long as the UPDATE, no transaction needed.
    const res = await trx.raw(
      `UPDATE ?? SET ?? = GREATEST(?::timestamptz, COALESCE((SELECT MAX(??) FROM ??) + interval '1 millisecond', ?::timestamptz)) WHERE ?? = (SELECT ?? FROM ?? WHERE ?? IS NOT NULL AND ?? <> '' ORDER BY ${order} LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING ??`,
      [tables.dispatcher, 'last_selected_at', at, 'last_selected_at', tables.dispatcher, at, 'id', 'id', tables.dispatcher, 'group', 'group', ...orderBindings, 'group'],
    );
    ring = (res.rows as Array<{ group: string }>).map((r) => r.group);
  } else if (d === 'sqlite') {
    // Timestamps are epoch milliseconds on SQLite.
    const n = Math.min(count, 64);
    for (let i = 0; i < n; i++) {
      const rows: Array<{ group: string }> = await trx.raw(
        `UPDATE ?? SET ?? = MAX(?, COALESCE((SELECT MAX(??) FROM ??), 0) + 1) WHERE ?? = (SELECT ?? FROM ?? WHERE ?? IS NOT NULL AND ?? <> '' ORDER BY ${order} LIMIT 1) RETURNING ??`,
        [tables.dispatcher, 'last_selected_at', at, 'last_selected_at', tables.dispatcher, 'id', 'id', tables.dispatcher, 'group', 'group', ...orderBindings, 'group'],
      );
      const g = rows[0]?.group;
      if (!g || ring.includes(g)) break;
      ring.push(g);
    }
  } else {
    const rows: Array<{ id: number; group: string }> = await trx(tables.dispatcher)
      .whereNotNull('group')
      .andWhereNot('group', '')
      .orderByRaw(order, orderBindings)
      .limit(Math.min(count, 64))
      .forUpdate()
      .skipLocked()
      .select('id', 'group');
    ring = rows.map((r) => r.group);
    const newest = (await trx(tables.dispatcher).max({ m: 'last_selected_at' }).first()) as { m: unknown } | undefined;
    const base = Math.max(now, (toMillis(newest?.m) ?? 0) + 1);
    for (let i = 0; i < rows.length; i++) {
      await trx(tables.dispatcher).where('id', rows[i]!.id).update({ last_selected_at: new Date(base + i) });
    }
  }
  if (ring.length === 0) ring = ['alpha'];
  return Array.from({ length: count }, (_, i) => ring[i % ring.length]!);
}

export interface ListFilters {
  state?: StepState;
  /** Only rows whose is_throttled flag is this (the admin UI splits throttled out of pending). */
  throttled?: boolean;
  group?: string | null;
  class?: string;
  workflowId?: string;
  limit?: number;
  afterId?: number;
}

export async function listSteps(db: Db, tables: StepTables, f: ListFilters): Promise<Step[]> {
  const q = db(tables.steps).orderBy('id', 'desc').limit(f.limit ?? 50);
  if (f.state) q.where('state', f.state);
  if (f.throttled !== undefined) q.where('is_throttled', f.throttled);
  if (f.group !== undefined) {
    if (f.group === null) q.whereNull('group');
    else q.where('group', f.group);
  }
  if (f.class) q.where('class', f.class);
  if (f.workflowId) q.where('workflow_id', f.workflowId);
  if (f.afterId) q.where('id', '<', f.afterId);
  return (await q).map(toStep);
}

/** Counts by state (for summaries and the admin UI); only the given states when `states` is set. */
export async function countByState(db: Db, tables: StepTables, states?: readonly StepState[]): Promise<Record<string, number>> {
  const q = db(tables.steps).select('state').count({ n: '*' }).groupBy('state');
  if (states) q.whereIn('state', [...states]);
  const rows = (await q) as unknown as Array<{ state: string; n: number | string }>;
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
}
