/** steps_dispatcher_saturation: one row per (group, UTC minute). */
import type { Knex } from 'knex';
import { SATURATION_TABLE } from '../../steps/tables.js';
import { toMillis } from '../../support/sql-values.js';

export interface SaturationRow {
  group: string;
  /** Epoch ms of the minute. */
  bucket_started_at: number;
  ticks_observed: number;
  ticks_capped: number;
  ticks_capped_with_leftover: number;
  total_dispatched: number;
  max_pending_after: number;
}

export async function upsertSaturation(db: Knex, row: SaturationRow, now: number): Promise<void> {
  const at = new Date(now);
  await db(SATURATION_TABLE)
    .insert({ ...row, bucket_started_at: new Date(row.bucket_started_at), created_at: at, updated_at: at })
    .onConflict(['group', 'bucket_started_at'])
    .merge(['ticks_observed', 'ticks_capped', 'ticks_capped_with_leftover', 'total_dispatched', 'max_pending_after', 'updated_at']);
}

export async function readSaturation(db: Knex, groupLike?: string): Promise<SaturationRow[]> {
  const q = db(SATURATION_TABLE).orderBy([{ column: 'bucket_started_at' }, { column: 'group' }]);
  if (groupLike) q.where('group', 'like', groupLike);
  const rows: Array<Record<string, unknown>> = await q;
  return rows.map((r) => ({
    group: String(r.group),
    bucket_started_at: toMillis(r.bucket_started_at) ?? 0,
    ticks_observed: Number(r.ticks_observed),
    ticks_capped: Number(r.ticks_capped),
    ticks_capped_with_leftover: Number(r.ticks_capped_with_leftover),
    total_dispatched: Number(r.total_dispatched),
    max_pending_after: Number(r.max_pending_after),
  }));
}

/** Per group: ticks observed and ticks capped with work left over, summed over the minutes since `since`. */
export async function saturationTotals(db: Knex, since: number): Promise<Array<{ group: string; observed: number; leftover: number }>> {
  const rows = (await db(SATURATION_TABLE)
    .where('bucket_started_at', '>=', new Date(since))
    .select('group')
    .sum({ observed: 'ticks_observed', leftover: 'ticks_capped_with_leftover' })
    .groupBy('group')) as Array<{ group: string; observed: unknown; leftover: unknown }>;
  return rows.map((r) => ({ group: String(r.group), observed: Number(r.observed ?? 0), leftover: Number(r.leftover ?? 0) }));
}
