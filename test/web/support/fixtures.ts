/**
 * Test fixtures for the web tests.
 *
 * The tables of parts that are not merged into this branch yet (steps: issue 4; schedule_runs: issue 3;
 * api_snapshots: issue 5; failed_jobs: issue 6) are created HERE, in the test setup, from the reference
 * schema and docs/contracts.md, and only when they do not exist — once the owning migrations land, these
 * helpers skip creation and the seeds run against the real tables (re-check the seeded columns then).
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import { jsonCol, timestampCol, timestampsCols } from '../../../src/db/schema.js';
import { insertId } from '../../../src/db/helpers.js';
import { createUser, setTotpSecret, type Role } from '../../../src/db/repositories/users.js';
import { hashPassword } from '../../../src/web/auth/passwords.js';

export const GROUPS = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta', 'iota', 'kappa'];

export async function ensureStepsTables(db: Knex, prefix: string): Promise<void> {
  if (!(await db.schema.hasTable(`${prefix}steps`))) {
    await db.schema.createTable(`${prefix}steps`, (t) => {
      t.bigIncrements('id').primary();
      t.string('block_uuid', 36).notNullable();
      t.string('type', 50).notNullable().defaultTo('default');
      t.string('group', 50).nullable();
      t.string('state', 30).notNullable();
      t.string('class', 255).nullable();
      t.string('label', 255).nullable();
      t.integer('index').nullable();
      jsonCol(t, 'response').nullable();
      t.text('error_message').nullable();
      t.text('error_stack_trace', 'longtext').nullable();
      t.string('child_block_uuid', 36).nullable();
      t.string('workflow_id', 36).nullable();
      t.string('canonical', 100).nullable();
      t.string('queue', 50).notNullable().defaultTo('default');
      jsonCol(t, 'arguments').nullable();
      t.integer('retries').notNullable().defaultTo(0);
      t.boolean('was_throttled').notNullable().defaultTo(false);
      t.boolean('is_throttled').notNullable().defaultTo(false);
      t.string('priority', 20).nullable();
      timestampCol(t, 'dispatch_after').nullable();
      timestampCol(t, 'started_at').nullable();
      timestampCol(t, 'completed_at').nullable();
      t.bigInteger('duration').notNullable().defaultTo(0);
      t.string('hostname', 100).nullable();
      t.bigInteger('tick_id').nullable();
      timestampsCols(t);
      t.index(['class', 'state', 'is_throttled'], `${prefix}idx_steps_class_state_throttled`);
      t.index(['block_uuid', 'index'], `${prefix}idx_steps_block_index`);
      t.index(['child_block_uuid'], `${prefix}idx_steps_child`);
    });
  }
  if (!(await db.schema.hasTable(`${prefix}steps_dispatcher`))) {
    await db.schema.createTable(`${prefix}steps_dispatcher`, (t) => {
      t.increments('id').primary();
      t.string('group', 50).nullable().unique(`${prefix}steps_dispatcher_group_unique`);
      t.boolean('can_dispatch').notNullable().defaultTo(true);
      t.bigInteger('current_tick_id').nullable();
      timestampCol(t, 'last_tick_completed').nullable();
      timestampCol(t, 'last_selected_at').nullable();
      timestampsCols(t);
    });
  }
}

export async function ensureSaturationTable(db: Knex): Promise<void> {
  if (await db.schema.hasTable('steps_dispatcher_saturation')) return;
  await db.schema.createTable('steps_dispatcher_saturation', (t) => {
    t.increments('id').primary();
    t.string('group', 50).notNullable();
    timestampCol(t, 'bucket_started_at').notNullable();
    t.integer('ticks_observed').notNullable().defaultTo(0);
    t.integer('ticks_capped').notNullable().defaultTo(0);
    t.integer('ticks_capped_with_leftover').notNullable().defaultTo(0);
    t.integer('total_dispatched').notNullable().defaultTo(0);
    t.integer('max_pending_after').notNullable().defaultTo(0);
    timestampsCols(t);
  });
}

export async function ensureScheduleRuns(db: Knex): Promise<void> {
  if (await db.schema.hasTable('schedule_runs')) return;
  await db.schema.createTable('schedule_runs', (t) => {
    t.bigIncrements('id').primary();
    t.string('task_id', 191).notNullable();
    t.string('command', 255).notNullable();
    t.string('slot', 40).nullable();
    t.string('host', 100).nullable();
    t.integer('pid').nullable();
    timestampCol(t, 'started_at').nullable();
    timestampCol(t, 'finished_at').nullable();
    t.integer('exit_code').nullable();
    t.string('skipped_reason', 100).nullable();
    t.text('output_tail').nullable();
  });
}

export async function ensureApiSnapshots(db: Knex): Promise<void> {
  if (await db.schema.hasTable('api_snapshots')) return;
  await db.schema.createTable('api_snapshots', (t) => {
    t.bigIncrements('id').primary();
    t.integer('account_id').unsigned().notNullable();
    t.string('canonical', 100).notNullable();
    jsonCol(t, 'payload').notNullable();
    timestampCol(t, 'taken_at').notNullable();
    t.index(['account_id', 'canonical', 'taken_at'], 'api_snapshots_account_canonical_taken_idx');
  });
}

export async function ensureFailedJobs(db: Knex): Promise<void> {
  if (await db.schema.hasTable('failed_jobs')) return;
  await db.schema.createTable('failed_jobs', (t) => {
    t.bigIncrements('id').primary();
    t.string('uuid', 64).notNullable().unique('failed_jobs_uuid_unique');
    t.string('queue', 100).notNullable();
    t.string('name', 191).notNullable();
    jsonCol(t, 'payload').nullable();
    t.text('exception', 'longtext').nullable();
    timestampCol(t, 'failed_at').notNullable();
  });
}

export interface StepSeed {
  id: number;
  blockUuid: string;
}

/** Insert one step row; returns its id. */
export async function insertStep(db: Knex, prefix: string, row: Record<string, unknown>, now: Date): Promise<number> {
  return insertId(db, `${prefix}steps`, {
    block_uuid: crypto.randomUUID(),
    type: 'default',
    group: 'alpha',
    state: 'pending',
    class: 'Noop',
    index: 1,
    queue: 'default',
    retries: 0,
    duration: 0,
    created_at: now,
    updated_at: now,
    ...row,
  });
}

/**
 * A small, realistic step set: a parent with a child block (one completed, one failed, one cancelled
 * sibling), a pending leaf, a running leaf, a throttled pending leaf and a completed one.
 */
export async function seedSteps(db: Knex, prefix: string, now: Date): Promise<Record<string, number>> {
  await ensureStepsTables(db, prefix);
  const wf = crypto.randomUUID();
  const root = crypto.randomUUID();
  const child = crypto.randomUUID();
  const ids: Record<string, number> = {};
  const ago = (s: number) => new Date(now.getTime() - s * 1000);
  ids.parent = await insertStep(db, prefix, { block_uuid: root, child_block_uuid: child, class: 'OpenPositionJob', state: 'running', workflow_id: wf, index: 1, started_at: ago(40), queue: 'positions' }, now);
  ids.childDone = await insertStep(db, prefix, { block_uuid: child, class: 'PlaceLadderOrdersJob', state: 'completed', workflow_id: wf, index: 1, started_at: ago(30), completed_at: ago(29), duration: 812, response: JSON.stringify({ orders: 5 }) }, now);
  ids.childFailed = await insertStep(db, prefix, {
    block_uuid: child,
    class: 'PlaceTakeProfitJob',
    state: 'failed',
    workflow_id: wf,
    index: 2,
    started_at: ago(20),
    completed_at: ago(19),
    retries: 3,
    duration: 120,
    arguments: JSON.stringify({ positionId: 42, side: 'SELL' }),
    error_message: 'Binance -2021: Order would immediately trigger.',
    error_stack_trace: 'Error: Binance -2021\n    at placeOrder (orders.ts:10)',
  }, now);
  ids.childCancelled = await insertStep(db, prefix, { block_uuid: child, class: 'VerifyLadderJob', state: 'cancelled', workflow_id: wf, index: 3 }, now);
  ids.pending = await insertStep(db, prefix, { class: 'SyncOrdersJob', state: 'pending', group: 'beta', arguments: JSON.stringify({ accountId: 1 }) }, now);
  ids.throttled = await insertStep(db, prefix, { class: 'SyncOrdersJob', state: 'pending', group: 'beta', is_throttled: true, was_throttled: true }, now);
  ids.running = await insertStep(db, prefix, { class: 'FetchKlinesJob', state: 'running', group: 'gamma', started_at: ago(700), hostname: 'worker-1' }, now);
  ids.done = await insertStep(db, prefix, { class: 'FetchKlinesJob', state: 'completed', group: 'gamma', started_at: ago(100), completed_at: ago(99), duration: 950 }, now);
  for (const g of GROUPS) {
    const exists = await db(`${prefix}steps_dispatcher`).where({ group: g }).first();
    if (!exists) await db(`${prefix}steps_dispatcher`).insert({ group: g, can_dispatch: true, last_tick_completed: ago(3), created_at: now, updated_at: now });
  }
  return ids;
}

export async function seedScheduleRuns(db: Knex, now: Date): Promise<void> {
  await ensureScheduleRuns(db);
  const ago = (s: number) => new Date(now.getTime() - s * 1000);
  await db('schedule_runs').insert([
    { task_id: 'kraite:cron-refresh-binance-listen-keys', command: 'kraite:cron-refresh-binance-listen-keys', slot: new Date(Date.UTC(2026, 0, 1, 0, 0)), host: 'athena', pid: 10, started_at: ago(120), finished_at: ago(119), exit_code: 0 },
    { task_id: 'kraite:cron-refresh-binance-listen-keys', command: 'kraite:cron-refresh-binance-listen-keys', slot: new Date(Date.UTC(2026, 0, 1, 0, 1)), host: 'athena', pid: 11, started_at: ago(60), finished_at: ago(59), exit_code: 0 },
    { task_id: 'steps:recover-stale', command: 'steps:recover-stale --recover-dispatched', slot: new Date(Date.UTC(2026, 0, 1, 0, 1)), host: 'athena', pid: 12, started_at: ago(60), finished_at: ago(58), exit_code: 1, output_tail: 'Error: lock wait timeout' },
    { task_id: 'kraite:fleet-report', command: 'kraite:fleet-report', slot: new Date(Date.UTC(2026, 0, 1, 0, 0)), host: 'athena', pid: 13, started_at: ago(300), finished_at: ago(300), exit_code: null, skipped_reason: 'overlapping' },
  ]);
}

export async function seedNotifications(db: Knex, now: Date): Promise<void> {
  await db('notifications').insert([
    { canonical: 'binance_listen_key_keepalive_failed', dedupe_key: '1', severity: 'high', title: 'Listen key keep-alive failed for Demo Alpha', message: 'HTTP 503 from Binance', context: JSON.stringify({ account_id: 1, api_secret: 'should-not-show' }), hostname: 'athena', created_at: new Date(now.getTime() - 30_000) },
    { canonical: 'system_health_alert', dedupe_key: 'disk', severity: 'warning', title: 'Disk pressure on athena', message: null, context: null, hostname: 'athena', created_at: new Date(now.getTime() - 10_000) },
  ]);
}

/** Fleet reports: one online, one stale; `missing-box` is on the roster without a key. */
export async function seedFleet(redis: Redis, prefix: string, now: Date): Promise<void> {
  const report = (host: string, ageS: number, units: Record<string, string>) => ({
    hostname: host,
    role: host === 'athena' ? 'ingestion' : 'worker',
    reported_at: new Date(now.getTime() - ageS * 1000).toISOString(),
    version: '0.1.0',
    uptime_seconds: host === 'athena' ? 86_400 : 300,
    boot_id: crypto.randomUUID(),
    cpu: { load1: 0.4, cores: 4, percent: 10 },
    ram: { used_mb: 2048, total_mb: 8192, percent: 25 },
    disk: { used_gb: 40, total_gb: 160, percent: 25 },
    units,
  });
  await redis.set(`${prefix}:fleet:athena`, JSON.stringify(report('athena', 60, { 'kraite-dispatch-daemon': 'RUNNING', 'kraite-web': 'RUNNING' })), 'EX', 604800);
  await redis.set(`${prefix}:fleet:worker-1`, JSON.stringify(report('worker-1', 1800, { 'kraite-horizon': 'FATAL' })), 'EX', 604800);
}

/**
 * Drift fixtures on the demo data of db:seed: account 1 gets snapshots with one synced position, one
 * position whose entry price drifts by 2 %, an order whose quantity drifts and one exchange-only order.
 */
export async function seedDriftSnapshots(db: Knex, accountId: number, now: Date): Promise<{ driftSymbol: string }> {
  await ensureApiSnapshots(db);
  const positions = (await db('positions').where({ account_id: accountId }).whereIn('status', ['active']).orderBy('id')) as Array<Record<string, unknown>>;
  if (positions.length < 2) throw new Error('seedDriftSnapshots needs the demo positions (db:seed)');
  const [p1, p2] = positions as [Record<string, unknown>, Record<string, unknown>];
  const dec = (v: unknown) => String(v).replace(/0+$/, '').replace(/\.$/, '');
  const risk = [p1, p2].map((p, i) => ({
    symbol: p.parsed_trading_pair,
    positionAmt: `${p.direction === 'SHORT' ? '-' : ''}${dec(p.quantity)}`,
    entryPrice: i === 0 ? dec(p.opening_price) : (Number(p.opening_price) * 1.02).toFixed(4),
    positionSide: 'BOTH',
    leverage: '10',
    marginType: 'cross',
  }));
  const orders = (await db('orders').whereIn('position_id', [Number(p1.id), Number(p2.id)]).whereIn('status', ['NEW', 'PARTIALLY_FILLED']).orderBy('id')) as Array<Record<string, unknown>>;
  const typeMap: Record<string, string> = { LIMIT: 'LIMIT', MARKET: 'MARKET', 'PROFIT-LIMIT': 'LIMIT', 'PROFIT-MARKET': 'TAKE_PROFIT_MARKET', 'STOP-MARKET': 'STOP_MARKET' };
  const open = orders
    .filter((o) => !(o.is_algo === true || o.is_algo === 1))
    .map((o, i) => ({
      orderId: Number(o.exchange_order_id ?? 1000 + i),
      clientOrderId: o.client_order_id,
      symbol: positions.find((p) => p.id === o.position_id)!.parsed_trading_pair,
      status: 'NEW',
      type: typeMap[String(o.type)] ?? String(o.type).replace(/-/g, '_'),
      side: o.side,
      price: String(o.type).includes('MARKET') ? '0' : dec(o.price),
      stopPrice: String(o.type).includes('MARKET') ? dec(o.price) : '0',
      origQty: i === 0 ? (Number(o.quantity) * 2).toString() : dec(o.quantity),
      positionSide: 'BOTH',
      closePosition: false,
    }));
  open.push({ orderId: 999_999, clientOrderId: 'manual-web-order', symbol: p1.parsed_trading_pair, status: 'NEW', type: 'LIMIT', side: 'BUY', price: '1.2345', stopPrice: '0', origQty: '1', positionSide: 'BOTH', closePosition: false });
  const takenAt = new Date(now.getTime() - 30_000);
  await db('api_snapshots').insert({ account_id: accountId, canonical: 'binance', payload: JSON.stringify({ positions: risk, open_orders: open }), taken_at: takenAt });
  // the local rows must predate the snapshot by more than 60 s, or they read as unverified
  const old = new Date(now.getTime() - 3600_000);
  await db('positions').where({ account_id: accountId }).update({ created_at: old, updated_at: old });
  await db('orders').whereIn('position_id', positions.map((p) => p.id as number)).update({ updated_at: old });
  return { driftSymbol: String(p2.parsed_trading_pair) };
}

export async function seedUser(db: Knex, email: string, role: Role, password: string, now = new Date()): Promise<number> {
  return createUser(db, { email, role, passwordHash: await hashPassword(password), now });
}

export async function enableUserTotp(db: Knex, appKey: Buffer, id: number, secret: string): Promise<void> {
  await setTotpSecret(db, appKey, id, secret, new Date());
}
