/**
 * BullMQ wiring shared by the producers (dispatcher, user-data daemon, scheduler jobs) and the worker pool.
 * Queues live under the hash-tagged prefix "{REDIS_PREFIX}" so they work on a Redis Cluster; bullmq itself
 * is imported lazily.
 */
import type { Queue, QueueOptions, JobsOptions, ConnectionOptions } from 'bullmq';
import { queuePrefix } from '../redis/keys.js';

export const USER_DATA_QUEUE = 'user-data-stream';

/** Retention that keeps Redis small but leaves recent history for the UI. */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  removeOnComplete: { age: 3600, count: 1000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

export interface QueueFactoryOptions {
  /** REDIS_PREFIX of the box. */
  prefix: string;
  /** An ioredis client or connection options; BullMQ duplicates it as needed. */
  connection: ConnectionOptions;
}

export class QueueFactory {
  private queues = new Map<string, Queue>();
  private bullmq: typeof import('bullmq') | null = null;

  constructor(private readonly opts: QueueFactoryOptions) {}

  async module(): Promise<typeof import('bullmq')> {
    this.bullmq ??= await import('bullmq');
    return this.bullmq;
  }

  /** BullMQ options every Queue and Worker of the box must share. */
  baseOptions(): Pick<QueueOptions, 'prefix' | 'connection'> {
    return { prefix: queuePrefix(this.opts.prefix), connection: this.opts.connection };
  }

  async queue(name: string): Promise<Queue> {
    let q = this.queues.get(name);
    if (!q) {
      const { Queue } = await this.module();
      q = new Queue(name, { ...this.baseOptions(), defaultJobOptions: DEFAULT_JOB_OPTIONS });
      this.queues.set(name, q);
    }
    return q;
  }

  async close(): Promise<void> {
    const all = [...this.queues.values()];
    this.queues.clear();
    await Promise.all(all.map((q) => q.close()));
  }
}
