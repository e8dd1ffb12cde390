/** Small query helpers that hide dialect differences. */
import type { Knex } from 'knex';

/** Insert one row and return its numeric id on every dialect. */
export async function insertId(db: Knex | Knex.Transaction, table: string, row: Record<string, unknown>): Promise<number> {
  const client = String(db.client.config.client);
  if (client === 'mysql2' || client === 'mysql') {
    const [id] = (await db(table).insert(row)) as number[];
    return Number(id);
  }
  const [res] = (await db(table).insert(row).returning('id')) as Array<{ id: number } | number>;
  return Number(typeof res === 'object' ? res.id : res);
}

/** True when the error is a unique-constraint violation on any of the three databases. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; errno?: number; message?: string };
  return e?.code === '23505' || e?.code === 'ER_DUP_ENTRY' || e?.errno === 1062 || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || /UNIQUE constraint failed/.test(e?.message ?? '');
}
