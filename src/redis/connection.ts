/**
 * One place that creates Redis connections (ioredis, imported lazily so light commands stay light).
 *  - 'cli': fail fast. If Redis does not answer within the budget the caller gets RedisUnreachableError
 *    ("Redis is not reachable at <url>"), never a hang.
 *  - 'daemon': the settings BullMQ needs (maxRetriesPerRequest: null) and reconnect forever with capped backoff.
 *
 * With `cluster` on (REDIS_CLUSTER=true) the client is an ioredis Cluster seeded from the URL's node and
 * `clusterNodes`. It is handed out typed as `Redis`: a Cluster answers the same command interface
 * (commands, pipelines, MULTI, Lua, defineCommand, duplicate, quit), and BullMQ accepts either. What differs
 * is per-node: SCAN must visit every master, which src/redis/scan.ts does (`isCluster()`).
 */
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { RedisUnreachableError } from '../support/errors.js';
import { maskUrl } from '../support/mask.js';
import { withTimeout } from '../support/timeout.js';

export type RedisMode = 'cli' | 'daemon';

export interface RedisSettings {
  url: string;
  prefix: string;
  /** REDIS_CLUSTER: connect with an ioredis Cluster, the URL naming one seed node. */
  cluster?: boolean;
  /** REDIS_CLUSTER_NODES: more seed nodes. */
  nodes?: Array<{ host: string; port: number }>;
}

/** True for an ioredis Cluster client (typed as Redis by connectRedis). */
export function isCluster(client: unknown): client is Cluster {
  return !!client && (client as { isCluster?: boolean }).isCluster === true;
}

export const CLI_CONNECT_BUDGET_MS = 3000;

export function redisOptions(mode: RedisMode): RedisOptions {
  if (mode === 'daemon') {
    return {
      maxRetriesPerRequest: null,
      enableReadyCheck: true,
      lazyConnect: true,
      connectTimeout: 5000,
      retryStrategy: (times: number) => Math.min(200 * 2 ** Math.min(times, 6), 5000),
    };
  }
  return {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    lazyConnect: true,
    connectTimeout: CLI_CONNECT_BUDGET_MS,
    retryStrategy: () => null,
  };
}

export async function loadIoredis(): Promise<typeof import('ioredis').Redis> {
  const mod = await import('ioredis');
  return mod.Redis;
}

/**
 * Create and connect a client. In 'cli' mode the promise rejects with RedisUnreachableError after at most
 * CLI_CONNECT_BUDGET_MS; in 'daemon' mode it waits for the first successful connection (retrying forever)
 * unless `signal` aborts.
 */
export async function connectRedis(settings: RedisSettings, mode: RedisMode, extra: RedisOptions = {}): Promise<Redis> {
  let client: Redis;
  if (settings.cluster) {
    const { Cluster } = await import('ioredis');
    const { seeds, options } = clusterOptions(settings, mode, extra);
    client = new Cluster(seeds, options) as unknown as Redis;
  } else {
    const RedisCtor = await loadIoredis();
    client = new RedisCtor(settings.url, { ...redisOptions(mode), ...extra });
  }
  const shown = maskUrl(settings.url);
  if (mode === 'cli') {
    // Swallowing nothing: connection errors surface through connect() below; this listener only stops
    // ioredis from printing "Unhandled error event" on stderr.
    client.on('error', () => undefined);
    try {
      await withTimeout(client.connect(), CLI_CONNECT_BUDGET_MS);
    } catch (err) {
      // After a refused connection the client is already 'end'; disconnect() would arm a 2 s timer.
      if ((client.status as string) !== 'end') client.disconnect();
      throw new RedisUnreachableError(shown, (err as Error).message);
    }
    return client;
  }
  await client.connect();
  return client;
}

/**
 * The Cluster form of redisOptions(): seed nodes from the URL (then `nodes`), credentials and TLS from the
 * URL for every node, the mode's retry policy at the cluster level (retryStrategy → clusterRetryStrategy)
 * and the per-command settings (maxRetriesPerRequest, connectTimeout) for each node connection.
 */
export function clusterOptions(settings: RedisSettings, mode: RedisMode, extra: RedisOptions = {}): { seeds: Array<{ host: string; port: number }>; options: ClusterOptions } {
  const u = new URL(settings.url);
  const seeds = [{ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 6379) }, ...(settings.nodes ?? [])];
  const base = { ...redisOptions(mode), ...extra };
  const { retryStrategy, enableOfflineQueue, lazyConnect, enableReadyCheck, ...node } = base;
  void lazyConnect;
  const redisOpts: ClusterOptions['redisOptions'] = {
    ...node,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
  return {
    seeds,
    options: {
      lazyConnect: true,
      enableReadyCheck: enableReadyCheck ?? true,
      enableOfflineQueue: enableOfflineQueue ?? true,
      clusterRetryStrategy: retryStrategy ? (times: number) => retryStrategy(times) : undefined,
      // Slot moves and failovers: retry the command on the new owner instead of failing it.
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 300,
      slotsRefreshTimeout: Math.max(1000, Number(node.connectTimeout ?? 2000)),
      redisOptions: redisOpts,
    },
  };
}

/** Close a client politely (QUIT, then wait for the socket to end), falling back to a hard disconnect. */
export async function closeRedis(client: Redis | null | undefined): Promise<void> {
  if (!client || (client.status as string) === 'end') return;
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, 1000);
  });
  try {
    await Promise.race([client.quit(), timeout]);
  } catch {
    // QUIT fails when the connection is already broken; disconnect() below is the fallback.
  }
  await Promise.race([ended, timeout]);
  clearTimeout(timer);
  if ((client.status as string) !== 'end') client.disconnect();
}
