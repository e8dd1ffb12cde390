#!/usr/bin/env node
// bench/startup: bin/artisan start-up against `node -e 0`, measured side by side in one run.
// NODE_EXTRA_CA_CERTS is unset on both sides (it adds ~90 ms to every Node start on these machines).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanEnv, fmt, stats, timeCommands } from './lib.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const artisan = path.join(root, 'bin', 'artisan');
const runs = Number(process.env.RUNS ?? 30);
const env = cleanEnv({ ENV_FILE: '/nonexistent/athena-bench', NO_COLOR: '1' });

const cases = [
  { label: 'node -e 0', cmd: ['node', '-e', '0'] },
  { label: 'artisan --version', cmd: ['node', artisan, '--version'] },
  { label: 'artisan list', cmd: ['node', artisan, 'list'] },
  { label: 'artisan nope:nope (unknown)', cmd: ['node', artisan, 'nope:nope'], expectExit: 1 },
  { label: 'artisan help migrate (oclif)', cmd: ['node', artisan, 'help', 'migrate'] },
];

const samples = timeCommands(cases, { runs, env, cwd: root });
const base = stats(samples['node -e 0']).p50;
console.log(`bench/startup: ${runs} interleaved runs each, median wall time (NODE_EXTRA_CA_CERTS unset)\n`);
console.log(`${'case'.padEnd(32)}${'p50 ms'.padStart(9)}${'p90 ms'.padStart(9)}${'× node -e 0'.padStart(14)}`);
const out = {};
for (const c of cases) {
  const s = stats(samples[c.label]);
  out[c.label] = { p50_ms: +s.p50.toFixed(1), ratio: +(s.p50 / base).toFixed(2) };
  console.log(`${c.label.padEnd(32)}${fmt(s.p50).padStart(9)}${fmt(s.p90).padStart(9)}${(s.p50 / base).toFixed(2).padStart(14)}`);
}
const v = out['artisan --version'].ratio;
console.log(`\ntarget: --version ≤ 3.00× node -e 0 → ${v.toFixed(2)}× ${v <= 3 ? 'OK' : 'MISSED'}`);
if (process.argv.includes('--json')) console.log(JSON.stringify(out));
