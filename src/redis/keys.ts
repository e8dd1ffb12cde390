/**
 * Redis key names. Everything Athena writes lives under REDIS_PREFIX: our own keys as "<prefix>:…",
 * BullMQ queues under the hash-tagged "{<prefix>}" so that each box's queues share one Redis Cluster slot.
 */
export function redisKey(prefix: string, ...parts: Array<string | number>): string {
  return [prefix, ...parts].join(':');
}

/** The BullMQ `prefix` option for this box. */
export function queuePrefix(prefix: string): string {
  return `{${prefix}}`;
}

/** Patterns that cover every key of a prefix (used by test cleanup and `--purge` tools). */
export function prefixPatterns(prefix: string): string[] {
  return [`${prefix}:*`, `{${prefix}}:*`];
}
