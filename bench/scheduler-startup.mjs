#!/usr/bin/env node
// bench/scheduler-startup: `schedule:run` when nothing is due, against `node -e 0`, side by side in one run.
// The schedule (bench/fixtures/hourly-schedule.mjs) has only hourly tasks and the run is "as of" minute :37
// (hidden --at flag), so the prefilter rules every task out: no cron-parser, ioredis, knex or oclif is
// loaded, and the only I/O is the scheduler heartbeat (one Redis round trip).
// NODE_EXTRA_CA_CERTS is unset on every side (it adds ~90 ms to any Node start on these machines).
//   RUNS=40 node bench/scheduler-startup.mjs [--json]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanEnv, fmt, stats, timeCommands } from './lib.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const artisan = path.join(root, 'bin', 'artisan');
const runs = Number(process.env.RUNS ?? 30);
const prefix = `bench-sched-${process.pid}`;
const at = `--at=${new Date().toISOString().slice(0, 11)}10:37:00Z`;
const env = cleanEnv({
  ENV_FILE: '/nonexistent/athena-bench',
  NO_COLOR: '1',
  REDIS_PREFIX: prefix,
  DATABASE_URL: 'sqlite:/tmp/athena-bench-scheduler.sqlite',
  SCHEDULE_MODULE: 'bench/fixtures/hourly-schedule.mjs',
});

const cases = [
  { label: 'node -e 0', cmd: ['node', '-e', '0'] },
  { label: 'artisan --version', cmd: ['node', artisan, '--version'] },
  { label: 'schedule:run, nothing due', cmd: ['node', artisan, 'schedule:run', at] },
  { label: 'same through oclif (--json)', cmd: ['node', artisan, 'schedule:run', at, '--json'] },
];

const samples = timeCommands(cases, { runs, env, cwd: root });
const base = stats(samples['node -e 0']).p50;
console.log(`bench/scheduler-startup: ${runs} interleaved runs each, median wall time (NODE_EXTRA_CA_CERTS unset)\n`);
console.log(`${'case'.padEnd(32)}${'p50 ms'.padStart(9)}${'p90 ms'.padStart(9)}${'× node -e 0'.padStart(14)}`);
const out = {};
for (const c of cases) {
  const s = stats(samples[c.label]);
  out[c.label] = { p50_ms: +s.p50.toFixed(1), p90_ms: +s.p90.toFixed(1), ratio: +(s.p50 / base).toFixed(2) };
  console.log(`${c.label.padEnd(32)}${fmt(s.p50).padStart(9)}${fmt(s.p90).padStart(9)}${(s.p50 / base).toFixed(2).padStart(14)}`);
}
const r = out['schedule:run, nothing due'].ratio;
console.log(`\ntarget: schedule:run with nothing due ≤ 2.00× node -e 0 → ${r.toFixed(2)}× ${r <= 2 ? 'OK' : 'MISSED'}`);

// Remove the heartbeat the runs wrote.
const { oneShot } = await import('../dist/kernel/mini-redis.js');
await oneShot(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', [['DEL', `${prefix}:heartbeat:scheduler:${(await import('node:os')).hostname().toLowerCase()}`]]).catch(() => undefined);
if (process.argv.includes('--json')) console.log(JSON.stringify(out));
