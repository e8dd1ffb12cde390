/**
 * Login throttling, in Redis so it holds across processes and restarts:
 *  - 5 failed attempts per (lower-cased e-mail, client address) lock that pair out for 15 minutes
 *    (`<prefix>:web:login-fail:<sha256(email|ip)>`);
 *  - 30 failed attempts from one address, whatever the e-mails, lock that address out for 15 minutes
 *    (`<prefix>:web:login-fail-ip:<sha256(ip)>`), against password spraying.
 * Wrong 2FA codes count as failures too. A successful login clears the pair's counter.
 */
import crypto from 'node:crypto';
import type { Redis } from 'ioredis';

export const MAX_LOGIN_FAILURES = 5;
export const MAX_IP_FAILURES = 30;
export const LOCKOUT_SECONDS = 15 * 60;

const h = (s: string) => crypto.createHash('sha256').update(s).digest('hex').slice(0, 32);

export class LoginThrottle {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  key(email: string, ip: string): string {
    return `${this.prefix}:web:login-fail:${h(`${email.trim().toLowerCase()}|${ip}`)}`;
  }

  ipKey(ip: string): string {
    return `${this.prefix}:web:login-fail-ip:${h(ip)}`;
  }

  /** Seconds until the pair (or the address) may try again, or 0 when it is not locked out. */
  async lockedFor(email: string, ip: string): Promise<number> {
    const k = this.key(email, ip);
    const ik = this.ipKey(ip);
    const [count, ttl, ipCount, ipTtl] = await Promise.all([this.redis.get(k), this.redis.ttl(k), this.redis.get(ik), this.redis.ttl(ik)]);
    const pair = Number(count ?? 0) >= MAX_LOGIN_FAILURES ? Math.max(1, ttl) : 0;
    const addr = Number(ipCount ?? 0) >= MAX_IP_FAILURES ? Math.max(1, ipTtl) : 0;
    return Math.max(pair, addr);
  }

  /** Record a failure; returns the number of failures of the pair in the window. */
  async fail(email: string, ip: string): Promise<number> {
    const k = this.key(email, ip);
    const ik = this.ipKey(ip);
    const [n, ipN] = await Promise.all([this.redis.incr(k), this.redis.incr(ik)]);
    if (n === 1 || (await this.redis.ttl(k)) < 0) await this.redis.expire(k, LOCKOUT_SECONDS);
    if (ipN === 1 || (await this.redis.ttl(ik)) < 0) await this.redis.expire(ik, LOCKOUT_SECONDS);
    return n;
  }

  async clear(email: string, ip: string): Promise<void> {
    await this.redis.del(this.key(email, ip));
  }
}
