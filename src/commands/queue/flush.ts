import { BaseCommand } from '../../base-command.js';

export default class QueueFlush extends BaseCommand {
  static override summary = 'Delete every failed job';
  static override examples = ['<%= config.bin %> queue:flush'];

  async run(): Promise<unknown> {
    await this.parse(QueueFlush);
    const { flushFailed } = await import('../../db/repositories/failed-jobs.js');
    const n = await flushFailed(await this.runtime.db());
    if (this.jsonEnabled()) return { flushed: n };
    this.log(`Deleted ${n} failed job(s).`);
    return undefined;
  }
}
