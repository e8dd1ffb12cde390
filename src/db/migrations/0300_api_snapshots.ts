/**
 * api_snapshots: the exchange's view of an account (positions from /fapi/v3/positionRisk and open orders
 * from /fapi/v1/openOrders), taken by `kraite:cron-snapshot-accounts` and read by the web drift view.
 * canonical = the api system ('binance'); payload = {positions: [...], open_orders: [...]} as Binance sent them.
 */
import type { Knex } from 'knex';
import { jsonCol, timestampCol } from '../schema.js';
import type { Migration } from './types.js';

export const apiSnapshots: Migration = {
  name: '0300_api_snapshots',

  async up(db: Knex) {
    await db.schema.createTable('api_snapshots', (t) => {
      t.bigIncrements('id').primary();
      t.integer('account_id').unsigned().notNullable();
      t.string('canonical', 40).notNullable();
      jsonCol(t, 'payload').notNullable();
      timestampCol(t, 'taken_at').notNullable();
      t.foreign('account_id', 'api_snapshots_account_fk').references('accounts.id').onDelete('CASCADE');
      t.index(['account_id', 'taken_at'], 'api_snapshots_account_taken_idx');
      t.index(['taken_at'], 'api_snapshots_taken_idx');
    });
  },

  async down(db: Knex) {
    await db.schema.dropTableIfExists('api_snapshots');
  },
};
