import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';

export default class QueueRetry extends BaseCommand {
  static override summary = 'Put a failed job (or all) back on its queue';
  static override description = 'ID is the uuid or the numeric id queue:failed shows, or "all" (oldest first). The job is added again with its name and payload and its failed_jobs row is removed. Unknown ID: exit 1.';
  static override examples = ['<%= config.bin %> queue:retry 3f0c…', '<%= config.bin %> queue:retry 12', '<%= config.bin %> queue:retry all'];
  static override args = { id: Args.string({ description: 'Failed job uuid or id, or "all"', required: true }) };

  async run(): Promise<unknown> {
    const { args } = await this.parse(QueueRetry);
    const { retryFailed, validId } = await import('../../horizon/failed.js');
    if (args.id !== 'all') validId(args.id);
    const rt = this.runtime;
    const { QueueFactory } = await import('../../queue/queues.js');
    const queues = new QueueFactory({ prefix: rt.config.redis.prefix, connection: await rt.redis('cli') });
    try {
      const retried = await retryFailed(await rt.db(), queues, args.id);
      if (this.jsonEnabled()) return { retried };
      this.log(retried.length ? retried.map((r) => `Retried ${r.uuid} (${r.name}) on ${r.queue} as job ${r.jobId}.`).join('\n') : 'No failed jobs to retry.');
      return undefined;
    } finally {
      await queues.close();
    }
  }
}
