/**
 * Retry and cancel a step from the admin UI, in-process, through the dispatcher's own operator code
 * (src/steps/operator.ts: the functions behind `steps:retry ID` and `steps:cancel ID`) and the Step API
 * (src/steps/api.ts), so the web follows the dispatcher's exact semantics and wakes the dispatch daemon:
 *
 *   retry:  pending → due now; dispatched → pending (a counted requeue); failed / stopped / cancelled →
 *           revived with a fresh budget, with the later siblings cancelled because of it and the ancestors
 *           that failed only because of it. A running step is refused (the CLI's --force is not offered
 *           here: requeueing a step whose worker may still be alive is a shell decision).
 *   cancel: pending / dispatched / not-runnable → cancelled (the dispatcher then cancels what follows it).
 *
 * A refusal (wrong state, unknown step, lost race) is the operator code's UserError, returned as a message.
 */
import { findStep } from '../db/steps/repository.js';
import { Steps } from '../steps/api.js';
import { cancelStep, CANCELLABLE_STATES, retryStep, RETRYABLE_STATES, type OperatorResult } from '../steps/operator.js';
import { stepTables } from '../steps/tables.js';
import type { StepState } from '../steps/states.js';
import { UserError } from '../support/errors.js';
import type { WebServices } from './services.js';

export type StepAction = 'retry' | 'cancel';

export interface StepActionOutcome {
  ok: boolean;
  message: string;
  /** The step's state before the action (null when the step does not exist). */
  from: string | null;
  to: string | null;
  /** Other steps the retry revived (later siblings, ancestors). */
  revived: number[];
  previousError: string | null;
}

/** Which buttons the step page offers. */
export function stepActionsFor(state: StepState): { retry: boolean; cancel: boolean } {
  return { retry: RETRYABLE_STATES.includes(state), cancel: CANCELLABLE_STATES.includes(state) };
}

export function describeOutcome(r: OperatorResult): string {
  return `Step ${r.id}: ${r.from} → ${r.to}${r.revived.length ? ` (also revived ${r.revived.join(', ')})` : ''}.`;
}

export async function performStepAction(s: WebServices, action: StepAction, setPrefix: string, id: number): Promise<StepActionOutcome> {
  const steps = new Steps({ db: s.db, clock: s.clock, redis: s.redis, redisPrefix: s.prefix, log: s.log.child('steps') }, setPrefix);
  const before = await findStep(s.db, stepTables(setPrefix), id);
  const previousError = before?.error_message ?? null;
  try {
    const r = action === 'retry' ? await retryStep(steps, s.db, s.clock, id, false) : await cancelStep(steps, s.db, s.clock, id);
    return { ok: true, message: describeOutcome(r), from: r.from, to: r.to, revived: r.revived, previousError };
  } catch (err) {
    if (!(err instanceof UserError)) throw err; // a database or Redis failure is a 500, logged by the server
    return { ok: false, message: err.message.endsWith('.') ? err.message : `${err.message}.`, from: before?.state ?? null, to: null, revived: [], previousError };
  }
}
