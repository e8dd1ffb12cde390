import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';

export default class StreamBinanceUserData extends BaseCommand {
  static override summary = 'Hold one Binance user-data WebSocket per eligible account (supervisor daemon)';
  static override description = [
    'For every active account with an API key and secret: POST a listen key, store it in binance_listen_keys, open',
    '/private/ws?listenKey=… and put every frame, unfiltered, on user-data-stream-<accountId mod USER_DATA_SHARDS>',
    '(job ProcessUserDataEvent). Discovery every 60 s, listen-key check every 30 s, own pings with a pong deadline,',
    'make-before-break rotation before the 24 h cut, a dead-letter file under storage/logs when Redis refuses, and a',
    'ReconcileAccount job on queue "reconcile" after every (re)connect, key change and start. SIGTERM closes every',
    'socket with 1000 and flushes; keys are kept. Exits 1 on the memory guard so supervisor restarts it.',
  ].join(' ');
  static override examples = ['<%= config.bin %> kraite:stream-binance-user-data', '<%= config.bin %> kraite:stream-binance-user-data --ping-interval=15 --pong-timeout=5'];
  static override flags = {
    'ping-interval': Flags.integer({ description: 'Seconds between our own pings (0 disables)', default: 30, min: 0 }),
    'pong-timeout': Flags.integer({ description: 'Seconds a pong may take before the socket counts as half-open', default: 10, min: 1 }),
    'idle-timeout': Flags.integer({ description: 'Reconnect a socket silent (no frame, ping or pong) this many seconds', default: 600, min: 1 }),
    'rotate-after': Flags.integer({ description: 'Rotate each socket (make-before-break) after this many seconds; Binance cuts at 86400', default: 85_800, min: 10 }),
    'stagger-ms': Flags.integer({ description: 'Delay between two connects of one discovery sweep', default: 250, min: 0 }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(StreamBinanceUserData);
    const rt = this.runtime;
    const [{ binanceDeps, daemonRedis }, { UserDataStreamDaemon }, { RedisReplayLock }, { QueueFactory }, { storagePath }, { isFrozen }] = await Promise.all([
      import('../../binance/context.js'),
      import('../../binance/user-data/daemon.js'),
      import('../../binance/user-data/replay-lock.js'),
      import('../../queue/queues.js'),
      import('../../support/paths.js'),
      import('../../support/box-flags.js'),
    ]);
    // One fail-fast client for the queues, alerts, heartbeats and locks: while Redis is down, frames go to
    // the dead-letter file instead of waiting in memory, and nothing else hangs.
    const redis = await daemonRedis(rt);
    const deps = await binanceDeps(rt, { redis, component: 'stream-user-data' });
    const queues = new QueueFactory({ prefix: rt.config.redis.prefix, connection: redis });
    rt.onClose(() => queues.close());
    const daemon = new UserDataStreamDaemon({
      deps,
      queues,
      shards: rt.config.userDataShards,
      redis,
      prefix: rt.config.redis.prefix,
      hostname: rt.config.hostname,
      deadLetterDir: storagePath('logs'),
      replayLock: new RedisReplayLock(redis, rt.key('binance', 'dead-letter-replay')),
      isFrozen,
      timings: {
        clientPingIntervalMs: flags['ping-interval'] * 1000,
        pongTimeoutMs: flags['pong-timeout'] * 1000,
        idleTimeoutMs: flags['idle-timeout'] * 1000,
        rotateAfterMs: flags['rotate-after'] * 1000,
        connectStaggerMs: flags['stagger-ms'],
      },
    });
    const stop = () => daemon.requestStop('signal');
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    try {
      const reason = await daemon.run();
      rt.log.info('user-data daemon stopped', { reason, ...daemon.sink.stats });
      if (reason === 'memory') process.exitCode = 1;
      return this.jsonEnabled() ? { reason, ...daemon.heartbeat() } : undefined;
    } finally {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
    }
  }
}
