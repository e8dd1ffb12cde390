import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';

export default class HorizonClear extends BaseCommand {
  static override summary = 'Delete the waiting and delayed jobs of one queue horizon drains';
  static override description = 'Removes every waiting, prioritized and delayed job of --queue (jobs being processed finish). The queue must be one this box\'s horizon configuration drains.';
  static override examples = ['<%= config.bin %> horizon:clear --queue=default'];
  static override flags = { queue: Flags.string({ description: 'Queue name', required: true }) };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(HorizonClear);
    const [{ loadHorizonConfig, configuredQueues }, { UserError }] = await Promise.all([import('../../horizon/config.js'), import('../../support/errors.js')]);
    const rt = this.runtime;
    const known = configuredQueues(loadHorizonConfig(rt.config));
    if (!known.includes(flags.queue)) throw new UserError(`Unknown queue "${flags.queue}". Horizon here drains: ${known.join(', ') || 'nothing'}`);
    const { QueueFactory } = await import('../../queue/queues.js');
    const queues = new QueueFactory({ prefix: rt.config.redis.prefix, connection: await rt.redis('cli') });
    try {
      const q = await queues.queue(flags.queue);
      const before = await q.getJobCounts('wait', 'prioritized', 'delayed');
      await q.drain(true);
      const cleared = (before.wait ?? 0) + (before.prioritized ?? 0) + (before.delayed ?? 0);
      if (this.jsonEnabled()) return { queue: flags.queue, cleared };
      this.log(`Cleared ${cleared} job(s) from ${flags.queue}.`);
      return undefined;
    } finally {
      await queues.close();
    }
  }
}
