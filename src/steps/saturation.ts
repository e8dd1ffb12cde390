/**
 * Dispatcher saturation (reference §3.3, §3.7). Each normal tick adds to a per-lane, per-UTC-minute hash
 *   <REDIS_PREFIX>:steps:saturation:<metric group>:<YYYY-MM-DD-HH-mm>
 *     ticks_observed, ticks_capped, ticks_capped_with_leftover, total_dispatched, max_pending_after
 * in one Lua call (so the maximum is exact), and records the hash in the set's bucket index
 *   <REDIS_PREFIX>:steps:saturation:buckets:<set>.
 * `kraite:cron-flush-dispatcher-saturation` moves every finished minute into steps_dispatcher_saturation
 * (one row per group and minute; trading lanes are named trading_alpha…) and deletes the hashes. Keeping an
 * index means a missed cron minute is flushed next time instead of being lost; hashes expire after an hour.
 */
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import { upsertSaturation, type SaturationRow } from '../db/steps/saturation.js';
import { stepSetName } from '../support/box-flags.js';

export const SATURATION_TTL_SECONDS = 3600;

const LUA = `
redis.call('HINCRBY', KEYS[1], 'ticks_observed', 1)
if ARGV[1] == '1' then redis.call('HINCRBY', KEYS[1], 'ticks_capped', 1) end
if ARGV[2] == '1' then redis.call('HINCRBY', KEYS[1], 'ticks_capped_with_leftover', 1) end
redis.call('HINCRBY', KEYS[1], 'total_dispatched', tonumber(ARGV[3]))
local cur = tonumber(redis.call('HGET', KEYS[1], 'max_pending_after') or '0')
if tonumber(ARGV[4]) > cur then redis.call('HSET', KEYS[1], 'max_pending_after', ARGV[4]) end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
redis.call('SADD', KEYS[2], ARGV[5])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[6]))
return 1
`;

type SaturationRedis = Redis & { athenaStepSaturation(k1: string, k2: string, ...args: Array<string | number>): Promise<number> };
const defined = new WeakSet<Redis>();

function withCommand(redis: Redis): SaturationRedis {
  if (!defined.has(redis)) {
    redis.defineCommand('athenaStepSaturation', { numberOfKeys: 2, lua: LUA });
    defined.add(redis);
  }
  return redis as SaturationRedis;
}

/** 'YYYY-MM-DD-HH-mm' of the UTC minute containing `ms`. */
export function bucketOf(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}-${p(d.getUTCHours())}-${p(d.getUTCMinutes())}`;
}

export function bucketStart(bucket: string): number {
  const [y, mo, d, h, mi] = bucket.split('-').map(Number);
  return Date.UTC(y!, mo! - 1, d!, h!, mi!);
}

export function saturationKey(redisPrefix: string, metricGroup: string, bucket: string): string {
  return `${redisPrefix}:steps:saturation:${metricGroup}:${bucket}`;
}

export function saturationIndexKey(redisPrefix: string, stepPrefix: string): string {
  return `${redisPrefix}:steps:saturation:buckets:${stepSetName(stepPrefix)}`;
}

export interface TickSaturation {
  dispatched: number;
  capped: boolean;
  pendingAfter: number;
}

export async function recordSaturation(redis: Redis, redisPrefix: string, stepPrefix: string, metricGroup: string, now: number, s: TickSaturation): Promise<void> {
  const bucket = bucketOf(now);
  const leftover = s.capped && s.pendingAfter > 0;
  await withCommand(redis).athenaStepSaturation(
    saturationKey(redisPrefix, metricGroup, bucket),
    saturationIndexKey(redisPrefix, stepPrefix),
    s.capped ? '1' : '0',
    leftover ? '1' : '0',
    s.dispatched,
    s.pendingAfter,
    `${metricGroup}|${bucket}`,
    SATURATION_TTL_SECONDS,
  );
}

export interface FlushResult {
  flushed: SaturationRow[];
  skipped: number;
  errors: Array<{ group: string; bucket: string; error: string }>;
}

/** Flush every finished minute of a set into steps_dispatcher_saturation. Errors are reported per group. */
export async function flushSaturation(db: Knex, redis: Redis, redisPrefix: string, stepPrefix: string, now: number): Promise<FlushResult> {
  const indexKey = saturationIndexKey(redisPrefix, stepPrefix);
  const current = bucketOf(now);
  const members = (await redis.smembers(indexKey)).sort();
  const out: FlushResult = { flushed: [], skipped: 0, errors: [] };
  for (const m of members) {
    const [group, bucket] = m.split('|') as [string, string];
    if (!group || !bucket || bucket >= current) continue;
    const key = saturationKey(redisPrefix, group, bucket);
    try {
      const h = await redis.hgetall(key);
      const observed = Number(h.ticks_observed ?? 0);
      if (observed > 0) {
        const row: SaturationRow = {
          group,
          bucket_started_at: bucketStart(bucket),
          ticks_observed: observed,
          ticks_capped: Number(h.ticks_capped ?? 0),
          ticks_capped_with_leftover: Number(h.ticks_capped_with_leftover ?? 0),
          total_dispatched: Number(h.total_dispatched ?? 0),
          max_pending_after: Number(h.max_pending_after ?? 0),
        };
        await upsertSaturation(db, row, now);
        out.flushed.push(row);
      } else {
        out.skipped++;
      }
      await redis.multi().del(key).srem(indexKey, m).exec();
    } catch (err) {
      // One group's failure must not stop the others; it stays in the index for the next run.
      out.errors.push({ group, bucket, error: (err as Error).message });
    }
  }
  return out;
}
