/**
 * One dispatcher tick for one lane of one step set (reference §3):
 *  1. take the lane's CAS lock (reclaiming a lock idle for 20 s);
 *  2. dispatch due high-priority steps (production 1.20: money-critical work first), then up to maxPerTick
 *     due pending steps whose block and parent allow it; count saturation in Redis;
 *  3. the cleanup phases in order — skip under skipped parents, cascade-cancel after failures, promote
 *     resolvers, fail / stop parents of failed / stopped children, cancel children of dead parents,
 *     complete parents whose tree concluded. A phase ends the tick only if it really moved a row (and the
 *     daemon then ticks the lane again at once). Kraite runs the phases before distribution; no phase can
 *     make a step dispatchable that the rules of §2.4 would not already refuse, so ours run after it and
 *     new work does not wait for housekeeping;
 *  4. release the lock in `finally` (only if this tick still holds it).
 * Dispatching a step = the atomic pending→dispatched claim, then a BullMQ job on the step's queue named by
 * its class, id "step:<id>:<retries>", data {stepId, prefix, retries}, attempts 1 (retries live on the row).
 */
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import type { JobsOptions } from 'bullmq';
import {
  acquireLaneLock,
  blocksWithPendingResolver,
  cancellableInBlock,
  childIdsInState,
  countDuePending,
  dormantResolvers,
  dueCandidates,
  findBlockOfDeadParent,
  findBlockToResolve,
  findLaterSiblingsOfFailures,
  findParentsToConclude,
  findParentToFail,
  findUnderSkippedParents,
  pendingInBlocks,
  phaseSignals,
  recordSlowTick,
  releaseLaneLock,
  tallyIndexes,
  type Candidate,
  type IdState,
} from '../db/steps/dispatch-queries.js';
import { claimSteps, transitionSteps } from '../db/steps/transitions.js';
import { summariseTree } from '../db/steps/tree.js';
import type { QueueFactory } from '../queue/queues.js';
import type { Clock } from '../support/clock.js';
import { errorMessage } from '../support/errors.js';
import type { Logger } from '../support/log.js';
import { moveStep } from './machine.js';
import { JobPusher } from './pusher.js';
import { recordSaturation } from './saturation.js';
import type { StepState } from './states.js';
import { laneKey, laneName, metricGroup, stepTables, type Lane, type StepTables } from './tables.js';

export const DEFAULT_MAX_PER_TICK = 500;
export const LOCK_STALE_MS = 20_000;
export const SLOW_TICK_MS = 5_000;
/** Safety cap on one tick's high-priority pass (the reference has none). */
export const HIGH_PRIORITY_LIMIT = 5_000;
/** Tick ids reserved from Redis at a time. */
export const TICK_ID_BLOCK = 1000;
/** Claims and queue pushes are done in chunks of this size. */
export const DISPATCH_CHUNK = 500;
/**
 * Cleanup phases are skipped while nothing in the lane reached a terminal state since the last tick that
 * found them all idle (minus this margin, for clocks of other hosts that run behind).
 */
export const PHASE_SKEW_MS = 30_000;
/** Without a full/moved hint, a lane checks for new terminal rows at most this often. */
export const TRIGGER_INTERVAL_MS = 1_000;
/**
 * With `holdLock`, a tick that leaves more work behind keeps its lane's lock for the next tick (two
 * statements fewer per tick on a backlog), for at most this long from when it was taken; then it is
 * released and taken again, so other dispatchers get their turn.
 */
export const LOCK_HOLD_MAX_MS = 1_000;

export const PHASES = ['skip-descendants', 'cascade-cancel', 'promote-resolvers', 'fail-parents', 'stop-parents', 'cancel-children', 'complete-parents'] as const;

/** Job options of every step job. See docs/dispatcher.md ("Job ids") for why finished jobs are removed. */
export const STEP_JOB_OPTIONS: JobsOptions = { attempts: 1, removeOnComplete: true, removeOnFail: true };

export interface StepJobData {
  stepId: number;
  /** Table prefix of the step's set ('' or 'trading_'). */
  prefix: string;
  /** The row's retries when it was dispatched (also the last part of the job id). */
  retries: number;
}

export function stepJobId(stepId: number, retries: number): string {
  return `step:${stepId}:${retries}`;
}

export interface DispatcherDeps {
  db: Knex;
  redis: Redis;
  /** REDIS_PREFIX. */
  redisPrefix: string;
  queues: QueueFactory;
  clock: Clock;
  log: Logger;
  /** Shared by the dispatchers of one process so concurrent ticks push together. */
  pusher?: JobPusher;
}

export interface DispatcherOptions {
  /** Cap of the normal pass per tick (0 = unbounded). Default 500 (Kraite: 100). */
  maxPerTick?: number;
  lockStaleMs?: number;
  slowTickMs?: number;
  /**
   * Keep a lane's lock between back-to-back ticks while it has more work (LOCK_HOLD_MAX_MS at most). Only
   * for a caller that ticks such a lane again at once and calls releaseHeld() otherwise (the daemon).
   */
  holdLock?: boolean;
}

export interface TickResult {
  set: string;
  lane: Lane;
  tickId: number | null;
  /** False when another tick held the lane's lock. */
  acquired: boolean;
  /** Stage reached: 0 = lock taken, 1 = candidates dispatched, 2 = cleanup phases done. */
  progress: number;
  /** Name of the cleanup phase that moved rows and ended the tick, if any. */
  phase: string | null;
  /** Rows moved by cleanup phases. */
  changed: number;
  highDispatched: number;
  dispatched: number;
  /** The normal pass filled its cap. */
  capped: boolean;
  /** Due pending rows left after a capped pass (0 when not capped). */
  pendingAfter: number;
  /** More work is likely right now (phase work, a full pass, a truncated high pass). */
  more: boolean;
  /** The cleanup phases were skipped (nothing could need them). */
  phasesSkipped: boolean;
  durationMs: number;
  error?: string;
}

export class StepDispatcher {
  readonly tables: StepTables;
  private readonly maxPerTick: number;
  private readonly lockStaleMs: number;
  private readonly slowTickMs: number;
  private readonly pusher: JobPusher;
  private readonly holdLock: boolean;
  /** Per lane: the lock this dispatcher still holds after a tick (the tick id it was taken with, and when). */
  private readonly held = new Map<string, { lockId: number; since: number; lane: Lane }>();
  /** Per lane: start of the last tick whose cleanup phases all found nothing. */
  private readonly cleanSince = new Map<string, number>();
  private idNext = 0;
  private idEnd = 0;
  /** Per lane: when phaseTrigger last said "nothing to do". */
  private readonly checkedAt = new Map<string, number>();
  /** Per lane: the last COUNT of due pending rows after a capped pass. */
  private readonly counted = new Map<string, { at: number; n: number; dispatchedSince: number }>();

  constructor(
    private readonly deps: DispatcherDeps,
    readonly prefix: string,
    opts: DispatcherOptions = {},
  ) {
    this.tables = stepTables(prefix);
    this.maxPerTick = opts.maxPerTick ?? DEFAULT_MAX_PER_TICK;
    this.lockStaleMs = opts.lockStaleMs ?? LOCK_STALE_MS;
    this.slowTickMs = opts.slowTickMs ?? SLOW_TICK_MS;
    this.pusher = deps.pusher ?? new JobPusher(deps.queues);
    this.holdLock = opts.holdLock ?? false;
  }

  /** Lanes whose lock this dispatcher holds between ticks. */
  heldLanes(): string[] {
    return [...this.held.keys()];
  }

  /**
   * Release the locks held between ticks, except those of the lanes in `keep` (lane keys, '' = NULL lane)
   * which are about to be ticked again. Errors are logged; such a lock goes stale and is reclaimed.
   */
  async releaseHeld(keep: Set<string> = new Set()): Promise<void> {
    for (const [key, h] of [...this.held]) {
      if (keep.has(key)) continue;
      this.held.delete(key);
      try {
        await releaseLaneLock(this.deps.db, this.tables, h.lane, h.lockId, this.deps.clock.now());
      } catch (err) {
        this.deps.log.error('dispatcher lock not released', { set: this.tables.set, group: key, tick: h.lockId, error: errorMessage(err) });
      }
    }
  }

  /**
   * One tick of one lane. Never throws: errors are logged and returned in `error`. The cleanup phases run
   *  - always with `full` (the daemon's periodic sweep) or `moved` (a step of the lane changed state), and
   *    on the first tick of a lane by this dispatcher;
   *  - otherwise when a row of the lane reached a terminal state since the phases last found nothing
   *    (phaseTrigger, asked at most once per TRIGGER_INTERVAL_MS).
   */
  async tick(l: Lane, opts: { full?: boolean; moved?: boolean } = {}): Promise<TickResult> {
    const { db, redis, redisPrefix, clock, log } = this.deps;
    const started = clock.now();
    const r: TickResult = { set: this.tables.set, lane: l, tickId: null, acquired: false, progress: 0, phase: null, changed: 0, highDispatched: 0, dispatched: 0, capped: false, pendingAfter: 0, more: false, phasesSkipped: false, durationMs: 0 };
    let tickId: number;
    let lockId: number;
    const key = laneKey(l);
    try {
      tickId = await this.nextTickId();
      r.tickId = tickId;
      const h = this.held.get(key);
      if (h && started - h.since < LOCK_HOLD_MAX_MS) {
        // Still ours from the previous tick of this lane.
        lockId = h.lockId;
        r.acquired = true;
      } else {
        if (h) {
          // Held past LOCK_HOLD_MAX_MS: give it back, then race for it like everyone else.
          this.held.delete(key);
          await releaseLaneLock(db, this.tables, l, h.lockId, started);
        }
        lockId = tickId;
        r.acquired = await acquireLaneLock(db, this.tables, l, tickId, started, this.lockStaleMs);
        if (r.acquired) this.held.set(key, { lockId, since: started, lane: l });
      }
    } catch (err) {
      r.error = errorMessage(err);
      r.durationMs = clock.now() - started;
      log.error('dispatcher tick could not start', { set: r.set, group: laneName(l), error: r.error });
      return r;
    }
    if (!r.acquired) {
      r.durationMs = clock.now() - started;
      log.debug('lock_not_acquired', { set: r.set, group: laneName(l) });
      return r;
    }
    try {
      const max = this.maxPerTick;
      // One statement fetches both passes; one row past the cap tells whether work is left.
      const now = clock.now();
      const { high, normal: fetched } = await dueCandidates(db, this.tables, l, now, HIGH_PRIORITY_LIMIT, max > 0 ? max + 1 : 0);
      if (high.length) r.highDispatched = await this.dispatch(high, tickId);
      if (high.length >= HIGH_PRIORITY_LIMIT) r.more = true;
      const page = max > 0 ? fetched.slice(0, max) : fetched;
      const result = page.length ? await this.dispatchCounting(page, tickId) : { dispatchable: 0, dispatched: 0 };
      r.dispatched = result.dispatched;
      r.capped = max > 0 && page.length >= max;
      if (r.capped && fetched.length > max) r.pendingAfter = await this.pendingAfter(l, now);
      if (r.pendingAfter > 0 && result.dispatchable > 0) r.more = true;
      try {
        await recordSaturation(redis, redisPrefix, this.prefix, metricGroup(this.prefix, l), now, { dispatched: result.dispatchable, capped: max > 0 && result.dispatchable >= max, pendingAfter: r.pendingAfter });
      } catch (err) {
        // Metrics must never cost a dispatch; the miss is logged.
        log.warn('saturation counters not written', { set: r.set, group: laneName(l), error: errorMessage(err) });
      }
      r.progress = 1;

      // Cleanup after distribution: nothing a phase would cancel, skip or fail is dispatchable (a failed or
      // unfinished previous index, a parent that is not running or completed, a dormant resolver), so
      // running the phases second only saves new work the wait.
      const phases = await this.phasesToRun(l, started, opts);
      for (const phase of phases) {
        const n = await this.runPhase(phase, l);
        if (n > 0) {
          r.phase = PHASES[phase]!;
          r.changed = n;
          r.more = true;
          this.cleanSince.delete(laneName(l));
          return r;
        }
      }
      r.phasesSkipped = phases.length < PHASES.length;
      if (phases.length > 0) this.cleanSince.set(laneName(l), started);
      r.progress = 2;
      return r;
    } catch (err) {
      r.error = errorMessage(err);
      log.error('dispatcher tick failed', { set: r.set, group: laneName(l), tick: tickId, progress: r.progress, error: r.error });
      return r;
    } finally {
      await this.finish(r, l, lockId, started);
    }
  }

  /**
   * Tick ids are unique per set across every dispatcher: reserved from Redis in blocks (INCRBY), so a tick
   * costs no extra round trip for its id.
   */
  private async nextTickId(): Promise<number> {
    if (this.idNext >= this.idEnd) {
      const end = await this.deps.redis.incrby(`${this.deps.redisPrefix}:steps:${this.tables.set}:tick_seq`, TICK_ID_BLOCK);
      this.idNext = end - TICK_ID_BLOCK + 1;
      this.idEnd = end + 1;
    }
    return this.idNext++;
  }

  /**
   * Which cleanup phases this tick runs. All of them on `full` (the daemon's periodic sweep) and on the
   * lane's first tick by this dispatcher. Otherwise only the phases something could have given work since
   * they last ran clean (minus PHASE_SKEW_MS): skipped rows → 0; failed, stopped or cancelled rows → 1, 2, 5;
   * a running parent → 3, 4, 6. Without a `moved` hint the lane is checked at most once per
   * TRIGGER_INTERVAL_MS.
   */
  private async phasesToRun(l: Lane, started: number, opts: { full?: boolean; moved?: boolean }): Promise<number[]> {
    const key = laneName(l);
    const clean = this.cleanSince.get(key);
    if (opts.full || clean === undefined) return [0, 1, 2, 3, 4, 5, 6];
    if (!opts.moved && started - Math.max(clean, this.checkedAt.get(key) ?? 0) < TRIGGER_INTERVAL_MS) return [];
    const sig = await phaseSignals(this.deps.db, this.tables, l, clean - PHASE_SKEW_MS);
    const set = new Set<number>();
    if (sig.recent.has('skipped')) set.add(0);
    if (sig.recent.has('failed') || sig.recent.has('stopped') || sig.recent.has('cancelled')) [1, 2, 5].forEach((p) => set.add(p));
    if (sig.runningParents) [3, 4, 6].forEach((p) => set.add(p));
    if (set.size === 0) this.checkedAt.set(key, started);
    return [...set].sort((a, b) => a - b);
  }

  /**
   * Due pending rows left after a capped pass (known to be ≥ 1). Counted at most once a second per lane —
   * on a deep backlog the COUNT costs more than the tick — and estimated in between from the last count.
   */
  private async pendingAfter(l: Lane, now: number): Promise<number> {
    const key = laneName(l);
    const last = this.counted.get(key);
    if (last && now - last.at < 1000) {
      last.dispatchedSince += this.maxPerTick;
      return Math.max(1, last.n - last.dispatchedSince);
    }
    const n = await countDuePending(this.deps.db, this.tables, l, this.deps.clock.now());
    this.counted.set(key, { at: now, n, dispatchedSince: 0 });
    return Math.max(1, n);
  }

  private async finish(r: TickResult, l: Lane, lockId: number, started: number): Promise<void> {
    const { db, clock, log } = this.deps;
    const ended = clock.now();
    r.durationMs = ended - started;
    const tickId = r.tickId ?? lockId;
    const key = laneKey(l);
    const h = this.held.get(key);
    try {
      if (this.holdLock && r.more && !r.error && h && ended - h.since < LOCK_HOLD_MAX_MS) {
        // Kept for the next tick of this lane (the daemon ticks it again at once, or releases it).
      } else {
        this.held.delete(key);
        const released = await releaseLaneLock(db, this.tables, l, lockId, ended);
        if (!released) log.warn('dispatcher lock was taken over during the tick', { set: r.set, group: laneName(l), tick: lockId, duration_ms: r.durationMs });
      }
      if (r.durationMs > this.slowTickMs) {
        await recordSlowTick(db, this.tables, { id: tickId, group: l, progress: r.progress, dispatched: r.dispatched + r.highDispatched, started_at: started, completed_at: ended, duration: r.durationMs });
        log.warn('slow dispatcher tick', { set: r.set, group: laneName(l), tick: tickId, duration_ms: r.durationMs, progress: r.progress });
      }
    } catch (err) {
      // The lock stays taken; it is reclaimed after lockStaleMs by the next tick or by recover-stale.
      r.error ??= errorMessage(err);
      log.error('dispatcher lock not released', { set: r.set, group: laneName(l), tick: tickId, error: errorMessage(err) });
    }
  }

  // ------------------------------------------------------------------------------------------ phases

  /** Run one cleanup phase; returns the number of rows it moved. A failing phase counts as no work. */
  private async runPhase(phase: number, l: Lane): Promise<number> {
    try {
      switch (phase) {
        case 0:
          return await this.skipDescendants(l);
        case 1:
          return await this.cascadeCancel(l);
        case 2:
          return await this.promoteResolvers(l);
        case 3:
          return await this.failParent(l, 'failed');
        case 4:
          return await this.failParent(l, 'stopped');
        case 5:
          return await this.cancelChildren(l);
        case 6:
          return await this.completeParents(l);
        default:
          return 0;
      }
    } catch (err) {
      // Reference §3.2: a phase failure is logged and counts as no work, so one bad row never wedges a lane.
      this.deps.log.error('dispatcher phase failed', { set: this.tables.set, group: laneName(l), phase: PHASES[phase], error: errorMessage(err) });
      return 0;
    }
  }

  private async moveAll(rows: IdState[], to: StepState, set?: Record<string, unknown>): Promise<number> {
    const byState = new Map<StepState, number[]>();
    for (const r of rows) byState.set(r.state, [...(byState.get(r.state) ?? []), Number(r.id)]);
    let n = 0;
    for (const [from, ids] of byState) n += await transitionSteps(this.deps.db, this.tables, ids, from, to, { now: this.deps.clock.now(), set });
    return n;
  }

  private async skipDescendants(l: Lane): Promise<number> {
    let total = 0;
    for (let depth = 0; depth < 100; depth++) {
      const rows = await findUnderSkippedParents(this.deps.db, this.tables, l);
      if (rows.length === 0) break;
      const n = await this.moveAll(rows, 'skipped');
      total += n;
      if (n === 0) break;
    }
    return total;
  }

  private async cascadeCancel(l: Lane): Promise<number> {
    const rows = await findLaterSiblingsOfFailures(this.deps.db, this.tables, l);
    if (rows.length === 0) return 0;
    let n = await this.moveAll(rows, 'cancelled');
    const parentsBlocks = rows.filter((r) => r.child_block_uuid).map((r) => String(r.child_block_uuid));
    const kids = await pendingInBlocks(this.deps.db, this.tables, parentsBlocks);
    if (kids.length) n += await transitionSteps(this.deps.db, this.tables, kids, 'pending', 'cancelled', { now: this.deps.clock.now() });
    return n;
  }

  private async promoteResolvers(l: Lane): Promise<number> {
    const block = await findBlockToResolve(this.deps.db, this.tables, l);
    if (!block) return 0;
    const ids = await dormantResolvers(this.deps.db, this.tables, block);
    return transitionSteps(this.deps.db, this.tables, ids, 'not-runnable', 'pending', { now: this.deps.clock.now() });
  }

  private async failParent(l: Lane, childState: 'failed' | 'stopped'): Promise<number> {
    const p = await findParentToFail(this.deps.db, this.tables, l, childState);
    if (!p) return 0;
    const ids = await childIdsInState(this.deps.db, this.tables, p.child_block_uuid, childState);
    const message = `Child step(s) ${childState}: [${ids.join(', ')}]`;
    const moved = await moveStep(this.deps.db, this.tables, p.id, 'running', childState, { now: this.deps.clock.now(), set: { error_message: message, execution_mode: null } });
    return moved ? 1 : 0;
  }

  private async cancelChildren(l: Lane): Promise<number> {
    const block = await findBlockOfDeadParent(this.deps.db, this.tables, l);
    if (!block) return 0;
    return this.moveAll(await cancellableInBlock(this.deps.db, this.tables, block), 'cancelled');
  }

  private async completeParents(l: Lane): Promise<number> {
    const parents = await findParentsToConclude(this.deps.db, this.tables, l);
    let n = 0;
    for (const p of parents) {
      try {
        const sum = await summariseTree(this.deps.db, this.tables, p.child_block_uuid);
        if (sum.open > 0 || sum.failedOrStopped > 0 || sum.rows === 0) continue;
        const now = this.deps.clock.now();
        if (sum.rows === sum.concluded) {
          if (await moveStep(this.deps.db, this.tables, p.id, 'running', 'completed', { now, set: { execution_mode: null } })) n++;
        } else {
          // Cancelled children with no failure (an operator cancel): the parent cannot conclude, and the
          // machine has no running → cancelled, so it fails with the reason.
          const ids = await childIdsInState(this.deps.db, this.tables, p.child_block_uuid, 'cancelled');
          const message = `Child step(s) cancelled: [${ids.join(', ')}]`;
          if (await moveStep(this.deps.db, this.tables, p.id, 'running', 'failed', { now, set: { error_message: message, execution_mode: null } })) n++;
        }
      } catch (err) {
        // Per-parent errors are logged and the sweep goes on (reference §3.2, phase 6).
        this.deps.log.error('could not conclude parent step', { set: this.tables.set, step: p.id, error: errorMessage(err) });
      }
    }
    return n;
  }

  // ------------------------------------------------------------------------------------------ dispatch

  private async dispatch(cands: Candidate[], tickId: number): Promise<number> {
    return (await this.dispatchCounting(cands, tickId)).dispatched;
  }

  /** Filter to dispatchable candidates, claim them, push their jobs. */
  private async dispatchCounting(cands: Candidate[], tickId: number): Promise<{ dispatchable: number; dispatched: number }> {
    const ok = await this.dispatchable(cands);
    let dispatched = 0;
    for (let i = 0; i < ok.length; i += DISPATCH_CHUNK) {
      const chunk = ok.slice(i, i + DISPATCH_CHUNK);
      const won = new Set(await claimSteps(this.deps.db, this.tables, chunk.map((c) => c.id), tickId, this.deps.clock.now()));
      const claimed = chunk.filter((c) => won.has(c.id));
      dispatched += await this.push(claimed);
    }
    return { dispatchable: ok.length, dispatched };
  }

  /** Reference §2.4: which candidates may run now. */
  async dispatchable(cands: Candidate[]): Promise<Candidate[]> {
    const { db } = this.deps;
    const needPrev = cands.filter((c) => c.index !== null && c.index > 1);
    const defaultBlocks = [...new Set(needPrev.filter((c) => c.type !== 'resolve-exception').map((c) => c.block_uuid))];
    const withResolver = defaultBlocks.length ? await blocksWithPendingResolver(db, this.tables, defaultBlocks) : new Set<string>();
    const pairs = new Map<string, [string, number]>();
    for (const c of needPrev) pairs.set(`${c.block_uuid}|${c.index! - 1}`, [c.block_uuid, c.index! - 1]);
    const tally = pairs.size ? await tallyIndexes(db, this.tables, [...pairs.values()]) : new Map();
    const prevOk = (c: Candidate, type: string): boolean => {
      if (c.index === null || c.index <= 1) return true;
      const t = tally.get(`${c.block_uuid}|${c.index - 1}|${type}`);
      return !!t && t.total > 0 && t.concluded === t.total;
    };
    return cands.filter((c) => {
      if (c.type === 'resolve-exception') return prevOk(c, 'resolve-exception');
      const ps = c.parent_state;
      if (ps !== null) {
        if (c.index === null) return ps === 'running';
        if (ps !== 'running' && ps !== 'completed') return false;
      }
      return prevOk(c, withResolver.has(c.block_uuid) ? 'resolve-exception' : 'default');
    });
  }

  /** Push claimed steps to their queues (one addBulk per queue). A push failure puts them back to pending. */
  private async push(claimed: Candidate[]): Promise<number> {
    const { db, clock, log } = this.deps;
    if (claimed.length === 0) return 0;
    const noClass = claimed.filter((c) => !c.class);
    if (noClass.length) {
      await transitionSteps(db, this.tables, noClass.map((c) => c.id), 'dispatched', 'failed', { now: clock.now(), set: { error_message: 'Step has no class to run' } });
    }
    const byQueue = new Map<string, Candidate[]>();
    for (const c of claimed) if (c.class) byQueue.set(c.queue, [...(byQueue.get(c.queue) ?? []), c]);
    let pushed = 0;
    for (const [name, list] of byQueue) {
      try {
        await this.pusher.push(
          name,
          list.map((c) => ({
            name: c.class!,
            data: { stepId: c.id, prefix: this.prefix, retries: c.retries } satisfies StepJobData,
            opts: { ...STEP_JOB_OPTIONS, jobId: stepJobId(c.id, c.retries) },
          })),
        );
        pushed += list.length;
      } catch (err) {
        // Not pushed: back to pending (a counted retry, per the machine) so the next tick tries again.
        const back = await transitionSteps(db, this.tables, list.map((c) => c.id), 'dispatched', 'pending', { now: clock.now() });
        log.error('could not push step jobs; steps returned to pending', { set: this.tables.set, queue: name, steps: list.length, returned: back, error: errorMessage(err) });
        throw err;
      }
    }
    return pushed;
  }
}
