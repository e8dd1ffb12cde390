#!/usr/bin/env node
// bench/horizon-e2e (issue 6, benchmark 2): end-to-end latency from a simulator frame to the updated order
// row, at RATE frames/s (default 500) for SECONDS s (default 10). Target: p99 ≤ 50 ms.
//
//   npm run bench:horizon-e2e      (after npm run build; env: RATE=500 SECONDS=10 ACCOUNTS=100 ORDERS=60
//                                    DBS=postgres,sqlite PG_URL=… REDIS_URL=…)
//
// Per database (DBS=postgres,sqlite): an isolated PostgreSQL schema or SQLite file, a private Redis
// prefix; ACCOUNTS (100) accounts created through the repository flow (encrypted keys), registered in the
// simulator (its own process, `kraite:simulate-binance`), each with an open position and ORDERS (60) NEW
// orders with known exchange ids. Then `kraite:stream-binance-user-data` and `horizon` (SERVER_ROLE=ingestion,
// default supervisors: user-data with 5 processes) run as child processes against the simulator. When every
// account has a live socket and the pool holds every shard, the simulator is handed a script of FRAMES
// ORDER_TRADE_UPDATE frames (TRADE, NEW → FILLED, with a price), frame n for account n % ACCOUNTS and its own
// order, and plays it at RATE/s on its own clock (`POST /_sim/load` with `frames`; one request, so this
// process's load does not shape the schedule). --bench-stamps writes `_simSentAt` into each frame as the
// simulator writes it to the socket. Latency = orders.updated_at − _simSentAt (both this machine's clock),
// split at the daemon's received_at. Caveat: the job stamps updated_at with its clock at the start of the
// batch's apply, so the commit of the transaction (a few ms) is not inside the figure.
// Afterwards every targeted order must be FILLED at its new price (no frame lost).
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cleanEnv, fmt, percentile } from './lib.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(root, 'dist', p));
const artisan = path.join(root, 'bin', 'artisan');
const RATE = Number(process.env.RATE ?? 500);
const SECONDS = Number(process.env.SECONDS ?? 10);
const ACCOUNTS = Number(process.env.ACCOUNTS ?? 100);
const ORDERS = Number(process.env.ORDERS ?? 60);
const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const DBS = (process.env.DBS ?? 'postgres,sqlite').split(',');
const FRAMES = RATE * SECONDS;
if (FRAMES > ACCOUNTS * ORDERS) throw new Error(`RATE × SECONDS (${FRAMES}) exceeds ACCOUNTS × ORDERS (${ACCOUNTS * ORDERS}): every frame needs its own order`);

const { loadConfig } = await dist('config/index.js');
const { createDb } = await dist('db/connection.js');
const { migrateLatest } = await dist('db/migrator.js');
const { createAccount } = await dist('db/repositories/accounts.js');
const { demoCredentials } = await dist('db/seed/demo-data.js');
const { generateAppKey } = await dist('crypto/secrets.js');
const { insertId } = await dist('db/helpers.js');
const { normalizeDecimal } = await dist('support/decimal.js');
const { connectRedis, closeRedis } = await dist('redis/connection.js');
const { readMasters } = await dist('horizon/control.js');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, fn, timeoutMs = 120_000, every = 200) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn()) return;
    await sleep(every);
  }
  throw new Error(`timed out: ${what}`);
}

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

function startChild(name, args, env) {
  const child = spawn(process.execPath, args, { cwd: root, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out = (out + d).slice(-20_000)));
  child.stderr.on('data', (d) => (err = (err + d).slice(-20_000)));
  return { name, child, output: () => out, errors: () => err };
}

async function stopChild(c) {
  if (!c || c.child.exitCode !== null || c.child.signalCode !== null) return;
  const done = new Promise((r) => c.child.once('exit', r));
  c.child.kill('SIGTERM');
  await Promise.race([done, sleep(20_000)]);
  if (c.child.exitCode === null && c.child.signalCode === null) {
    c.child.kill('SIGKILL');
    await done;
  }
}

function assertAlive(children) {
  for (const c of children) {
    if (c.child.exitCode !== null || c.child.signalCode !== null) throw new Error(`${c.name} exited (${c.child.exitCode ?? c.child.signalCode}): ${c.errors().slice(-2000)}`);
  }
}

async function isolatedDb(kind, tmp) {
  const id = `bench_e2e_${crypto.randomBytes(4).toString('hex')}`;
  if (kind === 'sqlite') return { url: `sqlite:${path.join(tmp, `${id}.sqlite`)}`, drop: async () => undefined };
  if (kind !== 'postgres') throw new Error(`DBS: unknown database ${kind} (postgres, sqlite)`);
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


// CPU accounting for the play window: the whole box (/proc/stat) and each process we started, with its children
// (horizon's workers), from /proc/<pid>/stat (utime + stime, in clock ticks).
const TICK = 100;
function procTicks(pid) {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}
function childPids(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
function cpuSnapshot(children) {
  const [, ...t] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const idle = t[3] + (t[4] ?? 0);
  const total = t.reduce((a, b) => a + b, 0);
  const parts = {};
  for (const c of children) {
    const kids = childPids(c.child.pid);
    parts[c.name] = procTicks(c.child.pid);
    if (kids.length) parts[`${c.name}'s ${kids.length} workers`] = kids.reduce((n, p) => n + procTicks(p), 0);
  }
  return { at: performance.now(), idle, total, parts };
}
function cpuDelta(a, b) {
  const busy = 1 - (b.idle - a.idle) / Math.max(1, b.total - a.total);
  const seconds = (b.at - a.at) / 1000;
  const parts = Object.keys(b.parts)
    .map((k) => `${k} ${Math.round(((b.parts[k] - (a.parts[k] ?? 0)) / TICK / seconds) * 100)} %`)
    .join(', ');
  return { seconds, box: Math.round(busy * 100 * os.cpus().length), parts };
}

const ms = (v) => (v instanceof Date ? v.getTime() : typeof v === 'number' ? v : new Date(v).getTime());

function frame(o, E) {
  const p = o.newPrice;
  return { e: 'ORDER_TRADE_UPDATE', E, T: E - 1, o: { s: 'SOLUSDT', c: o.clientId, S: 'BUY', o: 'LIMIT', f: 'GTC', q: '12.5', p, ap: p, sp: '0', x: 'TRADE', X: 'FILLED', i: Number(o.exchangeId), l: '12.5', z: '12.5', L: p, N: 'USDT', n: '0', T: E - 1, t: E, b: '0', a: '0', m: false, R: false, wt: 'CONTRACT_PRICE', ot: 'LIMIT', ps: 'BOTH', cp: false, rp: '0', pP: false, si: 0, ss: 0, V: 'EXPIRE_MAKER', pm: 'NONE', gtd: 0 } };
}

async function runOn(kind) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'athena-bench-e2e-'));
  const iso = await isolatedDb(kind, tmp);
  const prefix = `bench-e2e-${crypto.randomBytes(4).toString('hex')}`;
  const appKey = generateAppKey();
  const port = await freePort();
  const env = {
    APP_ENV: 'testing',
    ENV_FILE: path.join(tmp, 'none'),
    STORAGE_PATH: tmp,
    DATABASE_URL: iso.url,
    REDIS_URL,
    REDIS_PREFIX: prefix,
    APP_KEY: appKey,
    LOG_LEVEL: 'error',
    SERVER_ROLE: 'ingestion',
    BINANCE_REST_URL: `http://127.0.0.1:${port}`,
    BINANCE_WS_URL: `ws://127.0.0.1:${port}`,
  };
  const config = loadConfig({ ...process.env, ...env });
  const db = await createDb(config.database);
  const redis = await connectRedis(config.redis, 'daemon');
  const children = [];
  try {
    await migrateLatest(db);
    // Seed: accounts through the repository (encrypted keys), a position and ORDERS NEW orders each.
    const key = Buffer.from(appKey.slice(7), 'base64');
    const now = new Date(Date.now() - 60_000);
    const simAccounts = [];
    const byAccount = [];
    for (let a = 0; a < ACCOUNTS; a++) {
      const c = demoCredentials(7000 + a);
      const accountId = await createAccount(db, key, { name: `E2E ${a}`, apiKey: c.apiKey, apiSecret: c.apiSecret });
      simAccounts.push({ apiKey: c.apiKey, apiSecret: c.apiSecret, label: accountId });
      const positionId = await insertId(db, 'positions', { account_id: accountId, parsed_trading_pair: 'SOLUSDT', direction: 'LONG', status: 'active', quantity: normalizeDecimal('10'), created_at: now, updated_at: now });
      const rows = [];
      const list = [];
      for (let k = 0; k < ORDERS; k++) {
        const exchangeId = String(9_000_000_000 + accountId * 1000 + k);
        const clientId = `e2e-${accountId}-${k}`;
        rows.push({ position_id: positionId, uuid: crypto.randomUUID(), client_order_id: clientId, exchange_order_id: exchangeId, type: 'LIMIT', side: 'BUY', position_side: 'BOTH', status: 'NEW', reference_status: 'NEW', price: normalizeDecimal('100'), quantity: normalizeDecimal('12.5'), reference_price: normalizeDecimal('100'), reference_quantity: normalizeDecimal('12.5'), reduce_only: false, created_at: now, updated_at: now });
        list.push({ accountId, exchangeId, clientId, newPrice: `${101 + (k % 50)}.25` });
      }
      await db('orders').insert(rows);
      byAccount.push(list);
    }
    // Frame n → account n % ACCOUNTS, its order ⌊n / ACCOUNTS⌋: consecutive frames hit different accounts.
    const plan = Array.from({ length: FRAMES }, (_, n) => byAccount[n % ACCOUNTS][Math.floor(n / ACCOUNTS)]);
    const ids = await db('orders').select('id', 'exchange_order_id');
    const idOf = new Map(ids.map((r) => [String(r.exchange_order_id), Number(r.id)]));
    for (const o of plan) o.id = idOf.get(o.exchangeId);

    fs.writeFileSync(path.join(tmp, 'sim-accounts.json'), JSON.stringify(simAccounts));
    const sim = startChild('simulator', [artisan, 'kraite:simulate-binance', `--port=${port}`, '--demo-accounts=0', `--accounts-file=${path.join(tmp, 'sim-accounts.json')}`, '--bench-stamps'], env);
    children.push(sim);
    await until('simulator listening', async () => (assertAlive(children), /listening/.test(sim.output())), 60_000, 50);
    const control = async (method, route, body) => {
      const res = await fetch(`${env.BINANCE_REST_URL}/_sim/${route}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      const json = await res.json();
      if (!res.ok) throw new Error(`${route}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    children.push(startChild('kraite:stream-binance-user-data', [artisan, 'kraite:stream-binance-user-data', '--stagger-ms=5'], env));
    children.push(startChild('horizon', [artisan, 'horizon'], env));
    const labels = simAccounts.map((a) => String(a.label));
    await until('every account connected', async () => {
      assertAlive(children);
      const st = await control('GET', 'state');
      return labels.every((l) => st.accounts[l]?.connections > 0);
    });
    let shape = '';
    await until('horizon holds every user-data shard', async () => {
      assertAlive(children);
      const m = (await readMasters(redis, prefix))[0];
      const sup = m?.supervisors.find((s) => s.name === 'user-data');
      const procs = sup?.processes ?? [];
      const held = procs.flatMap((p) => p.queues ?? []);
      shape = `${procs.length} processes, ${held.length} shards`;
      return new Set(held).size === config.userDataShards;
    });
    // The daemon asks for a reconciliation of every account as it connects (REST snapshots through the
    // `reconcile` queue): let that start-up work finish so the window measures the steady state.
    const { QueueFactory } = await dist('queue/queues.js');
    const qf = new QueueFactory({ prefix, connection: redis });
    await until('start-up reconciliation done', async () => {
      assertAlive(children);
      const c = await (await qf.queue('reconcile')).getJobCounts('wait', 'active', 'delayed', 'prioritized');
      return Object.values(c).every((n) => n === 0);
    }, 180_000, 500);
    await qf.close();
    const reqs = await control('GET', 'requests');
    const byStatus = {};
    for (const r of reqs.requests) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
    console.log(`  [${kind}] start-up REST calls to the simulator by status: ${JSON.stringify(byStatus)}`);
    await sleep(2000);
    const loadBefore = os.loadavg();
    const cpuBefore = cpuSnapshot(children);

    // The script: frame n → its own order, sent by the simulator at RATE/s on its own clock (one request, so
    // this process's load does not shape the send schedule). Each frame is stamped _simSentAt when written.
    const E0 = Date.now();
    const script = plan.map((o, n) => ({ account: o.accountId, event: frame(o, E0 + n) }));
    const t0 = performance.now();
    await control('POST', 'load', { rate: RATE, frames: script, tickMs: 1 });
    let sent = 0;
    await until('the simulator sent every frame', async () => {
      assertAlive(children);
      const st = await control('GET', 'state');
      sent = st.load?.sent ?? 0;
      return st.load && !st.load.running;
    }, Math.max(60_000, SECONDS * 3000), 250);
    const sendSeconds = (performance.now() - t0) / 1000;
    const cpuWindow = cpuDelta(cpuBefore, cpuSnapshot(children));

    // Wait for the drain with a cheap count every 500 ms (a tight per-row poll would compete with the pool).
    const targetIds = plan.map((o) => o.id);
    const [lo, hi] = [Math.min(...targetIds), Math.max(...targetIds)];
    let filled = 0;
    await until('every targeted order FILLED', async () => {
      assertAlive(children);
      filled = Number((await db('orders').whereBetween('id', [lo, hi]).where('status', 'FILLED').count({ n: '*' }).first()).n);
      return filled >= targetIds.length;
    }, Math.max(120_000, FRAMES * 100), 500).catch((err) => console.log(`  [${kind}] ${err.message}: ${filled}/${targetIds.length} FILLED`));
    const loadAfter = os.loadavg();

    const rows = [];
    for (let i = 0; i < targetIds.length; i += 500) rows.push(...(await db('orders').whereIn('id', targetIds.slice(i, i + 500)).select('id', 'status', 'price', 'updated_at')));
    const byId = new Map(rows.map((r) => [Number(r.id), r]));
    const updates = rows.filter((r) => r.status === 'FILLED').map((r) => ms(r.updated_at)).sort((x, y) => x - y);
    const drainS = updates.length > 1 ? (updates.at(-1) - updates[0]) / 1000 : NaN;
    const frames = Number((await db('api_data_stream').count({ n: '*' }).first()).n);
    // The simulator's send time (_simSentAt, written into the socket frame) and the daemon's receive time, from
    // api_data_stream: latency = orders.updated_at − _simSentAt, split at the daemon's receive.
    const stream = await db('api_data_stream').select('exchange_order_id', 'received_at', 'raw_payload');
    const hop = new Map(stream.map((r) => {
      const raw = typeof r.raw_payload === 'string' ? JSON.parse(r.raw_payload) : r.raw_payload;
      return [String(r.exchange_order_id), { simSent: Number(raw?._simSentAt), received: ms(r.received_at) }];
    }));
    const lat = [];
    const simToDaemon = [];
    const daemonToRow = [];
    const simSends = [];
    let wrong = 0;
    plan.forEach((o) => {
      const r = byId.get(o.id);
      const h = hop.get(o.exchangeId);
      if (!r || r.status !== 'FILLED' || Number(r.price) !== Number(o.newPrice) || !h || !Number.isFinite(h.simSent)) {
        wrong++;
        return;
      }
      simSends.push(h.simSent);
      lat.push(ms(r.updated_at) - h.simSent);
      simToDaemon.push(h.received - h.simSent);
      daemonToRow.push(ms(r.updated_at) - h.received);
    });
    for (const a of [lat, simToDaemon, daemonToRow, simSends]) a.sort((x, y) => x - y);
    const simRate = simSends.length > 1 ? (simSends.length - 1) / ((simSends.at(-1) - simSends[0]) / 1000) : NaN;
    const q = (a) => `p50 ${fmt(percentile(a, 50))} · p95 ${fmt(percentile(a, 95))} · p99 ${fmt(percentile(a, 99))} · max ${fmt(a.at(-1))} ms`;
    const res = {
      db: kind,
      frames: FRAMES,
      sent: sent,
      sent_rate: +simRate.toFixed(0),
      send_seconds: +sendSeconds.toFixed(1),
      applied: lat.length,
      lost_or_wrong: wrong,
      api_data_stream_rows: frames,
      p50: percentile(lat, 50),
      p95: percentile(lat, 95),
      p99: percentile(lat, 99),
      max: lat.at(-1),
      pool: shape,
      drain_rate: +(lat.length / drainS).toFixed(1),
      hop_sim_to_daemon_p99: percentile(simToDaemon, 99),
      hop_daemon_to_row_p99: percentile(daemonToRow, 99),
      cpu_busy_pct: cpuWindow.box,
      load_avg_before: loadBefore.map((x) => +x.toFixed(2)),
      load_avg_after: loadAfter.map((x) => +x.toFixed(2)),
    };
    console.log(`[${kind}] ${FRAMES} frames written by the simulator at ${res.sent_rate}/s over ${ACCOUNTS} accounts (pool: ${shape}): applied ${lat.length}, lost/wrong ${wrong}, api_data_stream rows ${frames}`);
    console.log(`[${kind}]   simulator frame → orders.updated_at: ${q(lat)}  (target p99 ≤ 50 ms: ${res.p99 <= 50 && wrong === 0 ? 'met' : 'NOT met'})`);
    console.log(`[${kind}]     hops: simulator → daemon received_at ${q(simToDaemon)}; received_at → updated_at ${q(daemonToRow)}`);
    console.log(`[${kind}]   pool drain: ${lat.length} rows updated in ${fmt(drainS)} s (first → last updated_at) = ${fmt(lat.length / drainS)} frames/s`);
    console.log(`[${kind}]   CPU while the simulator played (${fmt(cpuWindow.seconds)} s, 2 cores = 200 %): box ${cpuWindow.box} % busy; ${cpuWindow.parts}`);
    console.log(`[${kind}]   load average before ${res.load_avg_before.join(' ')} · after ${res.load_avg_after.join(' ')}`);
    return res;
  } finally {
    for (const c of [...children].reverse()) await stopChild(c);
    await deletePrefix(redis, prefix);
    await closeRedis(redis);
    await db.destroy();
    await iso.drop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

console.log(`# bench/horizon-e2e — ${new Date().toISOString()}, ${os.cpus().length} CPUs, Node ${process.version}; ${RATE} frames/s for ${SECONDS} s`);
const results = [];
for (const kind of DBS) results.push(await runOn(kind));
console.log(JSON.stringify({ results }));
