import { Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';

export default class Down extends BaseCommand {
  static override summary = 'Put the box into maintenance mode';
  static override description = `Sets the box-wide maintenance flag (<prefix>:app:down in Redis), which every process of the box sees: the scheduler then skips every task that is not evenInMaintenanceMode (recorded as "maintenance"), and the public vhosts answer 503 with Retry-After. Running it again replaces the flag. \`up\` lifts it.`;
  static override examples = ['<%= config.bin %> down', '<%= config.bin %> down --retry=60 --reason="deploy"', '<%= config.bin %> down --secret=let-me-in'];
  static override flags = {
    retry: Flags.integer({ description: 'Seconds clients should wait before retrying (the Retry-After header)', min: 1 }),
    secret: Flags.string({ description: 'A secret that lets its holder past the maintenance page (never printed)' }),
    reason: Flags.string({ description: 'Why the box is down (shown to operators)' }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(Down);
    const { setMaintenance } = await import('../support/box-flags.js');
    const state = { since: new Date(this.runtime.clock.now()).toISOString(), reason: flags.reason ?? 'maintenance', ...(flags.retry ? { retry: flags.retry } : {}), ...(flags.secret ? { secret: flags.secret } : {}) };
    await setMaintenance(await this.runtime.redis('cli'), this.runtime.config.redis.prefix, state);
    const shown = { since: state.since, reason: state.reason, retry: flags.retry ?? null, secret_set: !!flags.secret };
    if (this.jsonEnabled()) return { down: true, ...shown };
    this.log(`The box is now in maintenance mode (${shown.reason}${flags.retry ? `, retry after ${flags.retry} s` : ''}${flags.secret ? ', bypass secret set' : ''}).`);
    return undefined;
  }
}
