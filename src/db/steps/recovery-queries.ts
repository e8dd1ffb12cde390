/** SQL of steps:recover-stale (reference §5) and of the retention commands (§5.1). */
import type { Knex } from 'knex';
import { dialect } from '../connection.js';
import { SETTLED, TERMINAL, type StepState } from '../../steps/states.js';
import type { StepTables } from '../../steps/tables.js';
import { STEP_COLUMNS } from './schema.js';
import { toMillis } from '../../support/sql-values.js';

type Db = Knex | Knex.Transaction;

/** Release dispatcher locks untouched since `cutoff`. Returns how many. */
export async function releaseStaleLocks(db: Db, t: StepTables, cutoff: number, now: number): Promise<number> {
  return Number(
    await db(t.dispatcher)
      .where('can_dispatch', false)
      .andWhere('updated_at', '<', new Date(cutoff))
      .update({ can_dispatch: true, current_tick_id: null, updated_at: new Date(now) }),
  );
}

export interface StaleRow {
  id: number;
  class: string | null;
  group: string | null;
  retries: number;
  is_throttled: boolean;
  priority: string | null;
  queue: string;
  started_at: number | null;
  updated_at: number | null;
  child_block_uuid: string | null;
}

function toStale(r: Record<string, unknown>): StaleRow {
  return {
    id: Number(r.id),
    class: (r.class as string | null) ?? null,
    group: (r.group as string | null) ?? null,
    retries: Number(r.retries ?? 0),
    is_throttled: r.is_throttled === true || r.is_throttled === 1 || r.is_throttled === '1',
    priority: (r.priority as string | null) ?? null,
    queue: String(r.queue ?? 'default'),
    started_at: toMillis(r.started_at),
    updated_at: toMillis(r.updated_at),
    child_block_uuid: (r.child_block_uuid as string | null) ?? null,
  };
}

const LEAN = ['id', 'class', 'group', 'retries', 'is_throttled', 'priority', 'queue', 'started_at', 'updated_at', 'child_block_uuid'];

/** Dispatched rows not touched since `cutoff`, oldest first. */
export async function staleDispatched(db: Db, t: StepTables, cutoff: number, limit = 1000): Promise<StaleRow[]> {
  const rows = await db(t.steps).where('state', 'dispatched').andWhere('updated_at', '<', new Date(cutoff)).orderBy('updated_at').limit(limit).select(LEAN);
  return rows.map(toStale);
}

/** Running rows with a start time (the lean columns only). */
export async function runningRows(db: Db, t: StepTables, startedBefore: number, limit = 5000): Promise<StaleRow[]> {
  const rows = await db(t.steps).where('state', 'running').whereNotNull('started_at').andWhere('started_at', '<', new Date(startedBefore)).orderBy('started_at').limit(limit).select(LEAN);
  return rows.map(toStale);
}

export async function blockHasRows(db: Db, t: StepTables, block: string): Promise<boolean> {
  return !!(await db(t.steps).where('block_uuid', block).first('id'));
}

export interface PendingTally {
  group: string;
  pending: number;
  oldest: number;
}

/** Per named group: unthrottled pending rows and the oldest one's created_at. */
export async function pendingByGroup(db: Db, t: StepTables): Promise<PendingTally[]> {
  const rows: Array<{ group: string; n: number | string; oldest: unknown }> = await db(t.steps)
    .where('state', 'pending')
    .andWhere('is_throttled', false)
    .whereNotNull('group')
    .whereNot('group', '')
    .groupBy('group')
    .select('group')
    .count({ n: '*' })
    .min({ oldest: 'created_at' });
  return rows.map((r) => ({ group: r.group, pending: Number(r.n), oldest: toMillis(r.oldest) ?? 0 }));
}

export async function lastTerminalUpdate(db: Db, t: StepTables, group: string): Promise<number | null> {
  const row = (await db(t.steps).where('group', group).whereIn('state', TERMINAL as StepState[]).max({ at: 'updated_at' }).first()) as { at: unknown } | undefined;
  return row ? toMillis(row.at) : null;
}

// ---------------------------------------------------------------------------------------------- retention

/**
 * Root blocks (no row points at them as a child block) whose rows are all settled and whose newest
 * completed_at/updated_at is before `cutoff`; paged by block uuid.
 */
export async function settledRootBlocks(db: Db, t: StepTables, cutoff: number, after: string | null, limit = 500): Promise<string[]> {
  const settled = SETTLED as StepState[];
  const q = db({ s: t.steps })
    .whereNotExists((sub) => {
      sub.select(db.raw('1')).from({ p: t.steps }).whereRaw('?? = ??', ['p.child_block_uuid', 's.block_uuid']);
    })
    .groupBy('s.block_uuid')
    .havingRaw(`SUM(CASE WHEN ?? IN (${settled.map(() => '?').join(', ')}) THEN 0 ELSE 1 END) = 0`, ['s.state', ...settled])
    .havingRaw('MAX(COALESCE(??, ??)) < ?', ['s.completed_at', 's.updated_at', new Date(cutoff)])
    .orderBy('s.block_uuid')
    .limit(limit)
    .select('s.block_uuid');
  if (after) q.where('s.block_uuid', '>', after);
  const rows: Array<{ block_uuid: string }> = await q;
  return rows.map((r) => r.block_uuid);
}

export async function unsettledInBlocks(db: Db, table: string, blocks: string[]): Promise<number> {
  if (blocks.length === 0) return 0;
  const rows: Array<{ n: number | string }> = await db(table).whereIn('block_uuid', blocks).whereNotIn('state', SETTLED as StepState[]).count({ n: '*' });
  return Number(rows[0]?.n ?? 0);
}

export class RevivedRowError extends Error {
  constructor(block: string) {
    super(`a row of the tree was revived (block ${block})`);
    this.name = 'RevivedRowError';
  }
}

/**
 * Move (archive=true) or delete the rows of some blocks in one transaction, aborting with RevivedRowError
 * if any of them is no longer settled. PostgreSQL and MySQL lock the rows first (SELECT … FOR UPDATE);
 * SQLite, having one writer, starts with the write so the transaction holds the write lock throughout.
 */
export async function moveBlocks(db: Knex, t: StepTables, blocks: string[], archive: boolean): Promise<number> {
  if (blocks.length === 0) return 0;
  const d = dialect(db);
  const cols = STEP_COLUMNS as readonly string[];
  return db.transaction(async (trx) => {
    const copy = async () => {
      if (!archive) return;
      await trx.raw(`INSERT INTO ?? (${cols.map(() => '??').join(', ')}) SELECT ${cols.map(() => '??').join(', ')} FROM ?? WHERE ?? IN (${blocks.map(() => '?').join(', ')})`, [
        t.archive,
        ...cols,
        ...cols,
        t.steps,
        'block_uuid',
        ...blocks,
      ]);
    };
    const check = async () => {
      const q = trx(t.steps).whereIn('block_uuid', blocks).whereNotIn('state', SETTLED as StepState[]).select('block_uuid').limit(1);
      const revived: Array<{ block_uuid: string }> = await q;
      if (revived.length) throw new RevivedRowError(revived[0]!.block_uuid);
    };
    if (d === 'sqlite') {
      await copy();
      await check();
    } else {
      await trx(t.steps).whereIn('block_uuid', blocks).select('id').forUpdate();
      await check();
      await copy();
    }
    return Number(await trx(t.steps).whereIn('block_uuid', blocks).del());
  });
}

/** Delete rows of `table` matching a condition in batches by id. Returns how many. */
export async function deleteInBatches(db: Db, table: string, where: (q: Knex.QueryBuilder) => void, batch = 10_000): Promise<number> {
  let total = 0;
  for (;;) {
    const q = db(table).select('id').orderBy('id').limit(batch);
    where(q);
    const ids: number[] = (await q).map((r: { id: number }) => Number(r.id));
    if (ids.length === 0) break;
    for (let i = 0; i < ids.length; i += 1000) total += Number(await db(table).whereIn('id', ids.slice(i, i + 1000)).del());
    if (ids.length < batch) break;
  }
  return total;
}
