/**
 * Redis restart under load. The box runs on a private redis-server (own port, append-only file in a
 * temporary directory) which is shut down and started again RESTARTS times while frames and steps flow.
 * The daemons reconnect by themselves, frames go to the dead-letter file while Redis is away and are
 * replayed when it is back, the step workers resume, and nothing is lost.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Box, CHAOS_SEED, rng, sleep, timeTo, until } from './support/box.js';
import { FrameCounter, deadLettersPending, streamRows, userDataBacklog } from './support/frames.js';
import { horizonAvailable, useSmallHorizon } from './support/horizon.js';
import { PrivateRedis } from './support/services.js';
import { ScenarioReport } from './support/report.js';
import { artisan } from '../support/artisan.js';
import { Steps } from '../../src/steps/api.js';
import { stepTables } from '../../src/steps/tables.js';
import { systemClock } from '../../src/support/clock.js';
import { createLogger } from '../../src/support/log.js';

const RESTARTS = Number(process.env.CHAOS_REDIS_RESTARTS ?? 3);
const ACCOUNTS = 3;
const RECORDER = `--import=${path.join(import.meta.dirname, 'fixtures', 'record-step.mjs')}`;
const TERMINAL = ['completed', 'skipped', 'cancelled', 'failed', 'stopped'];

let redis: PrivateRedis;
let box: Box;
let report: ScenarioReport;
let frames: FrameCounter;
const rand = rng(CHAOS_SEED + 1);

beforeAll(async () => {
  redis = await PrivateRedis.start();
  box = await Box.create('redis-restart', { accounts: ACCOUNTS, symbols: true, env: { REDIS_URL: redis.url } });
  report = new ScenarioReport('redis-restart', box.ctx.config.database.client);
  frames = new FrameCounter(box.redis, box.prefix, 2);
});

afterAll(async () => {
  report?.write();
  try {
    if (redis && !redis.ping()) await redis.up();
    await frames?.close();
    await box?.close();
  } finally {
    await redis?.close();
  }
});

const dlFiles = () => {
  const dir = path.join(box.env.STORAGE_PATH!, 'logs');
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^user-data-deadletter-.*\.jsonl$/.test(f)).length : 0;
};

describe('Redis restarted while frames and steps flow', () => {
  it('daemons reconnect, frames are dead-lettered then replayed, workers resume, nothing is lost', async () => {
    const t = stepTables('');
    const log = createLogger('chaos', {}, { write: () => undefined });
    const steps = new Steps({ db: box.ctx.db, clock: systemClock, redis: box.redis, redisPrefix: box.prefix, log }, '');

    const withHorizon = horizonAvailable();
    if (withHorizon) useSmallHorizon(box, 2);
    const horizon = withHorizon ? box.supervise('horizon', ['horizon']) : null;
    const rowCount = async () => Number((await box.ctx.db('api_data_stream').count({ n: '*' }))[0]!.n);
    const worker = box.supervise('worker', ['queue:work', '--queue=default', '--concurrency=4'], { nodeOptions: RECORDER });
    const dispatch = box.supervise('dispatch-daemon', ['kraite:dispatch-daemon', '--sleep=250']);
    const userData = box.supervise('stream-user-data', ['kraite:stream-binance-user-data', '--stagger-ms=0']);
    const prices = box.supervise('stream-prices', ['kraite:stream-binance-prices']);
    await until('every account connected', async () => (await box.heartbeat('stream-user-data'))?.accounts_connected === ACCOUNTS, 60_000);

    let creating = true;
    let createErrors = 0;
    const creator = (async () => {
      while (creating) {
        // While Redis is down the SQL insert works and the wake-up signal is lost (logged): the daemon's
        // next cycle finds the steps anyway.
        await steps.createBlocks([{ steps: [{ class: 'chaos-record' }] }, { steps: [{ class: 'chaos-record' }] }]).catch(() => createErrors++);
        await sleep(100);
      }
    })();
    await box.simPost('load', { rate: 40, durationMs: 600_000 });

    let deadLetterSeen = 0;
    let firstUp = '';
    try {
      for (let i = 0; i < RESTARTS; i++) {
        await sleep(1500 + rand() * 1500);
        const downAt = Date.now();
        await redis.down();
        // frames keep arriving: they must land in the dead-letter file
        await until('frames dead-lettered while Redis is down', () => deadLettersPending(box.env.STORAGE_PATH!) > 0, 20_000);
        deadLetterSeen = Math.max(deadLetterSeen, deadLettersPending(box.env.STORAGE_PATH!));
        await sleep(2000 + rand() * 2000);
        await redis.up();
        const upAt = Date.now();
        firstUp ||= new Date(upAt).toISOString();
        const afterUp = new Date(upAt).toISOString();
        // Whole again: both streams and the dispatcher wrote a heartbeat since, the backlog is replayed
        // and the user-data sink is direct again, and a step created now runs to completion.
        const jobsAtUp = await frames.jobCount();
        const rowsAtUp = horizon ? await rowCount() : 0;
        const probe = (await steps.createBlock([{ class: 'chaos-record' }])).ids[0]!;
        const parts: Record<string, number> = {};
        const ok = (name: string, cond: boolean) => {
          if (cond && parts[name] === undefined) parts[name] = Date.now() - upAt;
          return cond;
        };
        const ms = await timeTo(async () => {
          const dd = await box.heartbeat('dispatch-daemon');
          const row = await box.ctx.db(t.steps).where('id', probe).first('state');
          const files = dlFiles();
          const all = [
            ok('dispatch-daemon heartbeat', !!dd && dd.at >= afterUp),
            ok('dead letters replayed', files === 0 && deadLettersPending(box.env.STORAGE_PATH!) === 0),
            ok('frames enqueued directly again', files === 0 && (await frames.jobCount()) > jobsAtUp),
            ok('new step completed', row?.state === 'completed'),
            ...(horizon ? [ok('horizon consuming again', (await rowCount()) > rowsAtUp)] : []),
          ];
          return all.every(Boolean);
        }, upAt, 90_000, 100);
        report.note(`restart ${i + 1}: ms after Redis was back: ${JSON.stringify(parts)}`);
        report.fault('redis restart', downAt, ms);
        report.note(`restart ${i + 1}: down ${upAt - downAt} ms`);
        expect(ms, `box not whole within 90 s after Redis restart ${i + 1}`).not.toBeNull();
      }
    } finally {
      creating = false;
      if (!redis.ping()) await redis.up(); // the creator may be waiting for Redis
      await creator;
      await box.simDelete('load').catch(() => undefined);
    }

    const sent = await box.framesSent();
    if (!horizon) await until('frames on the box = frames sent', async () => (await frames.jobCount()) + deadLettersPending(box.env.STORAGE_PATH!) >= sent, 30_000).catch(() => undefined);
    // A frame whose add was in flight when Redis went away is dead-lettered and replayed even if Redis
    // had stored it: a duplicate job, absorbed by the consumer's idempotency key. Count distinct frames:
    // api_data_stream rows with horizon, distinct job payloads without it.
    let arrived: number;
    let duplicates = 0;
    if (horizon) {
      await until('user-data queues drained and dead letters replayed', async () => (await userDataBacklog(frames, 2)) === 0 && deadLettersPending(box.env.STORAGE_PATH!) === 0, 120_000, 250);
      arrived = (await streamRows(box.ctx.db)).length;
      const failedJobs = Number((await box.ctx.db('failed_jobs').count({ n: '*' }))[0]!.n);
      report.note(`failed_jobs rows after the run: ${failedJobs}`);
      expect(failedJobs).toBe(0);
    } else {
      const jobs = await frames.jobs();
      const distinct = new Set(jobs.map((j) => JSON.stringify(j.payload)));
      arrived = distinct.size;
      duplicates = jobs.length - distinct.size;
    }
    const dead = deadLettersPending(box.env.STORAGE_PATH!);

    const nonTerminal = async () => Number((await box.ctx.db(t.steps).whereNotIn('state', TERMINAL).count({ n: '*' }))[0]!.n);
    const since = Date.now();
    await until('every step terminal', async () => {
      if ((await nonTerminal()) === 0) return true;
      if (Date.now() - since > 15_000) {
        const r = await artisan(['steps:recover-stale', '--release-locks', '--lock-threshold=5', '--recover-dispatched', '--step-threshold=10', '--json'], box.env);
        expect(r.exitCode, r.stderr).toBe(0);
        await sleep(2000);
      }
      return false;
    }, 120_000, 500);
    const execs = (await box.redis.lrange(`${box.prefix}:chaos:executions`, 0, -1)).map(Number);
    const perStep = new Map<number, number>();
    for (const id of execs) perStep.set(id, (perStep.get(id) ?? 0) + 1);
    const rows = (await box.ctx.db(t.steps).select('id', 'state')) as Array<{ id: number; state: string }>;
    const notCompleted = rows.filter((r) => r.state !== 'completed');
    const twice = [...perStep.entries()].filter(([, n]) => n > 1);

    report.loss({ what: horizon ? 'frames (simulator framesSent → api_data_stream rows)' : 'frames (simulator framesSent → queue jobs + dead letters)', sent, arrived: arrived + dead, lost: Math.max(0, sent - arrived - dead), duplicated: duplicates, note: `up to ${deadLetterSeen} frames waited in a dead-letter file at once; ${duplicates} duplicate jobs (in flight at the cut, replayed)` });
    report.loss({ what: 'steps (created → completed, executions)', sent: rows.length, arrived: rows.length - notCompleted.length, lost: notCompleted.length, duplicated: twice.length });
    report.note(`${createErrors} step creations raised while Redis was down (their rows exist; the wake-up signal was lost)`);

    // Both streams wrote heartbeats on their own since Redis first came back (every 30 s / 10 s).
    await until('both stream heartbeats after the first restart', async () => ((await box.heartbeat('stream-user-data'))?.at ?? '') >= firstUp && ((await box.heartbeat('stream-prices'))?.at ?? '') >= firstUp, 45_000);
    const ud = await box.heartbeat('stream-user-data');
    expect(ud?.lost ?? 0).toBe(0);
    expect(ud?.sink_mode).toBe('direct');
    for (const [name, prog] of [['dispatch-daemon', dispatch], ['stream-user-data', userData], ['stream-prices', prices], ['worker', worker], ...(horizon ? [['horizon', horizon] as const] : [])] as const) {
      expect(prog.starts, `${name} had to be restarted: it should reconnect by itself`).toBe(1);
    }
    expect(deadLetterSeen).toBeGreaterThan(0);
    expect(dead).toBe(0);
    expect(arrived).toBe(sent);
    expect(notCompleted).toEqual([]);
    expect(twice).toEqual([]);
  });
});
