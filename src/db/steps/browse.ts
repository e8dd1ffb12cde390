/**
 * Read-only aggregates of a step set for the admin UI's step browser and dashboard (src/web/data/): the
 * class × state pivot, the groups in use, the blocks behind one pivot cell, and the lane lock rows. Single
 * rows, lists, blocks and parents come from ./repository.ts; nothing here writes.
 */
import type { Knex } from 'knex';
import type { StepTables } from '../../steps/tables.js';
import { ACTIVE, type StepState } from '../../steps/states.js';
import { toBool, toMillis, toNumber } from '../../support/sql-values.js';

type Db = Knex | Knex.Transaction;

export interface PivotCount {
  class: string | null;
  state: StepState;
  isThrottled: boolean;
  n: number;
}

export interface PivotAggregates {
  /** Rows per (class, state, is_throttled). */
  counts: PivotCount[];
  /** Classes that own a child block somewhere in the set. */
  parentClasses: Array<string | null>;
  /** Per class: the oldest started_at (epoch ms) of its running rows. */
  oldestRunning: Array<{ class: string | null; startedAt: number | null }>;
  /** Per class: the highest retries among its active (pending, dispatched, running) rows. */
  maxActiveRetries: Array<{ class: string | null; retries: number }>;
}

/** The four GROUP BY reads behind the class × state pivot. */
export async function pivotAggregates(db: Db, t: StepTables): Promise<PivotAggregates> {
  const counts = (await db(t.steps).select('class', 'state', 'is_throttled').count({ n: '*' }).groupBy('class', 'state', 'is_throttled')) as Array<Record<string, unknown>>;
  const parents = (await db(t.steps).distinct('class').whereNotNull('child_block_uuid')) as Array<{ class: string | null }>;
  const running = (await db(t.steps).select('class').min({ oldest: 'started_at' }).where('state', 'running').groupBy('class')) as Array<Record<string, unknown>>;
  const retries = (await db(t.steps).select('class').max({ m: 'retries' }).whereIn('state', [...ACTIVE]).groupBy('class')) as Array<Record<string, unknown>>;
  return {
    counts: counts.map((r) => ({ class: (r.class as string | null) ?? null, state: r.state as StepState, isThrottled: toBool(r.is_throttled), n: Number(r.n) })),
    parentClasses: parents.map((r) => r.class ?? null),
    oldestRunning: running.map((r) => ({ class: (r.class as string | null) ?? null, startedAt: toMillis(r.oldest) })),
    maxActiveRetries: retries.map((r) => ({ class: (r.class as string | null) ?? null, retries: toNumber(r.m) ?? 0 })),
  };
}

/** The named groups that have rows in the set, sorted. */
export async function groupsInUse(db: Db, t: StepTables): Promise<string[]> {
  const rows = (await db(t.steps).distinct('group').whereNotNull('group').orderBy('group')) as Array<{ group: string }>;
  return rows.map((r) => r.group);
}

export interface CellBlock {
  blockUuid: string;
  steps: number;
  /** Epoch ms of the newest updated_at among the cell's rows in the block. */
  latest: number | null;
}

/**
 * The most recent blocks (by their newest row id) holding rows of one pivot cell. `cls` null = rows
 * without a class; `throttled` splits pending rows like the pivot does (true: only throttled ones).
 */
export async function recentBlocksOfCell(db: Db, t: StepTables, cell: { cls: string | null; state: StepState; throttled?: boolean }, limit = 10): Promise<CellBlock[]> {
  const q = db(t.steps).select('block_uuid').count({ n: '*' }).max({ latest: 'updated_at' }).max({ maxId: 'id' }).where('state', cell.state).groupBy('block_uuid').orderBy('maxId', 'desc').limit(limit);
  if (cell.cls === null) q.whereNull('class');
  else q.where('class', cell.cls);
  if (cell.throttled !== undefined) q.where('is_throttled', cell.throttled);
  const rows = (await q) as Array<Record<string, unknown>>;
  return rows.map((r) => ({ blockUuid: String(r.block_uuid), steps: Number(r.n), latest: toMillis(r.latest) }));
}

export interface LaneLock {
  /** null for the NULL lane (stored as ''). */
  group: string | null;
  /** false while a tick holds the lane. */
  canDispatch: boolean;
  /** Epoch ms of the lane's last completed tick. */
  lastTickCompleted: number | null;
}

/** The rows of {p}steps_dispatcher: one lock per lane, stamped by every tick that completes. */
export async function laneLocks(db: Db, t: StepTables): Promise<LaneLock[]> {
  const rows = (await db(t.dispatcher).select('group', 'can_dispatch', 'last_tick_completed').orderBy('id')) as Array<Record<string, unknown>>;
  return rows.map((r) => ({ group: r.group === '' || r.group === null ? null : String(r.group), canDispatch: toBool(r.can_dispatch), lastTickCompleted: toMillis(r.last_tick_completed) }));
}
