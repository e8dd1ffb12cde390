/**
 * First-run preparation of the dev box: an APP_KEY in .env, the database migrated and seeded, and a demo
 * operator whose generated password lives in storage/dev/admin-password (mode 0600). Every step is
 * idempotent, so later runs change nothing.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import { envFilePath, readEnvFile, writeEnvValue, type Env } from '../../config/env.js';
import { generateAppKey } from '../../crypto/secrets.js';

export const DEMO_OPERATOR_EMAIL = 'admin@athena.local';

/**
 * Make sure APP_KEY is set: the environment or .env wins; otherwise generate one into .env (ENV_FILE).
 * Returns the key and whether it was generated.
 */
export function ensureAppKey(env: Env = process.env): { key: string; generated: boolean; file: string } {
  const file = envFilePath(env);
  const current = env.APP_KEY || readEnvFile(file).APP_KEY;
  if (current) return { key: current, generated: false, file };
  const key = generateAppKey();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeEnvValue(file, 'APP_KEY', key);
  return { key, generated: true, file };
}

export interface DemoOperator {
  email: string;
  password: string;
  file: string;
  /** created: new user; reset: the user existed without a password file; kept: file and user agree. */
  action: 'created' | 'reset' | 'kept';
}

function writeSecretFile(file: string, content: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  // Create with 0600 and also chmod: the umask may not narrow an existing file's mode.
  fs.writeFileSync(file, `${content}\n`, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
}

/**
 * The admin UI's demo operator. The password is generated once, stored only in `file` (0600) and in the
 * users table as a scrypt hash; it is printed on the terminal by `dev`, never logged.
 */
export async function ensureDemoOperator(db: Knex, file: string, host: string, now: () => Date): Promise<DemoOperator> {
  const { createOperator, changePassword } = await import('../../web/auth/operators.js');
  const { findUserByEmail } = await import('../../db/repositories/users.js');
  const { verifyPassword } = await import('../../web/auth/passwords.js');
  const deps = { db, now, host };
  const email = DEMO_OPERATOR_EMAIL;
  const user = await findUserByEmail(db, email);
  const stored = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : '';
  if (user && stored) {
    if (await verifyPassword(stored, user.passwordHash)) {
      fs.chmodSync(file, 0o600);
      return { email, password: stored, file, action: 'kept' };
    }
  }
  const password = crypto.randomBytes(18).toString('base64url');
  writeSecretFile(file, password);
  if (user) {
    await changePassword(deps, email, password);
    return { email, password, file, action: 'reset' };
  }
  await createOperator(deps, { email, role: 'admin', password });
  return { email, password, file, action: 'created' };
}
