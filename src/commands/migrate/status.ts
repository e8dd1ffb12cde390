import { BaseCommand } from '../../base-command.js';
import { migrationStatus } from '../../db/migrator.js';
import { renderTable } from '../../support/table.js';

export default class MigrateStatus extends BaseCommand {
  static override summary = 'Show which migrations have run';
  static override description = 'List every migration with Ran/Pending and the batch it ran in.';
  static override examples = ['<%= config.bin %> migrate:status', '<%= config.bin %> migrate:status --json'];
  /** Only reads state: viewers may run it from the admin runner (copied into oclif.manifest.json). */
  static readOnly = true;

  async run(): Promise<unknown> {
    await this.parse(MigrateStatus);
    const status = await migrationStatus(await this.runtime.db());
    if (this.jsonEnabled()) return { migrations: status };
    this.log(renderTable(['Migration', 'Status', 'Batch'], status.map((s) => [s.name, s.ran ? 'Ran' : 'Pending', s.batch ?? ''])));
    return undefined;
  }
}
