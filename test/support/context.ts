/**
 * Per-test-file isolation on the real servers:
 *  - SQLite: a fresh temporary file;
 *  - PostgreSQL: a fresh schema in the database of DATABASE_URL (search_path);
 *  - MySQL/MariaDB: a fresh database next to the one of DATABASE_URL;
 *  - Redis: a unique REDIS_PREFIX, whose keys are deleted afterwards.
 * DATABASE_URL picks the server (default SQLite), so one suite runs on all three.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import { loadConfig, type AppConfig } from '../../src/config/index.js';
import { createDb } from '../../src/db/connection.js';
import { parseDatabaseUrl, type DatabaseTarget } from '../../src/db/url.js';
import { migrateLatest } from '../../src/db/migrator.js';
import { connectRedis, closeRedis } from '../../src/redis/connection.js';
import { prefixPatterns } from '../../src/redis/keys.js';
import { generateAppKey } from '../../src/crypto/secrets.js';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const ARTISAN = path.join(ROOT, 'bin', 'artisan');

export function baseDatabaseUrl(): string {
  return process.env.DATABASE_URL || 'sqlite:storage/test-base.sqlite';
}

export function baseRedisUrl(): string {
  return process.env.REDIS_URL || 'redis://127.0.0.1:6379';
}

function slug(name: string): string {
  return `t_${name.toLowerCase().replace(/[^a-z0-9]+/g, '_').slice(0, 20)}_${crypto.randomBytes(4).toString('hex')}`;
}

export interface IsolatedDatabase {
  url: string;
  target: DatabaseTarget;
  drop(): Promise<void>;
}

/** Create an empty database (file, schema or database) for one test file. */
export async function createIsolatedDatabase(name: string): Promise<IsolatedDatabase> {
  const base = parseDatabaseUrl(baseDatabaseUrl());
  const id = slug(name);
  if (base.client === 'sqlite') {
    const file = path.join(os.tmpdir(), `athena-${id}.sqlite`);
    const url = `sqlite:${file}`;
    return {
      url,
      target: parseDatabaseUrl(url),
      drop: async () => {
        for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
      },
    };
  }
  const admin = await createDb(base, { poolMax: 1 });
  try {
    if (base.client === 'pg') await admin.raw(`create schema "${id}"`);
    else await admin.raw(`create database \`${id}\` character set utf8mb4 collate utf8mb4_unicode_ci`);
  } finally {
    await admin.destroy();
  }
  const u = new URL(base.url);
  if (base.client === 'pg') u.searchParams.set('schema', id);
  else u.pathname = `/${id}`;
  const url = u.toString();
  return {
    url,
    target: parseDatabaseUrl(url),
    drop: async () => {
      const a = await createDb(base, { poolMax: 1 });
      try {
        if (base.client === 'pg') await a.raw(`drop schema if exists "${id}" cascade`);
        else await a.raw(`drop database if exists \`${id}\``);
      } finally {
        await a.destroy();
      }
    },
  };
}

/** Delete every key of a prefix (our keys and the BullMQ {prefix} keys). */
export async function deletePrefix(redis: Redis, prefix: string): Promise<number> {
  let deleted = 0;
  for (const pattern of prefixPatterns(prefix)) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
  }
  return deleted;
}

export interface TestContext {
  name: string;
  dbUrl: string;
  db: Knex;
  prefix: string;
  redis: Redis;
  appKey: string;
  /** Environment for spawned bin/artisan processes (and for loadConfig in-process). */
  env: Record<string, string>;
  config: AppConfig;
  cleanup(): Promise<void>;
}

export interface ContextOptions {
  /** Run the migrations (default true). */
  migrate?: boolean;
  /** Extra environment variables. */
  env?: Record<string, string>;
}

export async function createTestContext(name: string, opts: ContextOptions = {}): Promise<TestContext> {
  const isolated = await createIsolatedDatabase(name);
  const prefix = `test-${slug(name).slice(2)}`;
  const appKey = generateAppKey();
  const env: Record<string, string> = {
    APP_ENV: 'testing',
    ENV_FILE: path.join(os.tmpdir(), `athena-no-env-${prefix}`),
    DATABASE_URL: isolated.url,
    REDIS_URL: baseRedisUrl(),
    REDIS_PREFIX: prefix,
    APP_KEY: appKey,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    STORAGE_PATH: path.join(os.tmpdir(), `athena-storage-${prefix}`),
    ...opts.env,
  };
  fs.mkdirSync(env.STORAGE_PATH!, { recursive: true });
  const config = loadConfig(env);
  const db = await createDb(config.database);
  if (opts.migrate !== false) await migrateLatest(db);
  const redis = await connectRedis(config.redis, 'cli');
  return {
    name,
    dbUrl: isolated.url,
    db,
    prefix,
    redis,
    appKey,
    env,
    config,
    async cleanup() {
      await db.destroy();
      await deletePrefix(redis, prefix);
      await closeRedis(redis);
      await isolated.drop();
      fs.rmSync(env.STORAGE_PATH!, { recursive: true, force: true });
    },
  };
}
