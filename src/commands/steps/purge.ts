import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { prefixFlag } from '../../steps/cli.js';

export default class StepsPurge extends BaseCommand {
  static override summary = 'Delete old dispatcher ticks, settled step trees or archive rows';
  static override description =
    'Default: deletes dispatcher tick rows older than --days and settled live step trees older than --days. --only-archive deletes only archive rows older than --days. --ticks deletes kept tick rows that were not slow (≤ 5 s).';
  static override examples = ['<%= config.bin %> steps:purge --only-archive --days=5', '<%= config.bin %> steps:purge --days=30 --prefix=trading', '<%= config.bin %> steps:purge --ticks'];
  static override flags = {
    days: Flags.integer({ description: 'Age in days', default: 30, min: 1 }),
    'only-archive': Flags.boolean({ description: 'Only delete archive rows', exclusive: ['ticks'] }),
    ticks: Flags.boolean({ description: 'Only delete tick rows that were not slow', exclusive: ['only-archive'] }),
    prefix: prefixFlag,
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(StepsPurge);
    const { purgeSteps } = await import('../../steps/retention.js');
    const r = await purgeSteps({ db: await this.runtime.db(), clock: this.runtime.clock, log: this.runtime.log }, flags.prefix, { days: flags.days, onlyArchive: flags['only-archive'], ticks: flags.ticks });
    if (r.steps?.errors.length) process.exitCode = 1;
    if (this.jsonEnabled()) return r;
    if (flags['only-archive']) this.log(`Deleted ${r.archive} archive row(s) of the ${r.set} set older than ${r.cutoff}.`);
    else if (flags.ticks) this.log(`Deleted ${r.ticks} fast tick row(s) of the ${r.set} set.`);
    else this.log(`Deleted ${r.ticks} tick row(s) and ${r.steps?.rows ?? 0} step row(s) in ${r.steps?.trees ?? 0} settled tree(s) of the ${r.set} set older than ${r.cutoff}.`);
    return undefined;
  }
}
