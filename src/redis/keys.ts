/**
 * Redis key names. Everything Athena writes lives under REDIS_PREFIX: our own keys as "<prefix>:…",
 * BullMQ queues under the hash-tagged "{<prefix>}" so that each box's queues share one Redis Cluster slot.
 *
 * On a Redis Cluster (REDIS_CLUSTER=true) the box's own keys are hash-tagged too: the configured key
 * prefix becomes "{<REDIS_PREFIX>}" (AppConfig.redis.prefix), so "<prefix>:steps:notify" reads
 * "{athena}:steps:notify". Every key of a box then hashes to one slot, the same as its queues, and the
 * multi-key commands, MULTI blocks and Lua scripts of the box work unchanged (docs/operations.md).
 */
export function redisKey(prefix: string, ...parts: Array<string | number>): string {
  return [prefix, ...parts].join(':');
}

/** True when the prefix is already a hash tag ("{athena}"). */
export function isHashTagged(prefix: string): boolean {
  return /^\{[^{}]+\}$/.test(prefix);
}

/** The key prefix of a box on a Redis Cluster: "{REDIS_PREFIX}". */
export function clusterKeyPrefix(prefix: string): string {
  return isHashTagged(prefix) ? prefix : `{${prefix}}`;
}

/** The BullMQ `prefix` option for this box (the key prefix, hash-tagged; unchanged when it already is). */
export function queuePrefix(prefix: string): string {
  return clusterKeyPrefix(prefix);
}

/** Patterns that cover every key of a prefix (used by test cleanup and `--purge` tools). */
export function prefixPatterns(prefix: string): string[] {
  return [...new Set([`${prefix}:*`, `${clusterKeyPrefix(prefix)}:*`])];
}
