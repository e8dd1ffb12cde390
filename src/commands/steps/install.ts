import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { normaliseStepPrefix } from '../../support/box-flags.js';
import { UserError } from '../../support/errors.js';

export default class StepsInstall extends BaseCommand {
  static override summary = 'Create the step tables of a prefixed set';
  static override description =
    'Creates {prefix}steps, {prefix}steps_dispatcher (seeded with the ten groups alpha…kappa when it is created), {prefix}steps_dispatcher_ticks and {prefix}steps_archive. Idempotent: existing tables are left alone. The default set and trading_ are created by `migrate`; an empty prefix is rejected.';
  static override examples = ['<%= config.bin %> steps:install --prefix=trading', '<%= config.bin %> steps:install --prefix=backtest_'];
  static override flags = {
    prefix: Flags.string({ description: 'Table prefix, e.g. "trading" or "trading_" (required, not empty)', required: true }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(StepsInstall);
    let prefix: string;
    try {
      prefix = normaliseStepPrefix(flags.prefix);
    } catch (err) {
      throw new UserError((err as Error).message);
    }
    if (!prefix) throw new UserError('--prefix must not be empty: the default step tables are created by `migrate`');
    const { installStepTables } = await import('../../db/steps/schema.js');
    const result = await installStepTables(await this.runtime.db(), prefix, new Date(this.runtime.clock.now()));
    if (this.jsonEnabled()) return { prefix, ...result };
    for (const t of result.created) this.log(`  CREATED  ${t}`);
    for (const t of result.existing) this.log(`  EXISTS   ${t}`);
    return undefined;
  }
}
