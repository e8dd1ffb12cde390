import { BaseCommand } from '../../base-command.js';

export default class HorizonStatus extends BaseCommand {
  static override summary = 'Show whether horizon runs on each host (running, paused, inactive)';
  static override description =
    'Reads the state every horizon master writes to <prefix>:horizon:master:<host> each second. Prints one line per host; with --json: {"status": "running"|"paused"|"inactive", "masters": [...]}. Exit code 0 even when inactive.';
  static override examples = ['<%= config.bin %> horizon:status', '<%= config.bin %> horizon:status --json'];
  static readOnly = true;

  async run(): Promise<unknown> {
    await this.parse(HorizonStatus);
    const { readMasters } = await import('../../horizon/control.js');
    const masters = await readMasters(await this.runtime.redis('cli'), this.runtime.config.redis.prefix);
    const status = masters.length === 0 ? 'inactive' : masters.every((m) => m.status === 'paused') ? 'paused' : 'running';
    if (this.jsonEnabled()) return { status, masters };
    if (!masters.length) this.log('Horizon is inactive (no master has written its state).');
    for (const m of masters) {
      const procs = m.supervisors.reduce((n, s) => n + s.processes.length, 0);
      this.log(`Horizon is ${m.status} on ${m.host} (pid ${m.pid}): ${m.supervisors.length} supervisor(s), ${procs} process(es), since ${m.started_at}.`);
    }
    return undefined;
  }
}
