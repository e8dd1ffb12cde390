import { BaseCommand } from '../../base-command.js';

export default class ScheduleInterrupt extends BaseCommand {
  static override summary = "Stop the sub-minute loop of this minute's schedule:run processes";
  static override description = `Sets <prefix>:schedule:interrupt to the current minute (expiring when the minute ends). Every schedule:run of this minute, on every box sharing the Redis prefix, stops its sub-minute loop at the next second boundary. Run it in deploy scripts so that old code stops looping; the next minute's run is not affected.`;
  static override examples = ['<%= config.bin %> schedule:interrupt'];

  async run(): Promise<unknown> {
    await this.parse(ScheduleInterrupt);
    const { interruptSchedule } = await import('../../kernel/state.js');
    const minute = await interruptSchedule(await this.runtime.redis('cli'), this.runtime.config.redis.prefix, this.runtime.clock.now());
    if (this.jsonEnabled()) return { interrupted: minute };
    this.log(`Interrupting the schedule runs of ${minute}.`);
    return undefined;
  }
}
