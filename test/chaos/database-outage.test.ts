/**
 * Database gone. The box runs on a private PostgreSQL (initdb + pg_ctl as the postgres OS user, own port,
 * temporary data directory), which is stopped for OUTAGE_MS while frames flow and steps wait. The daemons
 * stay up (no restart), say clearly in their logs that the database is unreachable, and recover on their
 * own when it is back: prices are written again, the dispatcher dispatches, the workers complete steps,
 * and every frame the simulator sent is on the queues.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Box, sleep, timeTo, until } from './support/box.js';
import { FrameCounter, deadLettersPending, streamRows, userDataBacklog } from './support/frames.js';
import { horizonAvailable, useSmallHorizon } from './support/horizon.js';
import { PrivatePostgres } from './support/services.js';
import { ScenarioReport } from './support/report.js';
import { Steps } from '../../src/steps/api.js';
import { stepTables } from '../../src/steps/tables.js';
import { systemClock } from '../../src/support/clock.js';
import { createLogger } from '../../src/support/log.js';

const OUTAGE_MS = Number(process.env.CHAOS_DB_OUTAGE_MS ?? 30_000);
const ACCOUNTS = 2;
const RECORDER = `--import=${path.join(import.meta.dirname, 'fixtures', 'record-step.mjs')}`;

let pg: PrivatePostgres;
let box: Box;
let report: ScenarioReport;
let frames: FrameCounter;
const savedUrl = process.env.DATABASE_URL;

beforeAll(async () => {
  if (!PrivatePostgres.available()) throw new Error('The database outage scenario needs root, a `postgres` OS user and PostgreSQL binaries under /usr/lib/postgresql/*/bin.');
  pg = await PrivatePostgres.start();
  process.env.DATABASE_URL = pg.url; // this test file's process only: its isolated schema lives on the private server
  box = await Box.create('database-outage', { accounts: ACCOUNTS, symbols: true });
  report = new ScenarioReport('database-outage', 'pg (private)');
  frames = new FrameCounter(box.redis, box.prefix, 2);
});

afterAll(async () => {
  report?.write();
  try {
    await frames?.close();
    try {
      await pg?.up();
    } catch {
      // already up
    }
    await box?.close();
  } finally {
    await pg?.close();
  }
  if (savedUrl === undefined) delete process.env.DATABASE_URL;
  else process.env.DATABASE_URL = savedUrl;
});

describe(`PostgreSQL stopped for ${OUTAGE_MS / 1000} s under the running box`, () => {
  it('the daemons stay up, log the outage clearly and recover by themselves', async () => {
    const t = stepTables('');
    const steps = new Steps({ db: box.ctx.db, clock: systemClock, redis: box.redis, redisPrefix: box.prefix, log: createLogger('chaos', {}, { write: () => undefined }) }, '');
    const withHorizon = horizonAvailable();
    if (withHorizon) useSmallHorizon(box, 2);
    const horizon = withHorizon ? box.supervise('horizon', ['horizon']) : null;
    const worker = box.supervise('worker', ['queue:work', '--queue=default', '--concurrency=2'], { nodeOptions: RECORDER });
    const dispatch = box.supervise('dispatch-daemon', ['kraite:dispatch-daemon', '--sleep=250']);
    const userData = box.supervise('stream-user-data', ['kraite:stream-binance-user-data', '--stagger-ms=0']);
    const prices = box.supervise('stream-prices', ['kraite:stream-binance-prices']);
    await until('every account connected', async () => (await box.heartbeat('stream-user-data'))?.accounts_connected === ACCOUNTS, 60_000);
    await until('prices flowing', async () => !!(await box.heartbeat('stream-prices'))?.last_flush_at, 30_000);
    const before = (await steps.createBlock([{ class: 'chaos-record' }])).ids[0]!;
    await until('a step completes before the outage', async () => (await box.ctx.db(t.steps).where('id', before).first('state'))?.state === 'completed', 30_000);

    await box.simPost('load', { rate: 20, durationMs: 600_000 });
    const downAt = Date.now();
    await pg.down();
    await sleep(OUTAGE_MS);
    await pg.up();
    const upAt = Date.now();
    const afterUp = new Date(upAt).toISOString();

    // Whole again: a price flush and a dispatcher cycle after the restart, and a new step completes.
    let probeId = 0;
    const created = await timeTo(async () => (probeId = (await steps.createBlock([{ class: 'chaos-record' }])).ids[0]!) > 0, upAt, 60_000, 250);
    expect(created, 'the test could not create a step after the restart').not.toBeNull();
    const rowsAtUp = horizon ? Number((await box.ctx.db('api_data_stream').count({ n: '*' }))[0]!.n) : 0;
    const ms = await timeTo(async () => {
      if (horizon && Number((await box.ctx.db('api_data_stream').count({ n: '*' }))[0]!.n) <= rowsAtUp) return false;
      const [pr, dd] = await Promise.all([box.heartbeat('stream-prices'), box.heartbeat('dispatch-daemon')]);
      if (!pr || !dd || String(pr.last_flush_at) < afterUp || String(dd.last_cycle_at) < afterUp) return false;
      return (await box.ctx.db(t.steps).where('id', probeId).first('state'))?.state === 'completed';
    }, upAt, 90_000, 100);
    report.fault(`postgres stopped ${OUTAGE_MS / 1000} s`, downAt, ms);
    await box.simDelete('load');

    const sent = await box.framesSent();
    let arrived: number;
    if (horizon) {
      // horizon retries the jobs that failed while the database was away; every frame becomes one row
      await until('user-data queues drained', async () => (await userDataBacklog(frames, 2)) === 0 && deadLettersPending(box.env.STORAGE_PATH!) === 0, 120_000, 250);
      arrived = (await streamRows(box.ctx.db)).length;
      const failedJobs = Number((await box.ctx.db('failed_jobs').count({ n: '*' }))[0]!.n);
      report.note(`failed_jobs rows after the outage: ${failedJobs}`);
    } else {
      await until('frames on the queues = frames sent', async () => (await frames.jobCount()) + deadLettersPending(box.env.STORAGE_PATH!) >= sent, 30_000).catch(() => undefined);
      arrived = await frames.jobCount();
    }
    report.loss({ what: horizon ? 'frames (simulator framesSent → api_data_stream rows)' : 'frames (simulator framesSent → queue jobs)', sent, arrived, lost: Math.max(0, sent - arrived) });

    const logs: Record<string, string> = { 'dispatch-daemon': dispatch.current.log(), 'stream-prices': prices.current.log(), 'stream-user-data': userData.current.log(), worker: worker.current.log(), ...(horizon ? { horizon: horizon.current.log() } : {}) };
    const dbErrorLines = (text: string) => text.split('\n').filter((l) => /"level":"(error|warn)"/.test(l) && /ECONNREFUSED|connect|terminat|database|Connection/i.test(l));
    for (const [name, text] of Object.entries(logs)) report.note(`${name}: ${dbErrorLines(text).length} warn/error lines about the database; first: ${dbErrorLines(text)[0]?.slice(0, 300) ?? '—'}`);

    expect(ms, `the box was not whole within 90 s after PostgreSQL came back:\n${prices.current.log().slice(-2000)}`).not.toBeNull();
    for (const [name, prog] of [['dispatch-daemon', dispatch], ['stream-user-data', userData], ['stream-prices', prices], ['worker', worker], ...(horizon ? [['horizon', horizon] as const] : [])] as const) {
      expect(prog.starts, `${name} exited during the outage: ${JSON.stringify(prog.exits)}\n${prog.current.log().slice(-1500)}`).toBe(1);
    }
    expect(dbErrorLines(logs['stream-prices']).length, 'the price daemon logs the outage').toBeGreaterThan(0);
    expect(dbErrorLines(logs['dispatch-daemon']).length, 'the dispatch daemon logs the outage').toBeGreaterThan(0);
    expect(arrived).toBe(sent);
  });
});
