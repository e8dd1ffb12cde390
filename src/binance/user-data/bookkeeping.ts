/**
 * Two small duties of the user-data daemon that must never slow a frame down:
 *  - FrameHeartbeats: binance_listen_keys.last_frame_at for every account that saw a frame or ping, in ONE
 *    statement per 30 s window. Kraite writes one row per account; 100 accounts whose throttles expire
 *    together then cost 100 synchronous SQLite writes in a row, a 100–300 ms stall of every socket (the
 *    benchmark showed it as the p99). The value is the write time: at most one window late, as Kraite's
 *    throttle allows, against the 15-minute stale threshold.
 *  - ReconcileRequests: ReconcileAccount jobs; one Redis refused is kept and retried at the next health tick.
 */
import type { Knex } from 'knex';
import type { QueueFactory } from '../../queue/queues.js';
import type { Clock } from '../../support/clock.js';
import type { Logger } from '../../support/log.js';
import { errorMessage } from '../../support/errors.js';
import { touchFrames } from '../../db/repositories/listen-keys.js';
import { enqueueReconcile, type ReconcileReason } from '../reconcile.js';

export class FrameHeartbeats {
  private readonly seen = new Set<number>();

  constructor(
    private readonly db: Knex,
    private readonly clock: Clock,
  ) {}

  /** A frame or ping arrived on the account's socket. */
  mark(accountId: number): void {
    this.seen.add(accountId);
  }

  /** Write last_frame_at for the accounts seen since the last call; returns how many. */
  async persist(): Promise<number> {
    if (this.seen.size === 0) return 0;
    const ids = [...this.seen];
    this.seen.clear();
    await touchFrames(this.db, ids, new Date(this.clock.now()));
    return ids.length;
  }
}

export class ReconcileRequests {
  private readonly pending = new Map<number, ReconcileReason>();
  requested = 0;

  constructor(
    private readonly queues: QueueFactory,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  async request(accountId: number, reason: ReconcileReason): Promise<void> {
    try {
      await enqueueReconcile(this.queues, { accountId, reason, requestedAt: this.clock.now() });
      this.requested++;
      this.pending.delete(accountId);
    } catch (err) {
      this.pending.set(accountId, reason);
      this.log.warn('could not enqueue the reconciliation; retrying at the next health tick', { account_id: accountId, error: errorMessage(err) });
    }
  }

  async retryPending(): Promise<void> {
    for (const [id, reason] of [...this.pending]) await this.request(id, reason);
  }
}
