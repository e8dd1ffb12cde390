#!/usr/bin/env node
// Benchmarks of the Binance stream daemons (run after `npm run build`):
//
//   node bench/streams.mjs [latency] [flush] [cpu]      (default: all three)
//
// 1. latency: frame → queue. The simulator (its own process, --bench-stamps) pushes ORDER_TRADE_UPDATE
//    frames over 100 accounts; the latency of a frame is the Redis time of its BullMQ "added" event (the
//    XADD id on the queue's events stream) minus the simulator's send time (_simSentAt). The daemon
//    (kraite:stream-binance-user-data, its own process) and a bare ws → BullMQ add loop (streams-bare.mjs,
//    its own process, 100 other accounts) are measured in alternating phases of the same run.
// 2. flush: one mark-price flush of 2,000 symbols, batched UPDATE … CASE vs one UPDATE per symbol,
//    interleaved, on SQLite and on PostgreSQL (and MySQL when reachable).
// 3. cpu: steady-state CPU of each daemon: 100 quiet accounts; a 2,000-symbol mark-price stream at 1 Hz.
//
// Uses the Redis of REDIS_URL (default 127.0.0.1:6379) under a throw-away prefix it deletes afterwards, a
// temporary SQLite file, and a temporary schema/database on the PostgreSQL/MySQL test servers.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { cleanEnv, fmt, stats } from './lib.mjs';

const require = createRequire(import.meta.url);
const IORedis = require('ioredis');
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ARTISAN = path.join(ROOT, 'bin', 'artisan');
const dist = (p) => import(path.join(ROOT, 'dist', p));

const { createDb } = await dist('db/connection.js');
const { parseDatabaseUrl } = await dist('db/url.js');
const { migrateLatest } = await dist('db/migrator.js');
const { createAccount } = await dist('db/repositories/accounts.js');
const { demoCredentials } = await dist('db/seed/demo-data.js');
const { generateAppKey } = await dist('crypto/secrets.js');
const { writeMarkPrices, writeMarkPricesCase, writeMarkPricesRowByRow } = await dist('db/repositories/mark-prices.js');
const { normalizeDecimal } = await dist('support/decimal.js');

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MYSQL_URL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const SHARDS = 5;
const ACCOUNTS = 100;
const parts = process.argv.slice(2).length ? process.argv.slice(2) : ['latency', 'flush', 'cpu'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const CLK_TCK = 100;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

/** CPU seconds (user + system) of a process, from /proc. */
function cpuSeconds(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

function startChild(args, env, readyRe) {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const ready = new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (readyRe.test(out)) {
        clearInterval(timer);
        resolve();
      }
    }, 20);
    child.once('exit', (code) => {
      clearInterval(timer);
      if (readyRe.test(out)) resolve();
      else reject(new Error(`${args.slice(1).join(' ')} exited ${code}: ${err.slice(-2000)}`));
    });
  });
  ready.catch(() => undefined); // callers that never await readiness must not crash the run when the child stops
  return { child, ready, output: () => out, errors: () => err };
}

async function stopChild(c) {
  if (c.child.exitCode !== null) return;
  const done = new Promise((r) => c.child.once('exit', r));
  c.child.kill('SIGTERM');
  await Promise.race([done, sleep(10_000)]);
  if (c.child.exitCode === null) c.child.kill('SIGKILL');
}

async function deletePrefix(redis, prefix) {
  for (const pattern of [`${prefix}:*`, `{${prefix}}:*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  }
}

// ---------------------------------------------------------------------------------------------------
// 1 and 3: the daemons against a simulator process
// ---------------------------------------------------------------------------------------------------

async function setupBox() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'athena-bench-streams-'));
  const prefix = `bench-${crypto.randomBytes(4).toString('hex')}`;
  const appKey = generateAppKey();
  const dbUrl = `sqlite:${path.join(tmp, 'bench.sqlite')}`;
  const db = await createDb(parseDatabaseUrl(dbUrl));
  await migrateLatest(db);
  const key = Buffer.from(appKey.slice(7), 'base64');
  const simAccounts = [];
  const bareAccounts = [];
  for (let k = 1; k <= ACCOUNTS; k++) {
    const c = demoCredentials(5000 + k);
    const id = await createAccount(db, key, { name: `Bench ${k}`, apiKey: c.apiKey, apiSecret: c.apiSecret });
    simAccounts.push({ ...c, label: id });
    const b = demoCredentials(9000 + k);
    bareAccounts.push({ ...b, label: 1000 + k });
  }
  await db.destroy();
  fs.writeFileSync(path.join(tmp, 'sim-accounts.json'), JSON.stringify([...simAccounts, ...bareAccounts]));
  fs.writeFileSync(path.join(tmp, 'bare-accounts.json'), JSON.stringify(bareAccounts));
  const port = await freePort();
  const env = {
    APP_ENV: 'testing',
    ENV_FILE: path.join(tmp, 'no-env'),
    STORAGE_PATH: tmp,
    DATABASE_URL: dbUrl,
    REDIS_URL,
    REDIS_PREFIX: prefix,
    APP_KEY: appKey,
    LOG_LEVEL: 'error',
    USER_DATA_SHARDS: String(SHARDS),
    BINANCE_REST_URL: `http://127.0.0.1:${port}`,
    BINANCE_WS_URL: `ws://127.0.0.1:${port}`,
  };
  const sim = startChild([ARTISAN, 'kraite:simulate-binance', `--port=${port}`, '--demo-accounts=0', `--accounts-file=${path.join(tmp, 'sim-accounts.json')}`, '--bench-stamps', '--symbols=2000'], env, /listening/);
  await sim.ready;
  const redis = new IORedis(REDIS_URL);
  return {
    tmp,
    prefix,
    env,
    sim,
    redis,
    restUrl: env.BINANCE_REST_URL,
    wsUrl: env.BINANCE_WS_URL,
    daemonLabels: simAccounts.map((a) => a.label),
    bareLabels: bareAccounts.map((a) => a.label),
    async control(method, route, body) {
      const res = await fetch(`${env.BINANCE_REST_URL}/_sim/${route}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      const json = await res.json();
      if (!res.ok) throw new Error(`${route}: ${JSON.stringify(json)}`);
      return json;
    },
    async close() {
      await stopChild(sim);
      await deletePrefix(redis, prefix);
      await redis.quit();
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}

async function heartbeat(box, daemon) {
  const keys = await box.redis.keys(`${box.prefix}:heartbeat:${daemon}:*`);
  return keys.length ? JSON.parse(await box.redis.get(keys[0])) : {};
}

async function connections(box, labels) {
  const state = await box.control('GET', 'state');
  return labels.filter((l) => state.accounts[l]?.connections > 0).length;
}

async function waitConnected(box, labels, what) {
  const end = Date.now() + 120_000;
  while ((await connections(box, labels)) < labels.length) {
    if (Date.now() > end) throw new Error(`timed out connecting ${what}`);
    await sleep(200);
  }
}

/** Latencies (ms) of the frames sent in [from, to], read from the queues' events streams and job hashes. */
async function latencies(box, queueBase, from, to) {
  const out = [];
  let added = 0;
  for (let s = 0; s < SHARDS; s++) {
    const q = `{${box.prefix}}:${queueBase}-${s}`;
    const entries = await box.redis.xrange(`${q}:events`, `${Math.floor(from)}-0`, '+');
    const adds = entries
      .map(([id, kv]) => ({ at: Number(id.split('-')[0]), f: Object.fromEntries(kv.reduce((acc, v, i, a) => (i % 2 === 0 ? [...acc, [v, a[i + 1]]] : acc), [])) }))
      .filter((e) => e.f.event === 'added');
    const pipe = box.redis.pipeline();
    for (const e of adds) pipe.hget(`${q}:${e.f.jobId}`, 'data');
    const res = await pipe.exec();
    adds.forEach((e, i) => {
      const data = res[i][1] ? JSON.parse(res[i][1]) : null;
      const sent = data?.payload?._simSentAt;
      if (typeof sent === 'number' && sent >= from && sent <= to) {
        // The stream id has whole milliseconds (floor): take the middle of that millisecond (±0.5 ms).
        out.push(e.at + 0.5 - sent);
        added++;
      }
    });
    await box.redis.unlink(`${q}:events`);
  }
  return { samples: out, added };
}

async function obliterate(box, queueBase) {
  // Drop the jobs between phases so Redis stays small (prefix-scoped, never FLUSHDB).
  for (let s = 0; s < SHARDS; s++) {
    let cursor = '0';
    do {
      const [next, keys] = await box.redis.scan(cursor, 'MATCH', `{${box.prefix}}:${queueBase}-${s}:*`, 'COUNT', 5000);
      cursor = next;
      if (keys.length) await box.redis.unlink(...keys);
    } while (cursor !== '0');
  }
}

async function phase(box, kind, rate, warmMs, measureMs, pid) {
  const labels = kind === 'daemon' ? box.daemonLabels : box.bareLabels;
  const queueBase = kind === 'daemon' ? 'user-data-stream' : 'bare-user-data';
  await obliterate(box, queueBase);
  const start = Date.now();
  await box.control('POST', 'load', { rate, durationMs: warmMs + measureMs, accounts: labels, tickMs: 2 });
  await sleep(warmMs);
  const cpu0 = cpuSeconds(pid);
  const t0 = Date.now();
  await sleep(measureMs);
  const cpu1 = cpuSeconds(pid);
  const t1 = Date.now();
  let state;
  do {
    await sleep(100);
    state = (await box.control('GET', 'state')).load;
  } while (state.running);
  await sleep(1500); // let the tail drain
  const { samples } = await latencies(box, queueBase, start + warmMs, start + warmMs + measureMs);
  const sentRate = state.sent / ((state.endedAt - state.startedAt) / 1000);
  const st = stats(samples);
  const expected = Math.round((measureMs / 1000) * rate);
  return { kind, rate, sentRate, frames: samples.length, expected, complete: samples.length / expected, p50: st.p50, p99: st.p99, max: samples.length ? Math.max(...samples) : NaN, cpu: ((cpu1 - cpu0) / ((t1 - t0) / 1000)) * 100 };
}

async function benchLatency() {
  console.log('\n## 1. Frame → queue latency (simulator send → job in Redis), 100 accounts each\n');
  const box = await setupBox();
  const daemon = startChild([ARTISAN, 'kraite:stream-binance-user-data', '--stagger-ms=5'], box.env, /$^/);
  const bare = startChild([path.join(ROOT, 'bench', 'streams-bare.mjs'), box.restUrl, box.wsUrl, REDIS_URL, box.prefix, path.join(box.tmp, 'bare-accounts.json'), String(SHARDS)], box.env, /ready/);
  try {
    await bare.ready;
    await waitConnected(box, box.daemonLabels, 'the daemon');
    await waitConnected(box, box.bareLabels, 'the bare loop');
    await sleep(2000);
    const ROUNDS = 6;
    console.log(`Steady 2,000 frames/s: ${ROUNDS} alternating rounds of 4 s per side (after 1 s warm-up each); load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    const agg = { daemon: [], bare: [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const kind of round % 2 === 0 ? ['daemon', 'bare'] : ['bare', 'daemon']) {
        agg[kind].push(await phase(box, kind, 2000, 1000, 4000, kind === 'daemon' ? daemon.child.pid : bare.child.pid));
      }
    }
    const summary = (kind) => {
      const list = agg[kind];
      const p99s = list.map((r) => r.p99).sort((x, y) => x - y);
      return { p50: stats(list.map((r) => r.p50)).p50, p99: stats(p99s).p50, best: p99s[0], worst: p99s.at(-1), cpu: stats(list.map((r) => r.cpu)).p50, complete: Math.min(...list.map((r) => r.complete)) };
    };
    const d = summary('daemon');
    const b = summary('bare');
    for (const [name, x] of [['daemon', d], ['bare  ', b]]) {
      console.log(`  ${name}: p50 ${fmt(x.p50)} ms, p99 ${fmt(x.p99)} ms (median of rounds; best ${fmt(x.best)}, worst ${fmt(x.worst)}), CPU ${fmt(x.cpu)} % of a core, ≥ ${fmt(x.complete * 100)} % of the frames`);
    }
    console.log(`  ratio daemon/bare: p50 ${fmt(d.p50 / b.p50)}×, p99 ${fmt(d.p99 / b.p99)}×, CPU ${fmt(d.cpu / b.cpu)}×`);
    console.log(`  daemon event-loop delay, last 30 s heartbeat window: ${JSON.stringify((await heartbeat(box, 'stream-user-data')).event_loop_delay_ms)} ms`);

    console.log('\nRamp: per step, two alternating 3 s windows per side (1 s warm-up each); a side passes a step when the');
    console.log('better window has p99 ≤ 100 ms with ≥ 98 % of the frames (one window may be hit by the shared machine):');
    console.log('  rate/s   kind    sent/s   p50 ms   p99 ms (both windows)   complete   CPU %');
    const max = { daemon: 0, bare: 0 };
    const alive = { daemon: true, bare: true };
    for (const rate of [2000, 4000, 6000, 8000, 10000, 12000, 16000, 20000]) {
      const res = { daemon: [], bare: [] };
      for (const order of [['daemon', 'bare'], ['bare', 'daemon']]) {
        for (const kind of order) if (alive[kind]) res[kind].push(await phase(box, kind, rate, 1000, 3000, kind === 'daemon' ? daemon.child.pid : bare.child.pid));
      }
      for (const kind of ['daemon', 'bare']) {
        if (!alive[kind]) continue;
        const best = [...res[kind]].sort((x, y) => x.p99 - y.p99)[0];
        console.log(`  ${String(rate).padStart(6)}   ${kind.padEnd(6)}  ${fmt(best.sentRate).padStart(7)}  ${fmt(best.p50).padStart(7)}  ${res[kind].map((r) => fmt(r.p99)).join(' / ').padStart(22)}  ${fmt(best.complete * 100).padStart(7)} %  ${fmt(best.cpu).padStart(6)}`);
        if (best.p99 <= 100 && best.complete >= 0.98 && best.sentRate >= rate * 0.9) max[kind] = Math.round(best.sentRate);
        else alive[kind] = false;
      }
      if (!alive.daemon && !alive.bare) break;
    }
    console.log(`  highest sustained rate with p99 ≤ 100 ms: daemon ${max.daemon}/s, bare ${max.bare}/s (ratio ${fmt(max.daemon / max.bare)}×)${alive.daemon && alive.bare ? ' — the simulator ran out before either did' : ''}`);
    return { d, b, max };
  } finally {
    await stopChild(daemon);
    await stopChild(bare);
    await box.close();
  }
}

async function benchCpu() {
  console.log('\n## 3. Steady-state CPU (% of one core, 30 s windows)\n');
  const box = await setupBox();
  try {
    const daemon = startChild([ARTISAN, 'kraite:stream-binance-user-data', '--stagger-ms=5'], box.env, /$^/);
    try {
      await waitConnected(box, box.daemonLabels, 'the daemon');
      await sleep(5000);
      const c0 = cpuSeconds(daemon.child.pid);
      const s0 = cpuSeconds(box.sim.child.pid);
      await sleep(30_000);
      const c1 = cpuSeconds(daemon.child.pid);
      const s1 = cpuSeconds(box.sim.child.pid);
      console.log(`  kraite:stream-binance-user-data, 100 quiet accounts (own pings every 30 s): ${fmt(((c1 - c0) / 30) * 100)} %  (simulator: ${fmt(((s1 - s0) / 30) * 100)} %)`);
    } finally {
      await stopChild(daemon);
    }
    const refresh = startChild([ARTISAN, 'kraite:cron-refresh-exchange-symbols'], box.env, /symbols listed/);
    await refresh.ready;
    const prices = startChild([ARTISAN, 'kraite:stream-binance-prices'], box.env, /$^/);
    try {
      const end = Date.now() + 60_000;
      for (;;) {
        const beat = await heartbeat(box, 'stream-prices');
        if (beat.flushes > 2) break;
        if (Date.now() > end) throw new Error(`the price daemon did not flush: ${prices.errors().slice(-500)}`);
        await sleep(500);
      }
      await sleep(3000);
      const c0 = cpuSeconds(prices.child.pid);
      const s0 = cpuSeconds(box.sim.child.pid);
      await sleep(30_000);
      const c1 = cpuSeconds(prices.child.pid);
      const s1 = cpuSeconds(box.sim.child.pid);
      const beat = await heartbeat(box, 'stream-prices');
      console.log(`  kraite:stream-binance-prices, 2,000 symbols at 1 Hz, SQLite, 1 flush/s: ${fmt(((c1 - c0) / 30) * 100)} %  (last flush ${beat.last_flush_ms} ms; simulator: ${fmt(((s1 - s0) / 30) * 100)} %)`);
    } finally {
      await stopChild(prices);
    }
  } finally {
    await box.close();
  }
}

// ---------------------------------------------------------------------------------------------------
// 2: mark-price flush, batched vs row by row
// ---------------------------------------------------------------------------------------------------

async function flushTarget(kind) {
  if (kind === 'sqlite') {
    const file = path.join(os.tmpdir(), `athena-bench-flush-${crypto.randomBytes(4).toString('hex')}.sqlite`);
    const db = await createDb(parseDatabaseUrl(`sqlite:${file}`));
    return { db, drop: async () => (await db.destroy(), ['', '-wal', '-shm'].forEach((s) => fs.rmSync(file + s, { force: true }))) };
  }
  const base = parseDatabaseUrl(kind === 'pg' ? PG_URL : MYSQL_URL);
  const name = `bench_flush_${crypto.randomBytes(4).toString('hex')}`;
  const admin = await createDb(base, { poolMax: 1 });
  await admin.raw(kind === 'pg' ? `create schema "${name}"` : `create database \`${name}\``);
  await admin.destroy();
  const u = new URL(base.url);
  if (kind === 'pg') u.searchParams.set('schema', name);
  else u.pathname = `/${name}`;
  const db = await createDb(parseDatabaseUrl(u.toString()));
  return {
    db,
    drop: async () => {
      await db.destroy();
      const a = await createDb(base, { poolMax: 1 });
      await a.raw(kind === 'pg' ? `drop schema "${name}" cascade` : `drop database \`${name}\``);
      await a.destroy();
    },
  };
}

async function benchFlushOn(kind, symbols = 2000, runs = 25, chunk = Number(process.env.BENCH_CHUNK ?? 500)) {
  let t;
  try {
    t = await flushTarget(kind);
    await migrateLatest(t.db);
  } catch (err) {
    console.log(`  ${kind}: skipped (${err.message})`);
    return null;
  }
  try {
    const now = new Date();
    const syms = Array.from({ length: symbols }, (_, i) => ({ symbol: `B${i}USDT`, created_at: now, updated_at: now }));
    for (let i = 0; i < syms.length; i += 200) await t.db('exchange_symbols').insert(syms.slice(i, i + 200));
    const ids = (await t.db('exchange_symbols').select('id').orderBy('id')).map((r) => Number(r.id));
    for (let i = 0; i < ids.length; i += 200) await t.db('exchange_symbol_prices').insert(ids.slice(i, i + 200).map((id) => ({ exchange_symbol_id: id, created_at: now, updated_at: now })));
    let base = 100;
    const frame = () => {
      base += 0.01;
      return ids.map((id, i) => ({ id, price: normalizeDecimal((base + i * 0.5).toFixed(4)) }));
    };
    const batched = [];
    const kraiteCase = [];
    const rowByRow = [];
    await writeMarkPrices(t.db, frame(), new Date()); // warm-up
    await writeMarkPricesCase(t.db, frame(), new Date());
    await writeMarkPricesRowByRow(t.db, frame(), new Date());
    const time = async (fn, into) => {
      const rows = frame();
      const t0 = performance.now();
      await fn(t.db, rows, new Date(), chunk);
      into.push(performance.now() - t0);
    };
    for (let r = 0; r < runs; r++) {
      await time(writeMarkPrices, batched);
      await time(writeMarkPricesCase, kraiteCase);
      await time(writeMarkPricesRowByRow, rowByRow);
    }
    const b = stats(batched);
    const c = stats(kraiteCase);
    const rr = stats(rowByRow);
    console.log(`  ${kind.padEnd(6)}  ours (${Math.ceil(symbols / chunk)} × ${chunk}-row UPDATE … JSON join): p50 ${fmt(b.p50)} ms, p99 ${fmt(b.p99)} ms`);
    console.log(`          Kraite's ${Math.ceil(symbols / chunk)} × ${chunk}-row UPDATE … CASE:   p50 ${fmt(c.p50)} ms, p99 ${fmt(c.p99)} ms`);
    console.log(`          one UPDATE per symbol (autocommit):   p50 ${fmt(rr.p50)} ms, p99 ${fmt(rr.p99)} ms`);
    console.log(`          speed-up vs row by row: p50 ${fmt(rr.p50 / b.p50)}×, p99 ${fmt(rr.p99 / b.p99)}×;  vs CASE: p50 ${fmt(c.p50 / b.p50)}×, p99 ${fmt(c.p99 / b.p99)}×`);
    return { b, c, rr };
  } finally {
    await t.drop();
  }
}

async function benchFlush() {
  console.log('\n## 2. Mark-price flush, 2,000 symbols (every price changed), interleaved runs\n');
  await benchFlushOn('sqlite');
  await benchFlushOn('pg', 2000, 15);
  await benchFlushOn('mysql', 2000, 15);
}

console.log(`# bench/streams — ${new Date().toISOString()}, ${os.cpus().length} CPUs, Node ${process.version}`);
if (parts.includes('latency')) await benchLatency();
if (parts.includes('flush')) await benchFlush();
if (parts.includes('cpu')) await benchCpu();
