/** api_snapshots: the exchange truth per account for the drift view (see migration 0300). */
import type { Knex } from 'knex';
import { parseJson, toDate } from '../../support/sql-values.js';

export interface SnapshotPayload {
  positions: unknown[];
  open_orders: unknown[];
}

export interface Snapshot {
  id: number;
  accountId: number;
  canonical: string;
  payload: SnapshotPayload;
  takenAt: Date;
}

export async function insertSnapshot(db: Knex, accountId: number, canonical: string, payload: SnapshotPayload, takenAt: Date): Promise<void> {
  await db('api_snapshots').insert({ account_id: accountId, canonical, payload: JSON.stringify(payload), taken_at: takenAt });
}

/** The newest snapshot of an account, or null. */
export async function latestSnapshot(db: Knex, accountId: number, canonical = 'binance'): Promise<Snapshot | null> {
  const r = await db('api_snapshots').where({ account_id: accountId, canonical }).orderBy('taken_at', 'desc').orderBy('id', 'desc').first();
  if (!r) return null;
  return { id: Number(r.id), accountId: Number(r.account_id), canonical: r.canonical, payload: parseJson<SnapshotPayload>(r.payload)!, takenAt: toDate(r.taken_at)! };
}

/** Delete snapshots older than `before`; returns the number removed. */
export async function pruneSnapshots(db: Knex, before: Date): Promise<number> {
  return db('api_snapshots').where('taken_at', '<', before).delete();
}
