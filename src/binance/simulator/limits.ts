/**
 * Per-IP request weight, as Binance counts it: a calendar-minute bucket, reported in X-MBX-USED-WEIGHT-1M.
 * Going over the limit answers 429 with Retry-After; continuing to call while limited earns a 418 ban.
 * Tests can also force a 429 or 418 mode, or make the next requests fail with a 5xx.
 */
import { BINANCE_CODES } from '../constants.js';
import { binanceError } from './http.js';

export type RateLimitMode = 'off' | '429' | '418';

export interface LimitSettings {
  weightLimit: number;
  /** Limited requests tolerated in one minute before the IP is banned. */
  banAfterLimited: number;
  banMs: number;
}

interface Bucket {
  minute: number;
  used: number;
  limitedHits: number;
}

export class SimRateLimits {
  mode: RateLimitMode = 'off';
  retryAfterSeconds = 5;
  private buckets = new Map<string, Bucket>();
  private bans = new Map<string, number>();

  constructor(private readonly settings: LimitSettings) {}

  setMode(mode: RateLimitMode, retryAfterSeconds?: number): void {
    this.mode = mode;
    if (retryAfterSeconds !== undefined) this.retryAfterSeconds = retryAfterSeconds;
  }

  /** Current weight of an IP this minute. */
  used(ip: string, now: number): number {
    return this.bucket(ip, now).used;
  }

  /** Lift every ban and reset the buckets. */
  reset(): void {
    this.buckets.clear();
    this.bans.clear();
    this.mode = 'off';
  }

  /** Charge `weight` to `ip`, or throw the 429/418 answer. Sets the weight header either way. */
  charge(ip: string, weight: number, now: number, headers: Record<string, string>): void {
    const b = this.bucket(ip, now);
    headers['x-mbx-used-weight-1m'] = String(b.used);
    const banUntil = this.bans.get(ip) ?? 0;
    if (this.mode === '418' || now < banUntil) {
      const until = now < banUntil ? banUntil : now + this.retryAfterSeconds * 1000;
      throw binanceError(418, BINANCE_CODES.TOO_MANY_REQUESTS, `Way too many requests; IP(${ip}) banned until ${until}. Please use the websocket for live updates to avoid bans.`, { 'retry-after': String(Math.max(1, Math.ceil((until - now) / 1000))) });
    }
    if (this.mode === '429') {
      throw binanceError(429, BINANCE_CODES.TOO_MANY_REQUESTS, 'Too many requests; please use the websocket for live updates.', { 'retry-after': String(this.retryAfterSeconds) });
    }
    if (b.used + weight > this.settings.weightLimit) {
      b.limitedHits++;
      if (b.limitedHits > this.settings.banAfterLimited) {
        const until = now + this.settings.banMs;
        this.bans.set(ip, until);
        throw binanceError(418, BINANCE_CODES.TOO_MANY_REQUESTS, `Way too many requests; IP(${ip}) banned until ${until}.`, { 'retry-after': String(Math.ceil(this.settings.banMs / 1000)) });
      }
      const retry = Math.max(1, Math.ceil(((b.minute + 1) * 60_000 - now) / 1000));
      throw binanceError(429, BINANCE_CODES.TOO_MANY_REQUESTS, 'Too many requests; current limit of IP is exceeded.', { 'retry-after': String(retry) });
    }
    b.used += weight;
    headers['x-mbx-used-weight-1m'] = String(b.used);
  }

  private bucket(ip: string, now: number): Bucket {
    const minute = Math.floor(now / 60_000);
    let b = this.buckets.get(ip);
    if (!b || b.minute !== minute) this.buckets.set(ip, (b = { minute, used: 0, limitedHits: 0 }));
    return b;
  }
}

/** Make the next `count` REST requests answer a 5xx (after their weight is charged), to test "outcome unknown". */
export class SimFailures {
  private remaining = 0;
  private status = 500;

  arm(count: number, status = 500): void {
    this.remaining = count;
    this.status = status;
  }

  maybeFail(): void {
    if (this.remaining <= 0) return;
    this.remaining--;
    throw binanceError(this.status, BINANCE_CODES.UNKNOWN, 'An unknown error occurred while processing the request.');
  }
}
