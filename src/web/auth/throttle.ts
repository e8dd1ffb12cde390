/**
 * Login throttling: 5 failed attempts per (lower-cased e-mail, client IP) lock that pair out for 15
 * minutes. Counters live in Redis (`<prefix>:web:login-fail:<sha256(email|ip)>`), so they hold across
 * processes and restarts. Wrong 2FA codes count as failures of the same pair. A success clears the counter.
 */
import crypto from 'node:crypto';
import type { Redis } from 'ioredis';

export const MAX_LOGIN_FAILURES = 5;
export const LOCKOUT_SECONDS = 15 * 60;

export class LoginThrottle {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  key(email: string, ip: string): string {
    const h = crypto.createHash('sha256').update(`${email.trim().toLowerCase()}|${ip}`).digest('hex').slice(0, 32);
    return `${this.prefix}:web:login-fail:${h}`;
  }

  /** Seconds until the pair may try again, or 0 when it is not locked out. */
  async lockedFor(email: string, ip: string): Promise<number> {
    const k = this.key(email, ip);
    const [count, ttl] = await Promise.all([this.redis.get(k), this.redis.ttl(k)]);
    return Number(count ?? 0) >= MAX_LOGIN_FAILURES ? Math.max(1, ttl) : 0;
  }

  /** Record a failure; returns the number of failures in the window. */
  async fail(email: string, ip: string): Promise<number> {
    const k = this.key(email, ip);
    const n = await this.redis.incr(k);
    if (n === 1 || (await this.redis.ttl(k)) < 0) await this.redis.expire(k, LOCKOUT_SECONDS);
    return n;
  }

  async clear(email: string, ip: string): Promise<void> {
    await this.redis.del(this.key(email, ip));
  }
}
