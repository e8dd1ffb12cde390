/**
 * The step table sets. `installStepTables(db, prefix)` creates {prefix}steps, {prefix}steps_dispatcher
 * (seeded with the ten groups when it is created), {prefix}steps_dispatcher_ticks and {prefix}steps_archive.
 * It is idempotent per table, and index names carry the prefix, so `steps:install --prefix=X` can run any
 * number of times. Migration 0200 installs the default set and the trading_ set through the same function.
 */
import type { Knex } from 'knex';
import { clientOf, jsonCol, timestampCol, timestampsCols } from '../schema.js';
import { STATES } from '../../steps/states.js';
import { GROUPS, SATURATION_TABLE, stepTables } from '../../steps/tables.js';

/** Every column of a steps row, in table order (the archive has the same ones). */
export const STEP_COLUMNS = [
  'id',
  'block_uuid',
  'type',
  'group',
  'state',
  'class',
  'label',
  'index',
  'response',
  'error_message',
  'error_stack_trace',
  'exception_analysed',
  'exception_verdict',
  'step_log',
  'relatable_type',
  'relatable_id',
  'child_block_uuid',
  'execution_mode',
  'double_check',
  'tick_id',
  'workflow_id',
  'canonical',
  'dedupe_key',
  'queue',
  'arguments',
  'retries',
  'was_throttled',
  'is_throttled',
  'priority',
  'dispatch_after',
  'started_at',
  'completed_at',
  'duration',
  'hostname',
  'was_notified',
  'created_at',
  'updated_at',
] as const;

function stepColumns(t: Knex.CreateTableBuilder, archive: boolean): void {
  if (archive) t.bigInteger('id').unsigned().primary();
  else t.bigIncrements('id').primary();
  t.string('block_uuid', 36).notNullable();
  t.string('type', 50).notNullable().defaultTo('default').checkIn(['default', 'resolve-exception']);
  t.string('group', 50).nullable();
  t.string('state', 20).notNullable().checkIn([...STATES]); // short words, see src/steps/states.ts
  t.string('class', 255).nullable();
  t.string('label', 255).nullable();
  t.integer('index').nullable();
  jsonCol(t, 'response').nullable();
  t.text('error_message').nullable();
  t.text('error_stack_trace', 'longtext').nullable();
  t.boolean('exception_analysed').notNullable().defaultTo(false);
  t.text('exception_verdict', 'longtext').nullable();
  t.text('step_log').nullable();
  t.string('relatable_type', 255).nullable();
  t.bigInteger('relatable_id').unsigned().nullable();
  t.string('child_block_uuid', 36).nullable();
  t.string('execution_mode', 50).nullable(); // 'awaiting-children' while a parent waits for its child tree
  t.integer('double_check').notNullable().defaultTo(0);
  t.bigInteger('tick_id').unsigned().nullable();
  t.string('workflow_id', 36).nullable();
  t.string('canonical', 100).nullable();
  // Set only while the step is live (pending/dispatched/running); unique, so "create unless live" is atomic.
  t.string('dedupe_key', 191).nullable();
  t.string('queue', 50).notNullable().defaultTo('default');
  jsonCol(t, 'arguments').nullable();
  t.integer('retries').notNullable().defaultTo(0);
  t.boolean('was_throttled').notNullable().defaultTo(false);
  t.boolean('is_throttled').notNullable().defaultTo(false);
  t.string('priority', 20).nullable().checkIn(['high']); // 'high' or NULL: the candidate scan relies on it
  timestampCol(t, 'dispatch_after').nullable();
  timestampCol(t, 'started_at').nullable();
  timestampCol(t, 'completed_at').nullable();
  t.bigInteger('duration').notNullable().defaultTo(0); // ms
  t.string('hostname', 100).nullable();
  t.boolean('was_notified').notNullable().defaultTo(false);
  timestampsCols(t);
}

export interface InstallResult {
  created: string[];
  existing: string[];
}

/** Create the four tables of a set (idempotent). `prefix` is normalised ('' or 'xxx_'). */
export async function installStepTables(db: Knex, prefix: string, now: Date = new Date()): Promise<InstallResult> {
  const t = stepTables(prefix);
  const p = prefix; // index names carry the prefix so two sets never collide
  const created: string[] = [];
  const existing: string[] = [];
  // Partial indexes where the database has them: rows that can never match a lookup stay out of the index,
  // which matters on PostgreSQL, where every index gets a new entry on every update of a row.
  const client = clientOf(db);
  const partial = !client.includes('mysql');
  const pg = client === 'pg';
  const notNull = (col: string) => (partial ? { predicate: db.whereNotNull(col) } : {});

  if (await db.schema.hasTable(t.steps)) existing.push(t.steps);
  else {
    await db.schema.createTable(t.steps, (tb) => {
      stepColumns(tb, false);
      // Every index is paid on every claim (PostgreSQL rewrites all index entries of an updated row), so the
      // set is what the dispatcher, recovery, retention and the admin UI query — see docs/dispatcher.md.
      tb.index(['block_uuid', 'index', 'type', 'state'], `${p}steps_block_index_type_state_idx`);
      tb.index(['child_block_uuid', 'state'], `${p}steps_child_state_idx`, notNull('child_block_uuid'));
      tb.index(['state', 'group', 'dispatch_after', 'type'], `${p}steps_state_group_dispatch_type_idx`);
      // The candidate scan: pending rows of a group by priority, in id order. On PostgreSQL a partial index
      // of the pending rows only, keyed (group, priority, id) — a partial index's predicate column must not
      // lead, or the planner, having dropped the implied "state = 'pending'", can only scan it whole. SQLite
      // would not use a partial index for a bound "state = ?", and MySQL has none: (state, group, priority, id).
      if (pg) tb.index(['group', 'priority', 'id'], `${p}steps_pending_group_priority_id_idx`, { predicate: db.whereRaw("state = 'pending'") });
      else tb.index(['state', 'group', 'priority', 'id'], `${p}steps_state_group_priority_id_idx`);
      tb.index(['relatable_type', 'relatable_id', 'state', 'index'], `${p}steps_rel_state_index_idx`, notNull('relatable_type'));
      tb.index(['workflow_id', 'canonical'], `${p}steps_workflow_canonical_idx`);
      tb.index(['class', 'state', 'is_throttled'], `${p}steps_class_state_throttled_idx`);
      tb.index(['state', 'updated_at'], `${p}steps_state_updated_idx`);
      tb.unique(['dedupe_key'], { indexName: `${p}steps_dedupe_key_unique`, ...notNull('dedupe_key') });
    });
    created.push(t.steps);
  }

  if (await db.schema.hasTable(t.dispatcher)) existing.push(t.dispatcher);
  else {
    await db.schema.createTable(t.dispatcher, (tb) => {
      tb.increments('id').primary();
      tb.string('group', 50).nullable().unique({ indexName: `${p}steps_dispatcher_group_unique` });
      tb.boolean('can_dispatch').notNullable().defaultTo(true);
      tb.bigInteger('current_tick_id').unsigned().nullable();
      timestampCol(tb, 'last_tick_completed').nullable();
      timestampCol(tb, 'last_selected_at').nullable();
      timestampsCols(tb);
    });
    await db(t.dispatcher).insert(GROUPS.map((g) => ({ group: g, can_dispatch: true, created_at: now, updated_at: now })));
    created.push(t.dispatcher);
  }

  if (await db.schema.hasTable(t.ticks)) existing.push(t.ticks);
  else {
    await db.schema.createTable(t.ticks, (tb) => {
      tb.bigInteger('id').unsigned().primary(); // the tick id, assigned by the dispatcher
      tb.string('group', 50).nullable();
      tb.integer('progress').notNullable().defaultTo(0);
      tb.integer('dispatched').notNullable().defaultTo(0);
      timestampCol(tb, 'started_at').nullable();
      timestampCol(tb, 'completed_at').nullable();
      tb.integer('duration').nullable(); // ms
      timestampsCols(tb);
      tb.index(['created_at', 'id'], `${p}steps_ticks_created_id_idx`);
    });
    created.push(t.ticks);
  }

  if (await db.schema.hasTable(t.archive)) existing.push(t.archive);
  else {
    await db.schema.createTable(t.archive, (tb) => {
      stepColumns(tb, true);
      tb.index(['block_uuid', 'state'], `${p}steps_archive_block_state_idx`);
      tb.index(['workflow_id'], `${p}steps_archive_workflow_idx`);
      tb.index(['class', 'state'], `${p}steps_archive_class_state_idx`);
      tb.index(['created_at'], `${p}steps_archive_created_idx`);
      tb.index(['relatable_type', 'relatable_id'], `${p}steps_archive_rel_idx`);
    });
    created.push(t.archive);
  }
  return { created, existing };
}

export async function dropStepTables(db: Knex, prefix: string): Promise<void> {
  const t = stepTables(prefix);
  for (const name of [t.archive, t.ticks, t.dispatcher, t.steps]) await db.schema.dropTableIfExists(name);
}

/** The shared saturation table (one for every set; the group column carries the prefix). */
export async function installSaturationTable(db: Knex): Promise<boolean> {
  if (await db.schema.hasTable(SATURATION_TABLE)) return false;
  await db.schema.createTable(SATURATION_TABLE, (tb) => {
    tb.increments('id').primary();
    tb.string('group', 50).notNullable();
    timestampCol(tb, 'bucket_started_at').notNullable();
    tb.integer('ticks_observed').unsigned().notNullable().defaultTo(0);
    tb.integer('ticks_capped').unsigned().notNullable().defaultTo(0);
    tb.integer('ticks_capped_with_leftover').unsigned().notNullable().defaultTo(0);
    tb.integer('total_dispatched').unsigned().notNullable().defaultTo(0);
    tb.integer('max_pending_after').unsigned().notNullable().defaultTo(0);
    timestampsCols(tb);
    tb.unique(['group', 'bucket_started_at'], { indexName: 'idx_sds_group_bucket_unique' });
    tb.index(['bucket_started_at'], 'idx_sds_bucket');
  });
  return true;
}
