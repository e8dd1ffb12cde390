/**
 * Operators of the admin UI. Two roles: `admin` (everything) and `viewer` (read pages, read-only commands).
 * Password hashes are scrypt strings; the TOTP secret is encrypted under APP_KEY.
 */
import type { Knex } from 'knex';
import { decryptSecret, encryptSecret } from '../../crypto/secrets.js';
import { UserError } from '../../support/errors.js';
import { toDate } from '../../support/sql-values.js';
import { insertId, isUniqueViolation } from '../helpers.js';

export type Role = 'admin' | 'viewer';
export const ROLES: Role[] = ['admin', 'viewer'];

export interface User {
  id: number;
  email: string;
  role: Role;
  passwordHash: string;
  hasTotp: boolean;
  totpEnabledAt: Date | null;
  lastLoginAt: Date | null;
  disabledAt: Date | null;
  createdAt: Date | null;
}

interface UserRow {
  id: number;
  email: string;
  password_hash: string;
  role: string;
  totp_secret: string | null;
  totp_enabled_at: unknown;
  last_login_at: unknown;
  disabled_at: unknown;
  created_at: unknown;
}

export function normaliseEmail(email: string): string {
  const e = email.trim().toLowerCase();
  if (!/^[^\s@]{1,64}@[^\s@]{1,180}$/.test(e) || e.length > 191) throw new UserError(`"${email}" is not an e-mail address.`);
  return e;
}

export function parseRole(role: string): Role {
  if (!ROLES.includes(role as Role)) throw new UserError(`The role must be one of ${ROLES.join(', ')} (got "${role}").`);
  return role as Role;
}

function fromRow(r: UserRow): User {
  return {
    id: Number(r.id),
    email: r.email,
    role: (ROLES.includes(r.role as Role) ? r.role : 'viewer') as Role,
    passwordHash: r.password_hash,
    hasTotp: !!r.totp_secret && !!r.totp_enabled_at,
    totpEnabledAt: toDate(r.totp_enabled_at),
    lastLoginAt: toDate(r.last_login_at),
    disabledAt: toDate(r.disabled_at),
    createdAt: toDate(r.created_at),
  };
}

export async function createUser(db: Knex, input: { email: string; role: Role; passwordHash: string; now: Date }): Promise<number> {
  try {
    return await insertId(db, 'users', {
      email: normaliseEmail(input.email),
      role: input.role,
      password_hash: input.passwordHash,
      created_at: input.now,
      updated_at: input.now,
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw new UserError(`A user with the e-mail ${normaliseEmail(input.email)} already exists.`);
    throw err;
  }
}

export async function findUserByEmail(db: Knex, email: string): Promise<User | null> {
  let e: string;
  try {
    e = normaliseEmail(email);
  } catch {
    return null; // not an e-mail: no such user (the login form reports the generic error)
  }
  const row = (await db('users').where({ email: e }).first()) as UserRow | undefined;
  return row ? fromRow(row) : null;
}

export async function findUserById(db: Knex, id: number): Promise<User | null> {
  const row = (await db('users').where({ id }).first()) as UserRow | undefined;
  return row ? fromRow(row) : null;
}

export async function listUsers(db: Knex): Promise<User[]> {
  const rows = (await db('users').orderBy('id')) as UserRow[];
  return rows.map(fromRow);
}

export async function setPasswordHash(db: Knex, id: number, passwordHash: string, now: Date): Promise<void> {
  await db('users').where({ id }).update({ password_hash: passwordHash, updated_at: now });
}

export async function recordLogin(db: Knex, id: number, ip: string, now: Date): Promise<void> {
  await db('users').where({ id }).update({ last_login_at: now, last_login_ip: ip.slice(0, 64), updated_at: now });
}

export async function setTotpSecret(db: Knex, appKey: Buffer, id: number, secretBase32: string | null, now: Date): Promise<void> {
  await db('users')
    .where({ id })
    .update({
      totp_secret: secretBase32 ? encryptSecret(secretBase32, appKey) : null,
      totp_enabled_at: secretBase32 ? now : null,
      updated_at: now,
    });
}

export async function getTotpSecret(db: Knex, appKey: Buffer, id: number): Promise<string | null> {
  const row = (await db('users').where({ id }).first('totp_secret', 'totp_enabled_at')) as Pick<UserRow, 'totp_secret' | 'totp_enabled_at'> | undefined;
  if (!row?.totp_secret || !row.totp_enabled_at) return null;
  return decryptSecret(row.totp_secret, appKey, `users.totp_secret of user ${id}`);
}

export async function deleteUser(db: Knex, id: number): Promise<boolean> {
  return (await db('users').where({ id }).delete()) > 0;
}
