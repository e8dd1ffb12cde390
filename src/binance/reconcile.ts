/**
 * The gap reconciliation queue. The user-data daemon enqueues `ReconcileAccount {accountId, reason}` on
 * queue `reconcile` after every (re)connect, rotation, key change and process start; one pending job per
 * account (BullMQ deduplication id `reconcile:<accountId>`, keeping one follow-up while a job is active).
 * The worker pool (horizon) consumes it with `processReconcileJob`; `kraite:cron-sync-orders --account`
 * runs the same reconciliation inline.
 */
import type { Job, JobsOptions } from 'bullmq';
import type { QueueFactory } from '../queue/queues.js';
import { OrderSync, type SyncSummary } from './order-sync.js';
import type { BinanceDeps } from './context.js';

export const RECONCILE_QUEUE = 'reconcile';
export const RECONCILE_JOB = 'ReconcileAccount';

export type ReconcileReason = 'start' | 'connect' | 'reconnect' | 'rotation' | 'key-change' | 'key-expired' | 'manual';

export interface ReconcileJobData {
  accountId: number;
  reason: ReconcileReason;
  /** Epoch ms when the daemon asked for it. */
  requestedAt: number;
}

export function reconcileJobOptions(accountId: number): JobsOptions {
  return {
    deduplication: { id: `reconcile:${accountId}`, keepLastIfActive: true },
    attempts: 3,
    backoff: { type: 'exponential', delay: 5_000 },
  };
}

const listened = new WeakSet<object>();

/** Enqueue a reconciliation of one account (deduplicated while one is pending). */
export async function enqueueReconcile(queues: QueueFactory, data: ReconcileJobData): Promise<void> {
  const q = await queues.queue(RECONCILE_QUEUE);
  if (!listened.has(q)) {
    listened.add(q);
    // Connection errors are reported by the failing add() to its caller; without a listener BullMQ would
    // print each one on stderr.
    q.on('error', () => undefined);
  }
  await q.add(RECONCILE_JOB, data, reconcileJobOptions(data.accountId));
}

/** The processor of `ReconcileAccount` jobs. A run where every order failed throws, so BullMQ retries it. */
export async function processReconcileJob(job: Pick<Job<ReconcileJobData>, 'data' | 'name'>, deps: BinanceDeps): Promise<SyncSummary> {
  if (job.name !== RECONCILE_JOB) throw new Error(`unexpected job ${job.name} on queue ${RECONCILE_QUEUE}`);
  const accountId = Number(job.data?.accountId);
  if (!Number.isInteger(accountId) || accountId <= 0) throw new Error(`ReconcileAccount needs a positive accountId, got ${JSON.stringify(job.data)}`);
  const summary = await new OrderSync(deps).reconcileAccount(accountId);
  deps.log.info('account reconciled', { account_id: accountId, reason: job.data.reason, orders: summary.orders, reanchored: summary.reanchored, missing: summary.missing, errors: summary.errors });
  if (summary.orders > 0 && summary.errors + summary.skipped === summary.orders) {
    throw new Error(`reconciliation of account ${accountId} failed for every order: ${summary.results[0]?.error ?? 'unknown error'}`);
  }
  return summary;
}
