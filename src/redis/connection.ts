/**
 * One place that creates Redis connections (ioredis, imported lazily so light commands stay light).
 *  - 'cli': fail fast. If Redis does not answer within the budget the caller gets RedisUnreachableError
 *    ("Redis is not reachable at <url>"), never a hang.
 *  - 'daemon': the settings BullMQ needs (maxRetriesPerRequest: null) and reconnect forever with capped backoff.
 */
import type { Redis, RedisOptions } from 'ioredis';
import { RedisUnreachableError } from '../support/errors.js';
import { maskUrl } from '../support/mask.js';

export type RedisMode = 'cli' | 'daemon';

export interface RedisSettings {
  url: string;
  prefix: string;
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
  const RedisCtor = await loadIoredis();
  const client = new RedisCtor(settings.url, { ...redisOptions(mode), ...extra });
  const shown = maskUrl(settings.url);
  if (mode === 'cli') {
    // Swallowing nothing: connection errors surface through connect() below; this listener only stops
    // ioredis from printing "Unhandled error event" on stderr.
    client.on('error', () => undefined);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.connect(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${CLI_CONNECT_BUDGET_MS} ms`)), CLI_CONNECT_BUDGET_MS);
        }),
      ]);
    } catch (err) {
      // After a refused connection the client is already 'end'; disconnect() would arm a 2 s timer.
      if ((client.status as string) !== 'end') client.disconnect();
      throw new RedisUnreachableError(shown, (err as Error).message);
    } finally {
      clearTimeout(timer);
    }
    return client;
  }
  await client.connect();
  return client;
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
