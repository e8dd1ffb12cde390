import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';

export default class SchedulePause extends BaseCommand {
  static override summary = 'Pause the schedule on every box (until schedule:resume)';
  static override description = `Sets <prefix>:schedule:paused. While it is set, schedule:run on every box sharing the Redis prefix skips every task that is not evenWhenPaused, and records the skip as "paused". It stays until schedule:resume.`;
  static override examples = ['<%= config.bin %> schedule:pause', '<%= config.bin %> schedule:pause --reason="database migration"'];
  static override flags = {
    reason: Flags.string({ description: 'Why the schedule is paused (shown by schedule:resume and the admin UI)' }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(SchedulePause);
    const { pauseSchedule } = await import('../../kernel/state.js');
    const state = { since: new Date(this.runtime.clock.now()).toISOString(), reason: flags.reason ?? null, host: this.runtime.config.hostname };
    await pauseSchedule(await this.runtime.redis('cli'), this.runtime.config.redis.prefix, state);
    if (this.jsonEnabled()) return { paused: state };
    this.log(`The schedule is paused${flags.reason ? ` (${flags.reason})` : ''}. Resume it with schedule:resume.`);
    return undefined;
  }
}
