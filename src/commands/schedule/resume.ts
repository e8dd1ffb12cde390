import { BaseCommand } from '../../base-command.js';

export default class ScheduleResume extends BaseCommand {
  static override summary = 'Resume the paused schedule on every box';
  static override description = 'Deletes <prefix>:schedule:paused, so the next schedule:run on every box runs its due tasks again.';
  static override examples = ['<%= config.bin %> schedule:resume'];
  static override aliases = ['schedule:continue'];

  async run(): Promise<unknown> {
    await this.parse(ScheduleResume);
    const { resumeSchedule } = await import('../../kernel/state.js');
    const was = await resumeSchedule(await this.runtime.redis('cli'), this.runtime.config.redis.prefix);
    if (this.jsonEnabled()) return { resumed: was !== null, was };
    this.log(was ? `The schedule is running again (it was paused since ${was.since}${was.reason ? `: ${was.reason}` : ''}).` : 'The schedule was not paused.');
    return undefined;
  }
}
