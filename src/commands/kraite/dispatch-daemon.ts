import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';

export default class DispatchDaemon extends BaseCommand {
  static override summary = 'Run the step dispatcher continuously (both step sets, ten groups each)';
  static override description = [
    'The persistent dispatcher: every cycle it checks the kill switch (CAN_DISPATCH_STEPS), the freeze marker and the per-set dispatch pause, finds the groups with active steps, and ticks them (--concurrency at a time). It wakes at once when a step is created or finishes, or when a delayed step falls due, so a new step reaches its queue within milliseconds; otherwise it waits up to --sleep ms while work is active and --idle-sleep ms when idle.',
    'Holds one Redis connection for commands and one database connection. Writes the heartbeat dispatch-daemon every 5 s.',
    'SIGTERM / SIGINT: finishes the current cycle (every tick releases its lock), closes its connections and exits 0.',
  ].join('\n');
  static override examples = ['<%= config.bin %> kraite:dispatch-daemon', '<%= config.bin %> kraite:dispatch-daemon --sleep=1000 --idle-sleep=500 --concurrency=4'];
  static override flags = {
    sleep: Flags.integer({ description: 'Longest wait (ms) between cycles while steps are active', default: 1000, min: 1 }),
    'idle-sleep': Flags.integer({ description: 'Longest wait (ms) between cycles when idle or gated', default: 500, min: 1 }),
    concurrency: Flags.integer({ description: 'Groups ticked at the same time', default: 4, min: 1, max: 32 }),
    'max-per-tick': Flags.integer({ description: 'Cap of the normal pass per group tick (0 = no cap)', default: 500, min: 0 }),
  };
  static override enableJsonFlag = false;

  async run(): Promise<void> {
    const { flags } = await this.parse(DispatchDaemon);
    const { DispatchDaemon: Daemon } = await import('../../steps/daemon.js');
    const { QueueFactory } = await import('../../queue/queues.js');
    const rt = this.runtime;
    const db = await rt.db({ poolMax: 1 });
    const redis = await rt.redis('daemon');
    const queues = new QueueFactory({ prefix: rt.config.redis.prefix, connection: redis });
    rt.onClose(() => queues.close());
    const daemon = new Daemon(
      { config: rt.config, db, redis, queues, clock: rt.clock, log: rt.log },
      { sleepMs: flags.sleep, idleSleepMs: flags['idle-sleep'], concurrency: flags.concurrency, maxPerTick: flags['max-per-tick'] },
    );
    let deadline: NodeJS.Timeout | undefined;
    const onSignal = (sig: NodeJS.Signals) => {
      if (daemon.isStopping) return;
      rt.log.info('stopping after the current cycle', { signal: sig });
      daemon.stop();
      // Backstop: a cycle stuck on a dead database must not outlive supervisor's stopwaitsecs.
      deadline = setTimeout(() => {
        rt.log.error('dispatch daemon did not stop within 9 s; exiting');
        process.exit(1);
      }, 9000);
      deadline.unref();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    rt.log.info('dispatch daemon started', { sleep_ms: flags.sleep, idle_sleep_ms: flags['idle-sleep'], concurrency: flags.concurrency, max_per_tick: flags['max-per-tick'] });
    try {
      await daemon.run();
    } finally {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      clearTimeout(deadline);
    }
    rt.log.info('dispatch daemon stopped');
  }
}
