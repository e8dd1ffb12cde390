/**
 * Request signing for Binance SIGNED endpoints: HMAC-SHA256 over the exact query string that is sent.
 */
import crypto from 'node:crypto';

export type ParamValue = string | number | boolean | null | undefined;

/** Encode params in insertion order, skipping null/undefined, the way they go on the wire. */
export function encodeParams(params: Record<string, ParamValue>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined) continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  }
  return parts.join('&');
}

export function hmacHex(secret: string, payload: string): string {
  return crypto.createHmac('sha256', secret).update(payload).digest('hex');
}

/** `query&signature=<hex>`: the signature covers everything before it. */
export function signQuery(query: string, secret: string): string {
  const sig = hmacHex(secret, query);
  return query ? `${query}&signature=${sig}` : `signature=${sig}`;
}

/** Constant-time comparison of two hex signatures. */
export function signaturesMatch(expectedHex: string, givenHex: string): boolean {
  const a = Buffer.from(expectedHex, 'utf8');
  const b = Buffer.from(givenHex.toLowerCase(), 'utf8');
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}
