import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { UserError } from '../../support/errors.js';

export default class ScheduleTest extends BaseCommand {
  static override summary = 'Run one scheduled task now';
  static override description = `Runs the task named by --name (its id as schedule:list --json shows it, or a unique part of it) right now, whatever its schedule, pause, maintenance, filters or one-server setting; its overlap lock still applies. The run is recorded in schedule_runs. Without --name, on a terminal, it asks which task to run. Exits with the task's exit code.`;
  static override examples = ['<%= config.bin %> schedule:test --name=kraite:fleet-report', '<%= config.bin %> schedule:test'];
  static override flags = {
    name: Flags.string({ description: 'The task id, or a unique part of it' }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(ScheduleTest);
    const { openKernel } = await import('../../kernel/kernel.js');
    const { pickTask, askForTask } = await import('../../kernel/pick.js');
    const { kernel, schedule } = await openKernel(this.runtime.config, this.runtime.clock, { oclifConfig: this.config });
    try {
      const tasks = await schedule.registered();
      let name = flags.name;
      if (name === undefined) {
        if (!process.stdin.isTTY || this.jsonEnabled()) throw new UserError(`Pass --name=<task>. Tasks: ${tasks.map((t) => t.id).join(', ') || '(none)'}`);
        name = await askForTask(tasks);
      }
      const task = pickTask(tasks, name);
      this.say(`Running [${task.commandLine}]`);
      const outcome = await kernel.runNow(schedule, task);
      if (outcome.exit_code !== null && outcome.exit_code !== 0) process.exitCode = outcome.exit_code;
      if (this.jsonEnabled()) return { outcome };
      if (outcome.output) process.stdout.write(outcome.output.endsWith('\n') ? outcome.output : `${outcome.output}\n`);
      const { outcomeLine } = await import('../../kernel/present.js');
      this.log(outcomeLine(outcome) ?? outcome.status);
      return undefined;
    } finally {
      await kernel.close();
      kernel.exitIfStuck();
    }
  }
}
