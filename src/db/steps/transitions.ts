/**
 * The state machine's writes. Every transition is ONE conditional UPDATE … WHERE id=? AND state=<from>,
 * so of two actors racing for the same move exactly one sees a changed row. The side effects of each
 * move (reference §2.2) are columns of the same UPDATE:
 *  - → dispatched: tick_id of the claiming tick;
 *  - → running: hostname, started_at, is_throttled=0;
 *  - → failed / dispatched|running|not-runnable → skipped / running → completed / not-runnable → cancelled:
 *    completed_at (and is_throttled=0 where the reference says so);
 *  - dispatched|running → pending: retries+1 unless the step is throttled; started_at, completed_at,
 *    duration and hostname reset;
 *  - into a terminal state: dedupe_key cleared, so a new live step with the same key may be created.
 * The guard "a parent completes only when its children are concluded" is checked by the callers
 * (src/steps/machine.ts) before the UPDATE; children only ever move towards terminal states.
 */
import type { Knex } from 'knex';
import { assertTransition, TERMINAL, type StepState } from '../../steps/states.js';
import type { StepTables } from '../../steps/tables.js';
import { dialect } from '../connection.js';

export interface TransitionOptions {
  /** Epoch ms of the move (injected clock). */
  now: number;
  /** Host name written by → running. */
  hostname?: string | null;
  /** Tick id written by pending → dispatched. */
  tickId?: number;
  /** Extra columns written by the same UPDATE (error_message, response, dispatch_after, priority…). */
  set?: Record<string, unknown>;
  /** Extra conditions, e.g. "updated_at < cutoff" for the recovery sweeps. */
  where?: (qb: Knex.QueryBuilder) => void;
}

type Db = Knex | Knex.Transaction;

/** The column writes of one allowed move (without the state check). */
export function transitionColumns(db: Db, from: StepState, to: StepState, opts: TransitionOptions): Record<string, unknown> {
  const now = new Date(opts.now);
  const cols: Record<string, unknown> = { state: to, updated_at: now };
  const completes = () => (cols.completed_at = now);
  const unthrottle = () => (cols.is_throttled = false);
  switch (to) {
    case 'dispatched':
      cols.tick_id = opts.tickId ?? null;
      break;
    case 'running':
      cols.hostname = opts.hostname ?? null;
      cols.started_at = now;
      unthrottle();
      break;
    case 'pending':
      cols.hostname = null;
      if (from === 'dispatched' || from === 'running') {
        // "retries + 1 unless throttled". When the same UPDATE also writes is_throttled, that new value
        // decides (SQL would read the old one); otherwise the row's current flag does.
        const throttled = opts.set?.is_throttled;
        if (throttled === undefined) cols.retries = db.raw('CASE WHEN ?? = ? THEN ?? ELSE ?? + 1 END', ['is_throttled', true, 'retries', 'retries']);
        else if (!throttled) cols.retries = db.raw('?? + 1', ['retries']);
        cols.started_at = null;
        cols.completed_at = null;
        cols.duration = 0;
        cols.execution_mode = null;
      }
      break;
    case 'completed':
      completes();
      unthrottle();
      break;
    case 'failed':
      completes();
      unthrottle();
      break;
    case 'skipped':
      if (from !== 'pending') completes();
      unthrottle();
      break;
    case 'cancelled':
      if (from === 'not-runnable') completes();
      break;
    case 'stopped':
      unthrottle();
      break;
    default:
      break;
  }
  if (TERMINAL.includes(to)) cols.dedupe_key = null;
  return { ...cols, ...opts.set };
}

/** Move one step from → to. Returns true if this call made the move (false: the step was not in `from`). */
export async function transitionStep(db: Db, tables: StepTables, id: number, from: StepState, to: StepState, opts: TransitionOptions): Promise<boolean> {
  assertTransition(from, to, id);
  const qb = db(tables.steps).where('id', id).andWhere('state', from);
  if (opts.where) opts.where(qb);
  const n = await qb.update(transitionColumns(db, from, to, opts));
  return Number(n) === 1;
}

/** Move many steps that are all in `from` (each row atomically). Returns how many moved. */
export async function transitionSteps(db: Db, tables: StepTables, ids: number[], from: StepState, to: StepState, opts: TransitionOptions): Promise<number> {
  assertTransition(from, to);
  if (ids.length === 0) return 0;
  let moved = 0;
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    const qb = db(tables.steps).whereIn('id', chunk).andWhere('state', from);
    if (opts.where) opts.where(qb);
    moved += Number(await qb.update(transitionColumns(db, from, to, opts)));
  }
  return moved;
}

/**
 * The dispatcher's claim: pending → dispatched for a batch, stamped with the tick id. Each row is claimed
 * atomically (WHERE state='pending'), and the ids that this tick won are returned: through RETURNING on
 * PostgreSQL and SQLite, and on MySQL by reading back the rows that carry this tick's (unique) id.
 */
export async function claimSteps(db: Knex, tables: StepTables, ids: number[], tickId: number, now: number): Promise<number[]> {
  if (ids.length === 0) return [];
  const cols = transitionColumns(db, 'pending', 'dispatched', { now, tickId });
  const d = dialect(db);
  const won: number[] = [];
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    if (d === 'mysql') {
      await db(tables.steps).whereIn('id', chunk).andWhere('state', 'pending').update(cols);
      const rows: Array<{ id: number }> = await db(tables.steps).whereIn('id', chunk).andWhere({ tick_id: tickId, state: 'dispatched' }).select('id');
      for (const r of rows) won.push(Number(r.id));
    } else {
      const rows = (await db(tables.steps).whereIn('id', chunk).andWhere('state', 'pending').update(cols, ['id'])) as Array<{ id: number } | number>;
      for (const r of rows) won.push(Number(typeof r === 'object' ? r.id : r));
    }
  }
  return won;
}

/**
 * A running parent whose compute finished while its children still run: it stays `running`, marked
 * execution_mode='awaiting-children' so the dispatcher's phase 6 may complete it once its tree concludes.
 * Not a state change, so not a transition; conditional on the step still running.
 */
export async function markAwaitingChildren(db: Db, tables: StepTables, id: number, now: number, set: Record<string, unknown> = {}): Promise<boolean> {
  const n = await db(tables.steps)
    .where({ id, state: 'running' })
    .update({ ...set, execution_mode: 'awaiting-children', updated_at: new Date(now) });
  return Number(n) === 1;
}

/**
 * Operator revive (steps:retry on a failed, stopped or cancelled step): OUTSIDE the state machine on
 * purpose — the machine has no way out of a terminal state. Conditional on the state the operator saw.
 * to='pending' resets the run (retries 0, errors and timings cleared); to='running' is used for the
 * ancestors that failed only because of this child: they go back to waiting for their children.
 */
export async function reviveStep(db: Db, tables: StepTables, id: number, from: StepState, to: 'pending' | 'running', now: number): Promise<boolean> {
  const at = new Date(now);
  const cols: Record<string, unknown> =
    to === 'pending'
      ? { state: 'pending', retries: 0, error_message: null, error_stack_trace: null, dispatch_after: null, started_at: null, completed_at: null, duration: 0, hostname: null, is_throttled: false, execution_mode: null, updated_at: at }
      : { state: 'running', error_message: null, completed_at: null, execution_mode: 'awaiting-children', updated_at: at };
  const n = await db(tables.steps).where({ id, state: from }).update(cols);
  return Number(n) === 1;
}

/** Make a pending step due now (steps:retry on a delayed step). */
export async function makeDueNow(db: Db, tables: StepTables, id: number, now: number): Promise<boolean> {
  const n = await db(tables.steps).where({ id, state: 'pending' }).update({ dispatch_after: null, updated_at: new Date(now) });
  return Number(n) === 1;
}
