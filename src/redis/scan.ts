/**
 * SCAN that works on a standalone Redis and on a Redis Cluster. A Cluster client sends a keyless command
 * such as SCAN to any one node, so a cursor loop on it sees one node's keys at best; here each master is
 * scanned to the end with its own cursor. Never KEYS.
 */
import type { Cluster, Redis } from 'ioredis';
import { isCluster } from './connection.js';

/**
 * Visit every key matching `pattern`, one batch at a time (a batch may be empty). Stops early when
 * `onBatch` returns false.
 */
export async function scanEach(redis: Redis, pattern: string, count: number, onBatch: (keys: string[]) => Promise<boolean | void> | boolean | void): Promise<void> {
  const client: unknown = redis;
  const nodes: Redis[] = isCluster(client) ? (client as Cluster).nodes('master') : [redis];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      if ((await onBatch(keys)) === false) return;
    } while (cursor !== '0');
  }
}

/** Every key matching `pattern` (at most `cap`), in scan order. */
export async function scanAll(redis: Redis, pattern: string, count = 500, cap = Infinity): Promise<string[]> {
  const out: string[] = [];
  await scanEach(redis, pattern, count, (keys) => {
    out.push(...keys);
    return out.length < cap;
  });
  return cap === Infinity ? out : out.slice(0, cap);
}
