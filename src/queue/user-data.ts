/**
 * The user-data queue contract between `kraite:stream-binance-user-data` (producer) and `horizon`
 * (consumer). Frames are sharded by account so that several processes drain them while each account's
 * frames stay in order: shard = accountId mod USER_DATA_SHARDS, physical queue "user-data-stream-<shard>".
 * One consumer with concurrency 1 per shard. Change USER_DATA_SHARDS only while the queues are drained.
 */
export const USER_DATA_QUEUE = 'user-data-stream';
export const USER_DATA_JOB = 'ProcessUserDataEvent';

export interface UserDataFrameJob {
  accountId: number;
  /** The decoded frame, unmodified (for a malformed frame the daemon drops it before enqueueing). */
  payload: unknown;
  /** Epoch ms when the daemon received the frame. */
  receivedAt: number;
  apiSystem: 'binance';
}

export function userDataShard(accountId: number, shards: number): number {
  return ((accountId % shards) + shards) % shards;
}

export function userDataShardQueue(shard: number): string {
  return `${USER_DATA_QUEUE}-${shard}`;
}

export function userDataQueueFor(accountId: number, shards: number): string {
  return userDataShardQueue(userDataShard(accountId, shards));
}

export function allUserDataQueues(shards: number): string[] {
  return Array.from({ length: shards }, (_, i) => userDataShardQueue(i));
}

export function isUserDataQueue(name: string): boolean {
  return name === USER_DATA_QUEUE || /^user-data-stream-\d+$/.test(name);
}
