import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';

export default class HorizonPause extends BaseCommand {
  static override summary = 'Pause horizon: workers finish their current job and take no new one (within a second)';
  static override description = 'Sent through the Redis command list (docs/contracts.md), so it works from any host and from the admin UI: every master by default, or the one of --host.';
  static override examples = ['<%= config.bin %> horizon:pause', '<%= config.bin %> horizon:pause --host=worker-1'];
  static override flags = { host: Flags.string({ description: 'Only the master of this host' }) };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(HorizonPause);
    const { sendCommand } = await import('../../horizon/control.js');
    await sendCommand(await this.runtime.redis('cli'), this.runtime.config.redis.prefix, 'pause', flags.host ?? null, new Date(this.runtime.clock.now()));
    if (this.jsonEnabled()) return { sent: 'pause', host: flags.host ?? '*' };
    this.log(`Sent "pause" to ${flags.host ? `the master of ${flags.host}` : 'every horizon master'}.`);
    return undefined;
  }
}
