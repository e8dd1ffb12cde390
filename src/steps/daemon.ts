/**
 * `kraite:dispatch-daemon`: one process, one Redis command connection (shared with the BullMQ producers)
 * and one database connection, that keeps both step sets moving (reference §4, beaten on latency):
 *
 *   cycle: kill switch (CAN_DISPATCH_STEPS) → freeze marker → per-set pause (one MGET) →
 *          per set, the lanes that have active rows (one DISTINCT query, the cheap "EXISTS" gate) plus the
 *          lanes someone woke, the lanes whose last tick left work, and every lane once a minute →
 *          their ticks, `concurrency` at a time; a failing lane never stops the others.
 *   wait:  XREAD BLOCK on the wake stream (src/steps/notify.ts) until a step is created or finishes, or a
 *          delayed step falls due, or the cadence runs out: --sleep while a set has active work, --idle-sleep
 *          otherwise. A lane whose tick moved rows or filled its cap is ticked again at once.
 *
 * Signals only set a flag: the current cycle finishes (every tick releases its lock in `finally`), then
 * the loop ends and the caller closes the connections. A heartbeat goes to Redis every 5 s.
 */
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../config/index.js';
import { activeLanes, activeSets, openLanes } from '../db/steps/dispatch-queries.js';
import type { QueueFactory } from '../queue/queues.js';
import { dispatchPauseKey, isFrozen, stepSetName } from '../support/box-flags.js';
import type { Clock } from '../support/clock.js';
import { errorMessage } from '../support/errors.js';
import { writeHeartbeat } from '../support/heartbeat.js';
import type { Logger } from '../support/log.js';
import { StepDispatcher, type TickResult } from './dispatcher.js';
import { notifyStreamKey, parseNotifyEntries } from './notify.js';
import { JobPusher } from './pusher.js';
import { laneKey, STEP_PREFIXES, type Lane } from './tables.js';

export const HEARTBEAT_DAEMON = 'dispatch-daemon';
/** How long the daemon trusts its last read of the pause flags. */
export const PAUSE_CACHE_MS = 250;

export interface DaemonOptions {
  /** Longest wait (ms) between cycles while a set has active work. Default 1000. */
  sleepMs?: number;
  /** Longest wait (ms) when there is no active work, or dispatch is gated. Default 500. */
  idleSleepMs?: number;
  /** Lanes ticked at the same time. Default 4. */
  concurrency?: number;
  /** Normal-pass cap per tick. Default 100. */
  maxPerTick?: number;
  /** Every lane with unfinished rows (dormant resolvers included) gets a full tick this often (ms). Default 60 000. */
  sweepIntervalMs?: number;
  heartbeatIntervalMs?: number;
  /** Step sets to run. Default: '' and 'trading_'. */
  prefixes?: string[];
  lockStaleMs?: number;
}

export interface DaemonDeps {
  config: AppConfig;
  db: Knex;
  redis: Redis;
  queues: QueueFactory;
  clock: Clock;
  log: Logger;
}

export interface SetState {
  active: boolean;
  paused: boolean;
  last_tick_at: string | null;
}

export interface CycleResult {
  /** Why nothing ran: 'kill-switch', 'frozen', 'error', or null. */
  gated: string | null;
  ticks: TickResult[];
  anyActive: boolean;
  dispatched: number;
}

interface Work {
  prefix: string;
  lane: Lane;
  full: boolean;
  moved: boolean;
}

interface Timer {
  at: number;
  set: string;
  group: string | null;
}

export class DispatchDaemon {
  private readonly dispatchers = new Map<string, StepDispatcher>();
  private readonly prefixes: string[];
  private readonly opts: Required<Omit<DaemonOptions, 'prefixes' | 'maxPerTick' | 'lockStaleMs'>>;
  private stopping = false;
  private lastId = '0-0';
  private readonly dirty = new Map<string, Set<string>>();
  private readonly retick = new Map<string, Set<string>>();
  /** Lanes where a step changed state since their last tick (their cleanup phases run). */
  private readonly moved = new Map<string, Set<string>>();
  private timers: Timer[] = [];
  private nextSweep = 0;
  private pauseCache: { at: number; values: Array<string | null> } | null = null;
  /** When the activity gate next runs (and active lanes are ticked): --sleep apart while work is active, --idle-sleep otherwise. */
  private nextPoll = 0;
  private nextBeat = 0;
  private readonly startedAt: number;
  private readonly sets: Record<string, SetState> = {};
  private history: Array<{ at: number; ticks: number; dispatched: number }> = [];
  private lastCycleAt: number | null = null;
  private lastGate: string | null = null;

  constructor(
    private readonly deps: DaemonDeps,
    opts: DaemonOptions = {},
  ) {
    this.prefixes = opts.prefixes ?? [...STEP_PREFIXES];
    this.opts = {
      sleepMs: opts.sleepMs ?? 1000,
      idleSleepMs: opts.idleSleepMs ?? 500,
      concurrency: Math.max(1, opts.concurrency ?? 4),
      sweepIntervalMs: opts.sweepIntervalMs ?? 60_000,
      heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 5_000,
    };
    const pusher = new JobPusher(deps.queues);
    for (const p of this.prefixes) {
      this.dispatchers.set(p, new StepDispatcher({ db: deps.db, redis: deps.redis, redisPrefix: deps.config.redis.prefix, queues: deps.queues, clock: deps.clock, log: deps.log, pusher }, p, { maxPerTick: opts.maxPerTick, lockStaleMs: opts.lockStaleMs, holdLock: true }));
      this.sets[stepSetName(p)] = { active: false, paused: false, last_tick_at: null };
    }
    this.startedAt = deps.clock.now();
    this.nextSweep = this.startedAt;
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  /** Ask the loop to end after the current cycle (signal handlers call this). */
  stop(): void {
    this.stopping = true;
  }

  /** Remember where the wake stream is now, so that only newer signals count. */
  async init(): Promise<void> {
    const last = (await this.deps.redis.xrevrange(notifyStreamKey(this.deps.config.redis.prefix), '+', '-', 'COUNT', 1)) as Array<[string, string[]]>;
    this.lastId = last[0]?.[0] ?? '0-0';
  }

  /** The loop: cycle, heartbeat, wait; until stop(). */
  async run(): Promise<void> {
    await this.init();
    while (!this.stopping) {
      let result: CycleResult;
      try {
        result = await this.cycle();
      } catch (err) {
        // cycle() handles its own errors; anything reaching here is unexpected (e.g. Redis down at the
        // gate). Log, heartbeat and try again after the idle sleep instead of dying in a restart loop.
        this.deps.log.error('dispatch cycle failed', { error: errorMessage(err) });
        result = { gated: 'error', ticks: [], anyActive: false, dispatched: 0 };
      }
      await this.heartbeat(false);
      if (this.stopping) break;
      await this.wait(this.waitMs(result));
    }
    await this.releaseHeld();
    await this.heartbeat(true);
  }

  /** Give back every lane lock a dispatcher kept between ticks. */
  async releaseHeld(): Promise<void> {
    for (const d of this.dispatchers.values()) await d.releaseHeld();
  }

  /** One cycle: the gates, then the ticks. The daemon's tick() in the foundation's run/tick/close terms. */
  async tick(): Promise<CycleResult> {
    return this.cycle();
  }

  async cycle(): Promise<CycleResult> {
    const { config, clock, db, log } = this.deps;
    const now = clock.now();
    this.lastCycleAt = now;
    if (!config.canDispatchSteps) return this.gate('kill-switch');
    if (isFrozen()) {
      await this.releaseHeld();
      return this.gate('frozen');
    }
    this.lastGate = null;

    // Due timers become wake-ups.
    if (this.timers.length) {
      const due = this.timers.filter((t) => t.at <= now);
      this.timers = this.timers.filter((t) => t.at > now);
      for (const t of due) this.mark(this.dirty, t.set, t.group);
    }
    const sweep = now >= this.nextSweep;
    if (sweep) this.nextSweep = now + this.opts.sweepIntervalMs;
    // The activity gate and the ticks of every active lane run on the cadence (--sleep while active,
    // --idle-sleep otherwise); in between, a cycle ticks only the lanes that were woken, fell due or asked
    // to go again — and those go first, before the cadence's queries, so a new step waits for nothing.
    const poll = now >= this.nextPoll;
    const woken = this.dirty.size + this.retick.size + this.moved.size > 0;
    const ticks: TickResult[] = [];
    const ticked = new Set<string>();
    const run = async (work: Work[]) => {
      for (const t of await this.runTicks(work)) {
        ticks.push(t);
        ticked.add(`${t.set}|${laneKey(t.lane)}`);
      }
    };

    if (woken) {
      const pauses = await this.pauses(now);
      const work: Work[] = [];
      for (let i = 0; i < this.prefixes.length; i++) {
        const prefix = this.prefixes[i]!;
        const set = stepSetName(prefix);
        this.sets[set]!.paused = pauses[0] !== null || pauses[i + 1] !== null;
        const lanes = new Set<string>([...(this.dirty.get(set) ?? []), ...(this.retick.get(set) ?? []), ...(this.moved.get(set) ?? [])]);
        const moved = this.moved.get(set);
        this.dirty.delete(set);
        this.retick.delete(set);
        this.moved.delete(set);
        if (this.sets[set]!.paused) continue;
        for (const key of lanes) work.push({ prefix, lane: key === '' ? null : key, full: false, moved: moved?.has(key) ?? false });
      }
      await run(work);
    }

    // The cadence: one statement says which sets have active rows; their lanes are ticked. With nothing
    // active and nobody woken, the cycle costs that one statement (the daemon's idle cost).
    let active: boolean[] = this.prefixes.map((p) => this.sets[stepSetName(p)]!.active);
    if (poll) {
      try {
        active = await activeSets(db, this.prefixes.map((p) => this.dispatchers.get(p)!.tables));
      } catch (err) {
        // A set's tables may be missing (logged here); ask set by set so the other keeps going, and count
        // a set whose probe fails as inactive until it answers again.
        log.error('activity gate failed', { error: errorMessage(err) });
        active = await Promise.all(this.prefixes.map((p) => activeSets(db, [this.dispatchers.get(p)!.tables]).then((a) => a[0]!, () => false)));
      }
      this.prefixes.forEach((p, i) => (this.sets[stepSetName(p)]!.active = active[i]!));
      this.nextPoll = now + (active.some(Boolean) ? this.opts.sleepMs : this.opts.idleSleepMs);
    }
    const anyActive = active.some(Boolean);
    if (sweep || (poll && anyActive)) {
      const pauses = await this.pauses(now);
      const work: Work[] = [];
      for (let i = 0; i < this.prefixes.length; i++) {
        const prefix = this.prefixes[i]!;
        const set = stepSetName(prefix);
        this.sets[set]!.paused = pauses[0] !== null || pauses[i + 1] !== null;
        if (this.sets[set]!.paused) continue;
        const tables = this.dispatchers.get(prefix)!.tables;
        const lanes = new Set<string>();
        try {
          if (poll && active[i]) for (const l of await activeLanes(db, tables)) lanes.add(laneKey(l));
          if (sweep) for (const l of await openLanes(db, tables)) lanes.add(laneKey(l));
        } catch (err) {
          // This set's lanes could not be listed: skip it this cycle (the next one asks again), keep the other set going.
          log.error('lane listing failed', { set, error: errorMessage(err) });
          continue;
        }
        for (const key of lanes) {
          // A lane already ticked in this cycle goes again only for the sweep's full phases.
          if (!sweep && ticked.has(`${set}|${key}`)) continue;
          work.push({ prefix, lane: key === '' ? null : key, full: sweep, moved: false });
        }
      }
      await run(work);
    }

    let dispatched = 0;
    for (const t of ticks) {
      dispatched += t.dispatched + t.highDispatched;
      if (t.acquired) this.sets[t.set]!.last_tick_at = new Date(clock.now()).toISOString();
      if (t.more && !t.error) this.mark(this.retick, t.set, t.lane);
    }
    // Locks kept between ticks stay only for the lanes ticked again next cycle.
    for (const [prefix, d] of this.dispatchers) await d.releaseHeld(this.retick.get(stepSetName(prefix)) ?? new Set());
    this.history.push({ at: now, ticks: ticks.filter((t) => t.acquired).length, dispatched });
    return { gated: null, ticks, anyActive, dispatched };
  }

  /** The pause flags (all-sets, then per set), read at most every PAUSE_CACHE_MS: a pause is an operator act. */
  private async pauses(now: number): Promise<Array<string | null>> {
    if (this.pauseCache && now - this.pauseCache.at < PAUSE_CACHE_MS) return this.pauseCache.values;
    const rp = this.deps.config.redis.prefix;
    const values = await this.deps.redis.mget(dispatchPauseKey(rp, null), ...this.prefixes.map((p) => dispatchPauseKey(rp, p)));
    this.pauseCache = { at: now, values };
    return values;
  }

  private gate(reason: string): CycleResult {
    if (this.lastGate !== reason) this.deps.log.info('dispatch gated', { reason });
    this.lastGate = reason;
    return { gated: reason, ticks: [], anyActive: false, dispatched: 0 };
  }

  private mark(map: Map<string, Set<string>>, set: string, lane: Lane): void {
    let s = map.get(set);
    if (!s) map.set(set, (s = new Set()));
    s.add(laneKey(lane));
  }

  private async runTicks(work: Work[]): Promise<TickResult[]> {
    const out: TickResult[] = [];
    let next = 0;
    const worker = async () => {
      while (next < work.length && !this.stopping) {
        const w = work[next++]!;
        out.push(await this.dispatchers.get(w.prefix)!.tick(w.lane, { full: w.full, moved: w.moved }));
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, work.length) }, worker));
    return out;
  }

  /** How long to wait before the next cycle (a wake-up signal ends the wait early). */
  waitMs(r: CycleResult): number {
    if (this.retick.size > 0) return 0;
    const now = this.deps.clock.now();
    let ms: number;
    if (r.gated) ms = this.opts.idleSleepMs;
    else {
      ms = this.nextPoll - now;
      for (const t of this.timers) ms = Math.min(ms, t.at - now);
      ms = Math.min(ms, this.nextSweep - now);
    }
    ms = Math.min(ms, this.nextBeat - now);
    return Math.max(0, ms);
  }

  /**
   * Wait up to `ms` for a wake-up signal on the stream (XREAD BLOCK on the daemon's connection: nothing
   * else uses it while the daemon waits). Signals for now mark their lane dirty; future ones arm timers.
   */
  async wait(ms: number): Promise<void> {
    const key = notifyStreamKey(this.deps.config.redis.prefix);
    const block = Math.floor(ms);
    let res: Array<[string, Array<[string, string[]]>]> | null;
    try {
      res = (block >= 1
        ? await this.deps.redis.xread('COUNT', 10000, 'BLOCK', block, 'STREAMS', key, this.lastId)
        : await this.deps.redis.xread('COUNT', 10000, 'STREAMS', key, this.lastId)) as Array<[string, Array<[string, string[]]>]> | null;
    } catch (err) {
      // Redis is away: wait out the period on the clock so the loop does not spin, and retry.
      this.deps.log.warn('wake stream unreadable', { error: errorMessage(err) });
      await this.deps.clock.sleep(Math.max(block, this.opts.idleSleepMs)).catch(() => undefined);
      return;
    }
    const entries = res?.[0]?.[1] ?? [];
    if (entries.length) this.lastId = entries[entries.length - 1]![0];
    this.absorb(parseNotifyEntries(entries));
  }

  /** Take wake-up signals (also used by tests that drive cycles by hand). */
  absorb(signals: Array<{ set: string; group: string | null; due?: number; moved?: boolean }>): void {
    const now = this.deps.clock.now();
    for (const s of signals) {
      if (!(s.set in this.sets)) continue;
      if (s.moved) this.mark(this.moved, s.set, s.group);
      if (s.due && s.due > now + 2) {
        if (this.timers.length < 10_000 && !this.timers.some((t) => t.set === s.set && t.group === s.group && t.at === s.due)) this.timers.push({ at: s.due, set: s.set, group: s.group });
      } else this.mark(this.dirty, s.set, s.group);
    }
  }

  /** Figures for the heartbeat. */
  stats(): { ticks_per_sec: number; dispatched_per_min: number } {
    const now = this.deps.clock.now();
    this.history = this.history.filter((h) => h.at > now - 60_000);
    const span = Math.max(1, Math.min(60_000, now - this.startedAt)) / 1000;
    const ticks = this.history.reduce((a, h) => a + h.ticks, 0);
    const dispatched = this.history.reduce((a, h) => a + h.dispatched, 0);
    return { ticks_per_sec: Math.round((ticks / span) * 100) / 100, dispatched_per_min: Math.round((dispatched / span) * 60) };
  }

  async heartbeat(force: boolean): Promise<void> {
    const { clock, config, redis, log } = this.deps;
    const now = clock.now();
    if (!force && now < this.nextBeat) return;
    this.nextBeat = now + this.opts.heartbeatIntervalMs;
    try {
      this.pauseCache = null;
      const pauses = await this.pauses(now);
      this.prefixes.forEach((p, i) => (this.sets[stepSetName(p)]!.paused = pauses[0] !== null || pauses[i + 1] !== null));
      await writeHeartbeat(
        redis,
        config.redis.prefix,
        {
          daemon: HEARTBEAT_DAEMON,
          host: config.hostname,
          pid: process.pid,
          started_at: new Date(this.startedAt).toISOString(),
          at: new Date(now).toISOString(),
          status: this.stopping ? 'stopping' : this.lastGate ? `gated:${this.lastGate}` : 'running',
          last_cycle_at: this.lastCycleAt === null ? null : new Date(this.lastCycleAt).toISOString(),
          ...this.stats(),
          sets: this.sets,
        },
        (this.opts.heartbeatIntervalMs / 1000) * 3,
      );
    } catch (err) {
      // A missed heartbeat shows as stale in the UI; the dispatching itself goes on.
      log.warn('heartbeat not written', { error: errorMessage(err) });
    }
  }
}
