/** Counting user-data frames on the box's side: jobs on the shard queues, dead letters on disk. */
import fs from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { QueueFactory } from '../../../src/queue/queues.js';
import { allUserDataQueues, type UserDataFrameJob } from '../../../src/queue/user-data.js';

export class FrameCounter {
  readonly queues: QueueFactory;

  constructor(
    redis: Redis,
    prefix: string,
    private readonly shards: number,
  ) {
    this.queues = new QueueFactory({ prefix, connection: redis });
  }

  /** Jobs on the user-data queues in any state (before a consumer removes them). */
  async jobCount(): Promise<number> {
    let n = 0;
    for (const name of allUserDataQueues(this.shards)) n += await (await this.queues.queue(name)).getJobCountByTypes('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized');
    return n;
  }

  async jobs(): Promise<UserDataFrameJob[]> {
    const out: UserDataFrameJob[] = [];
    for (const name of allUserDataQueues(this.shards)) {
      const q = await this.queues.queue(name);
      const jobs = await q.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized'], 0, -1, true);
      for (const j of jobs) out.push(j.data as UserDataFrameJob);
    }
    return out;
  }

  async close(): Promise<void> {
    await this.queues.close();
  }
}

/** Frames waiting in dead-letter files under <storage>/logs (lines past each file's replay offset). */
export function deadLettersPending(storage: string): number {
  const dir = path.join(storage, 'logs');
  if (!fs.existsSync(dir)) return 0;
  let n = 0;
  for (const f of fs.readdirSync(dir)) {
    if (!/^user-data-deadletter-.*\.jsonl$/.test(f)) continue;
    const buf = fs.readFileSync(path.join(dir, f));
    let done = 0;
    try {
      done = Number(fs.readFileSync(path.join(dir, `${f}.offset`), 'utf8').trim()) || 0;
    } catch {
      done = 0;
    }
    // the offset file holds a byte offset: count the lines before it
    n += buf.subarray(done).toString('utf8').split('\n').filter(Boolean).length;
  }
  return n;
}

/** The load generator's sequence number (o.i) of a frame, or null for other frames. */
export function loadSeq(payload: unknown): number | null {
  const o = (payload as { o?: { c?: unknown; i?: unknown } } | null)?.o;
  return typeof o?.c === 'string' && o.c.startsWith('load-') ? Number(o.i) : null;
}

/** Rows horizon's ProcessUserDataEvent wrote to api_data_stream (one per distinct frame). */
export async function streamRows(db: import('knex').Knex): Promise<Array<{ client_order_id: string | null; event_time: unknown; raw_event_type: string }>> {
  return db('api_data_stream').select('client_order_id', 'event_time', 'raw_event_type');
}

/** The load generator's sequence number from an api_data_stream row, or null. */
export function rowSeq(row: { client_order_id: string | null }): number | null {
  return row.client_order_id?.startsWith('load-') ? Number(row.client_order_id.slice(5)) : null;
}

/** Jobs still to be consumed on the user-data queues (waiting, active, delayed, prioritized). */
export async function userDataBacklog(counter: FrameCounter, shards: number): Promise<number> {
  let n = 0;
  for (const name of allUserDataQueues(shards)) n += await (await counter.queues.queue(name)).getJobCountByTypes('waiting', 'active', 'delayed', 'prioritized');
  return n;
}
