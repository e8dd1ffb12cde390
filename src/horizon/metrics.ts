/**
 * Pool metrics per queue and per job name. Worker processes append one sample per finished job to
 * `<p>:horizon:metrics-samples` (batched every second); a snapshot (every minute by one master, or
 * `horizon:snapshot`) takes the samples atomically and stores
 *   {at, since, minutes, queues: {<queue>: {jobs, failed, throughput_per_min, runtime_p50_ms, runtime_p95_ms,
 *    wait_avg_ms, wait_p95_ms, wait_max_ms, job_names: {<name>: {…same…}}}}}
 * in the sorted set `<p>:horizon:metrics:snapshots` (score = at, kept 24 h) and as the JSON string
 * `<p>:horizon:metrics:latest` (what the admin UI shows).
 */
import type { Redis } from 'ioredis';
import { horizonKeys } from './keys.js';

export const SNAPSHOT_RETENTION_MS = 24 * 3600_000;

export interface Stats {
  jobs: number;
  failed: number;
  throughput_per_min: number;
  runtime_p50_ms: number;
  runtime_p95_ms: number;
  wait_avg_ms: number;
  wait_p95_ms: number;
  wait_max_ms: number;
}

export interface QueueSnapshot extends Stats {
  job_names: Record<string, Stats>;
}

export interface Snapshot {
  at: string;
  since: string;
  minutes: number;
  queues: Record<string, QueueSnapshot>;
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

interface Sample {
  queue: string;
  name: string;
  runtime: number;
  wait: number;
  /** 1 ok, 0 final failure, 2 failed attempt that will be retried */
  outcome: number;
}

function parseSample(s: string): Sample | null {
  const parts = s.split('|');
  if (parts.length < 5) return null;
  const outcome = Number(parts.pop());
  const wait = Number(parts.pop());
  const runtime = Number(parts.pop());
  const name = parts.pop()!;
  return { queue: parts.join('|'), name, runtime, wait, outcome };
}

function stats(samples: Sample[], minutes: number): Stats {
  const runtimes = samples.map((s) => s.runtime).sort((a, b) => a - b);
  const waits = samples.map((s) => s.wait).sort((a, b) => a - b);
  const done = samples.filter((s) => s.outcome !== 2).length;
  return {
    jobs: done,
    failed: samples.filter((s) => s.outcome === 0).length,
    throughput_per_min: Math.round((done / Math.max(minutes, 1 / 60)) * 10) / 10,
    runtime_p50_ms: percentile(runtimes, 50),
    runtime_p95_ms: percentile(runtimes, 95),
    wait_avg_ms: waits.length ? Math.round(waits.reduce((a, b) => a + b, 0) / waits.length) : 0,
    wait_p95_ms: percentile(waits, 95),
    wait_max_ms: waits.length ? waits[waits.length - 1]! : 0,
  };
}

export function summarize(raw: string[], sinceMs: number, nowMs: number): Snapshot {
  const minutes = Math.max(1 / 60, (nowMs - sinceMs) / 60_000);
  const byQueue = new Map<string, Sample[]>();
  for (const r of raw) {
    const s = parseSample(r);
    if (!s) continue;
    // push, never spread: copying the list per sample made a 100,000-sample minute quadratic (the master
    // spent 80 s of blocked event loop on one snapshot after the 50,000-frame acceptance run).
    const list = byQueue.get(s.queue);
    if (list) list.push(s);
    else byQueue.set(s.queue, [s]);
  }
  const queues: Record<string, QueueSnapshot> = {};
  for (const [q, samples] of byQueue) {
    const names = new Map<string, Sample[]>();
    for (const s of samples) {
      const list = names.get(s.name);
      if (list) list.push(s);
      else names.set(s.name, [s]);
    }
    queues[q] = { ...stats(samples, minutes), job_names: Object.fromEntries([...names].map(([n, ss]) => [n, stats(ss, minutes)])) };
  }
  return { at: new Date(nowMs).toISOString(), since: new Date(sinceMs).toISOString(), minutes: Math.round(minutes * 100) / 100, queues };
}

/** Take the pending samples and store one snapshot. */
export async function takeSnapshot(redis: Redis, prefix: string, nowMs: number): Promise<Snapshot> {
  const k = horizonKeys(prefix);
  const res = await redis.multi().lrange(k.samples(), 0, -1).del(k.samples()).zrevrange(k.snapshots(), 0, 0).exec();
  if (!res) throw new Error('the metrics transaction was aborted');
  const raw = (res[0]![1] as string[]) ?? [];
  const last = (res[2]![1] as string[])[0];
  let since = nowMs - 60_000;
  if (last) {
    const t = Date.parse((JSON.parse(last) as Snapshot).at);
    if (Number.isFinite(t) && t < nowMs) since = t;
  }
  const snap = summarize(raw, since, nowMs);
  const body = JSON.stringify(snap);
  await redis
    .multi()
    .zadd(k.snapshots(), nowMs, body)
    .zremrangebyscore(k.snapshots(), '-inf', nowMs - SNAPSHOT_RETENTION_MS)
    .set(k.latest(), body, 'PX', SNAPSHOT_RETENTION_MS)
    .exec();
  return snap;
}

export async function readSnapshots(redis: Redis, prefix: string, sinceMs = 0): Promise<Snapshot[]> {
  const rows = await redis.zrangebyscore(horizonKeys(prefix).snapshots(), sinceMs, '+inf');
  return rows.map((r) => JSON.parse(r) as Snapshot);
}
