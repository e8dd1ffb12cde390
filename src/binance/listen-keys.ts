/**
 * The listen-key crons.
 *
 * `refreshListenKeys` (kraite:cron-refresh-binance-listen-keys, every minute): a PUT keepalive for every
 * key row whose account still has credentials. Success resets failure_count; -1125 (the key is gone)
 * gets a new key by POST, stored with a new last_created_at, which the daemon follows within 30 s.
 * Failures count up (capped at 255); the third in a row alerts, once per streak. Rows are never deleted
 * here (only the daemon deletes them, on reap or expiry).
 *
 * `checkStaleListenKeys` (kraite:cron-check-binance-listen-keys-stale, every 5 min) only reports:
 * missing_row (no row 120 s after the account last changed), stale_keep_alive (> 30 min), and
 * stale_frame_heartbeat (no frame or ping for 15 min although the keepalive is fresh).
 */
import { errorMessage } from '../support/errors.js';
import { getCredentials } from '../db/repositories/accounts.js';
import { listListenKeys, recordKeepAliveFailure, recordKeepAliveSuccess, streamAccounts, upsertListenKey, type ListenKeyRow } from '../db/repositories/listen-keys.js';
import { ALERTS, BINANCE_CODES, LISTEN_KEY_DEFAULTS } from './constants.js';
import { safeNotify, type BinanceDeps } from './context.js';
import { isBinanceCode } from './errors.js';

export interface KeepAliveResult {
  account_id: number;
  outcome: 'success' | 'renewed' | 'failure' | 'skipped';
  failure_count?: number;
  alerted?: boolean;
  error?: string;
}

export interface KeepAliveSummary {
  rows: number;
  succeeded: number;
  renewed: number;
  failed: number;
  skipped: number;
  alerted: number;
  results: KeepAliveResult[];
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export async function refreshListenKeys(deps: BinanceDeps, opts: { concurrency?: number; alertAfter?: number } = {}): Promise<KeepAliveSummary> {
  const rows = await listListenKeys(deps.db, deps.appKey);
  const results = await mapLimit(rows, opts.concurrency ?? LISTEN_KEY_DEFAULTS.concurrency, (row) => keepAlive(deps, row, opts.alertAfter ?? LISTEN_KEY_DEFAULTS.alertAfterFailures));
  const n = (o: KeepAliveResult['outcome']) => results.filter((r) => r.outcome === o).length;
  return { rows: rows.length, succeeded: n('success'), renewed: n('renewed'), failed: n('failure'), skipped: n('skipped'), alerted: results.filter((r) => r.alerted).length, results };
}

async function keepAlive(deps: BinanceDeps, row: ListenKeyRow, alertAfter: number): Promise<KeepAliveResult> {
  const id = row.accountId;
  const creds = await getCredentials(deps.db, deps.appKey, id).catch((err: unknown) => {
    deps.log.error('cannot read the account credentials', { account_id: id, error: errorMessage(err) });
    return null;
  });
  if (!creds) return { account_id: id, outcome: 'skipped', error: 'the account no longer has credentials' };
  const client = deps.rest.withCredentials({ apiKey: creds.apiKey, apiSecret: creds.apiSecret });
  const now = () => new Date(deps.clock.now());
  try {
    try {
      await client.keepAliveListenKey();
      await recordKeepAliveSuccess(deps.db, id, now());
      return { account_id: id, outcome: 'success' };
    } catch (err) {
      if (!isBinanceCode(err, BINANCE_CODES.LISTEN_KEY_NOT_FOUND)) throw err;
      // -1125: the key is gone (expired, or deleted by another client of this API key): make a new one.
      const key = await client.createListenKey();
      await upsertListenKey(deps.db, deps.appKey, id, key, now());
      deps.log.warn('listen key was gone (-1125); a new one was created', { account_id: id });
      return { account_id: id, outcome: 'renewed' };
    }
  } catch (err) {
    const count = await recordKeepAliveFailure(deps.db, id, now(), LISTEN_KEY_DEFAULTS.maxFailureCount);
    deps.log.warn('listen key keepalive failed', { account_id: id, failure_count: count, error: errorMessage(err) });
    let alerted = false;
    if (count === alertAfter) {
      alerted = await safeNotify(deps, {
        canonical: ALERTS.keepAliveFailed,
        key: id,
        severity: 'high',
        title: `Listen key keepalive of account ${id} (${creds.name}) failed ${count} times in a row`,
        context: { account_id: id, account_name: creds.name, failure_count: count, error: errorMessage(err) },
        throttleSeconds: 3600,
      });
    }
    return { account_id: id, outcome: 'failure', failure_count: count, alerted, error: errorMessage(err) };
  }
}

export type StaleReason = 'missing_row' | 'stale_keep_alive' | 'stale_frame_heartbeat';

export interface StaleHit {
  account_id: number;
  account_name: string;
  reason: StaleReason;
  detail: string;
  threshold_minutes: number;
}

export interface StaleOptions {
  maxStalenessMinutes?: number;
  maxFrameStalenessMinutes?: number;
  missingRowGraceSeconds?: number;
  notify?: boolean;
}

export async function checkStaleListenKeys(deps: BinanceDeps, opts: StaleOptions = {}): Promise<{ checked: number; stale: StaleHit[]; alerted: number }> {
  const maxKeep = opts.maxStalenessMinutes ?? LISTEN_KEY_DEFAULTS.staleKeepAliveMinutes;
  const maxFrame = opts.maxFrameStalenessMinutes ?? LISTEN_KEY_DEFAULTS.staleFrameMinutes;
  const grace = opts.missingRowGraceSeconds ?? LISTEN_KEY_DEFAULTS.missingRowGraceSeconds;
  const now = deps.clock.now();
  const accounts = await streamAccounts(deps.db);
  const rows = new Map((await listListenKeys(deps.db, deps.appKey, accounts.map((a) => a.id))).map((r) => [r.accountId, r]));
  const ageMin = (d: Date) => Math.round((now - d.getTime()) / 6000) / 10;
  const stale: StaleHit[] = [];
  for (const a of accounts) {
    const row = rows.get(a.id);
    const hit = (reason: StaleReason, detail: string, threshold: number) => stale.push({ account_id: a.id, account_name: a.name, reason, detail, threshold_minutes: threshold });
    if (!row) {
      if (!a.updatedAt || now - a.updatedAt.getTime() >= grace * 1000) hit('missing_row', `no binance_listen_keys row ${grace} s after the account last changed`, grace / 60);
      continue;
    }
    if (!row.lastKeepAliveAt || now - row.lastKeepAliveAt.getTime() > maxKeep * 60_000) {
      hit('stale_keep_alive', row.lastKeepAliveAt ? `last keepalive ${ageMin(row.lastKeepAliveAt)} min ago` : 'never kept alive', maxKeep);
      continue;
    }
    const frameRef = row.lastFrameAt ?? row.lastCreatedAt;
    if (!frameRef || now - frameRef.getTime() > maxFrame * 60_000) {
      hit('stale_frame_heartbeat', row.lastFrameAt ? `last frame or ping ${ageMin(row.lastFrameAt)} min ago, keepalive fresh` : 'no frame or ping since the key was created', maxFrame);
    }
  }
  let alerted = 0;
  if (opts.notify !== false) {
    for (const h of stale) {
      const ok = await safeNotify(deps, { canonical: ALERTS.listenKeyStale, key: h.account_id, severity: 'high', title: `User-data stream of account ${h.account_id} (${h.account_name}) looks stale: ${h.reason}`, message: h.detail, context: { ...h } });
      if (ok) alerted++;
    }
  }
  return { checked: accounts.length, stale, alerted };
}
