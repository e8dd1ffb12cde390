/**
 * The web part's own tables: operators (`users`), the audit trail of every state-changing admin action
 * (`audit_log`) and the history of commands started from the admin runner (`command_runs`).
 * Sessions live in Redis (they expire by TTL), not here.
 */
import type { Knex } from 'knex';
import { jsonCol, timestampCol, timestampsCols } from '../schema.js';
import type { Migration } from './types.js';

export const webTables: Migration = {
  name: '0500_web_tables',

  async up(db: Knex) {
    await db.schema.createTable('users', (t) => {
      t.increments('id').primary();
      t.string('email', 191).notNullable().unique('users_email_unique');
      t.string('password_hash', 255).notNullable(); // scrypt$N$r$p$salt$hash
      t.string('role', 20).notNullable(); // admin | viewer
      t.text('totp_secret').nullable(); // AES-256-GCM under APP_KEY ("v1:…")
      timestampCol(t, 'totp_enabled_at').nullable();
      timestampCol(t, 'last_login_at').nullable();
      t.string('last_login_ip', 64).nullable();
      timestampCol(t, 'disabled_at').nullable();
      timestampsCols(t);
    });

    await db.schema.createTable('audit_log', (t) => {
      t.bigIncrements('id').primary();
      t.integer('user_id').unsigned().nullable();
      t.string('actor', 191).notNullable(); // the operator's email, or "cli:<host>"
      t.string('action', 64).notNullable(); // e.g. step.retry, sql.query, command.run, login.failed
      t.string('target', 255).nullable();
      jsonCol(t, 'details').nullable();
      t.string('ip', 64).nullable();
      timestampCol(t, 'created_at').notNullable();
      t.index(['created_at'], 'audit_log_created_idx');
      t.index(['action', 'created_at'], 'audit_log_action_created_idx');
      t.index(['user_id', 'created_at'], 'audit_log_user_created_idx');
    });

    await db.schema.createTable('command_runs', (t) => {
      t.bigIncrements('id').primary();
      t.string('command', 100).notNullable();
      jsonCol(t, 'args').notNullable(); // argv after the command id, secret-named flag values masked
      t.integer('user_id').unsigned().nullable();
      t.string('actor', 191).notNullable();
      t.string('status', 20).notNullable(); // running | succeeded | failed | timed-out | cancelled | interrupted | error
      t.integer('exit_code').nullable();
      timestampCol(t, 'started_at').notNullable();
      timestampCol(t, 'finished_at').nullable();
      t.integer('duration_ms').nullable();
      t.text('output', 'longtext').nullable(); // the last 256 KiB of stdout+stderr
      t.boolean('output_truncated').notNullable().defaultTo(false);
      t.string('host', 100).notNullable();
      t.integer('pid').nullable();
      t.index(['command', 'started_at'], 'command_runs_command_started_idx');
      t.index(['started_at'], 'command_runs_started_idx');
      t.index(['status'], 'command_runs_status_idx');
    });
  },

  async down(db: Knex) {
    for (const table of ['command_runs', 'audit_log', 'users']) await db.schema.dropTableIfExists(table);
  },
};
