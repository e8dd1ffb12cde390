/**
 * Operator actions on one step (steps:retry, steps:cancel, the admin UI).
 *
 * retry:  pending → due now; dispatched → pending (a counted requeue); running → pending only with force
 *         (the worker is presumed lost); failed / stopped / cancelled → revived: the step goes back to
 *         pending with a fresh budget, the later siblings that were cancelled because of it go back to
 *         pending, and each ancestor that failed only because of its children ("Child step(s) …") goes
 *         back to running, waiting for them. Reviving is an operator override outside the state machine.
 * cancel: pending / dispatched / not-runnable → cancelled through the machine; the dispatcher then cancels
 *         the later siblings and the children. A running step cannot be cancelled (no running → cancelled).
 */
import type { Knex } from 'knex';
import { findStep, parentOfBlock } from '../db/steps/repository.js';
import { makeDueNow, reviveStep, transitionStep } from '../db/steps/transitions.js';
import { UserError } from '../support/errors.js';
import type { Clock } from '../support/clock.js';
import type { Steps } from './api.js';
import type { StepState } from './states.js';
import type { StepTables } from './tables.js';
import type { Step } from './types.js';

/** States retryStep() acts on: pending (made due now), dispatched (requeued), failed / stopped / cancelled
 *  (revived); a running step only with force. */
export const RETRYABLE_STATES: readonly StepState[] = ['pending', 'dispatched', 'failed', 'stopped', 'cancelled'];
/** States cancelStep() acts on. */
export const CANCELLABLE_STATES: readonly StepState[] = ['pending', 'dispatched', 'not-runnable'];

export interface OperatorResult {
  id: number;
  action: string;
  from: string;
  to: string;
  revived: number[];
}

function notFound(id: number, t: StepTables): UserError {
  return new UserError(`Step ${id} does not exist in ${t.steps}`);
}

async function reviveLaterSiblings(db: Knex, t: StepTables, s: Step, now: number): Promise<number[]> {
  if (s.index === null) return [];
  const rows: Array<{ id: number }> = await db(t.steps).where({ block_uuid: s.block_uuid, state: 'cancelled', type: 'default' }).andWhere('index', '>', s.index).select('id');
  const out: number[] = [];
  for (const r of rows) if (await reviveStep(db, t, Number(r.id), 'cancelled', 'pending', now)) out.push(Number(r.id));
  return out;
}

export async function retryStep(steps: Steps, db: Knex, clock: Clock, id: number, force = false): Promise<OperatorResult> {
  const t = steps.tables;
  const s = await findStep(db, t, id);
  if (!s) throw notFound(id, t);
  const now = clock.now();
  const res: OperatorResult = { id, action: 'retry', from: s.state, to: s.state, revived: [] };
  switch (s.state) {
    case 'pending':
      if (!(await makeDueNow(db, t, id, now))) throw new UserError(`Step ${id} changed state meanwhile; try again`);
      res.to = 'pending';
      break;
    case 'dispatched':
      if (!(await transitionStep(db, t, id, 'dispatched', 'pending', { now, set: { dispatch_after: null } }))) throw new UserError(`Step ${id} changed state meanwhile; try again`);
      res.to = 'pending';
      break;
    case 'running':
      if (!force) throw new UserError(`Step ${id} is running on ${s.hostname ?? 'a worker'}; use --force if that worker is gone (or let steps:recover-stale handle it)`);
      if (!(await transitionStep(db, t, id, 'running', 'pending', { now, set: { dispatch_after: null, error_message: 'Requeued by an operator while running' } }))) throw new UserError(`Step ${id} changed state meanwhile; try again`);
      res.to = 'pending';
      break;
    case 'failed':
    case 'stopped':
    case 'cancelled': {
      if (!(await reviveStep(db, t, id, s.state, 'pending', now))) throw new UserError(`Step ${id} changed state meanwhile; try again`);
      res.to = 'pending';
      res.revived.push(...(await reviveLaterSiblings(db, t, s, now)));
      // Ancestors that failed only because of their children wait for them again.
      let child = s;
      for (let depth = 0; depth < 100; depth++) {
        const parent = await parentOfBlock(db, t, child.block_uuid);
        if (!parent || (parent.state !== 'failed' && parent.state !== 'stopped') || !parent.error_message?.startsWith('Child step(s)')) break;
        if (!(await reviveStep(db, t, parent.id, parent.state, 'running', now))) break;
        res.revived.push(parent.id, ...(await reviveLaterSiblings(db, t, parent, now)));
        child = parent;
      }
      break;
    }
    case 'completed':
    case 'skipped':
      throw new UserError(`Step ${id} already ${s.state}; there is nothing to retry`);
    default:
      throw new UserError(`Step ${id} is a dormant resolver (${s.state}); it runs when its block fails`);
  }
  await steps.wake([{ set: t.set, group: s.group, moved: true }]);
  return res;
}

export async function cancelStep(steps: Steps, db: Knex, clock: Clock, id: number): Promise<OperatorResult> {
  const t = steps.tables;
  const s = await findStep(db, t, id);
  if (!s) throw notFound(id, t);
  if (s.state === 'running') throw new UserError(`Step ${id} is running and cannot be cancelled (the state machine has no running → cancelled); it will finish or fail`);
  if (!CANCELLABLE_STATES.includes(s.state)) throw new UserError(`Step ${id} is already ${s.state}`);
  if (!(await transitionStep(db, t, id, s.state, 'cancelled', { now: clock.now(), set: { error_message: 'Cancelled by an operator' } }))) throw new UserError(`Step ${id} changed state meanwhile; try again`);
  await steps.wake([{ set: t.set, group: s.group, moved: true }]);
  return { id, action: 'cancel', from: s.state, to: 'cancelled', revived: [] };
}
