import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { dropAllTables, migrateLatest } from '../../db/migrator.js';
import { seedDemo } from '../../db/seed/demo.js';
import { UserError } from '../../support/errors.js';

export default class MigrateFresh extends BaseCommand {
  static override summary = 'Drop every table and migrate from scratch (never in production)';
  static override description = 'Drop all tables of the database, then run every migration. Refuses to run when APP_ENV=production, with or without --force.';
  static override examples = ['<%= config.bin %> migrate:fresh', '<%= config.bin %> migrate:fresh --seed'];
  static override flags = { seed: Flags.boolean({ description: 'Load the demo data afterwards (db:seed)' }) };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(MigrateFresh);
    if (this.runtime.config.appEnv === 'production') throw new UserError('migrate:fresh drops every table and is disabled in production.');
    const db = await this.runtime.db();
    const dropped = await dropAllTables(db);
    const ran = await migrateLatest(db);
    const seeded = flags.seed ? await seedDemo(db, this.runtime.appKey(), { now: new Date(this.runtime.clock.now()) }) : null;
    if (this.jsonEnabled()) return { dropped, ran, seeded };
    this.log(`Dropped ${dropped.length} table(s), ran ${ran.length} migration(s).`);
    if (seeded) this.log(`Seeded ${JSON.stringify(seeded)}.`);
    return undefined;
  }
}
