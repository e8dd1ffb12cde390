/**
 * `kraite:cron-snapshot-accounts`: the exchange's truth per account for the drift view. For each eligible
 * account (or one): GET /fapi/v3/positionRisk (weight 5) and GET /fapi/v1/openOrders (weight 40), stored as
 * one api_snapshots row {positions, open_orders}. Snapshots older than the retention are pruned.
 * One account's failure never stops the others.
 */
import { errorMessage } from '../support/errors.js';
import { streamAccounts } from '../db/repositories/listen-keys.js';
import { insertSnapshot, pruneSnapshots } from '../db/repositories/api-snapshots.js';
import { ALERTS } from './constants.js';
import { accountClient, safeNotify, type BinanceDeps } from './context.js';

export const SNAPSHOT_RETENTION_MS = 48 * 3_600_000;

export interface SnapshotResult {
  account_id: number;
  positions?: number;
  open_orders?: number;
  error?: string;
}

export async function snapshotAccounts(deps: BinanceDeps, opts: { accountId?: number; retentionMs?: number } = {}): Promise<{ taken_at: string; accounts: SnapshotResult[]; pruned: number }> {
  const ids = opts.accountId !== undefined ? [opts.accountId] : (await streamAccounts(deps.db)).map((a) => a.id);
  const takenAt = new Date(deps.clock.now());
  const results: SnapshotResult[] = [];
  for (const id of ids) {
    try {
      const acc = await accountClient(deps, id);
      if (!acc) throw new Error('the account has no API key and secret');
      const [positions, openOrders] = await Promise.all([acc.client.positionRisk(), acc.client.openOrders()]);
      await insertSnapshot(deps.db, id, 'binance', { positions, open_orders: openOrders }, takenAt);
      results.push({ account_id: id, positions: positions.length, open_orders: openOrders.length });
    } catch (err) {
      deps.log.warn('account snapshot failed', { account_id: id, error: errorMessage(err) });
      results.push({ account_id: id, error: errorMessage(err) });
      await safeNotify(deps, { canonical: ALERTS.snapshotFailed, key: id, severity: 'warning', title: `Exchange snapshot of account ${id} failed`, message: 'The drift view shows an older snapshot for this account.', context: { account_id: id, error: errorMessage(err) }, throttleSeconds: 3600 });
    }
  }
  const pruned = await pruneSnapshots(deps.db, new Date(takenAt.getTime() - (opts.retentionMs ?? SNAPSHOT_RETENTION_MS)));
  return { taken_at: takenAt.toISOString(), accounts: results, pruned };
}
