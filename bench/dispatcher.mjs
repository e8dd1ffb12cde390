#!/usr/bin/env node
// Dispatcher benchmarks (run after `npm run build`):
//   node bench/dispatcher.mjs [throughput] [latency] [idle] [--db=sqlite,pg] [--steps=20000] [--samples=200] [--idle-seconds=60]
// 1. throughput: 20,000 independent pending noop steps dispatched into BullMQ by the daemon's cycle (in
//    process, default options and --max-per-tick=0), against a raw BullMQ addBulk of 20,000 jobs measured in
//    the same run (interleaved rounds, medians), on SQLite and PostgreSQL.
// 2. latency: a daemon process idles; one step is inserted through the Step API and the time until its job
//    is in BullMQ is taken (QueueEvents "added"); p50/p99 over 200 samples.
// 3. idle CPU: the daemon process runs 60 s with no work (after a 20 s warm-up, and also from 3 s after
//    start); utime+stime from /proc/<pid>/stat as % of a core.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cleanEnv, fmt, stats } from './lib.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(root, 'dist', p));
const { loadConfig } = await dist('config/index.js');
const { createDb } = await dist('db/connection.js');
const { migrateLatest } = await dist('db/migrator.js');
const { connectRedis, closeRedis } = await dist('redis/connection.js');
const { QueueFactory } = await dist('queue/queues.js');
const { Steps } = await dist('steps/api.js');
const { DispatchDaemon } = await dist('steps/daemon.js');
const { systemClock } = await dist('support/clock.js');
const { createLogger } = await dist('support/log.js');

const argv = process.argv.slice(2);
const opt = (name, def) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? def;
const which = argv.filter((a) => !a.startsWith('--'));
const run = (name) => which.length === 0 || which.includes(name);
const DBS = opt('db', 'sqlite,pg').split(',');
const N = Number(opt('steps', 20000));
const SAMPLES = Number(opt('samples', 200));
const ROUNDS = Number(opt('rounds', 3));
const IDLE_S = Number(opt('idle-seconds', 60));
const WARMUP_S = Number(opt('warmup-seconds', 20));
const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const silent = createLogger('bench', {}, { write: () => undefined });

async function isolated(kind) {
  const id = `bench_${crypto.randomBytes(4).toString('hex')}`;
  if (kind === 'sqlite') {
    const file = path.join(os.tmpdir(), `athena-${id}.sqlite`);
    return { url: `sqlite:${file}`, drop: async () => ['', '-wal', '-shm'].forEach((s) => fs.rmSync(file + s, { force: true })) };
  }
  const { parseDatabaseUrl } = await dist('db/url.js');
  const admin = await createDb(parseDatabaseUrl(PG_URL), { poolMax: 1 });
  await admin.raw(`create schema "${id}"`);
  await admin.destroy();
  const u = new URL(PG_URL);
  u.searchParams.set('schema', id);
  return {
    url: u.toString(),
    drop: async () => {
      const a = await createDb(parseDatabaseUrl(PG_URL), { poolMax: 1 });
      await a.raw(`drop schema if exists "${id}" cascade`);
      await a.destroy();
    },
  };
}

async function setup(kind, poolMax) {
  const iso = await isolated(kind);
  const prefix = `bench-${crypto.randomBytes(3).toString('hex')}`;
  const env = { ...cleanEnv(), APP_ENV: 'testing', ENV_FILE: '/nonexistent', DATABASE_URL: iso.url, REDIS_PREFIX: prefix, LOG_LEVEL: 'warn', STORAGE_PATH: path.join(os.tmpdir(), `athena-storage-${prefix}`) };
  const config = loadConfig(env);
  const db = await createDb(config.database, { poolMax });
  await migrateLatest(db);
  const redis = await connectRedis(config.redis, 'daemon');
  const queues = new QueueFactory({ prefix, connection: redis });
  return {
    env,
    config,
    db,
    redis,
    queues,
    prefix,
    async close() {
      await queues.close();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `*${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await redis.unlink(...keys);
      } while (cursor !== '0');
      await closeRedis(redis);
      await db.destroy();
      await iso.drop();
      fs.rmSync(env.STORAGE_PATH, { recursive: true, force: true });
    },
  };
}

async function rawAddBulk(s, n, chunk = 500) {
  const q = await s.queues.queue(`raw-${crypto.randomBytes(3).toString('hex')}`);
  const t0 = performance.now();
  for (let i = 0; i < n; i += chunk) {
    const jobs = [];
    for (let k = i; k < Math.min(n, i + chunk); k++) jobs.push({ name: 'noop', data: { stepId: k, prefix: '', retries: 0 }, opts: { jobId: `step:${k}:0`, attempts: 1, removeOnComplete: true, removeOnFail: true } });
    await q.addBulk(jobs);
  }
  const ms = performance.now() - t0;
  await q.obliterate({ force: true });
  return (n / ms) * 1000;
}

async function dispatchAll(s, n, daemonOpts) {
  const steps = new Steps({ db: s.db, clock: systemClock, redis: null }, '');
  for (let i = 0; i < n; i += 1000) await steps.createBlocks(Array.from({ length: Math.min(1000, n - i) }, () => ({ steps: [{ class: 'noop' }] })));
  const daemon = new DispatchDaemon({ config: s.config, db: s.db, redis: s.redis, queues: s.queues, clock: systemClock, log: silent }, { prefixes: [''], ...daemonOpts });
  const t0 = performance.now();
  let dispatched = 0;
  for (let cycles = 0; dispatched < n && cycles < 100000; cycles++) dispatched += (await daemon.cycle()).dispatched;
  const ms = performance.now() - t0;
  if (dispatched !== n) throw new Error(`dispatched ${dispatched} of ${n}`);
  const q = await s.queues.queue('default');
  const counts = await q.getJobCounts('waiting');
  if (counts.waiting !== n) throw new Error(`expected ${n} waiting jobs, found ${counts.waiting}`);
  await q.obliterate({ force: true });
  await s.db('steps').del();
  return (n / ms) * 1000;
}

async function throughput(kind) {
  const s = await setup(kind, 1);
  try {
    const raw = [];
    const dflt = [];
    const p500 = [];
    const uncapped = [];
    for (let round = 0; round < ROUNDS; round++) {
      raw.push(await rawAddBulk(s, N));
      dflt.push(await dispatchAll(s, N, {}));
      p500.push(await dispatchAll(s, N, { maxPerTick: 100 }));
      uncapped.push(await dispatchAll(s, N, { maxPerTick: 0 }));
    }
    const med = (a) => stats(a).p50;
    const r = med(raw);
    const line = (label, v) => console.log(`  ${label.padEnd(42)} ${fmt(med(v)).padStart(8)} steps/s   ratio ${(med(v) / r).toFixed(2)}×   (rounds: ${v.map((x) => Math.round(x)).join(', ')})`);
    console.log(`\n[throughput] ${kind}, ${N} steps, ${ROUNDS} interleaved rounds (median):`);
    console.log(`  ${'raw BullMQ addBulk (500/call)'.padEnd(42)} ${fmt(r).padStart(8)} jobs/s             (rounds: ${raw.map((x) => Math.round(x)).join(', ')})`);
    line('dispatcher, default (--max-per-tick=500)', dflt);
    line("dispatcher, --max-per-tick=100 (Kraite's cap)", p500);
    line('dispatcher, --max-per-tick=0 (no cap)', uncapped);
    return { db: kind, raw: r, default: med(dflt), cap100: med(p500), uncapped: med(uncapped) };
  } finally {
    await s.close();
  }
}

function startDaemon(env, extra = []) {
  const child = spawn(process.execPath, [path.join(root, 'bin', 'artisan'), 'kraite:dispatch-daemon', ...extra], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  child.on('exit', (code) => {
    if (code && code !== 0) console.error(`daemon exited ${code}: ${err.slice(-2000)}`);
  });
  return child;
}

async function waitFor(fn, ms = 15000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('timed out');
}

async function stopDaemon(child) {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

async function latency(kind) {
  const s = await setup(kind, 2);
  const child = startDaemon(s.env);
  try {
    const { QueueEvents } = await import('bullmq');
    const q = await s.queues.queue('default');
    const events = new QueueEvents('default', { connection: s.redis.duplicate(), prefix: `{${s.prefix}}` });
    await events.waitUntilReady();
    const waiting = new Map();
    events.on('added', ({ jobId }) => waiting.get(jobId)?.());
    const steps = new Steps({ db: s.db, clock: systemClock, redis: s.redis, redisPrefix: s.prefix, log: silent }, '');
    // the daemon is up once its heartbeat exists
    await waitFor(async () => (await s.redis.keys(`${s.prefix}:heartbeat:dispatch-daemon:*`)).length > 0);
    const samples = [];
    const inserts = [];
    for (let i = 0; i < SAMPLES + 5; i++) {
      await new Promise((r) => setTimeout(r, 40 + Math.random() * 60)); // let the daemon go idle
      const t0 = performance.now();
      let resolve;
      const seen = new Promise((r) => (resolve = r));
      const block = await steps.createBlock([{ class: 'noop' }]);
      const t1 = performance.now();
      waiting.set(`step:${block.ids[0]}:0`, resolve);
      if (await q.getJob(`step:${block.ids[0]}:0`)) resolve();
      await Promise.race([seen, new Promise((_, rej) => setTimeout(() => rej(new Error('job never appeared')), 10000))]);
      if (i >= 5) {
        samples.push(performance.now() - t0);
        inserts.push(t1 - t0);
      }
    }
    await events.close();
    const st = stats(samples);
    console.log(`\n[latency] ${kind}: insert → job in BullMQ, ${samples.length} samples, daemon idle between samples`);
    console.log(`  p50 ${fmt(st.p50)} ms   p90 ${fmt(st.p90)} ms   p99 ${fmt(st.p99)} ms   max ${fmt(st.n ? Math.max(...samples) : NaN)} ms`);
    const ins = stats(inserts);
    console.log(`  of which the insert itself (Step API, committed + wake signal): p50 ${fmt(ins.p50)} ms, p99 ${fmt(ins.p99)} ms`);
    return { db: kind, ...st };
  } finally {
    await stopDaemon(child);
    await s.close();
  }
}

function cpuTicks(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(parts[11]) + Number(parts[12]); // utime + stime (fields 14, 15)
}

async function idleCpu(kind) {
  const s = await setup(kind, 1);
  const child = startDaemon(s.env);
  try {
    await waitFor(async () => (await s.redis.keys(`${s.prefix}:heartbeat:dispatch-daemon:*`)).length > 0);
    // Two windows: from 3 s after start (includes V8's memory reducer, which compacts the heap once the
    // start-up allocations stop, ~15 s in), and the steady state after WARMUP_S.
    const hz = 100; // USER_HZ on Linux
    await new Promise((r) => setTimeout(r, 3000));
    const e0 = cpuTicks(child.pid);
    const te = performance.now();
    await new Promise((r) => setTimeout(r, Math.max(0, WARMUP_S - 3) * 1000));
    const c0 = cpuTicks(child.pid);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, IDLE_S * 1000));
    const c1 = cpuTicks(child.pid);
    const secs = (performance.now() - t0) / 1000;
    const pct = ((c1 - c0) / hz / secs) * 100;
    const early = ((c1 - e0) / hz / ((performance.now() - te) / 1000)) * 100;
    console.log(`\n[idle CPU] ${kind}: daemon with no work, ${fmt(secs)} s measured after a ${WARMUP_S} s warm-up: ${((c1 - c0) / hz).toFixed(2)} s of CPU = ${pct.toFixed(3)} % of one core (target ≤ 0.5 %)`);
    console.log(`  from 3 s after start (start-up GC included): ${early.toFixed(3)} %`);
    return { db: kind, pct, early };
  } finally {
    await stopDaemon(child);
    await s.close();
  }
}

const results = {};
console.log(`athena dispatcher bench — node ${process.version}, ${os.cpus().length} cores, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
if (run('throughput')) for (const k of DBS) results[`throughput_${k}`] = await throughput(k);
if (run('latency')) for (const k of DBS) results[`latency_${k}`] = await latency(k);
if (run('idle')) for (const k of DBS) results[`idle_${k}`] = await idleCpu(k);
if (argv.includes('--json')) console.log(JSON.stringify(results, null, 2));
process.exit(0);
