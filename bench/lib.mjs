// Shared helpers for the benchmarks: interleaved runs (so machine noise hits every side alike),
// medians and percentiles, and a clean child environment without NODE_EXTRA_CA_CERTS.
import { spawnSync } from 'node:child_process';

export function cleanEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return { n: s.length, min: s[0], p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), mean };
}

/** Time each command `runs` times, round-robin, after `warmup` rounds. Returns ms samples per label. */
export function timeCommands(cases, { runs = 30, warmup = 3, env = cleanEnv(), cwd } = {}) {
  const samples = Object.fromEntries(cases.map((c) => [c.label, []]));
  for (let round = 0; round < warmup + runs; round++) {
    for (const c of cases) {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(c.cmd[0], c.cmd.slice(1), { env: { ...env, ...c.env }, cwd, stdio: ['ignore', 'ignore', 'pipe'] });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r.status !== (c.expectExit ?? 0)) throw new Error(`${c.label} exited ${r.status}: ${r.stderr}`);
      if (round >= warmup) samples[c.label].push(ms);
    }
  }
  return samples;
}

export const fmt = (n) => (Number.isFinite(n) ? n.toFixed(1) : String(n));
