/**
 * Accounts and their Binance credentials. Keys and secrets are encrypted with APP_KEY before they reach SQL
 * and are only decrypted on demand; listings show a masked key tail and never the secret.
 */
import type { Knex } from 'knex';
import { decryptSecret, encryptSecret } from '../../crypto/secrets.js';
import { UserError } from '../../support/errors.js';
import { maskTail } from '../../support/mask.js';
import { toBool, toDate } from '../../support/sql-values.js';
import { insertId } from '../helpers.js';

export interface AccountInput {
  name: string;
  apiKey?: string | null;
  apiSecret?: string | null;
  isActive?: boolean;
  hedgeMode?: boolean;
}

export interface AccountSummary {
  id: number;
  name: string;
  is_active: boolean;
  on_hedge_mode: boolean;
  api_key: string; // masked
  has_secret: boolean;
  created_at: string | null;
  updated_at: string | null;
}

export interface AccountCredentials {
  id: number;
  name: string;
  apiKey: string;
  apiSecret: string;
  hedgeMode: boolean;
}

interface AccountRow {
  id: number;
  name: string;
  is_active: unknown;
  binance_api_key: string | null;
  binance_api_secret: string | null;
  on_hedge_mode: unknown;
  created_at: unknown;
  updated_at: unknown;
}

function validateName(name: string): string {
  const n = name.trim();
  if (!n) throw new UserError('The account name cannot be empty.');
  if (n.length > 100) throw new UserError('The account name is longer than 100 characters.');
  return n;
}

function validateCredential(kind: string, v: string): string {
  const s = v.trim();
  if (!/^[A-Za-z0-9]{16,128}$/.test(s)) throw new UserError(`The ${kind} must be 16-128 letters and digits.`);
  return s;
}

export async function createAccount(db: Knex, key: Buffer, input: AccountInput, now = new Date()): Promise<number> {
  return insertId(db, 'accounts', {
    name: validateName(input.name),
    is_active: input.isActive ?? true,
    on_hedge_mode: input.hedgeMode ?? false,
    binance_api_key: input.apiKey ? encryptSecret(validateCredential('API key', input.apiKey), key) : null,
    binance_api_secret: input.apiSecret ? encryptSecret(validateCredential('API secret', input.apiSecret), key) : null,
    created_at: now,
    updated_at: now,
  });
}

export async function updateAccount(db: Knex, key: Buffer, id: number, input: Partial<AccountInput>, now = new Date()): Promise<void> {
  const patch: Record<string, unknown> = { updated_at: now };
  if (input.name !== undefined) patch.name = validateName(input.name);
  if (input.isActive !== undefined) patch.is_active = input.isActive;
  if (input.hedgeMode !== undefined) patch.on_hedge_mode = input.hedgeMode;
  if (input.apiKey !== undefined) patch.binance_api_key = input.apiKey ? encryptSecret(validateCredential('API key', input.apiKey), key) : null;
  if (input.apiSecret !== undefined) patch.binance_api_secret = input.apiSecret ? encryptSecret(validateCredential('API secret', input.apiSecret), key) : null;
  const n = await db('accounts').where({ id }).update(patch);
  if (n === 0) throw new UserError(`Account ${id} does not exist.`);
}

export async function removeAccount(db: Knex, id: number): Promise<void> {
  await db.transaction(async (trx) => {
    await trx('binance_listen_keys').where({ account_id: id }).delete();
    const n = await trx('accounts').where({ id }).delete();
    if (n === 0) throw new UserError(`Account ${id} does not exist.`);
  });
}

function summarise(row: AccountRow, key: Buffer): AccountSummary {
  const apiKey = row.binance_api_key ? decryptSecret(row.binance_api_key, key, `accounts.binance_api_key of row ${row.id}`) : '';
  return {
    id: Number(row.id),
    name: row.name,
    is_active: toBool(row.is_active),
    on_hedge_mode: toBool(row.on_hedge_mode),
    api_key: maskTail(apiKey),
    has_secret: !!row.binance_api_secret,
    created_at: toDate(row.created_at)?.toISOString() ?? null,
    updated_at: toDate(row.updated_at)?.toISOString() ?? null,
  };
}

export async function listAccounts(db: Knex, key: Buffer): Promise<AccountSummary[]> {
  const rows: AccountRow[] = await db('accounts').select('*').orderBy('id');
  return rows.map((r) => summarise(r, key));
}

export async function getAccount(db: Knex, key: Buffer, id: number): Promise<AccountSummary> {
  const row: AccountRow | undefined = await db('accounts').where({ id }).first();
  if (!row) throw new UserError(`Account ${id} does not exist.`);
  return summarise(row, key);
}

/** Decrypted credentials of one account, for the Binance client. */
export async function getCredentials(db: Knex, key: Buffer, id: number): Promise<AccountCredentials | null> {
  const row: AccountRow | undefined = await db('accounts').where({ id }).first();
  if (!row || !row.binance_api_key || !row.binance_api_secret) return null;
  return {
    id: Number(row.id),
    name: row.name,
    apiKey: decryptSecret(row.binance_api_key, key, `accounts.binance_api_key of row ${row.id}`),
    apiSecret: decryptSecret(row.binance_api_secret, key, `accounts.binance_api_secret of row ${row.id}`),
    hedgeMode: toBool(row.on_hedge_mode),
  };
}

/** Accounts that should hold a user-data stream: active, with both key and secret. */
export async function eligibleAccountIds(db: Knex): Promise<number[]> {
  const rows: Array<{ id: number }> = await db('accounts')
    .where({ is_active: true })
    .whereNotNull('binance_api_key')
    .whereNotNull('binance_api_secret')
    .select('id')
    .orderBy('id');
  return rows.map((r) => Number(r.id));
}

export interface AccountName {
  id: number;
  name: string;
  isActive: boolean;
}

/** Ids, names and the active flag only (no credentials), optionally one account. */
export async function accountNames(db: Knex, id?: number): Promise<AccountName[]> {
  const q = db('accounts').select('id', 'name', 'is_active').orderBy('id');
  if (id !== undefined) q.where({ id });
  const rows = (await q) as Array<{ id: number; name: string; is_active: unknown }>;
  return rows.map((r) => ({ id: Number(r.id), name: String(r.name), isActive: toBool(r.is_active) }));
}
