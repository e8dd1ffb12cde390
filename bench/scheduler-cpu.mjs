#!/usr/bin/env node
// bench/scheduler-cpu: CPU seconds for one whole minute of Athena's every-minute tasks against an empty
// database, measured side by side in one run:
//   A. schedule:run, commands in-process (the kernel's default);
//   B. schedule:run, each command in its own `bin/artisan` process (inChildProcess(), what Laravel does);
//   C. no scheduler: one `bin/artisan <command>` process per task, started back to back;
//   D. schedule:run with Athena's real schedule today (its commands are not delivered yet: "not found").
// CPU = user + system time of the process and every child it waited for (GNU time %U + %S), so B and C
// include every per-task process. NODE_EXTRA_CA_CERTS is unset everywhere.
//   RUNS=10 [BENCH_NICE=-10] node bench/scheduler-cpu.mjs [--json]
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanEnv, stats } from './lib.mjs';
import { commands } from './fixtures/every-minute-standins.mjs';

// BENCH_NICE=-10 (root only) runs the bench and every process it starts at a higher priority, the same
// for every case: on a box shared with other workloads it cuts the queueing noise, not the work measured.
if (process.env.BENCH_NICE) (await import('node:os')).setPriority(Number(process.env.BENCH_NICE));

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const artisan = path.join(root, 'bin', 'artisan');
const runs = Number(process.env.RUNS ?? 10);
const prefix = `bench-cpu-${process.pid}`;
const dbFile = path.join(os.tmpdir(), `athena-bench-cpu-${process.pid}.sqlite`);
const timeFile = path.join(os.tmpdir(), `athena-bench-cpu-${process.pid}.time`);
const env = cleanEnv({
  ENV_FILE: '/nonexistent/athena-bench',
  NO_COLOR: '1',
  LOG_LEVEL: 'error',
  REDIS_PREFIX: prefix,
  DATABASE_URL: `sqlite:${dbFile}`,
  APP_KEY: `base64:${crypto.randomBytes(32).toString('base64')}`,
  STORAGE_PATH: path.join(os.tmpdir(), `athena-bench-cpu-${process.pid}-storage`),
});

execFileSync('node', [artisan, 'migrate'], { env, cwd: root, stdio: 'ignore' });

// Each invocation gets its own minute, so one-server claims and run records never collide. Minutes that
// are multiples of 5 or 7 are avoided: there Athena's schedule has more than its every-minute tasks due.
const plain = [...Array(60).keys()].filter((m) => m % 5 !== 0 && m % 7 !== 0);
let slot = 0;
const nextAt = () => {
  const n = slot++;
  const hour = Math.floor(n / plain.length) % 24;
  const day = 1 + Math.floor(n / plain.length / 24);
  return `--at=2026-12-${String(day).padStart(2, '0')}T${String(hour).padStart(2, '0')}:${String(plain[n % plain.length]).padStart(2, '0')}:00Z`;
};

/** Run one command under GNU time; returns {wall, cpu, rss_mb}. */
function timed(args, extraEnv = {}) {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', '-o', timeFile, 'node', artisan, ...args], { env: { ...env, ...extraEnv }, cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  const [wall, user, sys, rssKb] = fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop().split(' ').map(Number);
  return { wall, cpu: user + sys, rss_mb: rssKb / 1024 };
}

const standIns = { SCHEDULE_MODULE: 'bench/fixtures/every-minute-standins.mjs' };
const cases = {
  'A. schedule:run, in-process': () => timed(['schedule:run', nextAt()], standIns),
  'B. schedule:run, a process per task': () => timed(['schedule:run', nextAt()], { ...standIns, BENCH_CHILD: '1' }),
  'C. a bin/artisan process per task': () => {
    const parts = commands.map((c) => timed(c));
    return { wall: parts.reduce((a, p) => a + p.wall, 0), cpu: parts.reduce((a, p) => a + p.cpu, 0), rss_mb: Math.max(...parts.map((p) => p.rss_mb)) };
  },
  "D. schedule:run, Athena's schedule today": () => timed(['schedule:run', nextAt()]),
};

const samples = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let round = 0; round < runs + 1; round++) {
  for (const [label, run] of Object.entries(cases)) {
    const s = run();
    if (round > 0) samples[label].push(s); // round 0 warms the disk cache
  }
}

const med = (label, key) => stats(samples[label].map((s) => s[key])).p50;
const baseCpu = med('A. schedule:run, in-process', 'cpu');
console.log(`bench/scheduler-cpu: ${runs} interleaved minutes per case, medians; 5 every-minute tasks against an empty SQLite database\n`);
console.log(`${'case'.padEnd(42)}${'CPU s'.padStart(8)}${'wall s'.padStart(9)}${'max RSS MB'.padStart(12)}${'CPU × A'.padStart(10)}`);
const out = {};
for (const label of Object.keys(cases)) {
  const cpu = med(label, 'cpu');
  out[label] = { cpu_s: +cpu.toFixed(3), wall_s: +med(label, 'wall').toFixed(3), rss_mb: +med(label, 'rss_mb').toFixed(1), cpu_ratio_to_A: +(cpu / baseCpu).toFixed(2) };
  console.log(`${label.padEnd(42)}${cpu.toFixed(2).padStart(8)}${med(label, 'wall').toFixed(2).padStart(9)}${med(label, 'rss_mb').toFixed(0).padStart(12)}${(cpu / baseCpu).toFixed(2).padStart(10)}`);
}
console.log('\nCPU = user + system seconds of the process and of every child it waited for. RSS is the largest single process.');

// Clean up: the database file, the storage folder and the Redis keys of the prefix.
fs.rmSync(dbFile, { force: true });
for (const f of [`${dbFile}-wal`, `${dbFile}-shm`, timeFile]) fs.rmSync(f, { force: true });
fs.rmSync(env.STORAGE_PATH, { recursive: true, force: true });
const { oneShot } = await import('../dist/kernel/mini-redis.js');
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
for (const pattern of [`${prefix}:*`, `{${prefix}}:*`]) {
  const [[, keys]] = [await oneShot(url, [['SCAN', 0, 'MATCH', pattern, 'COUNT', 100000]])].map((r) => r[0]);
  if (keys.length) await oneShot(url, [['DEL', ...keys]]);
}
if (process.argv.includes('--json')) console.log(JSON.stringify(out));
