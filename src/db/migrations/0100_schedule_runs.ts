/**
 * The kernel's run history: one row per task run (or per skip the scheduler decided on: overlapping,
 * another server, maintenance, paused). Written by schedule:run and schedule:background, read by
 * schedule:list, the admin UI and the health checks.
 */
import type { Knex } from 'knex';
import { timestampCol } from '../schema.js';
import type { Migration } from './types.js';

export const scheduleRuns: Migration = {
  name: '0100_schedule_runs',

  async up(db: Knex) {
    await db.schema.createTable('schedule_runs', (t) => {
      t.bigIncrements('id').primary();
      t.string('task_id', 191).notNullable();
      t.string('command', 1000).notNullable();
      timestampCol(t, 'slot').notNullable(); // the scheduled minute (or second, for sub-minute tasks), UTC
      t.string('host', 100).notNullable();
      t.integer('pid').notNullable();
      timestampCol(t, 'started_at').notNullable();
      timestampCol(t, 'finished_at').nullable(); // null while running (or when the process died)
      t.integer('exit_code').nullable();
      t.string('skipped_reason', 50).nullable(); // overlapping | other-server | maintenance | paused
      t.text('output_tail').nullable(); // the last 4000 characters of the task's output
      t.boolean('background').notNullable().defaultTo(false);
      t.index(['task_id', 'id'], 'schedule_runs_task_idx');
      t.index(['started_at'], 'schedule_runs_started_idx');
    });
  },

  async down(db: Knex) {
    await db.schema.dropTableIfExists('schedule_runs');
  },
};
