/**
 * Coalesces the job pushes of concurrent ticks. Each tick hands its claimed steps' jobs to push(); while an
 * addBulk to a queue is in flight, the jobs of the next ticks queue up and go out together in the next
 * addBulk (up to MAX_BATCH jobs), so ten lanes ticking at 100 steps each cost a few Redis transactions
 * instead of ten. Each caller's promise settles with the addBulk that carried its jobs (addBulk is atomic:
 * all of a batch's jobs are added, or none).
 */
import type { QueueFactory } from '../queue/queues.js';

type BulkJob = { name: string; data: unknown; opts?: Record<string, unknown> };

interface Waiter {
  jobs: BulkJob[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

export const MAX_BATCH = 2000;

export class JobPusher {
  private readonly waiting = new Map<string, Waiter[]>();
  private readonly busy = new Set<string>();

  constructor(private readonly queues: QueueFactory) {}

  push(queue: string, jobs: BulkJob[]): Promise<void> {
    if (jobs.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const list = this.waiting.get(queue) ?? [];
      list.push({ jobs, resolve, reject });
      this.waiting.set(queue, list);
      if (!this.busy.has(queue)) void this.drain(queue);
    });
  }

  private async drain(queue: string): Promise<void> {
    this.busy.add(queue);
    try {
      for (;;) {
        const list = this.waiting.get(queue);
        if (!list || list.length === 0) break;
        const batch: Waiter[] = [];
        let size = 0;
        while (list.length && (batch.length === 0 || size + list[0]!.jobs.length <= MAX_BATCH)) {
          const w = list.shift()!;
          batch.push(w);
          size += w.jobs.length;
        }
        try {
          const q = await this.queues.queue(queue);
          await q.addBulk(batch.flatMap((w) => w.jobs) as Parameters<typeof q.addBulk>[0]);
          for (const w of batch) w.resolve();
        } catch (err) {
          // Every caller of this batch learns of the failure and returns its steps to pending.
          for (const w of batch) w.reject(err);
        }
      }
    } finally {
      this.busy.delete(queue);
    }
  }
}
