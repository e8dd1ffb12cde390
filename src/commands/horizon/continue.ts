import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';

export default class HorizonContinue extends BaseCommand {
  static override summary = 'Continue a paused horizon';
  static override description = 'Sent through the Redis command list (docs/contracts.md), so it works from any host and from the admin UI: every master by default, or the one of --host.';
  static override examples = ['<%= config.bin %> horizon:continue', '<%= config.bin %> horizon:continue --host=worker-1'];
  static override flags = { host: Flags.string({ description: 'Only the master of this host' }) };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(HorizonContinue);
    const { sendCommand } = await import('../../horizon/control.js');
    await sendCommand(await this.runtime.redis('cli'), this.runtime.config.redis.prefix, 'continue', flags.host ?? null, new Date(this.runtime.clock.now()));
    if (this.jsonEnabled()) return { sent: 'continue', host: flags.host ?? '*' };
    this.log(`Sent "continue" to ${flags.host ? `the master of ${flags.host}` : 'every horizon master'}.`);
    return undefined;
  }
}
