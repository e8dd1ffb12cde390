/**
 * The per-IP REST weight budget. Binance counts weight per IP per calendar minute and reports the running
 * total in X-MBX-USED-WEIGHT-1M; that header is the truth (other processes on the box spend the same
 * budget), our own reservations only fill the gap until the next response. A call that would take the
 * minute over `limit × safetyRatio` (2,400 × 85 % = 2,040 by default) waits for the next minute.
 *
 * 429 pauses every caller until Retry-After; 418 bans every caller until the ban ends. The ban can be
 * shared between processes through a BanStore (Redis), since the ban is per IP, not per process.
 */
import type { Redis } from 'ioredis';
import type { Clock } from '../support/clock.js';
import { REST_DEFAULTS } from './constants.js';

/** Where a 418 ban is shared between processes of one box. */
export interface BanStore {
  get(): Promise<number | null>;
  set(until: number): Promise<void>;
}

export class RedisBanStore implements BanStore {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly clock: Clock,
  ) {}

  async get(): Promise<number | null> {
    const v = await this.redis.get(this.key);
    return v ? Number(v) : null;
  }

  async set(until: number): Promise<void> {
    const ttl = Math.max(1, until - this.clock.now());
    await this.redis.set(this.key, String(until), 'PX', ttl);
  }
}

export interface WeightBudgetOptions {
  clock: Clock;
  limit?: number;
  safetyRatio?: number;
  banStore?: BanStore | null;
  /** How long a ban read from the store is trusted before asking again. */
  banStoreCacheMs?: number;
}

export interface BudgetState {
  minute: number;
  used: number;
  cap: number;
  bannedUntil: number;
  pausedUntil: number;
}

export class WeightBudget {
  readonly limit: number;
  readonly cap: number;
  private minute = -1;
  private used = 0;
  private bannedUntil = 0;
  private pausedUntil = 0;
  private banCheckedAt = -Infinity;

  constructor(private readonly opts: WeightBudgetOptions) {
    this.limit = opts.limit ?? REST_DEFAULTS.weightLimitPerMinute;
    this.cap = Math.floor(this.limit * (opts.safetyRatio ?? REST_DEFAULTS.weightSafetyRatio));
  }

  state(): BudgetState {
    this.roll();
    return { minute: this.minute, used: this.used, cap: this.cap, bannedUntil: this.bannedUntil, pausedUntil: this.pausedUntil };
  }

  /** The ban end when the IP is banned now, else null (consults the shared store now and then). */
  async banned(): Promise<number | null> {
    const now = this.opts.clock.now();
    const store = this.opts.banStore;
    if (store && now - this.banCheckedAt >= (this.opts.banStoreCacheMs ?? 5000)) {
      this.banCheckedAt = now;
      // The shared store is an optimisation: when Redis is down, this process's own view still applies.
      const shared = await store.get().catch(() => null);
      if (shared && shared > this.bannedUntil) this.bannedUntil = shared;
    }
    return now < this.bannedUntil ? this.bannedUntil : null;
  }

  /**
   * Wait until `weight` fits in this minute's budget (and any 429 pause is over), then reserve it.
   * Callers check `banned()` first: a ban is an error, not a wait.
   */
  async acquire(weight: number, signal?: AbortSignal): Promise<void> {
    const { clock } = this.opts;
    for (;;) {
      const now = clock.now();
      if (now < this.pausedUntil) {
        await clock.sleep(this.pausedUntil - now, signal);
        continue;
      }
      this.roll();
      if (this.used > 0 && this.used + weight > this.cap) {
        await clock.sleep((this.minute + 1) * 60_000 - now + 1, signal);
        continue;
      }
      this.used += weight;
      return;
    }
  }

  /** Record the server's count for this minute (X-MBX-USED-WEIGHT-1M). */
  observe(usedWeight: number | null): void {
    if (usedWeight === null || !Number.isFinite(usedWeight)) return;
    this.roll();
    this.used = usedWeight;
  }

  /** 429: every caller waits until `until`. */
  pause(until: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, until);
  }

  /** 418: every caller fails until `until`; shared with other processes when a store is set. */
  async ban(until: number): Promise<void> {
    this.bannedUntil = Math.max(this.bannedUntil, until);
    // Shared on a best-effort basis (see banned()); the local ban is already in force.
    await this.opts.banStore?.set(this.bannedUntil).catch(() => undefined);
  }

  private roll(): void {
    const m = Math.floor(this.opts.clock.now() / 60_000);
    if (m !== this.minute) {
      this.minute = m;
      this.used = 0;
    }
  }
}
