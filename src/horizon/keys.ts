/**
 * Redis keys of the horizon pool (docs/contracts.md "Horizon state and control"). `<p>` = REDIS_PREFIX.
 */
import { redisKey } from '../redis/keys.js';

export const horizonKeys = (prefix: string) => ({
  /** JSON state of one master, rewritten every second (TTL 5 s). */
  master: (host: string) => redisKey(prefix, 'horizon', 'master', host),
  masterPattern: () => redisKey(prefix, 'horizon', 'master', '*'),
  /** Commands for one host's master (LPUSH by senders, RPOP by the master). */
  commands: (host: string) => redisKey(prefix, 'horizon', 'commands', host),
  /** Broadcast commands: every master reads entries with a seq above the last one it applied. */
  broadcast: () => redisKey(prefix, 'horizon', 'commands', '*'),
  broadcastSeq: () => redisKey(prefix, 'horizon', 'commands-seq'),
  /** Lease of one shard queue: value = holder token "<host>|<pid>". */
  lease: (queue: string) => redisKey(prefix, 'horizon', 'lease', queue),
  /** Per-job samples waiting for the next snapshot (list of "queue|name|runtimeMs|waitMs|ok"). */
  samples: () => redisKey(prefix, 'horizon', 'metrics-samples'),
  /** Sorted set of snapshots (score = epoch ms, member = JSON), 24 h. */
  snapshots: () => redisKey(prefix, 'horizon', 'metrics', 'snapshots'),
  /** The latest snapshot as a JSON string (the web shows it). */
  latest: () => redisKey(prefix, 'horizon', 'metrics', 'latest'),
  snapshotLock: () => redisKey(prefix, 'horizon', 'snapshot-lock'),
});

export type HorizonKeys = ReturnType<typeof horizonKeys>;
