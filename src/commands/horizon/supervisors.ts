import { BaseCommand } from '../../base-command.js';

export default class HorizonSupervisors extends BaseCommand {
  static override summary = 'List the supervisors of every running horizon master and their processes';
  static override examples = ['<%= config.bin %> horizon:supervisors', '<%= config.bin %> horizon:supervisors --json'];
  static readOnly = true;

  async run(): Promise<unknown> {
    await this.parse(HorizonSupervisors);
    const [{ readMasters }, { renderTable }] = await Promise.all([import('../../horizon/control.js'), import('../../support/table.js')]);
    const masters = await readMasters(await this.runtime.redis('cli'), this.runtime.config.redis.prefix);
    const rows = masters.flatMap((m) =>
      m.supervisors.map((s) => ({
        host: m.host,
        name: s.name,
        status: m.status,
        balance: s.balance,
        processes: s.processes.length,
        min: s.min,
        max: s.max,
        queues: s.queues,
        pids: s.processes.map((p) => p.pid),
        jobs: s.processes.reduce((n, p) => n + (p.jobs ?? 0), 0),
      })),
    );
    if (this.jsonEnabled()) return { supervisors: rows };
    if (!rows.length) {
      this.log('No horizon supervisors are running.');
      return undefined;
    }
    this.log(renderTable(['Host', 'Supervisor', 'Status', 'Balance', 'Processes', 'Min', 'Max', 'Jobs', 'Queues'], rows.map((r) => [r.host, r.name, r.status, r.balance, r.processes, r.min, r.max, r.jobs, r.queues.join(', ')])));
    return undefined;
  }
}
