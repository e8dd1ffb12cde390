/**
 * Column helpers that make one migration produce equivalent tables on SQLite, PostgreSQL and MySQL.
 *  - timestamps: millisecond precision, UTC (timestamptz(3) / datetime(3) / SQLite epoch ms)
 *  - decimals:   DECIMAL(p,s) on servers, TEXT on SQLite (SQLite's REAL would turn strings into floats)
 *  - JSON:       text everywhere (LONGTEXT on MySQL), parsed by the repositories
 */
import type { Knex } from 'knex';

export function timestampCol(t: Knex.CreateTableBuilder | Knex.AlterTableBuilder, name: string): Knex.ColumnBuilder {
  return t.datetime(name, { precision: 3, useTz: true });
}

export function decimalCol(
  t: Knex.CreateTableBuilder | Knex.AlterTableBuilder,
  name: string,
  client: string,
  precision = 20,
  scale = 8,
): Knex.ColumnBuilder {
  return client.includes('sqlite') ? t.text(name) : t.decimal(name, precision, scale);
}

export function jsonCol(t: Knex.CreateTableBuilder | Knex.AlterTableBuilder, name: string): Knex.ColumnBuilder {
  return t.text(name, 'longtext');
}

/** created_at / updated_at, nullable, millisecond precision. */
export function timestampsCols(t: Knex.CreateTableBuilder): void {
  timestampCol(t, 'created_at').nullable();
  timestampCol(t, 'updated_at').nullable();
}

export function clientOf(db: Knex): string {
  return String(db.client.config.client);
}
