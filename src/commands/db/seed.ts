import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { seedDemo } from '../../db/seed/demo.js';
import { UserError } from '../../support/errors.js';

export default class DbSeed extends BaseCommand {
  static override summary = 'Load demo data for local use';
  static override description =
    'Insert demo accounts (with fake, encrypted credentials), the demo symbol catalogue with mark prices, and open positions with working orders. Running it twice adds nothing. Refused in production unless --force.';
  static override examples = ['<%= config.bin %> db:seed', '<%= config.bin %> db:seed --json'];
  static override flags = { force: Flags.boolean({ description: 'Seed even when APP_ENV=production' }) };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(DbSeed);
    if (this.runtime.config.appEnv === 'production' && !flags.force) throw new UserError('db:seed loads demo data; it is refused in production without --force.');
    const summary = await seedDemo(await this.runtime.db(), this.runtime.appKey(), { now: new Date(this.runtime.clock.now()) });
    if (this.jsonEnabled()) return summary;
    this.log(summary.skipped ? 'Demo data is already present; nothing added.' : `Seeded ${summary.accounts} accounts, ${summary.symbols} symbols, ${summary.positions} positions and ${summary.orders} orders.`);
    return undefined;
  }
}
