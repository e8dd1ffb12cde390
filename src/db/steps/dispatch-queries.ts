/**
 * The dispatcher's SQL: the per-group CAS lock, the cleanup phases' finders (reference §3.2), the candidate
 * scan and the dispatchability lookups (§2.4). Every finder is scoped to one lane (group) and is driven by
 * the rows that can still change (active or dormant rows), so its cost follows the live work, not the
 * history the table holds until archive.
 */
import type { Knex } from 'knex';
import { insertId, isUniqueViolation } from '../helpers.js';
import { laneKey, type Lane, type StepTables } from '../../steps/tables.js';
import type { StepState } from '../../steps/states.js';

type Db = Knex | Knex.Transaction;

function lane(qb: Knex.QueryBuilder, l: Lane, col = 'group'): Knex.QueryBuilder {
  return l === null ? qb.whereNull(col) : qb.where(col, l);
}

// ---------------------------------------------------------------------------------------------- lock

/**
 * Take the lane's lock: one CAS UPDATE that succeeds if the lock is free or its holder has not touched it
 * for `staleMs` (a crashed tick). Creates the lane's row on first use. Returns true if this call holds it.
 */
export async function acquireLaneLock(db: Db, tables: StepTables, l: Lane, tickId: number, now: number, staleMs: number): Promise<boolean> {
  const cas = () =>
    db(tables.dispatcher)
      .where('group', laneKey(l))
      .andWhere((w) => w.where('can_dispatch', true).orWhere('updated_at', '<', new Date(now - staleMs)))
      .update({ can_dispatch: false, current_tick_id: tickId, updated_at: new Date(now) });
  if (Number(await cas()) === 1) return true;
  const exists = await db(tables.dispatcher).where('group', laneKey(l)).first('id');
  if (exists) return false;
  try {
    await insertId(db, tables.dispatcher, { group: laneKey(l), can_dispatch: true, created_at: new Date(now), updated_at: new Date(now) });
  } catch (err) {
    // Another dispatcher created the row at the same moment: fine, it exists now.
    if (!isUniqueViolation(err)) throw err;
  }
  return Number(await cas()) === 1;
}

/** Release the lane's lock, only if this tick still holds it. Returns false if it was taken over. */
export async function releaseLaneLock(db: Db, tables: StepTables, l: Lane, tickId: number, now: number): Promise<boolean> {
  const n = await db(tables.dispatcher)
    .where('group', laneKey(l))
    .andWhere('current_tick_id', tickId)
    .update({ can_dispatch: true, current_tick_id: null, last_tick_completed: new Date(now), updated_at: new Date(now) });
  return Number(n) === 1;
}

export async function recordSlowTick(db: Db, tables: StepTables, row: { id: number; group: string | null; progress: number; dispatched: number; started_at: number; completed_at: number; duration: number }): Promise<void> {
  await db(tables.ticks)
    .insert({
      ...row,
      started_at: new Date(row.started_at),
      completed_at: new Date(row.completed_at),
      created_at: new Date(row.completed_at),
      updated_at: new Date(row.completed_at),
    })
    .onConflict('id')
    .ignore();
}

/** Lanes that have active (pending, dispatched or running) rows; null = the NULL lane. */
export async function activeLanes(db: Db, tables: StepTables): Promise<Lane[]> {
  const rows: Array<{ group: string | null }> = await db(tables.steps).distinct('group').whereIn('state', ['pending', 'dispatched', 'running']);
  return rows.map((r) => r.group ?? null);
}

/**
 * The daemon's idle gate: for several sets at once, whether each has any active row. One statement of
 * scalar sub-selects, each an index probe that stops at the first row.
 */
export async function activeSets(db: Db, tables: StepTables[]): Promise<boolean[]> {
  if (tables.length === 0) return [];
  const states = ['pending', 'dispatched', 'running'];
  const parts = tables.map((_, i) => `(SELECT 1 FROM ?? WHERE ?? IN (?, ?, ?) LIMIT 1) AS a${i}`);
  const bindings = tables.flatMap((t) => [t.steps, 'state', ...states]);
  const res = await db.raw(`SELECT ${parts.join(', ')}`, bindings);
  const row = (Array.isArray(res) ? (Array.isArray(res[0]) ? res[0][0] : res[0]) : res.rows[0]) as Record<string, unknown>;
  return tables.map((_, i) => row?.[`a${i}`] !== null && row?.[`a${i}`] !== undefined);
}

/** Lanes with rows that are not terminal (dormant resolvers included): what the periodic sweep ticks. */
export async function openLanes(db: Db, tables: StepTables): Promise<Lane[]> {
  const rows: Array<{ group: string | null }> = await db(tables.steps).distinct('group').whereIn('state', ['pending', 'dispatched', 'running', 'not-runnable']);
  return rows.map((r) => r.group ?? null);
}

/** Every lane known to the dispatcher table (for steps:dispatch without --group). */
export async function knownLanes(db: Db, tables: StepTables): Promise<Lane[]> {
  const rows: Array<{ group: string | null }> = await db(tables.dispatcher).select('group').orderBy('id');
  return rows.map((r) => (r.group === '' || r.group === null ? null : r.group));
}

// ---------------------------------------------------------------------------------------------- phases

const OPEN: StepState[] = ['pending', 'dispatched', 'running', 'not-runnable'];

export interface IdState {
  id: number;
  state: StepState;
  child_block_uuid?: string | null;
}

/** Phase 0: non-terminal rows whose parent was skipped. */
export async function findUnderSkippedParents(db: Db, t: StepTables, l: Lane, limit = 1000): Promise<IdState[]> {
  const q = db({ c: t.steps })
    .join({ p: t.steps }, 'p.child_block_uuid', 'c.block_uuid')
    .whereIn('c.state', OPEN)
    .andWhere('p.state', 'skipped')
    .select('c.id', 'c.state')
    .limit(limit);
  return lane(q, l, 'c.group');
}

/** Phase 1: later default-type siblings (pending/dispatched) of a failed, stopped or cancelled row. */
export async function findLaterSiblingsOfFailures(db: Db, t: StepTables, l: Lane, limit = 1000): Promise<IdState[]> {
  const q = db({ c: t.steps })
    .where('c.type', 'default')
    .whereIn('c.state', ['pending', 'dispatched'])
    .whereNotNull('c.index')
    .whereExists((sub) => {
      sub
        .select(db.raw('1'))
        .from({ f: t.steps })
        .whereRaw('?? = ??', ['f.block_uuid', 'c.block_uuid'])
        .whereRaw('?? < ??', ['f.index', 'c.index'])
        .whereIn('f.state', ['failed', 'stopped', 'cancelled']);
    })
    .select('c.id', 'c.state', 'c.child_block_uuid')
    .limit(limit);
  return lane(q, l, 'c.group');
}

/** Pending rows of some child blocks (phase 1 cancels the children of cancelled parents). */
export async function pendingInBlocks(db: Db, t: StepTables, blocks: string[]): Promise<number[]> {
  if (blocks.length === 0) return [];
  const rows: Array<{ id: number }> = await db(t.steps).whereIn('block_uuid', blocks).andWhere('state', 'pending').select('id');
  return rows.map((r) => Number(r.id));
}

/** Phase 2: the first block with dormant resolvers and a failed or stopped non-resolver row. */
export async function findBlockToResolve(db: Db, t: StepTables, l: Lane): Promise<string | null> {
  const q = db({ r: t.steps })
    .where('r.state', 'not-runnable')
    .andWhere('r.type', 'resolve-exception')
    .whereExists((sub) => {
      sub
        .select(db.raw('1'))
        .from({ f: t.steps })
        .whereRaw('?? = ??', ['f.block_uuid', 'r.block_uuid'])
        .whereNot('f.type', 'resolve-exception')
        .whereIn('f.state', ['failed', 'stopped']);
    })
    .orderBy('r.id')
    .select('r.block_uuid')
    .first();
  const row = await lane(q, l, 'r.group');
  return row ? String(row.block_uuid) : null;
}

export async function dormantResolvers(db: Db, t: StepTables, block: string): Promise<number[]> {
  const rows: Array<{ id: number }> = await db(t.steps).where({ block_uuid: block, state: 'not-runnable', type: 'resolve-exception' }).select('id');
  return rows.map((r) => Number(r.id));
}

/**
 * Phases 3 and 4: the first running parent (by index, id) whose child block has a `childState` child,
 * once no resolver of that block is still open and every sibling at a failing child's index is terminal.
 */
export async function findParentToFail(db: Db, t: StepTables, l: Lane, childState: 'failed' | 'stopped'): Promise<{ id: number; child_block_uuid: string } | null> {
  const q = db({ p: t.steps })
    .where('p.state', 'running')
    .whereNotNull('p.child_block_uuid')
    .whereExists((sub) => {
      sub.select(db.raw('1')).from({ c: t.steps }).whereRaw('?? = ??', ['c.block_uuid', 'p.child_block_uuid']).andWhere('c.state', childState);
    })
    .whereNotExists((sub) => {
      sub
        .select(db.raw('1'))
        .from({ r: t.steps })
        .whereRaw('?? = ??', ['r.block_uuid', 'p.child_block_uuid'])
        .andWhere('r.type', 'resolve-exception')
        .whereIn('r.state', OPEN);
    })
    .whereNotExists((sub) => {
      sub
        .select(db.raw('1'))
        .from({ c2: t.steps })
        .join({ s: t.steps }, (j) => j.on('s.block_uuid', '=', 'c2.block_uuid').andOn('s.index', '=', 'c2.index'))
        .whereRaw('?? = ??', ['c2.block_uuid', 'p.child_block_uuid'])
        .andWhere('c2.state', childState)
        .whereIn('s.state', OPEN);
    })
    .orderBy([{ column: 'p.index' }, { column: 'p.id' }])
    .select('p.id', 'p.child_block_uuid')
    .first();
  const row = await lane(q, l, 'p.group');
  return row ? { id: Number(row.id), child_block_uuid: String(row.child_block_uuid) } : null;
}

export async function childIdsInState(db: Db, t: StepTables, block: string, state: StepState): Promise<number[]> {
  const rows: Array<{ id: number }> = await db(t.steps).where({ block_uuid: block, state }).orderBy('id').select('id');
  return rows.map((r) => Number(r.id));
}

/** Phase 5: one child block of a failed, stopped or cancelled parent that still has cancellable rows. */
export async function findBlockOfDeadParent(db: Db, t: StepTables, l: Lane): Promise<string | null> {
  const q = db({ c: t.steps })
    .join({ p: t.steps }, 'p.child_block_uuid', 'c.block_uuid')
    .whereIn('c.state', ['pending', 'dispatched', 'not-runnable'])
    .whereIn('p.state', ['failed', 'stopped', 'cancelled'])
    .select('c.block_uuid')
    .first();
  const row = await lane(q, l, 'c.group');
  return row ? String(row.block_uuid) : null;
}

export async function cancellableInBlock(db: Db, t: StepTables, block: string): Promise<IdState[]> {
  return db(t.steps).where('block_uuid', block).whereIn('state', ['pending', 'dispatched', 'not-runnable']).select('id', 'state');
}

/**
 * Phase 6: running parents that finished their own work (execution_mode 'awaiting-children') and whose
 * child block has rows but none active any more. The caller checks the nested tree.
 */
export async function findParentsToConclude(db: Db, t: StepTables, l: Lane, limit = 50): Promise<Array<{ id: number; child_block_uuid: string }>> {
  const q = db({ p: t.steps })
    .where('p.state', 'running')
    .whereNotNull('p.child_block_uuid')
    .andWhere('p.execution_mode', 'awaiting-children')
    .whereNotExists((sub) => {
      sub
        .select(db.raw('1'))
        .from({ c: t.steps })
        .whereRaw('?? = ??', ['c.block_uuid', 'p.child_block_uuid'])
        .whereIn('c.state', ['pending', 'dispatched', 'running']);
    })
    .whereExists((sub) => {
      sub.select(db.raw('1')).from({ c: t.steps }).whereRaw('?? = ??', ['c.block_uuid', 'p.child_block_uuid']).whereNot('c.state', 'not-runnable');
    })
    .orderBy([{ column: 'p.index' }, { column: 'p.id' }])
    .select('p.id', 'p.child_block_uuid')
    .limit(limit);
  const rows: Array<{ id: number; child_block_uuid: string }> = await lane(q, l, 'p.group');
  return rows.map((r) => ({ id: Number(r.id), child_block_uuid: String(r.child_block_uuid) }));
}

// ---------------------------------------------------------------------------------------------- candidates

export interface Candidate {
  id: number;
  block_uuid: string;
  index: number | null;
  type: string;
  class: string | null;
  queue: string;
  retries: number;
  is_throttled: boolean;
  priority: string | null;
  /** State of the block's parent (the row whose child_block_uuid is this block), null for a root block. */
  parent_state: StepState | null;
}

/**
 * Due pending rows of a lane, oldest first, each with its parent's state, in ONE statement:
 * up to `highLimit` rows with priority='high', then up to `limit` rows with priority NULL. Each half is an
 * id-ordered range of the (state, group, priority, id) index (no sort), and the parent comes from the
 * (child_block_uuid, state) index. 0 = no limit.
 */
export async function dueCandidates(db: Db, t: StepTables, l: Lane, now: number, highLimit: number, limit: number): Promise<{ high: Candidate[]; normal: Candidate[] }> {
  const half = (high: boolean, n: number) => {
    const q = db({ c: t.steps })
      .leftJoin({ p: t.steps }, 'p.child_block_uuid', 'c.block_uuid')
      .where('c.state', 'pending')
      .andWhere((w) => w.whereNull('c.dispatch_after').orWhere('c.dispatch_after', '<=', new Date(now)))
      .orderBy('c.id')
      .select('c.id', 'c.block_uuid', 'c.index', 'c.type', 'c.class', 'c.queue', 'c.retries', 'c.is_throttled', 'c.priority', { parent_state: 'p.state' });
    if (high) q.where('c.priority', 'high');
    else q.whereNull('c.priority');
    if (n > 0) q.limit(n);
    return lane(q, l, 'c.group');
  };
  const rows: Array<Record<string, unknown>> = await db
    .select('*')
    .from(half(true, highLimit).as('h'))
    .unionAll((u) => u.select('*').from(half(false, limit).as('n')));
  const out = { high: [] as Candidate[], normal: [] as Candidate[] };
  for (const r of rows) {
    const c: Candidate = {
      id: Number(r.id),
      block_uuid: String(r.block_uuid),
      index: r.index === null || r.index === undefined ? null : Number(r.index),
      type: String(r.type),
      class: (r.class as string | null) ?? null,
      queue: String(r.queue ?? 'default'),
      retries: Number(r.retries ?? 0),
      is_throttled: r.is_throttled === true || r.is_throttled === 1 || r.is_throttled === '1',
      priority: (r.priority as string | null) ?? null,
      parent_state: (r.parent_state as StepState | null) ?? null,
    };
    (c.priority === 'high' ? out.high : out.normal).push(c);
  }
  // UNION ALL keeps each half's order on all three databases in practice; sort to be certain.
  out.high.sort((a, b) => a.id - b.id);
  out.normal.sort((a, b) => a.id - b.id);
  return out;
}

export async function countDuePending(db: Db, t: StepTables, l: Lane, now: number): Promise<number> {
  const q = db(t.steps)
    .where('state', 'pending')
    .andWhere((w) => w.whereNull('dispatch_after').orWhere('dispatch_after', '<=', new Date(now)))
    .count({ n: '*' });
  const rows: Array<{ n: number | string }> = await lane(q, l);
  return Number(rows[0]?.n ?? 0);
}

/** Blocks (of the given ones) that have a pending resolve-exception row. */
export async function blocksWithPendingResolver(db: Db, t: StepTables, blocks: string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (let i = 0; i < blocks.length; i += 500) {
    const rows: Array<{ block_uuid: string }> = await db(t.steps)
      .whereIn('block_uuid', blocks.slice(i, i + 500))
      .andWhere({ type: 'resolve-exception', state: 'pending' })
      .distinct('block_uuid');
    for (const r of rows) out.add(r.block_uuid);
  }
  return out;
}

export interface IndexTally {
  total: number;
  concluded: number;
}

/** For (block, index) pairs: per type, how many rows sit at that index and how many have concluded. Key "block|index|type". */
export async function tallyIndexes(db: Db, t: StepTables, pairs: Array<[string, number]>): Promise<Map<string, IndexTally>> {
  const out = new Map<string, IndexTally>();
  for (let i = 0; i < pairs.length; i += 200) {
    const chunk = pairs.slice(i, i + 200);
    const rows: Array<{ block_uuid: string; index: number; type: string; state: string; n: number | string }> = await db(t.steps)
      .whereIn(['block_uuid', 'index'], chunk)
      .select('block_uuid', 'index', 'type', 'state')
      .count({ n: '*' })
      .groupBy('block_uuid', 'index', 'type', 'state');
    for (const r of rows) {
      const key = `${r.block_uuid}|${Number(r.index)}|${r.type}`;
      const cur = out.get(key) ?? { total: 0, concluded: 0 };
      const n = Number(r.n);
      cur.total += n;
      if (r.state === 'completed' || r.state === 'skipped') cur.concluded += n;
      out.set(key, cur);
    }
  }
  return out;
}

export interface PhaseSignals {
  /** Non-completed terminal states reached by rows of the lane since `since`. */
  recent: Set<StepState>;
  /** The lane has a running parent (phases 3, 4 and 6 start from those). */
  runningParents: boolean;
}

/**
 * What could give the cleanup phases work in this lane: a row that was skipped, failed, stopped or
 * cancelled since `since` (phases 0, 1, 2, 5), or a running parent (phases 3, 4, 6). Both probes are
 * indexed ((state, updated_at) and (state, group, …)) and touch only recent or running rows.
 */
export async function phaseSignals(db: Db, t: StepTables, l: Lane, since: number): Promise<PhaseSignals> {
  const recentQ = db(t.steps).whereIn('state', ['skipped', 'failed', 'stopped', 'cancelled']).andWhere('updated_at', '>=', new Date(since)).distinct('state');
  const rows: Array<{ state: StepState }> = await lane(recentQ, l);
  const parentQ = db(t.steps).where('state', 'running').whereNotNull('child_block_uuid').first('id');
  const parent = await lane(parentQ, l);
  return { recent: new Set(rows.map((r) => r.state)), runningParents: !!parent };
}
