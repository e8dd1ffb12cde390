/**
 * Normalise values read back from SQLite, PostgreSQL or MySQL, which disagree on booleans, timestamps and JSON.
 */
import { normalizeDecimal } from './decimal.js';

/** SQLite and MySQL return 0/1 for booleans; PostgreSQL returns true/false. */
export function toBool(v: unknown): boolean {
  return v === true || v === 1 || v === '1' || v === 't' || v === 'true';
}

/** Timestamps come back as Date (pg, mysql2) or epoch milliseconds (SQLite, as knex binds Dates there). */
export function toDate(v: unknown): Date | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v;
  if (typeof v === 'number' || typeof v === 'bigint') return new Date(Number(v));
  if (typeof v === 'string') {
    if (/^\d+$/.test(v)) return new Date(Number(v));
    const d = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(v) ? v : `${v.replace(' ', 'T')}Z`);
    return Number.isNaN(d.getTime()) ? null : d;
  }
  return null;
}

export function toMillis(v: unknown): number | null {
  const d = toDate(v);
  return d ? d.getTime() : null;
}

export function toNumber(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : null;
}

/** Decimal columns: PostgreSQL and MySQL return strings, SQLite stores our normalised text. */
export function toDecimalString(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  return normalizeDecimal(typeof v === 'number' ? String(v) : v);
}

/** JSON is stored as text on every database, so it is parsed here. */
export function parseJson<T = unknown>(v: unknown): T | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') {
    try {
      return JSON.parse(v) as T;
    } catch (err) {
      throw new Error(`A JSON column holds invalid JSON (${(err as Error).message}): ${v.slice(0, 80)}`);
    }
  }
  return v as T;
}
