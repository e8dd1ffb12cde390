/**
 * Secret masking for the SQL page (results, CSV, audit). Two nets:
 *  - by column name: src/support/mask.ts isSecretName (api keys, secrets, listen keys, passwords, tokens, totp…);
 *  - by value, whatever the column is called (aliases, expressions): our encrypted format "v1:iv:tag:ct",
 *    scrypt password hashes, otpauth:// URIs, PEM private keys, JWTs, and JSON text whose secret-named
 *    fields are redacted in place.
 * Best effort by nature (an expression can always reshape a value); the stored secrets are encrypted under
 * APP_KEY, and WEB_SQL_DATABASE_URL can point at a DB user that cannot read those columns at all.
 */
import { isEncrypted } from '../../crypto/secrets.js';
import { isSecretName, redact } from '../../support/mask.js';
import { isPasswordHash } from '../auth/passwords.js';

export const MASK = '••••••';

const VALUE_PATTERNS: RegExp[] = [/^otpauth:\/\//i, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, /^eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}$/];

export function maskValue(v: unknown): { value: unknown; masked: boolean } {
  if (typeof v !== 'string') return { value: v, masked: false };
  if (isEncrypted(v) || isPasswordHash(v) || VALUE_PATTERNS.some((re) => re.test(v))) return { value: MASK, masked: true };
  const t = v.trimStart();
  if ((t.startsWith('{') || t.startsWith('[')) && t.length < 1_000_000) {
    try {
      const parsed = JSON.parse(v) as unknown;
      const red = redact(parsed, 0);
      const out = JSON.stringify(red);
      if (out !== JSON.stringify(parsed)) return { value: out, masked: true };
    } catch {
      // not JSON: shown as text
    }
  }
  return { value: v, masked: false };
}

export interface MaskedRows {
  rows: unknown[][];
  maskedColumns: string[];
  maskedCells: number;
}

export function maskRows(columns: string[], rows: unknown[][]): MaskedRows {
  const secretCols = columns.map((c) => isSecretName(c));
  let maskedCells = 0;
  const out = rows.map((row) =>
    row.map((v, i) => {
      if (v === null || v === undefined) return v;
      if (secretCols[i]) {
        maskedCells++;
        return MASK;
      }
      const m = maskValue(v);
      if (m.masked) maskedCells++;
      return m.value;
    }),
  );
  return { rows: out, maskedColumns: columns.filter((_, i) => secretCols[i]), maskedCells };
}
