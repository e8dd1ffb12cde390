/**
 * Operator actions on steps, used by the admin step browser when the dispatcher's own commands
 * (`steps:retry`, `steps:cancel`, issue 4) are not installed. Kept minimal on purpose; each action is one
 * conditional UPDATE … WHERE id = ? AND state = ?, so it never races a dispatcher tick or a worker:
 *
 *   cancel: pending | dispatched | not-runnable → cancelled  (the transitions allowed by the state machine;
 *           a running step belongs to its worker and cannot be cancelled from outside)
 *   retry:  failed | stopped | cancelled → pending, leaf steps only. This is an operator-only move (the
 *           machine has no way out of a terminal state by itself): retries, timings, hostname, throttle and
 *           dispatch_after are reset, and the previous error is cleared from the row (the caller keeps it
 *           in the audit log).
 *
 * When the dispatcher lands, the web layer prefers its CLI (see src/web/steps-actions.ts), so these SQL
 * moves are only the fallback.
 */
import type { Knex } from 'knex';
import { normaliseStepPrefix } from '../../support/box-flags.js';

export const CANCELLABLE_STATES = ['pending', 'dispatched', 'not-runnable'] as const;
export const RETRYABLE_STATES = ['failed', 'stopped', 'cancelled'] as const;

export type StepActionResult =
  | { ok: true; from: string; to: string; previousError: string | null }
  | { ok: false; code: 'not-found' | 'conflict'; message: string };

export function stepsTable(prefix: string): string {
  return `${normaliseStepPrefix(prefix)}steps`;
}

async function loadState(db: Knex, table: string, id: number): Promise<{ state: string; child_block_uuid: string | null; error_message: string | null } | null> {
  const row = (await db(table).where({ id }).first('state', 'child_block_uuid', 'error_message')) as
    | { state: string; child_block_uuid: string | null; error_message: string | null }
    | undefined;
  return row ?? null;
}

export async function cancelStep(db: Knex, prefix: string, id: number, now: Date): Promise<StepActionResult> {
  const table = stepsTable(prefix);
  const row = await loadState(db, table, id);
  if (!row) return { ok: false, code: 'not-found', message: `Step ${id} does not exist in ${table}.` };
  if (!(CANCELLABLE_STATES as readonly string[]).includes(row.state)) {
    return { ok: false, code: 'conflict', message: `Step ${id} is ${row.state}; only ${CANCELLABLE_STATES.join(', ')} steps can be cancelled.` };
  }
  const patch: Record<string, unknown> = { state: 'cancelled', updated_at: now };
  if (row.state === 'not-runnable') patch.completed_at = now;
  const changed = await db(table).where({ id, state: row.state }).update(patch);
  if (changed !== 1) return { ok: false, code: 'conflict', message: `Step ${id} changed state while cancelling; reload and try again.` };
  return { ok: true, from: row.state, to: 'cancelled', previousError: row.error_message };
}

export async function retryStep(db: Knex, prefix: string, id: number, now: Date): Promise<StepActionResult> {
  const table = stepsTable(prefix);
  const row = await loadState(db, table, id);
  if (!row) return { ok: false, code: 'not-found', message: `Step ${id} does not exist in ${table}.` };
  if (!(RETRYABLE_STATES as readonly string[]).includes(row.state)) {
    return { ok: false, code: 'conflict', message: `Step ${id} is ${row.state}; only ${RETRYABLE_STATES.join(', ')} steps can be retried.` };
  }
  if (row.child_block_uuid) {
    return { ok: false, code: 'conflict', message: `Step ${id} is a parent; retry its failed child steps instead.` };
  }
  const changed = await db(table)
    .where({ id, state: row.state })
    .update({
      state: 'pending',
      retries: 0,
      is_throttled: false,
      dispatch_after: null,
      started_at: null,
      completed_at: null,
      duration: 0,
      hostname: null,
      error_message: null,
      error_stack_trace: null,
      updated_at: now,
    });
  if (changed !== 1) return { ok: false, code: 'conflict', message: `Step ${id} changed state while retrying; reload and try again.` };
  return { ok: true, from: row.state, to: 'pending', previousError: row.error_message };
}
