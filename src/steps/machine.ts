/**
 * The state machine as the rest of the code uses it: validate the move (IllegalTransitionError), apply the
 * parent guard for → completed, then one conditional UPDATE (src/db/steps/transitions.ts).
 */
import type { Knex } from 'knex';
import { transitionStep, type TransitionOptions } from '../db/steps/transitions.js';
import { summariseTree } from '../db/steps/tree.js';
import { assertTransition, type StepState } from './states.js';
import type { StepTables } from './tables.js';

/** A parent asked to complete while its child tree has not concluded. */
export class TransitionGuardError extends Error {
  constructor(
    readonly stepId: number,
    reason: string,
  ) {
    super(`Step ${stepId} cannot complete: ${reason}`);
    this.name = 'TransitionGuardError';
  }
}

/**
 * Move a step. Returns true if this call made the move, false if the step was no longer in `from`
 * (someone else won). Throws IllegalTransitionError for a move the machine does not allow, and
 * TransitionGuardError when a parent would complete before its children concluded.
 */
export async function moveStep(db: Knex | Knex.Transaction, tables: StepTables, id: number, from: StepState, to: StepState, opts: TransitionOptions): Promise<boolean> {
  assertTransition(from, to, id);
  if (to === 'completed') {
    const row = await db(tables.steps).where('id', id).select('child_block_uuid').first();
    if (row?.child_block_uuid) {
      const sum = await summariseTree(db, tables, row.child_block_uuid as string);
      if (sum.rows !== sum.concluded) throw new TransitionGuardError(id, `${sum.rows - sum.concluded} of its ${sum.rows} descendant step(s) have not concluded`);
    }
  }
  return transitionStep(db, tables, id, from, to, opts);
}
