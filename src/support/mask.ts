/**
 * Secret masking for logs, pages and command output. Secrets never leave the process in clear text:
 * keys are matched by name, URLs lose their passwords, and API keys keep only a short tail.
 */
const SECRET_NAME = /(secret|password|passwd|pass_hash|password_hash|api_?key|apikey|listen_?key|token|signature|app_key|authorization|cookie|totp)/i;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/** "AbCdEf...1234" → "****1234": enough to recognise a key, not enough to use it. */
export function maskTail(value: string | null | undefined, keep = 4): string {
  if (!value) return '';
  if (value.length <= keep * 2) return '****';
  return `****${value.slice(-keep)}`;
}

/** Replace the password of a URL (postgres://u:pw@h/db → postgres://u:****@h/db). */
export function maskUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)([^@]*)@/i, (_m, head: string, pw: string) => (pw ? `${head}****@` : `${head}@`));
}

/** Deep-copy an object with every secret-named field replaced by "[redacted]". */
export function redact<T>(value: T, depth = 0): T {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1)) as unknown as T;
  if (value instanceof Date || value instanceof Error) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = isSecretName(k) && v !== null && v !== undefined && v !== '' ? '[redacted]' : redact(v, depth + 1);
  }
  return out as T;
}
