/**
 * The audit trail: one row per state-changing admin action (and per SQL query, command run, login).
 * `details` is redacted of secret-named fields before it is stored.
 */
import type { Knex } from 'knex';
import { redact } from '../../support/mask.js';
import { parseJson, toDate } from '../../support/sql-values.js';

export interface AuditEntry {
  userId: number | null;
  actor: string;
  action: string;
  target?: string | null;
  details?: Record<string, unknown> | null;
  ip?: string | null;
}

export interface AuditRow {
  id: number;
  user_id: number | null;
  actor: string;
  action: string;
  target: string | null;
  details: Record<string, unknown> | null;
  ip: string | null;
  created_at: Date | null;
}

/** PostgreSQL refuses NUL in text ("invalid byte sequence"): an audited value from a request may hold one. */
const noNul = (v: string) => v.split('\u0000').join('\uFFFD');

export async function writeAudit(db: Knex, entry: AuditEntry, now: Date): Promise<void> {
  await db('audit_log').insert({
    user_id: entry.userId,
    actor: noNul(entry.actor.slice(0, 191)),
    action: noNul(entry.action.slice(0, 64)),
    target: entry.target ? noNul(entry.target.slice(0, 255)) : null,
    details: entry.details ? JSON.stringify(redact(entry.details)) : null,
    ip: entry.ip ? noNul(entry.ip.slice(0, 64)) : null,
    created_at: now,
  });
}

export interface AuditQuery {
  action?: string;
  actor?: string;
  beforeId?: number;
  limit?: number;
}

export async function listAudit(db: Knex, q: AuditQuery = {}): Promise<AuditRow[]> {
  const query = db('audit_log').orderBy('id', 'desc').limit(Math.min(q.limit ?? 50, 500));
  if (q.action) query.where('action', 'like', `${q.action.replace(/[%_\\]/g, '')}%`);
  if (q.actor) query.where('actor', q.actor);
  if (q.beforeId) query.where('id', '<', q.beforeId);
  const rows = (await query) as Array<Record<string, unknown>>;
  return rows.map((r) => ({
    id: Number(r.id),
    user_id: r.user_id === null ? null : Number(r.user_id),
    actor: String(r.actor),
    action: String(r.action),
    target: (r.target as string | null) ?? null,
    details: parseJson<Record<string, unknown>>(r.details),
    ip: (r.ip as string | null) ?? null,
    created_at: toDate(r.created_at),
  }));
}

export async function auditActions(db: Knex): Promise<string[]> {
  const rows = (await db('audit_log').distinct('action').orderBy('action')) as Array<{ action: string }>;
  return rows.map((r) => r.action);
}
