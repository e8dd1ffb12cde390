/**
 * Schema introspection that works on SQLite, PostgreSQL and MySQL/MariaDB: whether a table exists (the
 * admin UI says "not installed yet" for a part whose migration has not run) and the list of tables (the
 * SQL page's table picker).
 */
import type { Knex } from 'knex';
import { dialect } from './connection.js';

export async function tableExists(db: Knex, table: string): Promise<boolean> {
  return db.schema.hasTable(table);
}

/** The tables and views of the connection's database / schema, sorted by name. */
export async function listTables(db: Knex): Promise<string[]> {
  switch (dialect(db)) {
    case 'sqlite': {
      const rows = (await db.raw("select name from sqlite_master where type in ('table','view') and name not like 'sqlite_%' order by name")) as Array<{ name: string }>;
      return rows.map((r) => r.name);
    }
    case 'pg': {
      const res = (await db.raw('select table_name as name from information_schema.tables where table_schema = current_schema() order by 1')) as { rows: Array<{ name: string }> };
      return res.rows.map((r) => r.name);
    }
    default: {
      const [rows] = (await db.raw('select table_name as name from information_schema.tables where table_schema = database() order by 1')) as [Array<{ name?: string; NAME?: string }>];
      return rows.map((r) => (r.name ?? r.NAME)!);
    }
  }
}
