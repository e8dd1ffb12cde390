import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { migrateLatest } from '../../db/migrator.js';
import { UserError } from '../../support/errors.js';

export default class Migrate extends BaseCommand {
  static override summary = 'Run the pending database migrations';
  static override description =
    'Run every pending migration on the database of DATABASE_URL (SQLite, PostgreSQL or MySQL/MariaDB). Running it again changes nothing. In production (APP_ENV=production) it requires --force.';
  static override examples = ['<%= config.bin %> migrate', 'APP_ENV=production <%= config.bin %> migrate --force'];
  static override flags = { force: Flags.boolean({ description: 'Run in production without asking' }) };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(Migrate);
    if (this.runtime.config.appEnv === 'production' && !flags.force) {
      throw new UserError('APP_ENV is production: re-run with --force to migrate.');
    }
    const db = await this.runtime.db();
    const ran = await migrateLatest(db);
    if (this.jsonEnabled()) return { ran };
    if (ran.length === 0) this.log('Nothing to migrate.');
    for (const name of ran) this.log(`  DONE  ${name}`);
    return undefined;
  }
}
