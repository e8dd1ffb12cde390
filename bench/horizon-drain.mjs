#!/usr/bin/env node
// bench/horizon-drain: drain rate of user-data frames with their DB writes, on PostgreSQL and SQLite, in one run.
//
// Cases (each on its own fresh set of FRAMES frames, the same shape):
//   bare-insert  5 bare BullMQ Workers in this process (one per shard, concurrency 1), each job = ONE INSERT
//                into api_data_stream (applyUserDataFrames record-only: the insert, no order mirror);
//   bare-job     the same 5 bare Workers, each job = the full per-frame processor (insert + order mirror,
//                one transaction per frame) — what horizon did before batching;
//   horizon-1    `bin/artisan horizon`, 1 process holding the 5 shards, batching consumer (BATCH, default 200);
//   horizon-5    `bin/artisan horizon`, 5 processes, one shard each (the production shape).
// Frames: ORDER_TRADE_UPDATE frames of ACCOUNTS accounts × 4 seeded orders (NEW amendments, PARTIALLY_FILLED,
// then FILLED last), every frame distinct. Horizon is started, waits paused, the frames are enqueued, the clock
// runs from `continue` until api_data_stream holds every frame. Afterwards every order must be FILLED and the
// shards empty. Target (issue 6): horizon-5 on PostgreSQL ≥ 2,000 frames/s and ≥ 0.6 × the bare worker.
//
// Env: FRAMES (20000), ACCOUNTS (100), BATCH (200), DBS (postgres,sqlite), CASES (all four), PG_URL.
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
const FRAMES = Number(process.env.FRAMES ?? 20_000);
const ACCOUNTS = Number(process.env.ACCOUNTS ?? 100);
const BATCH = Number(process.env.BATCH ?? 200);
const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DBS = (process.env.DBS ?? 'postgres,sqlite').split(',');
const CASES = (process.env.CASES ?? 'bare-insert,bare-job,horizon-1,horizon-5').split(',');
const SHARDS = 5;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'athena-bench-drain-'));

const { loadConfig } = await dist('config/index.js');
const { createDb } = await dist('db/connection.js');
const { migrateLatest } = await dist('db/migrator.js');
const { connectRedis, closeRedis } = await dist('redis/connection.js');
const { QueueFactory } = await dist('queue/queues.js');
const { userDataQueueFor, allUserDataQueues } = await dist('queue/user-data.js');
const { sendCommand, readMasters } = await dist('horizon/control.js');
const { applyUserDataFrames, DEFAULT_APPLY_EXECUTION_TYPES } = await dist('queue/user-data/apply.js');
const { createLogger } = await dist('support/log.js');
const { systemClock } = await dist('support/clock.js');
const { insertId } = await dist('db/helpers.js');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, fn, timeoutMs = 600_000, every = 25) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn()) return;
    await sleep(every);
  }
  throw new Error(`timed out: ${what}`);
}

async function isolatedDb(kind) {
  const id = `bench_drain_${crypto.randomBytes(4).toString('hex')}`;
  if (kind === 'sqlite') return { url: `sqlite:${path.join(tmp, `${id}.sqlite`)}`, drop: async () => undefined };
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
function otu(i, c, x, X, p, z) {
  E += 1;
  return { e: 'ORDER_TRADE_UPDATE', E, T: E - 3, o: { s: 'SOLUSDT', c, S: 'BUY', o: 'LIMIT', f: 'GTC', q: '12.5', p, ap: X === 'NEW' ? '0' : p, sp: '0', x, X, i, l: '0.1', z, L: p, N: 'USDT', n: '0', T: E - 3, t: E, b: '0', a: '0', m: false, R: false, wt: 'CONTRACT_PRICE', ot: 'LIMIT', ps: 'BOTH', cp: false, rp: '0', pP: false, si: 0, ss: 0, V: 'EXPIRE_MAKER', pm: 'NONE', gtd: 0 } };
}

/** ACCOUNTS accounts × 4 orders; FRAMES distinct frames cycling over the orders, FILLED last. */
async function fixtures(db, tag) {
  const now = new Date();
  const orders = [];
  for (let a = 0; a < ACCOUNTS; a++) {
    const accountId = await insertId(db, 'accounts', { name: `${tag}-${a}`, is_active: true, on_hedge_mode: false, created_at: now, updated_at: now });
    const positionId = await insertId(db, 'positions', { account_id: accountId, parsed_trading_pair: 'SOLUSDT', direction: 'LONG', status: 'active', quantity: '10', created_at: now, updated_at: now });
    const rows = [];
    for (let k = 0; k < 4; k++) {
      const ex = `9${accountId}0${k}`;
      const c = `k-${tag}-${accountId}-${k}`;
      rows.push({ position_id: positionId, uuid: crypto.randomUUID(), client_order_id: c, exchange_order_id: ex, type: 'LIMIT', side: 'BUY', position_side: 'BOTH', status: 'NEW', reference_status: 'NEW', price: '100', quantity: '12.5', reference_price: '100', reference_quantity: '12.5', reduce_only: false, created_at: now, updated_at: now });
      orders.push({ accountId, ex, c });
    }
    await db('orders').insert(rows);
  }
  const frames = [];
  for (let n = 0; n < FRAMES; n++) {
    const o = orders[n % orders.length];
    const last = n >= FRAMES - orders.length;
    const round = Math.floor(n / orders.length);
    const payload = last ? otu(o.ex, o.c, 'TRADE', 'FILLED', '101', '12.5') : round % 3 === 0 ? otu(o.ex, o.c, 'AMENDMENT', 'NEW', String(100 + (round % 7))) : otu(o.ex, o.c, 'TRADE', 'PARTIALLY_FILLED', String(100 + (round % 7)), '1');
    frames.push({ accountId: o.accountId, payload });
  }
  return { frames, accounts: [...new Set(orders.map((o) => o.accountId))] };
}

async function enqueue(queues, frames) {
  const by = new Map();
  for (const f of frames) {
    const q = userDataQueueFor(f.accountId, SHARDS);
    if (!by.has(q)) by.set(q, []);
    by.get(q).push({ name: 'ProcessUserDataEvent', data: { accountId: f.accountId, payload: f.payload, receivedAt: Date.now(), apiSystem: 'binance' }, opts: { attempts: 5, backoff: { type: 'fixed', delay: 10_000 } } });
  }
  for (const [q, jobs] of by) for (let i = 0; i < jobs.length; i += 1000) await (await queues.queue(q)).addBulk(jobs.slice(i, i + 1000));
}

const rows = async (db) => Number((await db('api_data_stream').count({ n: '*' }).first()).n);

async function backlog(queues) {
  let n = 0;
  for (const q of allUserDataQueues(SHARDS)) {
    const c = await (await queues.queue(q)).getJobCounts('wait', 'active');
    n += (c.wait ?? 0) + (c.active ?? 0);
  }
  return n;
}

async function check(ctx, set, recordOnly) {
  await until('the shards acknowledged', async () => (await backlog(ctx.queues)) === 0, 60_000, 100);
  if (recordOnly) return 'record-only';
  const bad = await ctx.db('orders').join('positions', 'positions.id', 'orders.position_id').whereIn('positions.account_id', set.accounts).whereNot('orders.status', 'FILLED').count({ n: '*' }).first();
  if (Number(bad.n) !== 0) throw new Error(`${bad.n} orders not FILLED after the drain`);
  return 'orders FILLED';
}

async function runBare(ctx, set, recordOnly) {
  const base = await rows(ctx.db);
  await enqueue(ctx.queues, set.frames);
  const { Worker } = await import('bullmq');
  const log = createLogger('bench', {}, { write: () => undefined });
  const deps = { clock: systemClock, log, redis: ctx.redis, redisPrefix: ctx.config.redis.prefix, applyExecutionTypes: recordOnly ? [] : DEFAULT_APPLY_EXECUTION_TYPES };
  const t0 = performance.now();
  const workers = allUserDataQueues(SHARDS).map(
    (q) =>
      new Worker(
        q,
        async (job) => {
          const [r] = await applyUserDataFrames(ctx.db, [job.data], deps);
          return r.recorded;
        },
        { ...ctx.queues.baseOptions(), concurrency: 1 },
      ),
  );
  await until('bare drained', async () => (await rows(ctx.db)) - base >= set.frames.length);
  const ms = performance.now() - t0;
  const note = await check(ctx, set, recordOnly);
  await Promise.all(workers.map((w) => w.close()));
  return { ms, note };
}

/** Send a broadcast command until the master's state shows its effect (a master that was still starting may skip one). */
async function command(ctx, cmd, status) {
  const prefix = ctx.config.redis.prefix;
  for (let i = 0; i < 12; i++) {
    await sendCommand(ctx.redis, prefix, cmd, null, new Date());
    try {
      return await until(cmd, async () => (await readMasters(ctx.redis, prefix))[0]?.status === status, 5000, 20);
    } catch {
      console.error(`[bench] ${cmd}: no effect within 5 s; sending it again`);
    }
  }
  throw new Error(`horizon never became ${status}`);
}

async function runHorizon(ctx, set, processes) {
  const cfgFile = path.join(tmp, `hz-${processes}.json`);
  fs.writeFileSync(cfgFile, JSON.stringify({ supervisors: [{ name: 'user-data', only: true, processes, batchSize: BATCH }] }));
  const child = spawn('node', [artisan, 'horizon'], { cwd: root, env: cleanEnv({ ...ctx.env, HORIZON_CONFIG: cfgFile }), stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    const prefix = ctx.config.redis.prefix;
    await until('shards held', async () => {
      const m = (await readMasters(ctx.redis, prefix))[0];
      const held = (m?.supervisors[0]?.processes ?? []).flatMap((p) => p.queues ?? []);
      return held.length === SHARDS && m.supervisors[0].processes.length === processes;
    }, 300_000, 200);
    await command(ctx, 'pause', 'paused');
    await sleep(1500);
    const base = await rows(ctx.db);
    await enqueue(ctx.queues, set.frames);
    const t0 = performance.now();
    await command(ctx, 'continue', 'running');
    await until('drained', async () => (await rows(ctx.db)) - base >= set.frames.length);
    const ms = performance.now() - t0;
    return { ms, note: await check(ctx, set, false) };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

const results = [];
for (const kind of DBS) {
  const iso = await isolatedDb(kind);
  const prefix = `bench-drain-${crypto.randomBytes(3).toString('hex')}`;
  const env = { ENV_FILE: path.join(tmp, 'none'), APP_ENV: 'testing', DATABASE_URL: iso.url, REDIS_PREFIX: prefix, LOG_LEVEL: 'warn', STORAGE_PATH: path.join(tmp, 'storage'), USER_DATA_SHARDS: String(SHARDS) };
  fs.mkdirSync(env.STORAGE_PATH, { recursive: true });
  const config = loadConfig({ ...process.env, ...env });
  const db = await createDb(config.database);
  await migrateLatest(db);
  const redis = await connectRedis(config.redis, 'daemon');
  const queues = new QueueFactory({ prefix, connection: redis });
  const ctx = { env, config, db, redis, queues };
  const r = { db: kind, frames: FRAMES, accounts: ACCOUNTS, batch: BATCH };
  try {
    for (const c of CASES) {
      const set = await fixtures(db, `${c}-${kind}`);
      const run = c === 'bare-insert' ? await runBare(ctx, set, true) : c === 'bare-job' ? await runBare(ctx, set, false) : await runHorizon(ctx, set, Number(c.split('-')[1]));
      r[c] = Math.round((FRAMES / run.ms) * 1000);
      console.log(`[${kind}] ${c}: ${FRAMES} frames in ${(run.ms / 1000).toFixed(1)} s = ${r[c]} frames/s (${run.note})`);
    }
    if (r['horizon-5'] && r['bare-insert']) r['h5/bare-insert'] = +(r['horizon-5'] / r['bare-insert']).toFixed(2);
    if (r['horizon-5'] && r['bare-job']) r['h5/bare-job'] = +(r['horizon-5'] / r['bare-job']).toFixed(2);
    if (r['horizon-5'] && r['horizon-1']) r['h5/h1'] = +(r['horizon-5'] / r['horizon-1']).toFixed(2);
    results.push(r);
    console.log(`[${kind}] ${JSON.stringify(r)}`);
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
console.log(JSON.stringify({ load_avg: os.loadavg().map((x) => +x.toFixed(1)), cpus: os.cpus().length, results }));
