/**
 * Test fixtures for the web tests, seeded into the real tables of the merged parts: the step sets of
 * migration 0200 (through the dispatcher's own repository), schedule_runs of migration 0100, api_snapshots
 * of migration 0300. Only `failed_jobs` (the horizon part, issue 6, not merged yet) is still created here,
 * from docs/contracts.md, when it does not exist.
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import { jsonCol, timestampCol } from '../../../src/db/schema.js';
import { insertStepRows } from '../../../src/db/steps/repository.js';
import { acquireLaneLock, releaseLaneLock } from '../../../src/db/steps/dispatch-queries.js';
import { GROUPS, stepTables } from '../../../src/steps/tables.js';
import { insertSnapshot } from '../../../src/db/repositories/api-snapshots.js';
import { createUser, setTotpSecret, type Role } from '../../../src/db/repositories/users.js';
import { hashPassword } from '../../../src/web/auth/passwords.js';

export { GROUPS };

/** The horizon part's failed_jobs (contracts: uuid, queue, job name, payload, exception, failed_at), until its migration lands. */
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

/** Insert one step row through the dispatcher's repository; returns its id. */
export async function insertStep(db: Knex, prefix: string, row: Record<string, unknown>, now: Date): Promise<number> {
  const [id] = await insertStepRows(db, stepTables(prefix), [
    {
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
    },
  ]);
  return id!;
}

/** What a dispatcher tick leaves behind: every lane's lock taken and released, stamping last_tick_completed. */
export async function simulateTicks(db: Knex, prefix: string, at: Date): Promise<void> {
  const t = stepTables(prefix);
  let tick = 1;
  for (const g of GROUPS) {
    const id = tick++;
    if (!(await acquireLaneLock(db, t, g, id, at.getTime(), 20_000))) throw new Error(`lane ${g} of ${t.dispatcher} is locked`);
    await releaseLaneLock(db, t, g, id, at.getTime());
  }
}

/**
 * A small, realistic step set: a parent with a child block (one completed, one failed, one cancelled
 * sibling), a pending leaf, a running leaf, a throttled pending leaf and a completed one.
 */
export async function seedSteps(db: Knex, prefix: string, now: Date): Promise<Record<string, number>> {
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
  // the lanes' lock rows exist from the migration; a dispatcher ticked them 3 s ago
  await simulateTicks(db, prefix, ago(3));
  return ids;
}

/** Runs as schedule:run records them (src/db/repositories/schedule.ts): task id = the command line. */
export async function seedScheduleRuns(db: Knex, now: Date): Promise<void> {
  const ago = (s: number) => new Date(now.getTime() - s * 1000);
  const slotOf = (d: Date) => new Date(Math.floor(d.getTime() / 60_000) * 60_000);
  const recover = 'steps:recover-stale --recover-dispatched --release-locks --watchdog-progress';
  const run = (task: string, startedS: number, finishedS: number | null, exit: number | null, extra: Record<string, unknown> = {}) => ({
    task_id: task,
    command: task,
    slot: slotOf(ago(startedS)),
    host: 'athena',
    pid: 10 + startedS,
    started_at: ago(startedS),
    finished_at: finishedS === null ? null : ago(finishedS),
    exit_code: exit,
    background: false,
    ...extra,
  });
  await db('schedule_runs').insert([
    run('kraite:cron-refresh-binance-listen-keys', 120, 119, 0, { output_tail: 'Kept 3 listen key(s) alive.' }),
    run('kraite:cron-refresh-binance-listen-keys', 60, 59, 0),
    run(recover, 61, 58, 1, { output_tail: 'Error: lock wait timeout' }),
    run('kraite:fleet-report', 300, 300, null, { skipped_reason: 'overlapping' }),
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
  await insertSnapshot(db, accountId, 'binance', { positions: risk, open_orders: open }, takenAt); // as kraite:cron-snapshot-accounts stores it
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
