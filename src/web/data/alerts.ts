/** Recent alerts from the `notifications` table (foundation; written by src/notify/notifier.ts). */
import { parseJson, toDate } from '../../support/sql-values.js';
import { redact } from '../../support/mask.js';
import { section, type Section } from './safe.js';
import type { DataContext } from './context.js';

export interface AlertRow {
  id: number;
  canonical: string;
  severity: string;
  title: string;
  message: string | null;
  hostname: string | null;
  createdAt: Date | null;
  context: unknown;
}

export async function readAlerts(ctx: DataContext, limit = 10): Promise<AlertRow[]> {
  const rows = (await ctx.db('notifications').orderBy('id', 'desc').limit(limit)) as Array<Record<string, unknown>>;
  return rows.map((r) => {
    let context: unknown = null;
    try {
      context = redact(parseJson(r.context));
    } catch {
      context = String(r.context); // stored text that is not JSON: show it as text
    }
    return {
      id: Number(r.id),
      canonical: String(r.canonical),
      severity: String(r.severity),
      title: String(r.title),
      message: (r.message as string | null) ?? null,
      hostname: (r.hostname as string | null) ?? null,
      createdAt: toDate(r.created_at),
      context,
    };
  });
}

export function alertsSection(ctx: DataContext, limit = 10): Promise<Section<AlertRow[]>> {
  return section('alerts', ctx.log, () => readAlerts(ctx, limit));
}
