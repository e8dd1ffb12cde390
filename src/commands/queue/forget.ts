import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';

export default class QueueForget extends BaseCommand {
  static override summary = 'Delete one failed job';
  static override examples = ['<%= config.bin %> queue:forget 3f0c…', '<%= config.bin %> queue:forget 12'];
  static override args = { id: Args.string({ description: 'Failed job uuid or id', required: true }) };

  async run(): Promise<unknown> {
    const { args } = await this.parse(QueueForget);
    const [{ validId }, { findFailed, deleteFailed }, { UserError }] = await Promise.all([import('../../horizon/failed.js'), import('../../db/repositories/failed-jobs.js'), import('../../support/errors.js')]);
    const db = await this.runtime.db();
    const f = await findFailed(db, validId(args.id));
    if (!f || !(await deleteFailed(db, f.id))) throw new UserError(`No failed job with id "${args.id}" (see queue:failed)`);
    if (this.jsonEnabled()) return { forgotten: f.uuid };
    this.log(`Forgot failed job ${f.uuid}.`);
    return undefined;
  }
}
