/**
 * binance_listen_keys: one row per account (Binance allows one active key per API key). The key is stored
 * encrypted under APP_KEY. Written by the user-data daemon (create, frame heartbeat, delete on reap or
 * expiry) and by the keepalive cron (success / failure); read by the stale-check cron and the web UI.
 */
import type { Knex } from 'knex';
import { decryptSecret, encryptSecret } from '../../crypto/secrets.js';
import { toBool, toDate, toNumber } from '../../support/sql-values.js';
import { isUniqueViolation } from '../helpers.js';

export interface ListenKeyRow {
  accountId: number;
  listenKey: string | null;
  lastCreatedAt: Date | null;
  lastKeepAliveAt: Date | null;
  lastKeepAliveStatus: string | null;
  failureCount: number;
  lastFrameAt: Date | null;
}

export interface StreamAccount {
  id: number;
  name: string;
  updatedAt: Date | null;
}

interface RawRow {
  account_id: number;
  listen_key: string | null;
  last_created_at: unknown;
  last_keep_alive_at: unknown;
  last_keep_alive_status: string | null;
  failure_count: unknown;
  last_frame_at: unknown;
}

function decode(r: RawRow, key: Buffer): ListenKeyRow {
  return {
    accountId: Number(r.account_id),
    listenKey: r.listen_key ? decryptSecret(r.listen_key, key, `binance_listen_keys.listen_key of account ${r.account_id}`) : null,
    lastCreatedAt: toDate(r.last_created_at),
    lastKeepAliveAt: toDate(r.last_keep_alive_at),
    lastKeepAliveStatus: r.last_keep_alive_status,
    failureCount: toNumber(r.failure_count) ?? 0,
    lastFrameAt: toDate(r.last_frame_at),
  };
}

/** Accounts that should hold a user-data stream: active, with key and secret. */
export async function streamAccounts(db: Knex): Promise<StreamAccount[]> {
  const rows: Array<{ id: number; name: string; updated_at: unknown }> = await db('accounts')
    .where({ is_active: true })
    .whereNotNull('binance_api_key')
    .whereNotNull('binance_api_secret')
    .select('id', 'name', 'updated_at')
    .orderBy('id');
  return rows.map((r) => ({ id: Number(r.id), name: r.name, updatedAt: toDate(r.updated_at) }));
}

export async function listListenKeys(db: Knex, key: Buffer, accountIds?: number[]): Promise<ListenKeyRow[]> {
  const q = db('binance_listen_keys').select('account_id', 'listen_key', 'last_created_at', 'last_keep_alive_at', 'last_keep_alive_status', 'failure_count', 'last_frame_at').orderBy('account_id');
  if (accountIds) {
    if (accountIds.length === 0) return [];
    q.whereIn('account_id', accountIds);
  }
  return ((await q) as RawRow[]).map((r) => decode(r, key));
}

export async function getListenKey(db: Knex, key: Buffer, accountId: number): Promise<ListenKeyRow | null> {
  return (await listListenKeys(db, key, [accountId]))[0] ?? null;
}

/**
 * Store the key an account streams with, as a fresh success: keep-alive now, failure_count 0.
 * last_created_at moves only when the key is new. Returns true when the key changed.
 */
export async function upsertListenKey(db: Knex, appKey: Buffer, accountId: number, listenKey: string, now: Date): Promise<boolean> {
  const existing = await getListenKey(db, appKey, accountId);
  const changed = existing?.listenKey !== listenKey;
  const values = {
    listen_key: encryptSecret(listenKey, appKey),
    last_keep_alive_at: now,
    last_keep_alive_status: 'success',
    failure_count: 0,
    updated_at: now,
    ...(changed ? { last_created_at: now } : {}),
  };
  if (existing) {
    await db('binance_listen_keys').where({ account_id: accountId }).update(values);
    return changed;
  }
  try {
    await db('binance_listen_keys').insert({ account_id: accountId, ...values, last_created_at: now, created_at: now });
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    // Another process inserted the row between our read and our insert: update it instead.
    await db('binance_listen_keys').where({ account_id: accountId }).update(values);
  }
  return true;
}

export async function deleteListenKey(db: Knex, accountId: number): Promise<number> {
  return db('binance_listen_keys').where({ account_id: accountId }).delete();
}

/** The frame heartbeat: frames or pings arrived on these accounts' sockets (one statement for all of them). */
export async function touchFrames(db: Knex, accountIds: number[], at: Date): Promise<void> {
  for (let i = 0; i < accountIds.length; i += 500) {
    await db('binance_listen_keys').whereIn('account_id', accountIds.slice(i, i + 500)).update({ last_frame_at: at });
  }
}

/** Record a failed keepalive and return the new consecutive-failure count (capped). */
export async function recordKeepAliveFailure(db: Knex, accountId: number, now: Date, cap: number): Promise<number> {
  await db('binance_listen_keys')
    .where({ account_id: accountId })
    .update({
      last_keep_alive_status: 'failure',
      failure_count: db.raw('CASE WHEN failure_count >= ? THEN ? ELSE failure_count + 1 END', [cap, cap]),
      updated_at: now,
    });
  const row = await db('binance_listen_keys').where({ account_id: accountId }).first('failure_count');
  return toNumber(row?.failure_count) ?? 0;
}

/** A keepalive succeeded for the stored key: status success, failure streak reset. */
export async function recordKeepAliveSuccess(db: Knex, accountId: number, now: Date): Promise<void> {
  await db('binance_listen_keys').where({ account_id: accountId }).update({ last_keep_alive_at: now, last_keep_alive_status: 'success', failure_count: 0, updated_at: now });
}

export interface ListenKeyOverview {
  accountId: number;
  name: string;
  isActive: boolean;
  /** Whether a key row exists (the key itself is never read here). */
  hasKey: boolean;
  lastKeepAliveAt: Date | null;
  /** 'success' or 'failure' (keepalive cron), null without a row. */
  lastKeepAliveStatus: string | null;
  failureCount: number | null;
  lastFrameAt: Date | null;
}

/** Every account with its listen-key bookkeeping, for the admin UI; never selects (or decrypts) the key. */
export async function listenKeyOverview(db: Knex): Promise<ListenKeyOverview[]> {
  const rows = (await db('accounts as a')
    .leftJoin('binance_listen_keys as k', 'k.account_id', 'a.id')
    .select('a.id', 'a.name', 'a.is_active', 'k.id as key_row', 'k.last_keep_alive_at', 'k.last_keep_alive_status', 'k.failure_count', 'k.last_frame_at')
    .orderBy('a.id')) as Array<Record<string, unknown>>;
  return rows.map((r) => {
    const hasKey = r.key_row !== null && r.key_row !== undefined;
    return {
      accountId: Number(r.id),
      name: String(r.name),
      isActive: toBool(r.is_active),
      hasKey,
      lastKeepAliveAt: toDate(r.last_keep_alive_at),
      lastKeepAliveStatus: hasKey ? ((r.last_keep_alive_status as string | null) ?? null) : null,
      failureCount: hasKey ? (toNumber(r.failure_count) ?? 0) : null,
      lastFrameAt: toDate(r.last_frame_at),
    };
  });
}
