/**
 * Process balancing of one supervisor.
 *  - simple: the configured count, always.
 *  - auto:   desired = ceil(backlog × average runtime / balanceTargetMs), clamped to [min, max]; the count moves
 *            toward it by at most balanceMaxShift per balanceCooldown (time from the injected clock). An empty
 *            backlog scales down to min.
 */
export interface BalanceInput {
  current: number;
  min: number;
  max: number;
  maxShift: number;
  /** Waiting jobs of the supervisor's queues. */
  backlog: number;
  /** Average runtime of recent jobs, ms (0 when unknown: then one process per waiting job is assumed to take targetMs). */
  avgRuntimeMs: number;
  targetMs: number;
}

export function desiredProcesses(i: BalanceInput): number {
  if (i.backlog <= 0) return i.min;
  const runtime = i.avgRuntimeMs > 0 ? i.avgRuntimeMs : i.targetMs;
  const want = Math.ceil((i.backlog * runtime) / Math.max(1, i.targetMs));
  return Math.min(i.max, Math.max(i.min, want));
}

/** The next process count: at most maxShift away from current, toward the desired count. */
export function nextProcessCount(i: BalanceInput): number {
  const desired = desiredProcesses(i);
  const shift = Math.max(1, i.maxShift);
  if (desired > i.current) return Math.min(desired, i.current + shift);
  if (desired < i.current) return Math.max(desired, i.current - shift);
  return i.current;
}

/** Cooldown gate: call decide() at any rate; it changes the count at most once per cooldownMs. */
export class AutoBalancer {
  private lastChangeAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly cooldownMs: number) {}

  decide(now: number, input: BalanceInput): number {
    if (now - this.lastChangeAt < this.cooldownMs) return input.current;
    const next = nextProcessCount(input);
    if (next !== input.current) this.lastChangeAt = now;
    return next;
  }
}
