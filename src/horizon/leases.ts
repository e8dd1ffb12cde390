/**
 * Shard leases and stale-job recovery: what keeps exactly one consumer per user-data shard across every
 * process and host.
 *
 *  - claim:   SET <p>:horizon:lease:<queue> <token> NX PX leaseMs
 *  - renew:   PEXPIRE only while the value is still ours (Lua compare-and-pexpire)
 *  - release: DEL only while the value is ours (compare-and-delete); a supervisor also releases the leases of
 *             a child it saw exit (the child is dead, so nothing can still be running under them)
 *  - recover: right after claiming, before consuming, every job still in the queue's active list belonged to
 *             a dead (or lease-less) holder: its lock is removed and it is pushed back to the HEAD of wait
 *             (the end BullMQ pops), oldest first, so it runs before any later frame of the shard.
 */
import type { Redis } from 'ioredis';

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
/**
 * KEYS: active, wait, stalled, marker, events. ARGV: queue key prefix ("{p}:name:").
 * The active list is LPUSHed by BullMQ (index 0 = newest); RPUSH newest first leaves the oldest at the
 * right end, which is the next one popped.
 */
const RECOVER = `
local ids = redis.call('LRANGE', KEYS[1], 0, -1)
for i = 1, #ids do
  local id = ids[i]
  redis.call('DEL', ARGV[1] .. id .. ':lock')
  redis.call('SREM', KEYS[3], id)
  redis.call('LREM', KEYS[1], 0, id)
  redis.call('RPUSH', KEYS[2], id)
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', 10000, '*', 'event', 'waiting', 'jobId', id, 'prev', 'active')
end
if #ids > 0 then redis.call('ZADD', KEYS[4], 0, '0') end
return ids`;

export class ShardLeases {
  constructor(
    private readonly redis: Redis,
    private readonly leaseKey: (queue: string) => string,
    private readonly bullPrefix: string,
  ) {}

  async claim(queue: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.leaseKey(queue), token, 'PX', ttlMs, 'NX')) === 'OK';
  }

  async renew(queue: string, token: string, ttlMs: number): Promise<boolean> {
    return Number(await this.redis.eval(RENEW, 1, this.leaseKey(queue), token, String(ttlMs))) === 1;
  }

  async release(queue: string, token: string): Promise<boolean> {
    return Number(await this.redis.eval(RELEASE, 1, this.leaseKey(queue), token)) === 1;
  }

  async holder(queue: string): Promise<string | null> {
    return this.redis.get(this.leaseKey(queue));
  }

  /** Release every lease of `queues` held by `token` (a child that exited). */
  async releaseAll(queues: string[], token: string): Promise<string[]> {
    const released: string[] = [];
    for (const q of queues) if (await this.release(q, token)) released.push(q);
    return released;
  }

  /** Move the queue's active jobs back to the head of wait (call only while holding the lease). */
  async recover(queue: string): Promise<string[]> {
    const k = `${this.bullPrefix}:${queue}:`;
    return (await this.redis.eval(RECOVER, 5, `${k}active`, `${k}wait`, `${k}stalled`, `${k}marker`, `${k}events`, k)) as string[];
  }
}
