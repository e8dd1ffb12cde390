/**
 * Where user-data frames go: the sharded BullMQ queue `user-data-stream-<accountId mod USER_DATA_SHARDS>`
 * (job ProcessUserDataEvent), or — when Redis refuses — the dead-letter file, replayed later.
 *
 * Order per account is kept end to end:
 *  - each account has a lane: frame n+1 is only sent once frame n is in Redis or on disk, and the frames
 *    that piled up meanwhile go together as one addBulk (one MULTI, all or nothing, in order);
 *  - after the first failure the sink is in "backlog" mode and appends every frame (of every account)
 *    to the dead-letter file, until a replay has drained the file and switched back in the same tick.
 * The producer's Redis connection must have `enableOfflineQueue: false`, so an add fails at once when
 * Redis is down instead of waiting in ioredis' memory (where a crash would lose it).
 */
import type { Queue, JobsOptions } from 'bullmq';
import type { QueueFactory } from '../../queue/queues.js';
import { USER_DATA_JOB, allUserDataQueues, userDataShard, type UserDataFrameJob } from '../../queue/user-data.js';
import type { Logger } from '../../support/log.js';
import { errorMessage } from '../../support/errors.js';
import { USER_DATA_DEFAULTS } from '../constants.js';
import type { DeadLetterStore } from './dead-letters.js';

/** Job options of every frame: the consumer retries 5 times, 10 s apart (Kraite's Horizon defaults). */
export const USER_DATA_JOB_OPTIONS: JobsOptions = { attempts: 5, backoff: { type: 'fixed', delay: 10_000 } };

/** Frames one account has waiting while its previous add is in flight. */
interface Lane {
  frames: UserDataFrameJob[];
  running: Promise<void> | null;
}

/** Largest batch one account's lane sends in one MULTI. */
const MAX_BATCH = 100;

export interface ReplayLock {
  acquire(): Promise<boolean>;
  release(): Promise<void>;
}

export interface FrameSinkOptions {
  queues: QueueFactory;
  shards: number;
  deadLetters: DeadLetterStore;
  log: Logger;
  /** Guards replays of orphan files (other processes' leftovers) against a concurrent replayer. */
  lock?: ReplayLock | null;
  replayBatch?: number;
  /** Called once per backlog episode when the first frame is dead-lettered, and when a frame is lost. */
  onDeadLetter?: (error: string) => void;
  onLost?: (accountId: number, error: string) => void;
}

export interface SinkStats {
  enqueued: number;
  deadLettered: number;
  replayed: number;
  lost: number;
  /** Redis round trips of the direct path (one add or one addBulk each). */
  batches: number;
  mode: 'direct' | 'backlog';
}

export class FrameSink {
  private shardQueues: Queue[] = [];
  private lanes = new Map<number, Lane>();
  private mode: 'direct' | 'backlog' = 'direct';
  private replaying: Promise<number> | null = null;
  private episode = false;
  readonly stats: SinkStats = { enqueued: 0, deadLettered: 0, replayed: 0, lost: 0, batches: 0, mode: 'direct' };

  constructor(private readonly opts: FrameSinkOptions) {}

  /** Create the shard queues; starts in backlog mode when dead letters are waiting on disk. */
  async init(): Promise<void> {
    this.shardQueues = await Promise.all(allUserDataQueues(this.opts.shards).map((n) => this.opts.queues.queue(n)));
    for (const q of this.shardQueues) {
      // BullMQ emits connection errors on the queue; the failing add() reports them where it matters.
      q.on('error', (err) => this.opts.log.debug('user-data queue error', { queue: q.name, error: errorMessage(err) }));
    }
    if (this.opts.deadLetters.files().length > 0) this.setMode('backlog');
  }

  get backlog(): boolean {
    return this.mode === 'backlog';
  }

  /**
   * Queue one frame behind the account's previous ones. The returned promise settles once the account's
   * lane is empty (this frame included) — every frame in Redis or on disk.
   */
  submit(job: UserDataFrameJob): Promise<void> {
    let lane = this.lanes.get(job.accountId);
    if (!lane) this.lanes.set(job.accountId, (lane = { frames: [], running: null }));
    lane.frames.push(job);
    lane.running ??= this.drain(job.accountId, lane);
    return lane.running;
  }

  /** Wait until every submitted frame is in Redis or on disk. */
  async flush(): Promise<void> {
    while (this.lanes.size > 0) await Promise.all([...this.lanes.values()].map((l) => l.running));
  }

  private queueFor(accountId: number): Queue {
    return this.shardQueues[userDataShard(accountId, this.opts.shards)]!;
  }

  /**
   * Empty one account's lane in order. While an add is in flight, later frames wait in the lane and go
   * together in the next round as one addBulk (a MULTI: all or nothing), so a burst costs one round trip
   * per batch instead of one per frame, and a failure can never store frame n+1 without frame n.
   */
  private async drain(accountId: number, lane: Lane): Promise<void> {
    try {
      while (lane.frames.length > 0) {
        const batch = lane.frames.splice(0, MAX_BATCH);
        if (this.mode === 'direct') {
          try {
            const q = this.queueFor(accountId);
            this.stats.batches++;
            if (batch.length === 1) await q.add(USER_DATA_JOB, batch[0]!, USER_DATA_JOB_OPTIONS);
            else await q.addBulk(batch.map((data) => ({ name: USER_DATA_JOB, data, opts: USER_DATA_JOB_OPTIONS })));
            this.stats.enqueued += batch.length;
            continue;
          } catch (err) {
            this.setMode('backlog');
            for (const job of batch) this.deadLetter(job, errorMessage(err));
            continue;
          }
        }
        for (const job of batch) this.deadLetter(job, 'backlog: earlier frames are waiting in the dead-letter file');
      }
    } finally {
      lane.running = null;
      if (lane.frames.length === 0) this.lanes.delete(accountId);
      else lane.running = this.drain(accountId, lane); // cannot happen (drain empties the lane), but never strand a frame
    }
  }

  private deadLetter(job: UserDataFrameJob, error: string): void {
    try {
      this.opts.deadLetters.append(job, error);
      this.stats.deadLettered++;
      if (!this.episode) {
        this.episode = true;
        this.opts.log.error('enqueue failed; frames go to the dead-letter file until Redis is back', { account_id: job.accountId, error });
        this.opts.onDeadLetter?.(error);
      }
    } catch (err) {
      this.stats.lost++;
      this.opts.log.error('frame LOST: neither Redis nor the dead-letter file took it', { account_id: job.accountId, error: errorMessage(err), enqueue_error: error });
      this.opts.onLost?.(job.accountId, errorMessage(err));
    }
  }

  private setMode(mode: 'direct' | 'backlog'): void {
    if (mode === 'direct') this.episode = false;
    this.mode = mode;
    this.stats.mode = mode;
  }

  /**
   * Replay dead letters: orphan files first (under the lock), then our own; switch back to direct mode
   * when our file is drained. Returns the frames replayed; stops quietly while Redis still refuses.
   */
  replay(): Promise<number> {
    this.replaying ??= this.doReplay().finally(() => {
      this.replaying = null;
    });
    return this.replaying;
  }

  private async doReplay(): Promise<number> {
    const store = this.opts.deadLetters;
    const batch = this.opts.replayBatch ?? USER_DATA_DEFAULTS.replayBatch;
    const add = (jobs: UserDataFrameJob[]) => this.addRun(jobs);
    const runKey = (job: UserDataFrameJob) => userDataShard(job.accountId, this.opts.shards);
    let total = 0;
    try {
      const orphans = store.orphanFiles();
      if (orphans.length > 0) {
        const lock = this.opts.lock;
        if (lock && !(await lock.acquire())) return 0; // someone else replays them; ours must wait behind
        try {
          for (const f of orphans) total += (await store.replay(f, add, { batch, runKey })).replayed;
        } finally {
          await lock?.release();
        }
      }
      const own = store.ownFile();
      if (own) total += (await store.replay(own, add, { batch, runKey, onDrained: () => this.setMode('direct') })).replayed;
      else if (store.orphanFiles().length === 0) this.setMode('direct');
      if (total > 0) this.opts.log.info('dead letters replayed', { frames: total });
    } catch (err) {
      this.opts.log.warn('dead-letter replay stopped; will retry', { error: errorMessage(err), replayed: total });
    }
    return total;
  }

  /** One all-or-nothing run of consecutive frames of one shard: a single addBulk (MULTI). */
  private async addRun(jobs: UserDataFrameJob[]): Promise<void> {
    const shard = userDataShard(jobs[0]!.accountId, this.opts.shards);
    await this.shardQueues[shard]!.addBulk(jobs.map((data) => ({ name: USER_DATA_JOB, data, opts: USER_DATA_JOB_OPTIONS })));
    this.stats.replayed += jobs.length;
  }
}
