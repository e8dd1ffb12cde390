import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';

export default class ScheduleWork extends BaseCommand {
  static override summary = 'Start schedule:run at every minute boundary, in the foreground (local use)';
  static override description = `A foreground loop for development and \`npm start\`: at each minute boundary it starts \`bin/artisan schedule:run\` as a child process and streams its output, as crontab does in production. SIGINT or SIGTERM stops it from starting new runs; the runs in flight finish first.`;
  static override examples = ['<%= config.bin %> schedule:work', '<%= config.bin %> schedule:work --whisper'];
  static override flags = {
    whisper: Flags.boolean({ description: 'Pass --whisper to each schedule:run' }),
  };
  static override enableJsonFlag = false;

  async run(): Promise<void> {
    const { flags } = await this.parse(ScheduleWork);
    const { spawn } = await import('node:child_process');
    const { ScheduleWorker } = await import('../../kernel/work.js');
    const { ARTISAN } = await import('../../kernel/executors.js');
    const start = () =>
      new Promise<number>((resolve, reject) => {
        const child = spawn(process.execPath, [ARTISAN, 'schedule:run', ...(flags.whisper ? ['--whisper'] : [])], { stdio: ['ignore', 'inherit', 'inherit'] });
        child.once('error', reject);
        child.once('close', (code) => resolve(code ?? 1));
      });
    const worker = new ScheduleWorker(this.runtime.clock, start, this.runtime.log);
    const stop = () => worker.close();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    this.log('Running the schedule every minute. Press Ctrl+C to stop.');
    try {
      await worker.run();
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  }
}
