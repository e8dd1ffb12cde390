import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';

export default class StreamBinancePrices extends BaseCommand {
  static override summary = 'Stream Binance mark prices into exchange_symbol_prices (supervisor daemon)';
  static override description = [
    'One public socket to /market/stream?streams=!markPrice@arr@1s. Frames are coalesced and the changed prices of',
    'known symbols are written once per --write-interval in one UPDATE … CASE per 500 symbols. Null, zero and',
    'non-numeric prices are skipped (the previous value and timestamp stay); unknown symbols are ignored; the symbol',
    'map is reloaded every 5 min. Reconnects with back-off and jitter, an idle watchdog (30 s), and exits 1 after',
    '--no-data-exit seconds without data so supervisor starts a clean process. Heartbeat: stream-prices.',
  ].join(' ');
  static override examples = ['<%= config.bin %> kraite:stream-binance-prices', '<%= config.bin %> kraite:stream-binance-prices --write-interval=5'];
  static override flags = {
    'write-interval': Flags.integer({ description: 'Seconds between two flushes', default: 1, min: 1, max: 60 }),
    'no-data-exit': Flags.integer({ description: 'Exit after this many seconds without a data frame', default: 300, min: 5 }),
    'idle-timeout': Flags.integer({ description: 'Reconnect after this many seconds without a data frame', default: 30, min: 1 }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(StreamBinancePrices);
    const rt = this.runtime;
    const [{ binanceDeps, daemonRedis }, { MarkPriceDaemon }, { isFrozen }] = await Promise.all([import('../../binance/context.js'), import('../../binance/prices/daemon.js'), import('../../support/box-flags.js')]);
    const redis = await daemonRedis(rt);
    const deps = await binanceDeps(rt, { redis, component: 'stream-prices' });
    const daemon = new MarkPriceDaemon({
      deps,
      redis,
      prefix: rt.config.redis.prefix,
      hostname: rt.config.hostname,
      isFrozen,
      timings: { writeIntervalMs: flags['write-interval'] * 1000, noDataExitMs: flags['no-data-exit'] * 1000, idleTimeoutMs: flags['idle-timeout'] * 1000 },
    });
    const stop = () => daemon.requestStop('signal');
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    try {
      const reason = await daemon.run();
      rt.log.info('price daemon stopped', { reason, ...daemon.stats });
      if (reason === 'no-data') process.exitCode = 1;
      return this.jsonEnabled() ? { reason, ...daemon.heartbeat() } : undefined;
    } finally {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
    }
  }
}
