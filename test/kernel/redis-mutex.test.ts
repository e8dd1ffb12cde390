import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { FakeClock } from '../../src/support/clock.js';
import { RedisEventMutex, RedisSchedulingMutex, lockKey, serverKey } from '../../src/kernel/redis-mutex.js';
import { MemoryEventMutex, MemorySchedulingMutex, slotStamp, type EventMutex } from '../../src/kernel/mutex.js';
import { OneShotRedis, oneShot } from '../../src/kernel/mini-redis.js';
import { RedisUnreachableError } from '../../src/support/errors.js';

let ctx: TestContext;

beforeAll(async () => {
  ctx = await createTestContext('kernel-mutex', { migrate: false });
});
afterAll(async () => {
  await ctx?.cleanup();
});

const T0 = Date.parse('2026-11-27T10:37:00Z');
const holder = (pid: number) => ({ host: 'box', pid, since: new Date(T0).toISOString() });

function contract(name: string, make: (clock: FakeClock) => EventMutex) {
  describe(`${name}: the overlap lock contract`, () => {
    it('is exclusive, owner-released, and its holder is readable', async () => {
      const clock = new FakeClock(T0);
      const m = make(clock);
      const id = `task-${name}-a`;
      const a = await m.acquire(id, holder(1), 30_000, T0 + 120_000);
      expect(a).not.toBeNull();
      expect(await m.acquire(id, holder(2), 30_000, T0 + 120_000)).toBeNull();
      expect(await m.holder(id)).toEqual({ host: 'box', pid: 1, since: new Date(T0).toISOString(), until: new Date(T0 + 120_000).toISOString() });
      // A forged handle (same task, other token) can neither renew nor release it.
      const forged = { ...a!, token: 'not-the-owner' };
      expect(await m.extend(forged)).toBe(false);
      expect(await m.release(forged)).toBe(false);
      expect(await m.holder(id)).not.toBeNull();
      expect(await m.handOver(a!, { ...a!.holder, pid: 99 })).toBe(true);
      expect((await m.holder(id))!.pid).toBe(99);
      expect(await m.release(a!)).toBe(true);
      expect(await m.holder(id)).toBeNull();
      expect(await m.release(a!)).toBe(false);
    });

    it('lists and forgets held locks (schedule:clear-cache)', async () => {
      const clock = new FakeClock(T0);
      const m = make(clock);
      await m.acquire(`task-${name}-b`, holder(1), 30_000, T0 + 60_000);
      await m.acquire(`task-${name}-c`, holder(2), 30_000, T0 + 60_000);
      const held = (await m.held()).filter((h) => h.taskId.startsWith(`task-${name}-`));
      expect(held.map((h) => [h.taskId, h.holder?.pid])).toEqual([
        [`task-${name}-b`, 1],
        [`task-${name}-c`, 2],
      ]);
      expect(await m.forget(`task-${name}-b`)).toBe(true);
      expect(await m.acquire(`task-${name}-b`, holder(3), 30_000, T0 + 60_000)).not.toBeNull();
    });

    it('refuses to renew past the task expiry', async () => {
      const clock = new FakeClock(T0);
      const m = make(clock);
      const lock = (await m.acquire(`task-${name}-d`, holder(1), 30_000, T0 + 40_000))!;
      await clock.advance(20_000);
      expect(await m.extend(lock)).toBe(true);
      await clock.advance(20_000);
      expect(await m.extend(lock)).toBe(false); // at the cap: no more renewals
    });
  });
}

contract('memory', (clock) => new MemoryEventMutex(clock));
contract('redis', (clock) => new RedisEventMutex(ctx.redis, ctx.prefix, clock));

describe('the Redis overlap lock on the wire', () => {
  it('is SET NX PX with a short lease, renewed by PEXPIRE and capped at the expiry', async () => {
    const clock = new FakeClock(T0);
    const m = new RedisEventMutex(ctx.redis, ctx.prefix, clock);
    const lock = (await m.acquire('wire', holder(7), 1500, T0 + 60_000))!;
    const key = lockKey(ctx.prefix, 'wire');
    expect(await ctx.redis.get(key)).toBe(`${lock.token}|${JSON.stringify(lock.holder)}`);
    const ttl = await ctx.redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1500);
    await clock.advance(59_500);
    expect(await m.extend(lock)).toBe(true);
    expect(await ctx.redis.pttl(key)).toBeLessThanOrEqual(500); // only what is left before the cap
    await m.release(lock);
  });

  it('frees a lock nobody renews within its lease (a crashed run)', async () => {
    const m = new RedisEventMutex(ctx.redis, ctx.prefix, new FakeClock(T0));
    await m.acquire('crashed', holder(8), 200, T0 + 3_600_000);
    expect(await m.holder('crashed')).not.toBeNull();
    await expect.poll(() => m.holder('crashed'), { timeout: 5000, interval: 50 }).toBeNull();
  });
});

describe('the one-server claim', () => {
  it('goes to the first claimer of (task, slot), per minute or per second', async () => {
    for (const m of [new RedisSchedulingMutex(ctx.redis, ctx.prefix), new MemorySchedulingMutex()]) {
      expect(await m.claim('report', T0, 'a')).toBe(true);
      expect(await m.claim('report', T0, 'b')).toBe(false);
      expect(await m.claim('report', T0 + 60_000, 'b')).toBe(true);
      expect(await m.claim('report', T0 + 5_000, 'b')).toBe(true);
      expect(await m.claim('report', T0 + 5_000, 'a')).toBe(false);
    }
    expect(slotStamp(T0)).toBe('2026-11-27T10:37Z');
    expect(slotStamp(T0 + 5_000)).toBe('2026-11-27T10:37:05Z');
    expect(await ctx.redis.get(serverKey(ctx.prefix, 'report', T0))).toBe('a');
    const ttl = await ctx.redis.pttl(serverKey(ctx.prefix, 'report', T0));
    expect(ttl).toBeGreaterThan(3_500_000);
  });
});

describe('the one-shot Redis client of the start-up path', () => {
  it('sends a pipelined batch and reads every reply', async () => {
    const url = ctx.config.redis.url;
    const key = `${ctx.prefix}:oneshot`;
    expect(await oneShot(url, [['SET', key, 'v a l', 'EX', 10], ['GET', key], ['INCR', `${key}:n`], ['LRANGE', `${key}:none`, 0, -1]])).toEqual(['OK', 'v a l', 1, []]);
    await new OneShotRedis(url).set(key, 'é'.repeat(3000), 'EX', 10);
    expect(await ctx.redis.get(key)).toBe('é'.repeat(3000));
    await expect(oneShot(url, [['HGET', key, 'x']])).rejects.toThrow(/Redis answered: WRONGTYPE/);
  });

  it('reports an unreachable server like the CLI client does', async () => {
    const err = await oneShot('redis://127.0.0.1:1', [['PING']]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedisUnreachableError);
    expect((err as Error).message).toMatch(/^Redis is not reachable at redis:\/\/127\.0\.0\.1:1/);
  });
});
