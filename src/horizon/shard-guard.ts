/**
 * The rules a shard consumer OUTSIDE the horizon pool must keep (`queue:work --queue=user-data-stream-<n>`),
 * so that it is never a second consumer of a shard and per-account order holds (docs/horizon.md):
 *
 *  - which queues: the user-data shards (`user-data-stream-<n>`, src/queue/user-data.ts) and every queue a
 *    `shards` supervisor of this box's horizon configuration leases (shardPolicy());
 *  - the lease: the horizon key `<p>:horizon:lease:<queue>` and token `<host>|<pid>` (src/horizon/leases.ts).
 *    ShardLeaseGuard claims it before any job is fetched — refused while someone else holds it, or waited for —
 *    renews it every leaseMs / 4 and reports a lost lease at once (the caller force-closes its worker), and
 *    releases it when the worker has finished its jobs. A job still in hand after a forced close stays active
 *    under the lease until it expires; the next holder then recovers it;
 *  - recovery: right after the claim, the previous holder's in-flight jobs go back to the head of the shard;
 *  - consumption: concurrency 1, never failed for stalling, failures retried in place (retryJobInPlace(), src/queue/retry-job.ts) so a
 *    failing frame is not parked in `delayed` while the account's later frames overtake it.
 *
 * The lease TTL, lock and retry settings come from the shards supervisor that lists the queue, else from
 * the `user-data` supervisor horizon's ingestion role would run (src/horizon/config.ts).
 */
import type { Redis } from 'ioredis';
import type { AppConfig } from '../config/index.js';
import { isUserDataQueue, USER_DATA_QUEUE } from '../queue/user-data.js';
import { queuePrefix } from '../redis/keys.js';
import type { Clock } from '../support/clock.js';
import { errorMessage, UserError } from '../support/errors.js';
import type { Logger } from '../support/log.js';
import { loadHorizonConfig, roleSupervisors } from './config.js';
import { horizonKeys } from './keys.js';
import { ShardLeases } from './leases.js';

export interface ShardPolicy {
  /** Lease TTL; renewed every leaseMs / 4. */
  leaseMs: number;
  /** BullMQ lock duration and stalled-check interval. */
  lockDurationMs: number;
  /** In-place attempts of a failing job before it fails for good. */
  retryAttempts: number;
  retryBackoffMs: number;
}

/** A user-data shard queue (`user-data-stream-<n>`); the unsharded logical name is not one. */
export function isUserDataShardQueue(queue: string): boolean {
  return queue !== USER_DATA_QUEUE && isUserDataQueue(queue);
}

/** The shard rules of `queue`, or null when it is not a shard queue (any number of consumers may drain it). */
export function shardPolicy(config: AppConfig, queue: string): ShardPolicy | null {
  const sup =
    loadHorizonConfig(config).supervisors.find((s) => s.kind === 'shards' && s.queues.includes(queue)) ??
    (isUserDataShardQueue(queue) ? roleSupervisors({ ...config, serverRole: 'ingestion' }).find((s) => s.name === 'user-data') : undefined);
  return sup ? { leaseMs: sup.leaseMs, lockDurationMs: sup.lockDurationMs, retryAttempts: sup.retryAttempts, retryBackoffMs: sup.retryBackoffMs } : null;
}

export interface ShardLeaseGuardDeps {
  redis: Redis;
  /** REDIS_PREFIX as configured (AppConfig.redis.prefix). */
  prefix: string;
  hostname: string;
  clock: Clock;
  log: Logger;
  /** Defaults to process.pid. */
  pid?: number;
}

export class ShardLeaseGuard {
  private readonly leases: ShardLeases;
  readonly token: string;
  private held = false;
  private lost = false;
  private readonly stopRenew = new AbortController();
  private renewing: Promise<void> | null = null;

  constructor(
    private readonly deps: ShardLeaseGuardDeps,
    readonly queue: string,
    private readonly policy: ShardPolicy,
  ) {
    const keys = horizonKeys(deps.prefix);
    this.leases = new ShardLeases(deps.redis, (q) => keys.lease(q), queuePrefix(deps.prefix));
    this.token = `${deps.hostname}|${deps.pid ?? process.pid}`;
  }

  get isLost(): boolean {
    return this.lost;
  }

  /**
   * Claim the lease. Held by someone else: throw a UserError naming the holder, or with `wait`, try again
   * every leaseMs / 4 until it is free. Returns false only when `signal` aborted the wait.
   */
  async acquire(opts: { wait?: boolean; signal?: AbortSignal } = {}): Promise<boolean> {
    let announced: string | null = null;
    for (;;) {
      if (opts.signal?.aborted) return false;
      if (await this.leases.claim(this.queue, this.token, this.policy.leaseMs)) {
        this.held = true;
        this.deps.log.info('shard lease claimed', { queue: this.queue, holder: this.token });
        return true;
      }
      const holder = await this.leases.holder(this.queue);
      if (holder === null) continue; // it expired between the claim and the read: claim again
      if (!opts.wait) {
        throw new UserError(
          `${this.queue} is a shard queue and its lease is held by ${holder} (a horizon worker or another queue:work): ` +
            `a second consumer would break per-account order. Stop that consumer first, or add --wait-lease to wait for the lease.`,
        );
      }
      if (announced !== holder) {
        announced = holder;
        this.deps.log.info('waiting for the shard lease', { queue: this.queue, holder });
      }
      try {
        await this.deps.clock.sleep(this.renewEveryMs(), opts.signal);
      } catch {
        return false;
      }
    }
  }

  /** Put the previous holder's in-flight jobs back at the head of the shard (call right after acquire()). */
  async recover(): Promise<string[]> {
    const ids = await this.leases.recover(this.queue);
    if (ids.length) this.deps.log.warn('recovered in-flight jobs of the previous shard holder', { queue: this.queue, jobs: ids });
    return ids;
  }

  /** Renew every leaseMs / 4 until release(); `onLost` is called once if the lease is no longer ours. */
  startRenewing(onLost: (holder: string | null) => void): void {
    if (!this.held || this.renewing) return;
    this.renewing = (async () => {
      while (!this.stopRenew.signal.aborted) {
        try {
          await this.deps.clock.sleep(this.renewEveryMs(), this.stopRenew.signal);
        } catch {
          return;
        }
        let ours: boolean;
        try {
          ours = await this.leases.renew(this.queue, this.token, this.policy.leaseMs);
        } catch (err) {
          // Redis trouble: keep trying; if the lease expires meanwhile and someone claims it, the next renew says so.
          this.deps.log.warn('shard lease renewal failed', { queue: this.queue, error: errorMessage(err) });
          continue;
        }
        if (!ours) {
          this.lost = true;
          this.held = false;
          const holder = await this.leases.holder(this.queue).catch(() => null);
          this.deps.log.error('shard lease lost; stopping at once so the new holder owns the shard alone', { queue: this.queue, holder });
          onLost(holder);
          return;
        }
      }
    })();
  }

  /**
   * Stop renewing; with `release`, give the lease up (compare-and-delete). Pass release = false when a job
   * is still in hand: the lease then expires by itself and the next holder recovers the job.
   */
  async close(release: boolean): Promise<boolean> {
    this.stopRenew.abort();
    await this.renewing;
    if (!this.held) return false;
    this.held = false;
    if (!release) {
      this.deps.log.warn('a job is still in hand: the shard lease is left to expire', { queue: this.queue, lease_ms: this.policy.leaseMs });
      return false;
    }
    const released = await this.leases.release(this.queue, this.token);
    if (released) this.deps.log.info('shard lease released', { queue: this.queue });
    return released;
  }

  private renewEveryMs(): number {
    return Math.max(250, Math.floor(this.policy.leaseMs / 4));
  }
}
