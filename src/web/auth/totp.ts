/**
 * TOTP second factor (RFC 6238: SHA-1, 6 digits, 30 s), with the `otpauth` library. Secrets are stored
 * encrypted under APP_KEY. A code is accepted within ±1 step, and each step can be used once per user
 * (the caller records the matched counter in Redis), so a shoulder-surfed code cannot be replayed.
 */
import * as OTPAuth from 'otpauth';

export const TOTP_ISSUER = 'Athena';
const PERIOD = 30;

export function newTotpSecret(): string {
  return new OTPAuth.Secret({ size: 20 }).base32;
}

function totpFor(secretBase32: string, label: string): OTPAuth.TOTP {
  return new OTPAuth.TOTP({ issuer: TOTP_ISSUER, label, algorithm: 'SHA1', digits: 6, period: PERIOD, secret: OTPAuth.Secret.fromBase32(secretBase32) });
}

export function totpUri(secretBase32: string, email: string): string {
  return totpFor(secretBase32, email).toString();
}

/** The current code (for tests and for `user:2fa --show-code` style checks). */
export function totpCode(secretBase32: string, timestampMs: number): string {
  return totpFor(secretBase32, 'x').generate({ timestamp: timestampMs });
}

/**
 * Check a code at `timestampMs`. Returns the time-step counter it matched (for replay protection),
 * or null when it does not match.
 */
export function checkTotp(secretBase32: string, code: string, timestampMs: number): number | null {
  const token = code.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(token)) return null;
  const delta = totpFor(secretBase32, 'x').validate({ token, timestamp: timestampMs, window: 1 });
  if (delta === null) return null;
  return Math.floor(timestampMs / 1000 / PERIOD) + delta;
}
