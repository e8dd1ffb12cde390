/** Reads of the `notifications` table (written by src/notify/notifier.ts): the admin UI's recent alerts. */
import type { Knex } from 'knex';
import { toDate } from '../../support/sql-values.js';

export interface NotificationRow {
  id: number;
  canonical: string;
  dedupeKey: string;
  severity: string;
  title: string;
  message: string | null;
  /** The stored JSON text (already redacted by the Notifier), unparsed. */
  context: string | null;
  hostname: string | null;
  createdAt: Date | null;
}

/** The newest alerts first. */
export async function recentNotifications(db: Knex, limit = 10): Promise<NotificationRow[]> {
  const rows = (await db('notifications').orderBy('id', 'desc').limit(limit)) as Array<Record<string, unknown>>;
  return rows.map((r) => ({
    id: Number(r.id),
    canonical: String(r.canonical),
    dedupeKey: String(r.dedupe_key),
    severity: String(r.severity),
    title: String(r.title),
    message: (r.message as string | null) ?? null,
    context: r.context === null || r.context === undefined ? null : typeof r.context === 'string' ? r.context : JSON.stringify(r.context),
    hostname: (r.hostname as string | null) ?? null,
    createdAt: toDate(r.created_at),
  }));
}
