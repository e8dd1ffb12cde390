/**
 * The step dispatcher's tables: the default set and the trading_ set (both through the idempotent
 * installer that `steps:install --prefix=X` uses), and the shared saturation table.
 */
import type { Knex } from 'knex';
import { dropStepTables, installSaturationTable, installStepTables } from '../steps/schema.js';
import type { Migration } from './types.js';

export const stepsTables: Migration = {
  name: '0200_steps_tables',

  async up(db: Knex) {
    await installStepTables(db, '');
    await installStepTables(db, 'trading_');
    await installSaturationTable(db);
  },

  async down(db: Knex) {
    await db.schema.dropTableIfExists('steps_dispatcher_saturation');
    await dropStepTables(db, 'trading_');
    await dropStepTables(db, '');
  },
};
