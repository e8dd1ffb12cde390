import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { UserError } from '../../support/errors.js';

export default class ScheduleList extends BaseCommand {
  static override summary = 'List the scheduled tasks with their next due time, flags, lock holder and last run';
  static override description = `One line per registered task: the cron expression (with the repeat for sub-minute tasks), the command, when it is next due (absolute and relative), its flags (overlap expiry, one-server, background, maintenance), who holds its overlap lock, and its last run's status and duration.

Tasks registered only while the box is not cooling down are shown only then. --json prints {"tasks": [...]} with the fields expression, command, description, next_due, timezone, has_mutex, repeat_seconds, environments and last_run (plus id and the flags).`;
  static override examples = ['<%= config.bin %> schedule:list', '<%= config.bin %> schedule:list --next --timezone=Europe/London', '<%= config.bin %> schedule:list --json'];
  static override flags = {
    next: Flags.boolean({ description: 'Sort by next due time' }),
    timezone: Flags.string({ description: 'Show absolute times in this IANA timezone (default UTC)', default: 'UTC' }),
  };
  static readOnly = true;

  async run(): Promise<unknown> {
    const { flags } = await this.parse(ScheduleList);
    const { assertTimezone } = await import('../../kernel/due.js');
    try {
      assertTimezone(flags.timezone);
    } catch (err) {
      throw new UserError((err as Error).message);
    }
    const { openKernel } = await import('../../kernel/kernel.js');
    const { listTasks, renderTasks } = await import('../../kernel/list.js');
    const { kernel, schedule } = await openKernel(this.runtime.config, this.runtime.clock, { oclifConfig: this.config });
    try {
      const now = kernel.clock.now();
      const { tasks, warnings } = await listTasks(kernel, schedule, { now, next: flags.next });
      for (const w of warnings) process.stderr.write(`WARN  ${w}\n`);
      if (this.jsonEnabled()) return { tasks };
      this.log(renderTasks(tasks, now, flags.timezone));
      return undefined;
    } finally {
      await kernel.close();
    }
  }
}
