import { BaseCommand } from '../../base-command.js';

export default class HorizonSnapshot extends BaseCommand {
  static override summary = 'Store a metrics snapshot now (throughput, runtime p50/p95, wait, failures per queue and job name)';
  static override description = 'Takes the job samples the workers recorded since the last snapshot and stores them in <prefix>:horizon:metrics:snapshots (kept 24 h) and <prefix>:horizon:metrics:latest. The master does this every minute on its own.';
  static override examples = ['<%= config.bin %> horizon:snapshot', '<%= config.bin %> horizon:snapshot --json'];

  async run(): Promise<unknown> {
    await this.parse(HorizonSnapshot);
    const [{ takeSnapshot }, { renderTable }] = await Promise.all([import('../../horizon/metrics.js'), import('../../support/table.js')]);
    const snap = await takeSnapshot(await this.runtime.redis('cli'), this.runtime.config.redis.prefix, this.runtime.clock.now());
    if (this.jsonEnabled()) return snap;
    const names = Object.keys(snap.queues).sort();
    if (!names.length) {
      this.log(`Snapshot stored (${snap.minutes} min since ${snap.since}): no jobs finished.`);
      return undefined;
    }
    this.log(renderTable(['Queue', 'Jobs', 'Failed', 'Per min', 'p50 ms', 'p95 ms', 'Wait avg ms', 'Wait max ms'], names.map((n) => {
      const q = snap.queues[n]!;
      return [n, q.jobs, q.failed, q.throughput_per_min, q.runtime_p50_ms, q.runtime_p95_ms, q.wait_avg_ms, q.wait_max_ms];
    })));
    return undefined;
  }
}
