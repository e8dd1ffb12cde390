/**
 * failed_jobs: the final failures of the horizon pool's (and queue:work's) jobs, mirrored from BullMQ so
 * that `queue:failed`, `queue:retry`, `queue:forget`, `queue:flush` and the admin Queues page work from SQL.
 * uuid is what operators pass around; job_id is BullMQ's id of the failed job (for cross-reference).
 */
import type { Knex } from 'knex';
import { jsonCol, timestampCol } from '../schema.js';
import type { Migration } from './types.js';

export const failedJobs: Migration = {
  name: '0400_failed_jobs',

  async up(db: Knex) {
    await db.schema.createTable('failed_jobs', (t) => {
      t.bigIncrements('id').primary();
      t.string('uuid', 36).notNullable();
      t.string('queue', 191).notNullable();
      t.string('name', 191).notNullable();
      t.string('job_id', 191).nullable();
      jsonCol(t, 'payload').notNullable();
      t.text('exception', 'longtext').notNullable();
      timestampCol(t, 'failed_at').notNullable();
      t.unique(['uuid'], { indexName: 'failed_jobs_uuid_unique' });
      t.index(['failed_at'], 'failed_jobs_failed_at_idx');
    });
  },

  async down(db: Knex) {
    await db.schema.dropTableIfExists('failed_jobs');
  },
};
