import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';

export default class QueueWork extends BaseCommand {
  static override summary = 'Process jobs from one queue';
  static override description =
    'Runs one BullMQ worker on --queue with the processor registered for it (step queues run the step runtime: dispatched → running → compute → completed, retries, throttles). Stops after --max-jobs (--once = 1), after --max-time seconds, when the queue is empty (--stop-when-empty), or on SIGTERM/SIGINT: no new jobs are taken and the ones in hand finish (10 s at most). With --concurrency > 1 the jobs in hand when a limit is reached still finish. The horizon pool runs the same runtime for many queues.\n\n' +
    'A shard queue (user-data-stream-<n>, or a queue a horizon "shards" supervisor leases) has one consumer at a time: queue:work takes the shard\'s horizon lease first and exits 1 naming the holder while horizon or another queue:work holds it (--wait-lease waits for it instead). It then puts the previous holder\'s in-flight jobs back at the head, works with concurrency 1, retries a failing job in place, renews the lease while it works and releases it on exit; if the lease is lost it stops at once and exits 1 (docs/horizon.md).';
  static override examples = [
    '<%= config.bin %> queue:work --queue=default',
    '<%= config.bin %> queue:work --queue=priority --concurrency=4',
    '<%= config.bin %> queue:work --queue=default --once',
    '<%= config.bin %> queue:work --queue=default --stop-when-empty --json',
    '<%= config.bin %> queue:work --queue=user-data-stream-3 --stop-when-empty',
    '<%= config.bin %> queue:work --queue=user-data-stream-3 --wait-lease',
  ];
  static override flags = {
    queue: Flags.string({ description: 'Queue name', required: true }),
    concurrency: Flags.integer({ description: 'Jobs processed at the same time (shard queues: 1 only)', default: 1, min: 1, max: 1000 }),
    once: Flags.boolean({ description: 'Process a single job, then exit', exclusive: ['max-jobs'] }),
    'stop-when-empty': Flags.boolean({ description: 'Exit when the queue has no waiting job' }),
    'max-jobs': Flags.integer({ description: 'Exit after this many jobs', min: 1 }),
    'max-time': Flags.integer({ description: 'Exit after this many seconds', min: 1 }),
    'wait-lease': Flags.boolean({ description: 'Shard queues: wait until the shard lease is free instead of exiting 1 (SIGTERM/SIGINT ends the wait)' }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(QueueWork);
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(flags.queue)) {
      const { UserError } = await import('../../support/errors.js');
      throw new UserError(`"${flags.queue}" is not a valid queue name`);
    }
    const { workQueue } = await import('../../queue/work.js');
    const rt = this.runtime;
    const stop = new AbortController();
    const onSignal = (sig: NodeJS.Signals) => {
      rt.log.info('stopping: finishing the jobs in hand', { signal: sig });
      stop.abort(sig);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    try {
      const summary = await workQueue(
        { config: rt.config, db: await rt.db(), redis: await rt.redis('daemon'), clock: rt.clock, log: rt.log },
        {
          queue: flags.queue,
          concurrency: flags.concurrency,
          maxJobs: flags.once ? 1 : flags['max-jobs'],
          maxTimeMs: flags['max-time'] ? flags['max-time'] * 1000 : undefined,
          stopWhenEmpty: flags['stop-when-empty'],
          waitLease: flags['wait-lease'],
        },
        stop.signal,
      );
      if (this.jsonEnabled()) return summary;
      const lease = summary.lease ? ` under the shard lease ${summary.lease.holder}${summary.lease.recovered ? `, ${summary.lease.recovered} in-flight job(s) of the previous holder recovered first` : ''}` : '';
      this.log(`Processed ${summary.processed} job(s), ${summary.failed} failed, on ${summary.queue}${lease} (stopped: ${summary.stoppedBy}).`);
      return undefined;
    } finally {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
  }
}
