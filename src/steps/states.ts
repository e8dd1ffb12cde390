/**
 * The step state machine (reference §2). States are stored as short words. A transition is allowed only
 * if it is listed in TRANSITIONS; anything else throws IllegalTransitionError before any SQL runs.
 * The side effects of each allowed move live in src/db/steps/transitions.ts, next to the conditional
 * UPDATE that performs it.
 */
export const STATES = ['pending', 'dispatched', 'running', 'completed', 'skipped', 'cancelled', 'failed', 'stopped', 'not-runnable'] as const;
export type StepState = (typeof STATES)[number];

/** Completed or skipped: counts as success for ordering. */
export const CONCLUDED: readonly StepState[] = ['completed', 'skipped'];
/** A failure of the step itself (failed) or of its business guard (stopped). */
export const FAILED_STATES: readonly StepState[] = ['failed', 'stopped'];
export const TERMINAL: readonly StepState[] = ['completed', 'skipped', 'cancelled', 'failed', 'stopped'];
/** Terminal plus dormant resolvers: what archive and purge may move. */
export const SETTLED: readonly StepState[] = [...TERMINAL, 'not-runnable'];
/** Work in progress: what the daemon's activity gate and the dedupe key look at. */
export const ACTIVE: readonly StepState[] = ['pending', 'dispatched', 'running'];
/** Not terminal (dormant resolvers included). */
export const NON_TERMINAL: readonly StepState[] = ['pending', 'dispatched', 'running', 'not-runnable'];

export const TRANSITIONS: Readonly<Record<StepState, readonly StepState[]>> = {
  pending: ['dispatched', 'running', 'cancelled', 'failed', 'skipped'],
  dispatched: ['running', 'cancelled', 'failed', 'pending', 'skipped'],
  running: ['completed', 'stopped', 'failed', 'skipped', 'pending'],
  'not-runnable': ['pending', 'cancelled', 'skipped'],
  completed: [],
  skipped: [],
  cancelled: [],
  failed: [],
  stopped: [],
};

export function isState(v: unknown): v is StepState {
  return typeof v === 'string' && (STATES as readonly string[]).includes(v);
}

export function isTerminal(s: StepState): boolean {
  return TERMINAL.includes(s);
}

export function canTransition(from: StepState, to: StepState): boolean {
  return TRANSITIONS[from]?.includes(to) ?? false;
}

/** A move the state machine does not allow. Thrown before any SQL runs. */
export class IllegalTransitionError extends Error {
  constructor(
    readonly stepId: number | null,
    readonly from: string,
    readonly to: string,
  ) {
    super(`Illegal step transition ${from} → ${to}${stepId === null ? '' : ` (step ${stepId})`}`);
    this.name = 'IllegalTransitionError';
  }
}

export function assertTransition(from: StepState, to: StepState, stepId: number | null = null): void {
  if (!isState(from) || !isState(to) || !canTransition(from, to)) throw new IllegalTransitionError(stepId, String(from), String(to));
}
