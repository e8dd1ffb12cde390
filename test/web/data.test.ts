/**
 * The data-access modules read other parts only through docs/contracts.md. Each is tested twice:
 * against a fresh database and Redis prefix (the part is not built or not running: honest "absent" /
 * "not running", never an error and never invented numbers), and against seeded contract data.
 */
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { FakeClock } from '../../src/support/clock.js';
import { createLogger } from '../../src/support/log.js';
import { QueueFactory } from '../../src/queue/queues.js';
import { connectRedis, closeRedis } from '../../src/redis/connection.js';
import { writeHeartbeat } from '../../src/support/heartbeat.js';
import { pauseDispatch } from '../../src/support/box-flags.js';
import { seedDemo } from '../../src/db/seed/demo.js';
import { requireKey } from '../../src/crypto/secrets.js';
import { createDataContext, type DataContext } from '../../src/web/data/context.js';
import { sharedTables } from '../../src/db/migrations/0001_shared_tables.js';
import { readDispatcher, dispatcherSection } from '../../src/web/data/dispatcher.js';
import { readStreams } from '../../src/web/data/streams.js';
import { readQueues, readFailedJobs, minuteCounts } from '../../src/web/data/queues.js';
import { QueueWorker } from '../../src/queue/worker.js';
import { systemClock } from '../../src/support/clock.js';
import { readScheduler, readScheduleRuns, schedulerSection } from '../../src/web/data/scheduler.js';
import { readFleet, classifyFleetReport } from '../../src/web/data/fleet.js';
import { readAlerts } from '../../src/web/data/alerts.js';
import { readPublicStatus } from '../../src/web/data/status.js';
import { readBoxHealth } from '../../src/web/data/system.js';
import { StepsData } from '../../src/web/data/steps.js';
import { Absent } from '../../src/web/data/safe.js';
import { upsertSaturation } from '../../src/db/steps/saturation.js';
import { recordKeepAliveFailure, upsertListenKey } from '../../src/db/repositories/listen-keys.js';
import { pauseSchedule } from '../../src/kernel/state.js';
import { ensureFailedJobs, seedFleet, seedNotifications, seedScheduleRuns, seedSteps } from './support/fixtures.js';

let ctx: TestContext;
let data: DataContext;
// A database with only the shared tables and an empty Redis prefix: every other part "not installed yet".
let bareCtx: TestContext;
let bare: DataContext;
let queues: QueueFactory;
let daemonRedis: import('ioredis').Redis;
const clock = new FakeClock(Date.now());

beforeAll(async () => {
  ctx = await createTestContext('web-data');
  daemonRedis = await connectRedis(ctx.config.redis, 'daemon');
  queues = new QueueFactory({ prefix: ctx.prefix, connection: daemonRedis });
  data = createDataContext({ db: ctx.db, redis: ctx.redis, prefix: ctx.prefix, clock, log: createLogger('test'), config: { ...ctx.config, web: { ...ctx.config.web, fleetHosts: ['missing-box'] } }, queues });
  bareCtx = await createTestContext('web-data-bare', { migrate: false });
  await sharedTables.up(bareCtx.db);
  bare = createDataContext({ db: bareCtx.db, redis: bareCtx.redis, prefix: bareCtx.prefix, clock, log: createLogger('test'), config: { ...bareCtx.config, web: { ...bareCtx.config.web, fleetHosts: ['missing-box'] } }, queues: new QueueFactory({ prefix: bareCtx.prefix, connection: daemonRedis }) });
});

afterAll(async () => {
  await queues?.close();
  await closeRedis(daemonRedis);
  await ctx?.cleanup();
  await bareCtx?.cleanup();
});

describe('before the other parts exist', () => {
  it('reads the box health from /proc and statfs', async () => {
    await readBoxHealth('box');
    const h = await readBoxHealth('box');
    expect(h.hostname).toBe('box');
    expect(h.cpu.cores).toBeGreaterThan(0);
    expect(h.ram.totalMb).toBeGreaterThan(0);
    expect(h.disk.percent).toBeGreaterThan(0);
  });

  it('says the dispatcher is not installed and not running', async () => {
    const d = await readDispatcher(bare);
    expect(d.daemon).toBeNull();
    expect(d.sets.map((s) => [s.set, s.status, s.active])).toEqual([
      ['default', 'not installed', null],
      ['trading', 'not installed', null],
    ]);
  });

  it('says the step set is not installed instead of failing', async () => {
    const steps = new StepsData(bare);
    await expect(steps.pivot('')).rejects.toBeInstanceOf(Absent);
    await expect(steps.pivot('')).rejects.toThrow('The default step set is not installed yet (no steps table)');
  });

  it('reads the streams from foundation tables only, with no heartbeat', async () => {
    const s = await readStreams(bare);
    expect(s.userData).toMatchObject({ running: false, accountsConnected: null });
    expect(s.prices.running).toBe(false);
    expect(s.accounts).toEqual([]);
    expect(s.markPrices).toEqual({ symbols: 0, withPrice: 0, stale: 0, newestAgeSeconds: null });
  });

  it('reports the scheduler as absent (no schedule_runs) without an error', async () => {
    const sec = await schedulerSection(bare);
    expect(sec).toEqual({ status: 'absent', reason: 'The scheduler is not installed yet (no schedule_runs table)' });
  });

  it('lists the contract queues with zero counts and no Horizon', async () => {
    const q = await readQueues(bare);
    expect(q.horizon).toEqual([]);
    expect(q.queues.map((x) => x.name)).toEqual(['user-data-stream-0', 'user-data-stream-1', 'user-data-stream-2', 'user-data-stream-3', 'user-data-stream-4']);
    expect(q.queues.every((x) => x.waiting === 0 && x.failed === 0 && x.completedLastMinute === null && x.oldestWaitSeconds === null)).toBe(true);
    expect(await readFailedJobs(bare)).toEqual({ source: 'bullmq', jobs: [] });
  });

  it('shows rostered hosts without a report as missing', async () => {
    const f = await readFleet(bare);
    expect(f.map((h) => [h.hostname, h.status])).toEqual([['missing-box', 'missing']]);
  });

  it('gives the public status as unknown, not as up', async () => {
    const st = await readPublicStatus(bare);
    expect(st.mark_prices.state).toBe('unknown');
    expect(st.dispatcher).toEqual({ state: 'unknown', label: 'Not running yet' });
    expect(st.overall).toBe('unknown');
  });
});

describe('queue throughput from BullMQ metrics', () => {
  it('counts the last complete minute and the last hour from the running count and the pushed minutes', () => {
    const t0 = Date.UTC(2026, 0, 1, 10, 30, 20);
    // 3 jobs so far in 10:30 (not pushed yet); data[0] = 10:29 (5), then 10:28 (0), 10:27 (2)
    const m = { meta: { count: 110, prevTS: Date.UTC(2026, 0, 1, 10, 30, 1), prevCount: 107 }, data: [5, 0, 2] };
    expect(minuteCounts(m, t0)).toEqual({ lastMinute: 5, lastHour: 10 });
    expect(minuteCounts(m, t0 + 60_000)).toEqual({ lastMinute: 3, lastHour: 10 }); // idle since: 10:30 is the last complete minute
    expect(minuteCounts(m, t0 + 120_000)).toEqual({ lastMinute: 0, lastHour: 10 });
    expect(minuteCounts(m, t0 + 59 * 60_000)).toEqual({ lastMinute: 0, lastHour: 3 }); // only 10:30 is still inside the hour
    expect(minuteCounts(m, t0 + 3 * 3600_000)).toEqual({ lastMinute: 0, lastHour: 0 });
    expect(minuteCounts({ meta: { count: 0, prevTS: 0, prevCount: 0 }, data: [] }, t0)).toBeNull();
  });
});

describe('with contract data', () => {
  let ids: Record<string, number>;

  beforeAll(async () => {
    const now = new Date(clock.now());
    await seedDemo(ctx.db, requireKey(ctx.config.appKey), { now });
    ids = await seedSteps(ctx.db, '', now);
    await seedSteps(ctx.db, 'trading_', now);
    // as kraite:cron-flush-dispatcher-saturation writes them (trading lanes carry the prefix)
    const minute = Math.floor((clock.now() - 60_000) / 60_000) * 60_000;
    await upsertSaturation(ctx.db, { group: 'alpha', bucket_started_at: minute, ticks_observed: 60, ticks_capped: 30, ticks_capped_with_leftover: 15, total_dispatched: 900, max_pending_after: 40 }, clock.now());
    await upsertSaturation(ctx.db, { group: 'trading_alpha', bucket_started_at: minute, ticks_observed: 60, ticks_capped: 60, ticks_capped_with_leftover: 60, total_dispatched: 6000, max_pending_after: 500 }, clock.now());
    // listen keys as the user-data daemon and the keepalive cron leave them: account 1 fine, account 2 failing
    const appKey = requireKey(ctx.config.appKey);
    await upsertListenKey(ctx.db, appKey, 1, 'listen-key-of-account-1', now);
    await upsertListenKey(ctx.db, appKey, 2, 'listen-key-of-account-2', now);
    await recordKeepAliveFailure(ctx.db, 2, now, 255);
    await recordKeepAliveFailure(ctx.db, 2, now, 255);
    await seedScheduleRuns(ctx.db, now);
    await seedNotifications(ctx.db, now);
    await seedFleet(ctx.redis, ctx.prefix, now);
    await writeHeartbeat(
      ctx.redis,
      ctx.prefix,
      // the shape src/steps/daemon.ts writes
      { daemon: 'dispatch-daemon', host: 'athena', pid: 4242, started_at: now.toISOString(), at: now.toISOString(), status: 'running', last_cycle_at: now.toISOString(), ticks_per_sec: 19.5, dispatched_per_min: 240, sets: { default: { active: true, paused: false, last_tick_at: now.toISOString() }, trading: { active: true, paused: true, last_tick_at: null } } },
      30,
    );
    await writeHeartbeat(
      ctx.redis,
      ctx.prefix,
      { daemon: 'stream-user-data', host: 'athena', pid: 1, started_at: now.toISOString(), at: now.toISOString(), accounts_total: 3, accounts_connected: 2, dead_letters_pending: 0, accounts: { '1': { connected: true, last_frame_at: new Date(clock.now() - 4000).toISOString(), listen_key_status: 'active', reconnects: 0 }, '2': { connected: false, last_frame_at: null, listen_key_status: 'expired', reconnects: 7 } }, sink_mode: 'direct' },
      90,
    );
    await pauseDispatch(ctx.redis, ctx.prefix, 'trading_', 'test pause', 600, now);
    await ctx.redis.set(`${ctx.prefix}:horizon:master:athena`, JSON.stringify({ host: 'athena', pid: 77, status: 'running', started_at: now.toISOString(), at: now.toISOString(), supervisors: [{ name: 'user-data', queues: ['user-data-stream-0'], balance: 'simple', min: 1, max: 1, processes: [{ pid: 78, queue: 'user-data-stream-0', status: 'running', jobs: 12, started_at: now.toISOString(), rss_mb: 80 }] }] }), 'EX', 10);
    const q = await queues.queue('positions');
    await q.add('OpenPositionJob', { stepId: 1, prefix: '' }, { jobId: 'step:1:0' });
    await q.add('OpenPositionJob', { stepId: 2, prefix: '' }, { jobId: 'step:2:0' });
    data.probe.forget(); // table existence is cached for 10 s of the (frozen) clock
  });

  it('reads the dispatcher per set: active work, last tick, heartbeat rates, saturation and pauses', async () => {
    const d = await readDispatcher(data);
    expect(d.daemon).toMatchObject({ host: 'athena', pid: 4242, status: 'running', gate: null });
    expect(d.killSwitch).toBe(false);
    const def = d.sets.find((s) => s.set === 'default')!;
    expect(def).toMatchObject({ installed: true, status: 'running', active: { pending: 2, dispatched: 0, running: 2 }, groups: 10, lockedGroups: 0, ticksPerSec: 19.5, dispatchedPerMin: 240, saturationPercent: 25 });
    expect(def.lastTickAgeSeconds).toBeLessThanOrEqual(3);
    const tr = d.sets.find((s) => s.set === 'trading')!;
    expect(tr.status).toBe('paused');
    expect(tr.pause?.reason).toBe('test pause');
    expect(tr.saturationPercent).toBe(100);
  });

  it('flags a stalled dispatcher once the last tick is older than 2 minutes', async () => {
    await ctx.redis.del(`${ctx.prefix}:heartbeat:dispatch-daemon:athena`);
    await clock.advance(5 * 60_000);
    const d = await dispatcherSection(data);
    expect(d.status).toBe('ok');
    if (d.status === 'ok') expect(d.data.sets.find((s) => s.set === 'default')!.status).toBe('stalled');
    clock.set(clock.now() - 5 * 60_000);
  });

  it('builds the class × state pivot, with throttled split from pending', async () => {
    const p = await new StepsData(data).pivot('');
    const sync = p.rows.find((r) => r.class === 'SyncOrdersJob')!;
    expect(sync.states).toEqual({ pending: 1, throttled: 1 });
    const klines = p.rows.find((r) => r.class === 'FetchKlinesJob')!;
    expect(klines.states).toEqual({ running: 1, completed: 1 });
    expect(klines.oldestRunningSeconds).toBeGreaterThanOrEqual(699);
    expect(p.rows.find((r) => r.class === 'OpenPositionJob')!.isParent).toBe(true);
    expect(p.total).toBe(8);
  });

  it('walks the parent/child tree and a block in index order', async () => {
    const steps = new StepsData(data);
    const failed = (await steps.detail('', ids.childFailed!))!;
    expect(failed.arguments).toEqual({ positionId: 42, side: 'SELL' });
    expect(failed.errorMessage).toBe('Binance -2021: Order would immediately trigger.');
    const anc = await steps.ancestors('', failed);
    expect(anc.map((a) => a.id)).toEqual([ids.parent]);
    const tree = await steps.tree('', failed);
    expect(tree.root.map((n) => n.step.id)).toEqual([ids.parent]);
    expect(tree.root[0]!.children.map((n) => [n.step.index, n.step.state])).toEqual([
      [1, 'completed'],
      [2, 'failed'],
      [3, 'cancelled'],
    ]);
    const list = await steps.list('', { state: 'throttled' });
    expect(list.map((s) => s.id)).toEqual([ids.throttled]);
  });

  it('reads the user-data and price streams and mark-price freshness', async () => {
    await ctx.db('exchange_symbol_prices').where('exchange_symbol_id', '<=', 3).update({ mark_price_synced_at: new Date(clock.now() - 120_000) });
    const s = await readStreams(data);
    expect(s.userData).toMatchObject({ running: true, accountsTotal: 3, accountsConnected: 2 });
    expect(s.accounts.map((a) => [a.id, a.connected, a.socketKeyStatus, a.hasKey, a.keepAliveStatus, a.failureCount])).toEqual([
      [1, true, 'active', true, 'success', 0],
      [2, false, 'expired', true, 'failure', 2],
      [3, null, null, false, null, null],
    ]);
    expect(s.accounts[0]!.keepAliveAgeSeconds).toBe(0);
    expect(JSON.stringify(s)).not.toContain('listen-key-of-account'); // the key itself is never read
    expect(s.accounts[0]!.lastFrameAgeSeconds).toBe(4);
    expect(s.markPrices).toMatchObject({ symbols: 10, withPrice: 10, stale: 3 });
  });

  it('reads queues, the Horizon master and failed jobs from the failed_jobs table when present', async () => {
    const q = await readQueues(data);
    const pos = q.queues.find((x) => x.name === 'positions')!;
    expect(pos).toMatchObject({ waiting: 2, active: 0, failed: 0 });
    expect(pos.oldestWaitSeconds).not.toBeNull();
    expect(q.horizon[0]).toMatchObject({ host: 'athena', status: 'running', supervisors: [{ name: 'user-data', processes: [{ pid: 78, jobs: 12 }] }] });
    // throughput from BullMQ's per-minute metrics, as QueueWorker records them (real time: BullMQ stamps them)
    const probe = await queues.queue('metrics-probe');
    await probe.add('probe', { n: 1 });
    await probe.add('probe', { n: 2 });
    const worker = new QueueWorker({ config: ctx.config, db: ctx.db, redis: daemonRedis, clock: systemClock, log: createLogger('test') }, { queue: 'metrics-probe', stopWhenEmpty: true, processor: async () => 'done' });
    expect(await worker.run()).toMatchObject({ processed: 2 });
    const live = await readQueues(createDataContext({ ...data, clock: systemClock }));
    expect(live.queues.find((x) => x.name === 'metrics-probe')).toMatchObject({ waiting: 0, completedLastHour: 2, failedLastHour: 0 });
    expect(live.queues.find((x) => x.name === 'positions')!.completedLastHour).toBeNull(); // no worker: "no metrics", not 0
    await ensureFailedJobs(ctx.db);
    await ctx.db('failed_jobs').insert({ uuid: crypto.randomUUID(), queue: 'user-data-stream-0', name: 'ProcessUserDataEvent', payload: '{}', exception: 'Error: boom\n at x', failed_at: new Date(clock.now()) });
    data.probe.forget();
    const f = await readFailedJobs(data);
    expect(f.source).toBe('failed_jobs');
    expect(f.jobs).toMatchObject([{ queue: 'user-data-stream-0', name: 'ProcessUserDataEvent', exception: 'Error: boom\n at x' }]);
  });

  it('summarises the scheduler: last run per task and failures in 24 h', async () => {
    data.probe.forget();
    const s = await readScheduler(data);
    expect(s.tasks.map((t) => [t.taskId, t.lastRun.status, t.failures24h, t.runs24h])).toEqual([
      ['kraite:cron-refresh-binance-listen-keys', 'ok', 0, 2],
      ['kraite:fleet-report', 'skipped', 0, 1],
      ['steps:recover-stale --recover-dispatched --release-locks --watchdog-progress', 'failed', 1, 1],
    ]);
    expect(s.recentFailures.map((r) => r.output_tail)).toEqual(['Error: lock wait timeout']);
    expect(s.paused).toBeNull();
    // the flag schedule:pause writes (src/kernel/state.ts)
    await pauseSchedule(ctx.redis, ctx.prefix, { since: '2026-01-01T00:00:00.000Z', reason: 'db migration', host: 'athena' });
    expect((await readScheduler(data)).paused).toEqual({ reason: 'db migration', since: '2026-01-01T00:00:00.000Z', host: 'athena' });
    // any other value still means paused
    await ctx.redis.set(`${ctx.prefix}:schedule:paused`, '1');
    expect((await readScheduler(data)).paused).toEqual({ reason: null, since: null, host: null });
    await ctx.redis.del(`${ctx.prefix}:schedule:paused`);
    expect(await readScheduleRuns(data, { failedOnly: true })).toHaveLength(1);
    const history = await readScheduleRuns(data, { task: 'kraite:cron-refresh-binance-listen-keys', limit: 1 });
    expect(history).toHaveLength(1);
    expect(await readScheduleRuns(data, { task: 'kraite:cron-refresh-binance-listen-keys', beforeId: history[0]!.id })).toHaveLength(1);
  });

  it('classifies fleet reports: online, stale after 12 min, missing when absent', async () => {
    const f = await readFleet(data);
    expect(f.map((h) => [h.hostname, h.status])).toEqual([
      ['missing-box', 'missing'],
      ['worker-1', 'stale'],
      ['athena', 'online'],
    ]);
    expect(f.find((h) => h.hostname === 'worker-1')!.issues).toEqual(['Fleet heartbeat is stale', 'Service kraite-horizon is FATAL']);
    expect(f.find((h) => h.hostname === 'worker-1')!.recentlyRebooted).toBe(true);
    // a host seen once stays on the roster after its key disappears
    await ctx.redis.del(`${ctx.prefix}:fleet:worker-1`);
    expect((await readFleet(data)).find((h) => h.hostname === 'worker-1')!.status).toBe('missing');
    expect(classifyFleetReport('x', { reported_at: 'not a date' }, clock.now()).status).toBe('stale');
    expect(classifyFleetReport('x', { reported_at: new Date(clock.now() + 60_000).toISOString() }, clock.now())).toMatchObject({ status: 'online', ageSeconds: 0 });
  });

  it('lists recent alerts with secret context redacted', async () => {
    const a = await readAlerts(data, 10);
    expect(a.map((x) => x.canonical)).toEqual(['system_health_alert', 'binance_listen_key_keepalive_failed']);
    expect(a[1]!.context).toEqual({ account_id: 1, api_secret: '[redacted]' });
  });

  it('turns the public status on when prices are fresh and the dispatcher ticks', async () => {
    await ctx.db('exchange_symbol_prices').update({ mark_price_synced_at: new Date(clock.now() - 5000) });
    const st = await readPublicStatus(data);
    expect(st.mark_prices).toMatchObject({ state: 'ok', symbols: 10, stale: 0 });
    expect(st.dispatcher.state).toBe('degraded'); // the trading set is paused
    expect(JSON.stringify(st)).not.toContain('athena'); // no host names in public
  });

  it('reports the dispatcher down when its daemon says it is gated by the kill switch', async () => {
    const now = new Date(clock.now());
    await writeHeartbeat(ctx.redis, ctx.prefix, { daemon: 'dispatch-daemon', host: 'athena', pid: 4243, started_at: now.toISOString(), at: now.toISOString(), status: 'gated:kill-switch', last_cycle_at: now.toISOString(), ticks_per_sec: 0, dispatched_per_min: 0, sets: {} }, 30);
    const d = await readDispatcher(data);
    expect(d.daemon).toMatchObject({ status: 'gated:kill-switch', gate: 'kill-switch' });
    expect(d.killSwitch).toBe(true);
    expect((await readPublicStatus(data)).dispatcher).toEqual({ state: 'down', label: 'Dispatch switched off' });
    await ctx.redis.del(`${ctx.prefix}:heartbeat:dispatch-daemon:athena`);
  });
});
