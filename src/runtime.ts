/**
 * What a command or daemon needs at run time, created on first use and closed once: the validated
 * configuration, a knex instance, Redis clients and a logger. Nothing heavy is imported until asked for.
 */
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import { getConfig, type AppConfig } from './config/index.js';
import { requireKey } from './crypto/secrets.js';
import { createDb, type CreateDbOptions } from './db/connection.js';
import { closeRedis, connectRedis, type RedisMode } from './redis/connection.js';
import { redisKey } from './redis/keys.js';
import { createLogger, type Logger } from './support/log.js';
import { systemClock, type Clock } from './support/clock.js';

export class Runtime {
  readonly config: AppConfig;
  readonly clock: Clock;
  readonly log: Logger;
  private dbPromise: Promise<Knex> | null = null;
  private redisClients = new Map<RedisMode, Promise<Redis>>();
  private closers: Array<() => Promise<void>> = [];

  constructor(opts: { config?: AppConfig; clock?: Clock; component?: string } = {}) {
    this.config = opts.config ?? getConfig();
    this.clock = opts.clock ?? systemClock;
    this.log = createLogger(opts.component ?? 'athena', { host: this.config.hostname });
  }

  db(opts?: CreateDbOptions): Promise<Knex> {
    this.dbPromise ??= createDb(this.config.database, opts);
    return this.dbPromise;
  }

  /** A shared Redis client of the given mode ('cli' fails fast, 'daemon' reconnects forever). */
  redis(mode: RedisMode = 'cli'): Promise<Redis> {
    let p = this.redisClients.get(mode);
    if (!p) {
      p = connectRedis(this.config.redis, mode);
      this.redisClients.set(mode, p);
      // A failed connect must not stay cached, so that a later call can try again.
      p.catch(() => this.redisClients.delete(mode));
    }
    return p;
  }

  /** A prefixed Redis key: key('schedule', 'paused') → "athena:schedule:paused". */
  key(...parts: Array<string | number>): string {
    return redisKey(this.config.redis.prefix, ...parts);
  }

  /** APP_KEY as bytes, or a clear error telling the operator to run key:generate. */
  appKey(): Buffer {
    return requireKey(this.config.appKey);
  }

  /** Register extra cleanup (queues, sockets) to run at close(), in reverse order. */
  onClose(fn: () => Promise<void>): void {
    this.closers.push(fn);
  }

  async close(): Promise<void> {
    const errors: unknown[] = [];
    for (const fn of this.closers.reverse()) {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    }
    this.closers = [];
    for (const p of this.redisClients.values()) {
      try {
        await closeRedis(await p);
      } catch {
        // a client that never connected has nothing to close
      }
    }
    this.redisClients.clear();
    if (this.dbPromise) {
      const db = await this.dbPromise.catch(() => null);
      this.dbPromise = null;
      if (db) await db.destroy();
    }
    if (errors.length) this.log.warn('errors while closing', { err: errors[0], count: errors.length });
  }
}
