import { BaseCommand } from '../../base-command.js';

export default class ReplayDeadLetters extends BaseCommand {
  static override summary = 'Replay user-data frames left in the dead-letter files into their queues';
  static override description = [
    'The user-data daemon writes frames it could not enqueue to storage/logs/user-data-deadletter-*.jsonl and replays',
    'its own files when Redis is back. This command replays the files of processes that are gone (a crashed or',
    'restarted daemon), in order, under a Redis lock shared with the daemon; files of a running daemon are left to it.',
    'Exits 1 when frames remain (Redis still refusing).',
  ].join(' ');
  static override examples = ['<%= config.bin %> kraite:replay-dead-letters', '<%= config.bin %> kraite:replay-dead-letters --json'];

  async run(): Promise<unknown> {
    await this.parse(ReplayDeadLetters);
    const rt = this.runtime;
    const [{ DeadLetterStore }, { FrameSink }, { RedisReplayLock }, { QueueFactory }, { storagePath }, path] = await Promise.all([
      import('../../binance/user-data/dead-letters.js'),
      import('../../binance/user-data/frame-sink.js'),
      import('../../binance/user-data/replay-lock.js'),
      import('../../queue/queues.js'),
      import('../../support/paths.js'),
      import('node:path'),
    ]);
    const redis = await rt.redis('cli');
    const store = new DeadLetterStore(storagePath('logs'), rt.clock, rt.log.child('dead-letters'));
    const orphans = store.orphanFiles();
    const owned = store.files().filter((f) => !orphans.includes(f));
    const queues = new QueueFactory({ prefix: rt.config.redis.prefix, connection: redis });
    rt.onClose(() => queues.close());
    const sink = new FrameSink({ queues, shards: rt.config.userDataShards, deadLetters: store, log: rt.log.child('replay'), lock: new RedisReplayLock(redis, rt.key('binance', 'dead-letter-replay')) });
    await sink.init();
    const pendingBefore = store.pendingLines(orphans);
    const replayed = orphans.length ? await sink.replay() : 0;
    const left = store.orphanFiles();
    const result = {
      files: orphans.map((f) => path.basename(f)),
      frames_pending_before: pendingBefore,
      replayed,
      remaining_files: left.map((f) => path.basename(f)),
      remaining_frames: store.pendingLines(left),
      left_to_running_daemons: owned.map((f) => path.basename(f)),
    };
    if (result.remaining_frames > 0) process.exitCode = 1;
    if (this.jsonEnabled()) return result;
    if (orphans.length === 0) this.log('No dead-letter files to replay.');
    else this.log(`Replayed ${replayed} of ${pendingBefore} frames from ${orphans.length} files; ${result.remaining_frames} remain.`);
    if (owned.length) this.log(`${owned.length} files belong to a running daemon, which replays them itself.`);
    return undefined;
  }
}
