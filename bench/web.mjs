#!/usr/bin/env node
// bench/web: the web server under load, against a bare fastify hello-world, in one run.
//   - GET /hello on a bare fastify process (same fastify version): the baseline;
//   - GET /api/dashboard on the admin vhost, logged in (session cookie): the dashboard data endpoint;
//   - GET /architecture on the docs vhost: a rendered docs page.
// Each: autocannon, 50 connections, 10 s in total (DURATION=…), after a 2 s warm-up. The machine is shared
// and its load swings within seconds, so the 10 s of each case are taken as ROUNDS=5 slices of 2 s,
// interleaved (hello, dashboard, docs, hello, …): every case sees the same noise. req/s = all requests ÷
// all seconds; p99 = the worst slice's p99 (conservative). Targets: p99 ≤ 50 ms and req/s ≥ 0.3 ×
// hello-world. Uses a temporary SQLite database and its own Redis prefix (both removed afterwards).
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath, URLSearchParams } from 'node:url';
import autocannon from 'autocannon';
import { cleanEnv } from './lib.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const artisan = path.join(root, 'bin', 'artisan');
const duration = Number(process.env.DURATION ?? 10);
const connections = Number(process.env.CONNECTIONS ?? 50);
const rounds = Number(process.env.ROUNDS ?? 5);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'athena-bench-web-'));
const prefix = `bench-web-${crypto.randomBytes(3).toString('hex')}`;
const HOSTS = { ADMIN_HOST: 'admin.bench.test', DOCS_HOST: 'docs.bench.test', MARKETING_HOST: 'bench.test' };
const env = cleanEnv({
  ENV_FILE: path.join(tmp, 'no-env'),
  APP_ENV: 'testing',
  APP_KEY: `base64:${crypto.randomBytes(32).toString('base64')}`,
  DATABASE_URL: `sqlite:${path.join(tmp, 'bench.sqlite')}`,
  REDIS_PREFIX: prefix,
  STORAGE_PATH: path.join(tmp, 'storage'),
  LOG_LEVEL: 'warn',
  NO_COLOR: '1',
  ...HOSTS,
});
const children = [];

function run(args, input) {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [artisan, ...args], { env, cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (out += d));
    c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`artisan ${args.join(' ')} exited ${code}: ${out}`))));
    c.stdin.end(input ?? '');
  });
}

function start(cmd, args) {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { env, cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(c);
    let out = '';
    const onData = (d) => {
      out += d;
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    };
    c.stdout.on('data', onData);
    c.stderr.on('data', onData);
    c.on('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}: ${out}`)));
  });
}

function request(port, host, method, urlPath, { cookie, body } = {}) {
  return new Promise((resolve, reject) => {
    const headers = { host, ...(cookie ? { cookie } : {}), ...(body ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } : {}) };
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers }, (res) => {
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function sessionCookie(res, fallback) {
  const c = [res.headers['set-cookie'] ?? []].flat().map((x) => x.split(';')[0]).find((x) => x.startsWith('athena_session='));
  return c ?? fallback;
}

async function login(port) {
  const page = await request(port, HOSTS.ADMIN_HOST, 'GET', '/login');
  let cookie = sessionCookie(page);
  const token = /name="_csrf" value="([^"]+)"/.exec(page.body)[1];
  const body = new URLSearchParams({ _csrf: token, email: 'bench@athena.test', password: 'benchmark password', next: '/dashboard' }).toString();
  const res = await request(port, HOSTS.ADMIN_HOST, 'POST', '/login', { cookie, body });
  if (res.status !== 303) throw new Error(`login failed: ${res.status} ${res.body.slice(0, 200)}`);
  cookie = sessionCookie(res, cookie);
  const check = await request(port, HOSTS.ADMIN_HOST, 'GET', '/api/dashboard', { cookie });
  if (check.status !== 200) throw new Error(`dashboard endpoint answered ${check.status}`);
  return cookie;
}

function cannon(opts) {
  return new Promise((resolve, reject) => {
    autocannon({ connections, pipelining: 1, ...opts }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

async function slice(c, seconds) {
  const r = await cannon({ url: c.url, headers: c.headers, duration: seconds });
  if (r.non2xx || r.errors) throw new Error(`${c.label}: ${r.non2xx} non-2xx responses, ${r.errors} errors`);
  return r;
}

async function measure(cases) {
  for (const c of cases) await slice(c, 2); // warm-up
  const acc = new Map(cases.map((c) => [c.label, { label: c.label, total: 0, seconds: 0, p50s: [], p99s: [] }]));
  for (let i = 0; i < rounds; i++) {
    for (const c of cases) {
      const r = await slice(c, duration / rounds);
      const a = acc.get(c.label);
      a.total += r.requests.total;
      a.seconds += r.duration;
      a.p50s.push(r.latency.p50);
      a.p99s.push(r.latency.p99);
    }
  }
  return [...acc.values()].map((a) => ({ label: a.label, rps: a.total / a.seconds, p50: a.p50s.sort((x, y) => x - y)[Math.floor(a.p50s.length / 2)], p99: Math.max(...a.p99s), p99s: a.p99s }));
}

async function cleanup() {
  for (const c of children) c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  try {
    const { Redis } = await import('ioredis');
    const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    for (const pattern of [`${prefix}:*`, `{${prefix}}:*`]) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await redis.unlink(...keys);
      } while (cursor !== '0');
    }
    await redis.quit();
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

try {
  await run(['migrate']);
  await run(['db:seed']);
  await run(['user:create', '--email=bench@athena.test', '--role=admin'], 'benchmark password\n');
  const webPort = await start(process.execPath, [...(process.env.WEB_NODE_ARGS ? process.env.WEB_NODE_ARGS.split(' ') : []), artisan, 'web', '--port=0', '--host=127.0.0.1']);
  const helloPort = await start(process.execPath, [path.join(root, 'bench', 'web-hello.mjs'), '0']);
  const cookie = await login(webPort);

  const only = process.env.CASES ? process.env.CASES.split(',') : null; // e.g. CASES=dashboard for profiling
  const results = await measure(
    [
    { label: 'hello world (bare fastify)', url: `http://127.0.0.1:${helloPort}/hello`, headers: {} },
    { label: 'admin /api/dashboard (logged in)', url: `http://127.0.0.1:${webPort}/api/dashboard`, headers: { host: HOSTS.ADMIN_HOST, cookie } },
    { label: 'docs /architecture', url: `http://127.0.0.1:${webPort}/architecture`, headers: { host: HOSTS.DOCS_HOST } },
    ].filter((c, i) => i === 0 || !only || only.some((o) => c.label.includes(o))),
  );
  const base = results[0].rps;
  console.log(`bench/web: autocannon, ${connections} connections × ${duration} s per case (${rounds} interleaved slices, after a 2 s warm-up), one run, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}\n`);
  console.log(`${'case'.padEnd(36)}${'req/s'.padStart(10)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'× hello'.padStart(10)}`);
  let ok = true;
  const json = {};
  for (const r of results) {
    const ratio = r.rps / base;
    json[r.label] = { rps: Math.round(r.rps), p50_ms: r.p50, p99_ms: r.p99, p99_ms_per_slice: r.p99s, ratio: +ratio.toFixed(2) };
    console.log(`${r.label.padEnd(36)}${r.rps.toFixed(0).padStart(10)}${String(r.p50).padStart(9)}${String(r.p99).padStart(9)}${ratio.toFixed(2).padStart(10)}`);
    if (r !== results[0] && (r.p99 > 50 || ratio < 0.3)) ok = false;
  }
  console.log(`\ntarget: p99 ≤ 50 ms and ≥ 0.3× hello-world req/s → ${ok ? 'OK' : 'MISSED'}`);
  if (process.argv.includes('--json')) console.log(JSON.stringify(json));
} finally {
  await cleanup();
}
