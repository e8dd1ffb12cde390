import { BaseCommand } from '../base-command.js';

export default class Up extends BaseCommand {
  static override summary = 'Bring the box out of maintenance mode';
  static override description = 'Deletes the box-wide maintenance flag (<prefix>:app:down). The next schedule:run runs every due task again and the public vhosts serve pages again.';
  static override examples = ['<%= config.bin %> up'];

  async run(): Promise<unknown> {
    await this.parse(Up);
    const { getMaintenance, setMaintenance } = await import('../support/box-flags.js');
    const redis = await this.runtime.redis('cli');
    const prefix = this.runtime.config.redis.prefix;
    const was = await getMaintenance(redis, prefix);
    if (was) await setMaintenance(redis, prefix, null);
    if (this.jsonEnabled()) return { up: true, was_down: was !== null, since: was?.since ?? null };
    this.log(was ? `The box is live again (it was down since ${was.since}).` : 'The box was not in maintenance mode.');
    return undefined;
  }
}
