/**
 * Daemon heartbeats in Redis, read by the admin UI and the health checks. One key per daemon and host:
 *   <prefix>:heartbeat:<daemon>:<host>   JSON { daemon, host, pid, started_at, at, ...fields }, TTL 3 × interval
 * The reader lists them with SCAN over <prefix>:heartbeat:<daemon>:*.
 */
import type { Redis } from 'ioredis';
import { scanEach } from '../redis/scan.js';

export interface Heartbeat {
  daemon: string;
  host: string;
  pid: number;
  started_at: string;
  at: string;
  [field: string]: unknown;
}

export function heartbeatKey(prefix: string, daemon: string, host: string): string {
  return `${prefix}:heartbeat:${daemon}:${host}`;
}

/** What writeHeartbeat needs of a client: ioredis, or the scheduler's one-shot client (src/kernel/mini-redis.ts). */
export interface HeartbeatWriter {
  set(key: string, value: string, mode: 'EX', seconds: number): Promise<unknown>;
}

export async function writeHeartbeat(
  redis: HeartbeatWriter,
  prefix: string,
  beat: Omit<Heartbeat, 'at'> & { at?: string },
  ttlSeconds: number,
): Promise<void> {
  const body = { ...beat, at: beat.at ?? new Date().toISOString() } as Heartbeat;
  await redis.set(heartbeatKey(prefix, String(beat.daemon), String(beat.host)), JSON.stringify(body), 'EX', Math.max(1, Math.ceil(ttlSeconds)));
}

export async function readHeartbeats(redis: Redis, prefix: string, daemon: string): Promise<Heartbeat[]> {
  const out: Heartbeat[] = [];
  await scanEach(redis, `${prefix}:heartbeat:${daemon}:*`, 200, async (keys) => {
    if (keys.length) {
      const values = await redis.mget(...keys);
      for (const v of values) if (v) out.push(JSON.parse(v) as Heartbeat);
    }
  });
  return out;
}
