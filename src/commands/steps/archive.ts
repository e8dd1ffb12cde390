import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { prefixFlag } from '../../steps/cli.js';

export default class StepsArchive extends BaseCommand {
  static override summary = 'Move settled step trees older than N days to the archive table';
  static override description =
    'Finds root blocks whose whole tree is settled (terminal or dormant) and whose newest completion is older than --duration days, and moves each tree to {prefix}steps_archive (ids kept), 100 blocks per transaction. A tree in which a row was revived meanwhile is left alone.';
  static override examples = ['<%= config.bin %> steps:archive --duration=1', '<%= config.bin %> steps:archive --duration=1 --prefix=trading'];
  static override flags = {
    duration: Flags.integer({ description: 'Age in days (≥ 1)', default: 5, min: 1 }),
    prefix: prefixFlag,
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(StepsArchive);
    const { archiveSteps } = await import('../../steps/retention.js');
    const r = await archiveSteps({ db: await this.runtime.db(), clock: this.runtime.clock, log: this.runtime.log }, flags.prefix, flags.duration);
    if (r.errors.length) process.exitCode = 1;
    if (this.jsonEnabled()) return r;
    this.log(`Archived ${r.trees} tree(s), ${r.blocks} block(s), ${r.rows} row(s) of the ${r.set} set settled before ${r.cutoff}${r.skipped ? `; ${r.skipped} tree(s) skipped (not settled)` : ''}.`);
    for (const e of r.errors) this.logToStderr(`  error: ${e}`);
    return undefined;
  }
}
