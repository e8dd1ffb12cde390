#!/usr/bin/env node
// bench/horizon: drain rate of user-data frames through the real ProcessUserDataEvent processor (its
// api_data_stream insert and order mirror), on SQLite and PostgreSQL, in one run:
//   - bare:   5 bare BullMQ Workers (one per shard, concurrency 1) in this process calling the same
//             processor function — the baseline;
//   - 1 proc: `bin/artisan horizon` with one process holding all 5 shards;
//   - 5 proc: `bin/artisan horizon` with 5 processes, one shard each (the production shape).
// Each case: the pool is up and paused, FRAMES frames (ORDER_TRADE_UPDATE of 200 known orders over 50
// accounts, every frame distinct) are enqueued, then the clock starts at `continue` (or Worker start) and
// stops when api_data_stream holds them all. Targets: ≥ 2,000 frames/s with 5 processes on PostgreSQL
// and ≥ 0.6 × bare. PG_URL (default postgres://postgres@127.0.0.1:5432/test) gets its own schema; SQLite a
// temp file; a private Redis prefix. Everything is removed afterwards.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cleanEnv } from './lib.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(root, 'dist', p));
const artisan = path.join(root, 'bin', 'artisan');
const FRAMES = Number(process.env.FRAMES ?? 4000);
const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DBS = (process.env.DBS ?? 'postgres,sqlite').split(',');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'athena-bench-horizon-'));

const { loadConfig } = await dist('config/index.js');
const { createDb } = await dist('db/connection.js');
const { migrateLatest } = await dist('db/migrator.js');
const { connectRedis, closeRedis } = await dist('redis/connection.js');
const { QueueFactory } = await dist('queue/queues.js');
const { userDataQueueFor, allUserDataQueues } = await dist('queue/user-data.js');
const { sendCommand, readMasters } = await dist('horizon/control.js');
const { processUserDataJob } = await dist('queue/user-data/processor.js');
const { createLogger } = await dist('support/log.js');
const { systemClock } = await dist('support/clock.js');
const { insertId } = await dist('db/helpers.js');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, fn, timeoutMs = 300_000, every = 25) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn()) return;
    await sleep(every);
  }
  throw new Error(`timed out: ${what}`);
}

async function isolatedDb(kind) {
  const id = `bench_hz_${crypto.randomBytes(4).toString('hex')}`;
  if (kind === 'sqlite') {
    const file = path.join(tmp, `${id}.sqlite`);
    return { url: `sqlite:${file}`, drop: async () => undefined };
  }
  const cfg = loadConfig({ ...process.env, DATABASE_URL: PG_URL, ENV_FILE: path.join(tmp, 'none') });
  const admin = await createDb(cfg.database, { poolMax: 1 });
  await admin.raw(`create schema "${id}"`);
  await admin.destroy();
  const u = new URL(PG_URL);
  u.searchParams.set('schema', id);
  return {
    url: u.toString(),
    drop: async () => {
      const a = await createDb(cfg.database, { poolMax: 1 });
      await a.raw(`drop schema if exists "${id}" cascade`);
      await a.destroy();
    },
  };
}

let E = Date.UTC(2026, 5, 1);
function otu(i, c, X, p) {
  E += 1;
  return { e: 'ORDER_TRADE_UPDATE', E, T: E - 3, o: { s: 'SOLUSDT', c, S: 'BUY', o: 'LIMIT', f: 'GTC', q: '12.5', p, ap: p, sp: '0', x: 'TRADE', X, i, l: '1', z: '1', L: p, N: 'USDT', n: '0', T: E - 3, t: E, b: '0', a: '0', m: false, R: false, wt: 'CONTRACT_PRICE', ot: 'LIMIT', ps: 'BOTH', cp: false, rp: '0', pP: false, si: 0, ss: 0, V: 'EXPIRE_MAKER', pm: 'NONE', gtd: 0 } };
}

/** 50 accounts × 4 orders, and FRAMES distinct frames cycling over them (PARTIALLY_FILLED, FILLED last). */
async function fixtures(db, tag) {
  const now = new Date();
  const frames = [];
  const orders = [];
  for (let a = 0; a < 50; a++) {
    const accountId = await insertId(db, 'accounts', { name: `${tag}-${a}`, is_active: true, on_hedge_mode: false, created_at: now, updated_at: now });
    const positionId = await insertId(db, 'positions', { account_id: accountId, parsed_trading_pair: 'SOLUSDT', direction: 'LONG', status: 'active', quantity: '10', created_at: now, updated_at: now });
    for (let k = 0; k < 4; k++) {
      const ex = `${tag.length}${accountId}0${k}`;
      const c = `k-${tag}-${accountId}-${k}`;
      await db('orders').insert({ position_id: positionId, uuid: crypto.randomUUID(), client_order_id: c, exchange_order_id: ex, type: 'LIMIT', side: 'BUY', position_side: 'BOTH', status: 'NEW', reference_status: 'NEW', price: '100', quantity: '12.5', reference_price: '100', reference_quantity: '12.5', reduce_only: false, created_at: now, updated_at: now });
      orders.push({ accountId, ex, c });
    }
  }
  for (let n = 0; n < FRAMES; n++) {
    const o = orders[n % orders.length];
    const last = n >= FRAMES - orders.length;
    frames.push({ accountId: o.accountId, payload: otu(o.ex, o.c, last ? 'FILLED' : 'PARTIALLY_FILLED', String(100 + (n % 7))) });
  }
  return frames;
}

async function enqueue(queues, frames) {
  const by = new Map();
  for (const f of frames) {
    const q = userDataQueueFor(f.accountId, 5);
    if (!by.has(q)) by.set(q, []);
    by.get(q).push({ name: 'ProcessUserDataEvent', data: { accountId: f.accountId, payload: f.payload, receivedAt: Date.now(), apiSystem: 'binance' }, opts: { attempts: 5, backoff: { type: 'fixed', delay: 10_000 }, removeOnComplete: true } });
  }
  for (const [q, jobs] of by) for (let i = 0; i < jobs.length; i += 1000) await (await queues.queue(q)).addBulk(jobs.slice(i, i + 1000));
}

const rows = async (db) => Number((await db('api_data_stream').count({ n: '*' }).first()).n);

async function runBare(ctx, frames) {
  const base = await rows(ctx.db);
  await enqueue(ctx.queues, frames);
  const { Worker } = await import('bullmq');
  const log = createLogger('bench', {}, { write: () => undefined });
  const wctx = { config: ctx.config, db: ctx.db, redis: ctx.redis, redisPrefix: ctx.config.redis.prefix, clock: systemClock, log, hostname: 'bench', queues: ctx.queues, signal: new AbortController().signal, afterFinished: () => undefined };
  const t0 = performance.now();
  const workers = allUserDataQueues(5).map((q) => new Worker(q, (job) => processUserDataJob(job, wctx), { ...ctx.queues.baseOptions(), concurrency: 1 }));
  await until('bare drained', async () => (await rows(ctx.db)) - base >= frames.length);
  const ms = performance.now() - t0;
  await Promise.all(workers.map((w) => w.close()));
  return ms;
}

async function runHorizon(ctx, frames, processes) {
  const cfgFile = path.join(tmp, `hz-${processes}.json`);
  fs.writeFileSync(cfgFile, JSON.stringify({ supervisors: [{ name: 'user-data', only: true, processes }] }));
  const child = spawn('node', [artisan, 'horizon'], { cwd: root, env: cleanEnv({ ...ctx.env, HORIZON_CONFIG: cfgFile }), stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    const prefix = ctx.config.redis.prefix;
    await until('shards held', async () => {
      const m = (await readMasters(ctx.redis, prefix))[0];
      const held = (m?.supervisors[0]?.processes ?? []).flatMap((p) => p.queues ?? []);
      return held.length === 5 && m.supervisors[0].processes.length === processes;
    }, 300_000, 200);
    await sendCommand(ctx.redis, prefix, 'pause', null, new Date());
    await until('paused', async () => (await readMasters(ctx.redis, prefix))[0]?.status === 'paused', 30_000, 50);
    await sleep(1500);
    const base = await rows(ctx.db);
    await enqueue(ctx.queues, frames);
    const t0 = performance.now();
    await sendCommand(ctx.redis, prefix, 'continue', null, new Date());
    await until('drained', async () => (await rows(ctx.db)) - base >= frames.length);
    return performance.now() - t0;
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

const results = [];
for (const kind of DBS) {
  const iso = await isolatedDb(kind);
  const prefix = `bench-hz-${crypto.randomBytes(3).toString('hex')}`;
  const env = { ENV_FILE: path.join(tmp, 'none'), APP_ENV: 'testing', DATABASE_URL: iso.url, REDIS_PREFIX: prefix, LOG_LEVEL: 'warn', STORAGE_PATH: path.join(tmp, 'storage') };
  fs.mkdirSync(env.STORAGE_PATH, { recursive: true });
  const config = loadConfig({ ...process.env, ...env });
  const db = await createDb(config.database);
  await migrateLatest(db);
  const redis = await connectRedis(config.redis, 'daemon');
  const queues = new QueueFactory({ prefix, connection: redis });
  const ctx = { env, config, db, redis, queues };
  try {
    const bare = await runBare(ctx, await fixtures(db, 'bare'));
    const one = await runHorizon(ctx, await fixtures(db, 'one'), 1);
    const five = await runHorizon(ctx, await fixtures(db, 'five'), 5);
    const rate = (ms) => Math.round((FRAMES / ms) * 1000);
    const r = { db: kind, frames: FRAMES, bare: rate(bare), one: rate(one), five: rate(five) };
    r.five_vs_bare = +(r.five / r.bare).toFixed(2);
    r.five_vs_one = +(r.five / r.one).toFixed(2);
    results.push(r);
    console.log(`[${kind}] ${FRAMES} frames: bare BullMQ ×5 workers ${r.bare}/s · horizon 1 proc ${r.one}/s · horizon 5 procs ${r.five}/s · 5 procs / bare = ${r.five_vs_bare} · 5 / 1 = ${r.five_vs_one}`);
  } finally {
    await queues.close();
    for (const pattern of [`${prefix}:*`, `{${prefix}}:*`]) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await redis.unlink(...keys);
      } while (cursor !== '0');
    }
    await closeRedis(redis);
    await db.destroy();
    await iso.drop();
  }
}
fs.rmSync(tmp, { recursive: true, force: true });
console.log(JSON.stringify({ load_avg: os.loadavg().map((x) => +x.toFixed(1)), results }));
