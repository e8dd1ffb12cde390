/**
 * Secrets at rest: AES-256-GCM under APP_KEY. The stored form is "v1:<iv>:<tag>:<ciphertext>" (base64 parts),
 * so a value can be recognised, and a wrong key or a tampered value fails authentication instead of
 * decrypting to garbage.
 */
import crypto from 'node:crypto';
import { SecretDecryptError, UserError } from '../support/errors.js';

const VERSION = 'v1';

export function generateAppKey(): string {
  return `base64:${crypto.randomBytes(32).toString('base64')}`;
}

export function requireKey(key: Buffer | null): Buffer {
  if (!key) throw new UserError('APP_KEY is not set. Run `bin/artisan key:generate` to create one in .env.');
  return key;
}

export function isEncrypted(value: string | null | undefined): boolean {
  return typeof value === 'string' && value.startsWith(`${VERSION}:`) && value.split(':').length === 4;
}

export function encryptSecret(plain: string, key: Buffer): string {
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
  const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [VERSION, iv.toString('base64'), tag.toString('base64'), ct.toString('base64')].join(':');
}

/**
 * Decrypt a stored secret. `where` names the row and column ("accounts.binance_api_secret of row 7"),
 * so that the error tells an operator exactly which value is unreadable.
 */
export function decryptSecret(stored: string, key: Buffer, where: string): string {
  const parts = stored.split(':');
  if (parts.length !== 4 || parts[0] !== VERSION) throw new SecretDecryptError(where);
  try {
    const [, ivB64, tagB64, ctB64] = parts as [string, string, string, string];
    const decipher = crypto.createDecipheriv('aes-256-gcm', key, Buffer.from(ivB64, 'base64'));
    decipher.setAuthTag(Buffer.from(tagB64, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(ctB64, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    throw new SecretDecryptError(where);
  }
}
