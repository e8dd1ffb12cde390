/**
 * The scheduler's locks on Redis.
 *
 *   <prefix>:schedule:lock:<task id>            "<token>|<holder JSON>"   SET NX PX <lease>
 *   <prefix>:schedule:server:<task id>:<slot>   "<host>"                  SET NX PX 1 h (minute) / 10 min (second)
 *
 * Only the owner token can renew, hand over or release an overlap lock: each of those is one Lua script
 * that compares the token and acts atomically, so a run whose lease ran out can never delete the lock of
 * the run that took over after it.
 */
import type { Redis } from 'ioredis';
import { scanEach } from '../redis/scan.js';
import type { Clock } from '../support/clock.js';
import { leaseFor, newToken, slotStamp, type EventMutex, type HeldLock, type LockHolder, type SchedulingMutex } from './mutex.js';

const OWNS = `local v = redis.call('GET', KEYS[1])
if not v or string.sub(v, 1, string.len(ARGV[1])) ~= ARGV[1] then return 0 end
`;
const EXTEND = `${OWNS}return redis.call('PEXPIRE', KEYS[1], ARGV[2])`;
const RELEASE = `${OWNS}return redis.call('DEL', KEYS[1])`;
const HAND_OVER = `${OWNS}redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') return 1`;

export function lockKey(prefix: string, taskId: string): string {
  return `${prefix}:schedule:lock:${taskId}`;
}

export function serverKey(prefix: string, taskId: string, slot: number): string {
  return `${prefix}:schedule:server:${taskId}:${slotStamp(slot)}`;
}

function encode(token: string, holder: LockHolder): string {
  return `${token}|${JSON.stringify(holder)}`;
}

export function decodeHolder(raw: string | null): LockHolder | null {
  if (!raw) return null;
  const bar = raw.indexOf('|');
  try {
    return JSON.parse(raw.slice(bar + 1)) as LockHolder;
  } catch {
    // A value we did not write (or an older format): the lock exists, its holder is unknown.
    return { host: 'unknown', pid: 0, since: '', until: '' };
  }
}

export class RedisEventMutex implements EventMutex {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly clock: Clock,
  ) {}

  async acquire(taskId: string, holder: Omit<LockHolder, 'until'>, leaseMs: number, maxUntil: number): Promise<HeldLock | null> {
    const full: LockHolder = { ...holder, until: new Date(maxUntil).toISOString() };
    const lock: HeldLock = { taskId, token: newToken(), holder: full, leaseMs, maxUntil };
    const ms = Math.max(1, leaseFor(lock, this.clock.now()));
    const ok = await this.redis.set(lockKey(this.prefix, taskId), encode(lock.token, full), 'PX', ms, 'NX');
    return ok === 'OK' ? lock : null;
  }

  async extend(lock: HeldLock): Promise<boolean> {
    const ms = leaseFor(lock, this.clock.now());
    if (ms <= 0) return false;
    return (await this.redis.eval(EXTEND, 1, lockKey(this.prefix, lock.taskId), `${lock.token}|`, ms)) === 1;
  }

  async release(lock: HeldLock): Promise<boolean> {
    return (await this.redis.eval(RELEASE, 1, lockKey(this.prefix, lock.taskId), `${lock.token}|`)) === 1;
  }

  async handOver(lock: HeldLock, holder: LockHolder): Promise<boolean> {
    const ok = (await this.redis.eval(HAND_OVER, 1, lockKey(this.prefix, lock.taskId), `${lock.token}|`, encode(lock.token, holder))) === 1;
    if (ok) lock.holder = holder;
    return ok;
  }

  async holder(taskId: string): Promise<LockHolder | null> {
    return decodeHolder(await this.redis.get(lockKey(this.prefix, taskId)));
  }

  async held(): Promise<Array<{ taskId: string; holder: LockHolder | null }>> {
    const base = lockKey(this.prefix, '');
    const out: Array<{ taskId: string; holder: LockHolder | null }> = [];
    await scanEach(this.redis, `${base}*`, 500, async (keys) => {
      if (keys.length) {
        const values = await this.redis.mget(...keys);
        keys.forEach((k, i) => values[i] && out.push({ taskId: k.slice(base.length), holder: decodeHolder(values[i]!) }));
      }
    });
    return out.sort((a, b) => a.taskId.localeCompare(b.taskId));
  }

  async forget(taskId: string): Promise<boolean> {
    return (await this.redis.del(lockKey(this.prefix, taskId))) === 1;
  }
}

export const MINUTE_CLAIM_MS = 3_600_000;
export const SECOND_CLAIM_MS = 600_000;

export class RedisSchedulingMutex implements SchedulingMutex {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async claim(taskId: string, slot: number, host: string): Promise<boolean> {
    const ttl = slot % 60_000 === 0 ? MINUTE_CLAIM_MS : SECOND_CLAIM_MS;
    return (await this.redis.set(serverKey(this.prefix, taskId, slot), host, 'PX', ttl, 'NX')) === 'OK';
  }
}
