/**
 * A Redis lock for replaying orphan dead-letter files, so the daemon and `kraite:replay-dead-letters`
 * never replay the same file at once: SET NX PX to take it, compare-and-delete to release it.
 */
import type { Redis } from 'ioredis';
import type { ReplayLock } from './frame-sink.js';

const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

export class RedisReplayLock implements ReplayLock {
  private readonly token = `${process.pid}:${Math.random().toString(36).slice(2)}`;

  constructor(
    private readonly redis: Redis,
    readonly key: string,
    private readonly ttlMs = 10 * 60_000,
  ) {}

  async acquire(): Promise<boolean> {
    return (await this.redis.set(this.key, this.token, 'PX', this.ttlMs, 'NX')) === 'OK';
  }

  async release(): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key, this.token);
  }
}
