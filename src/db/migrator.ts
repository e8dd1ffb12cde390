/**
 * Runs the migrations of ./migrations/index.ts through knex's migrator with an explicit source (no
 * directory globbing, so compiled and source layouts behave the same and bundling stays possible).
 */
import type { Knex } from 'knex';
import { migrations } from './migrations/index.js';
import type { Migration } from './migrations/types.js';

const source: Knex.MigrationSource<Migration> = {
  getMigrations: async () => migrations,
  getMigrationName: (m) => m.name,
  getMigration: async (m) => ({ up: (db: Knex) => m.up(db), down: (db: Knex) => m.down(db) }),
};

const base: Knex.MigratorConfig = { migrationSource: source, tableName: 'knex_migrations' };

export interface MigrationStatus {
  name: string;
  ran: boolean;
  batch: number | null;
}

export async function migrateLatest(db: Knex): Promise<string[]> {
  const [, ran] = (await db.migrate.latest(base)) as [number, string[]];
  return ran;
}

export async function migrateRollback(db: Knex, all = false): Promise<string[]> {
  const [, rolled] = (await db.migrate.rollback(base, all)) as [number, string[]];
  return rolled;
}

export async function migrationStatus(db: Knex): Promise<MigrationStatus[]> {
  const hasTable = await db.schema.hasTable('knex_migrations');
  const rows: Array<{ name: string; batch: number }> = hasTable ? await db('knex_migrations').select('name', 'batch') : [];
  const byName = new Map(rows.map((r) => [r.name, Number(r.batch)]));
  return migrations.map((m) => ({ name: m.name, ran: byName.has(m.name), batch: byName.get(m.name) ?? null }));
}

/** Drop every table of the database (or schema), including ones no migration knows about. */
export async function dropAllTables(db: Knex): Promise<string[]> {
  const client = String(db.client.config.client);
  let tables: string[];
  if (client.includes('sqlite')) {
    const rows: Array<{ name: string }> = await db.raw("select name from sqlite_master where type='table' and name not like 'sqlite_%'");
    tables = rows.map((r) => r.name);
    await db.raw('PRAGMA foreign_keys = OFF');
    for (const t of tables) await db.schema.dropTableIfExists(t);
    await db.raw('PRAGMA foreign_keys = ON');
  } else if (client === 'pg') {
    const res = await db.raw('select tablename from pg_tables where schemaname = current_schema()');
    tables = (res.rows as Array<{ tablename: string }>).map((r) => r.tablename);
    for (const t of tables) await db.raw('drop table if exists ?? cascade', [t]);
  } else {
    const [rows] = await db.raw('select table_name as name from information_schema.tables where table_schema = database()');
    tables = (rows as Array<{ name: string }>).map((r) => r.name);
    // One connection for the whole sequence: FOREIGN_KEY_CHECKS is a session variable.
    await db.transaction(async (trx) => {
      await trx.raw('SET FOREIGN_KEY_CHECKS = 0');
      for (const t of tables) await trx.raw('drop table if exists ??', [t]);
      await trx.raw('SET FOREIGN_KEY_CHECKS = 1');
    });
  }
  return tables;
}
