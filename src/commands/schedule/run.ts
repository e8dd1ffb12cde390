import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { parseAt } from '../../kernel/clocks.js';

export default class ScheduleRun extends BaseCommand {
  static override summary = 'Run the scheduled tasks that are due now (crontab calls this every minute)';
  static override description = `Runs every task of the schedule that is due at the start of this minute, in definition order. Foreground tasks run one after another; runInBackground tasks start detached and record their own result. When a sub-minute task is due the command stays until the minute ends and fires it on the second boundaries (schedule:interrupt stops that loop).

Every run is recorded in schedule_runs and logged as one JSON line on stderr; skips (overlapping, other server, maintenance, paused) too. A failing task is reported but does not change the exit code: only a failure of the scheduler itself (schedule module, Redis, recording) exits 1.

The crontab form runs without booting oclif (bin/artisan fast entry), so a minute with nothing due costs little more than starting Node.`;
  static override examples = ['<%= config.bin %> schedule:run', '<%= config.bin %> schedule:run --whisper', '<%= config.bin %> schedule:run --json'];
  static override flags = {
    whisper: Flags.boolean({ description: 'Do not print "No scheduled commands are ready to run."' }),
    at: Flags.string({
      hidden: true,
      description: 'Tests and benchmarks only: run as of this ISO instant (the clock is shifted, then runs at real speed)',
      parse: async (v) => {
        if (parseAt(v) === null) throw new Error(`--at expects an ISO date, got "${v}"`);
        return v;
      },
    }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(ScheduleRun);
    const { scheduleRun } = await import('../../kernel/run-command.js');
    const result = await scheduleRun({
      whisper: flags.whisper,
      json: this.jsonEnabled(),
      at: flags.at === undefined ? undefined : parseAt(flags.at)!,
      oclifConfig: this.config,
      config: this.runtime.config,
      write: (line) => this.log(line),
    });
    if (result.exitCode !== 0) process.exitCode = result.exitCode;
    return this.jsonEnabled() ? result.document : undefined;
  }
}
