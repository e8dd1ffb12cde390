import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';

export default class QueueFailed extends BaseCommand {
  static override summary = 'List the jobs that failed for good (the failed_jobs table)';
  static override description = 'Newest first. A job lands here when its last attempt failed (a user-data frame after its in-place retries). Retry with queue:retry ID|all, drop with queue:forget ID or queue:flush.';
  static override examples = ['<%= config.bin %> queue:failed', '<%= config.bin %> queue:failed --queue=user-data-stream-3 --json'];
  static override flags = {
    queue: Flags.string({ description: 'Only this queue' }),
    limit: Flags.integer({ description: 'At most this many', default: 100, min: 1, max: 10000 }),
  };
  static readOnly = true;

  async run(): Promise<unknown> {
    const { flags } = await this.parse(QueueFailed);
    const [{ listFailed, countFailed }, { renderTable }] = await Promise.all([import('../../db/repositories/failed-jobs.js'), import('../../support/table.js')]);
    const db = await this.runtime.db();
    const jobs = await listFailed(db, { limit: flags.limit, queue: flags.queue });
    const total = await countFailed(db);
    if (this.jsonEnabled()) {
      return {
        total,
        jobs: jobs.map((j) => ({ id: j.id, uuid: j.uuid, queue: j.queue, name: j.name, job_id: j.jobId, payload: j.payload, exception: j.exception, failed_at: j.failedAt?.toISOString() ?? null })),
      };
    }
    if (!jobs.length) {
      this.log('No failed jobs.');
      return undefined;
    }
    this.log(renderTable(['ID', 'UUID', 'Queue', 'Job', 'Failed at', 'Exception'], jobs.map((j) => [j.id, j.uuid, j.queue, j.name, j.failedAt?.toISOString() ?? '', j.exception.split('\n')[0]!.slice(0, 100)])));
    if (total > jobs.length) this.log(`(${jobs.length} of ${total} shown)`);
    return undefined;
  }
}
