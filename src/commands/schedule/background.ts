import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';

export default class ScheduleBackground extends BaseCommand {
  static override summary = 'Run one runInBackground task for schedule:run (internal)';
  static override description = `Started detached by schedule:run for tasks marked runInBackground(). It runs the task, renews and then releases the overlap lock handed over by schedule:run (its owner token comes in SCHEDULE_LOCK_TOKEN), runs the task's hooks and completes the schedule_runs row. Not meant to be run by hand.`;
  static override examples = ['<%= config.bin %> schedule:background --task=kraite:fleet-report --slot=1795772220000 --run-id=42'];
  static override hidden = true;
  static override enableJsonFlag = false;
  static override flags = {
    task: Flags.string({ description: 'Task id', required: true }),
    slot: Flags.integer({ description: 'Scheduled slot, epoch ms', required: true }),
    'run-id': Flags.integer({ description: 'The schedule_runs row to complete' }),
    'lock-until': Flags.integer({ description: 'Epoch ms after which the overlap lock is no longer renewed' }),
    'clock-offset': Flags.integer({ description: 'Shift of the clock in ms (schedule:run --at)', default: 0 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ScheduleBackground);
    const { openKernel } = await import('../../kernel/kernel.js');
    const { shiftedClock } = await import('../../kernel/clocks.js');
    const clock = shiftedClock(flags['clock-offset']);
    const { kernel, schedule } = await openKernel(this.runtime.config, clock, { oclifConfig: this.config, clockOffsetMs: flags['clock-offset'] });
    try {
      // The lock's owner token is process-to-process state, not configuration: it arrives in the environment.
      const token = process.env.SCHEDULE_LOCK_TOKEN || null;
      const code = await kernel.runBackground(schedule, { taskId: flags.task, slot: flags.slot, runId: flags['run-id'] ?? null, lockUntil: flags['lock-until'] ?? null, token });
      if (code !== 0) process.exitCode = code;
    } finally {
      await kernel.close();
      kernel.exitIfStuck();
    }
  }
}
