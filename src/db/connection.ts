/**
 * knex on SQLite (better-sqlite3), PostgreSQL (pg) or MySQL/MariaDB (mysql2), set up so that the three
 * return the same shapes:
 *  - BIGINT ids and COUNT(*) come back as JS numbers (pg returns strings by default);
 *  - DECIMAL comes back as a string everywhere (SQLite stores our normalised text);
 *  - timestamps are bound as UTC (mysql2 timezone 'Z', PostgreSQL timestamptz, SQLite epoch ms).
 * knex and the drivers are imported lazily: only commands that touch the database pay for them.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import type { DatabaseTarget } from './url.js';

export type Db = Knex;

let pgParsersInstalled = false;

async function installPgTypeParsers(): Promise<void> {
  if (pgParsersInstalled) return;
  const pg = (await import('pg')).default;
  pg.types.setTypeParser(20, (v: string) => Number(v)); // int8: ids and COUNT(*)
  pgParsersInstalled = true;
}

export interface CreateDbOptions {
  /** Pool size for PostgreSQL/MySQL (SQLite always uses one connection per process). */
  poolMax?: number;
  /** Statement timeout in ms, where the database supports it per session (PostgreSQL, MySQL). */
  statementTimeoutMs?: number;
}

export function knexConfig(target: DatabaseTarget, opts: CreateDbOptions = {}): Knex.Config {
  if (target.client === 'sqlite') {
    return {
      client: 'better-sqlite3',
      connection: { filename: target.filename! },
      useNullAsDefault: true,
      pool: {
        min: 1,
        max: 1,
        afterCreate: (conn: { pragma(s: string): unknown }, done: (err: Error | null, conn: unknown) => void) => {
          try {
            conn.pragma('journal_mode = WAL');
            conn.pragma('busy_timeout = 10000');
            conn.pragma('synchronous = NORMAL');
            conn.pragma('foreign_keys = ON');
            done(null, conn);
          } catch (err) {
            done(err as Error, conn);
          }
        },
      },
    };
  }
  if (target.client === 'pg') {
    return {
      client: 'pg',
      connection: {
        host: target.host,
        port: target.port,
        user: target.user,
        password: target.password,
        database: target.database,
        ...(opts.statementTimeoutMs ? { statement_timeout: opts.statementTimeoutMs } : {}),
      },
      searchPath: target.schema ? [target.schema] : undefined,
      pool: { min: 0, max: opts.poolMax ?? 5 },
    };
  }
  return {
    client: 'mysql2',
    connection: {
      host: target.host,
      port: target.port,
      user: target.user,
      password: target.password,
      database: target.database,
      timezone: 'Z',
      charset: 'utf8mb4',
      supportBigNumbers: true,
      bigNumberStrings: false,
      decimalNumbers: false,
      dateStrings: false,
    },
    pool: {
      min: 0,
      max: opts.poolMax ?? 5,
      afterCreate: (conn: { query(sql: string, cb: (err: Error | null) => void): void }, done: (err: Error | null, conn: unknown) => void) => {
        conn.query("SET time_zone = '+00:00'", (err) => done(err, conn));
      },
    },
  };
}

/** Create a knex instance for the target (creating the SQLite file's folder if needed). */
export async function createDb(target: DatabaseTarget, opts: CreateDbOptions = {}): Promise<Db> {
  if (target.client === 'pg') await installPgTypeParsers();
  if (target.client === 'sqlite' && target.filename && target.filename !== ':memory:') {
    fs.mkdirSync(path.dirname(target.filename), { recursive: true });
  }
  const knexMod = await import('knex');
  const knex = knexMod.default;
  return knex(knexConfig(target, opts));
}

/** The dialect name of a knex instance: 'sqlite' | 'pg' | 'mysql'. */
export function dialect(db: Db): 'sqlite' | 'pg' | 'mysql' {
  const c = String(db.client.config.client);
  if (c.includes('sqlite')) return 'sqlite';
  if (c === 'pg' || c.includes('postgres')) return 'pg';
  return 'mysql';
}

/** Cheap connectivity probe; throws the driver's error. */
export async function pingDb(db: Db): Promise<void> {
  await db.raw('select 1');
}
