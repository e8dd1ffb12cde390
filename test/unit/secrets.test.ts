import { describe, expect, it } from 'vitest';
import { decryptSecret, encryptSecret, generateAppKey, isEncrypted } from '../../src/crypto/secrets.js';
import { SecretDecryptError } from '../../src/support/errors.js';
import { loadConfig } from '../../src/config/index.js';

const keyOf = (k: string) => loadConfig({ ENV_FILE: '/nonexistent/athena', APP_KEY: k }).appKey!;

describe('secrets at rest', () => {
  it('round-trips and never stores plaintext', () => {
    const key = keyOf(generateAppKey());
    const stored = encryptSecret('my-api-secret-123', key);
    expect(isEncrypted(stored)).toBe(true);
    expect(stored).not.toContain('my-api-secret-123');
    expect(encryptSecret('my-api-secret-123', key)).not.toBe(stored); // fresh IV every time
    expect(decryptSecret(stored, key, 'accounts.binance_api_secret of row 1')).toBe('my-api-secret-123');
  });

  it('names the row when the key is wrong', () => {
    const stored = encryptSecret('secret', keyOf(generateAppKey()));
    const other = keyOf(generateAppKey());
    expect(() => decryptSecret(stored, other, 'accounts.binance_api_secret of row 7')).toThrow(SecretDecryptError);
    expect(() => decryptSecret(stored, other, 'accounts.binance_api_secret of row 7')).toThrow(/accounts\.binance_api_secret of row 7/);
  });

  it('detects a corrupted value', () => {
    const key = keyOf(generateAppKey());
    const stored = encryptSecret('secret', key);
    const tampered = stored.slice(0, -4) + (stored.endsWith('AAA=') ? 'BBB=' : 'AAA=');
    expect(() => decryptSecret(tampered, key, 'row 1')).toThrow(/Cannot decrypt row 1/);
    expect(() => decryptSecret('plaintext', key, 'row 2')).toThrow(/Cannot decrypt row 2/);
  });
});
