import { BaseCommand } from '../../base-command.js';

export default class Horizon extends BaseCommand {
  static override summary = 'Run the worker pool: supervisors of worker processes for this role\'s queues';
  static override description =
    'The horizon master. Starts the supervisors of SERVER_ROLE (ingestion: the user-data-stream shards with 5 processes and the reconcile queue; worker: the step queues; docs/horizon.md), restarts crashed, stuck or recycled workers, writes its state to Redis every second and obeys horizon:pause / continue / terminate from any host or the admin UI. SIGTERM or SIGINT: workers finish their current job and exit (HORIZON_TERMINATE_WAIT_SECONDS at most), then the master exits 0.';
  static override examples = ['<%= config.bin %> horizon', 'HORIZON_CONFIG=storage/horizon.json <%= config.bin %> horizon'];
  static override enableJsonFlag = false;

  async run(): Promise<void> {
    await this.parse(Horizon);
    const [{ loadHorizonConfig }, { HorizonMaster }] = await Promise.all([import('../../horizon/config.js'), import('../../horizon/master.js')]);
    const rt = this.runtime;
    const hcfg = loadHorizonConfig(rt.config);
    if (!hcfg.supervisors.length) {
      const { UserError } = await import('../../support/errors.js');
      throw new UserError(`SERVER_ROLE=${rt.config.serverRole} runs no horizon supervisors`);
    }
    const master = new HorizonMaster({ config: rt.config, db: await rt.db(), redis: await rt.redis('daemon'), clock: rt.clock, log: rt.log }, hcfg);
    const onSignal = (sig: NodeJS.Signals) => master.requestTerminate(sig);
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    try {
      await master.run();
    } finally {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
  }
}
