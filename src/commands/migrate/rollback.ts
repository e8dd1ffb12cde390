import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { migrateRollback } from '../../db/migrator.js';
import { UserError } from '../../support/errors.js';

export default class MigrateRollback extends BaseCommand {
  static override summary = 'Roll back the last batch of migrations';
  static override description = 'Undo the last batch of migrations (or all of them with --all). In production it requires --force.';
  static override examples = ['<%= config.bin %> migrate:rollback', '<%= config.bin %> migrate:rollback --all'];
  static override flags = {
    all: Flags.boolean({ description: 'Roll back every migration, not only the last batch' }),
    force: Flags.boolean({ description: 'Run in production without asking' }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(MigrateRollback);
    if (this.runtime.config.appEnv === 'production' && !flags.force) throw new UserError('APP_ENV is production: re-run with --force to roll back.');
    const rolled = await migrateRollback(await this.runtime.db(), flags.all);
    if (this.jsonEnabled()) return { rolled_back: rolled };
    if (rolled.length === 0) this.log('Nothing to roll back.');
    for (const name of rolled) this.log(`  ROLLED BACK  ${name}`);
    return undefined;
  }
}
