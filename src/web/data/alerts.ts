/** Recent alerts from the `notifications` table (foundation; written by src/notify/notifier.ts). */
import { recentNotifications } from '../../db/repositories/notifications.js';
import { parseJson } from '../../support/sql-values.js';
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
  return (await recentNotifications(ctx.db, limit)).map((r) => {
    let context: unknown = null;
    try {
      // The Notifier redacts before it stores; redacted again here for rows written by anything else.
      context = redact(parseJson(r.context));
    } catch {
      context = r.context; // stored text that is not JSON: show it as text
    }
    return { id: r.id, canonical: r.canonical, severity: r.severity, title: r.title, message: r.message, hostname: r.hostname, createdAt: r.createdAt, context };
  });
}

export function alertsSection(ctx: DataContext, limit = 10): Promise<Section<AlertRow[]>> {
  return section('alerts', ctx.log, () => readAlerts(ctx, limit));
}
