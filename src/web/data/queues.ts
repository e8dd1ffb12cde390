/**
 * Queues and the worker pool (issue 6) as seen from outside:
 *  - BullMQ queues under the box prefix `{<prefix>}` (QueueFactory): discovered by SCAN of
 *    `{<prefix>}:*:meta`, plus the user-data shards `user-data-stream-<n>` that always exist by contract;
 *    counts per state, wait time of the oldest waiting job, and BullMQ's per-minute metrics when workers
 *    record them;
 *  - Horizon master state `<prefix>:horizon:master:<host>` {host, pid, status, started_at, at, supervisors:
 *    [{name, queues, balance, min, max, processes: [{pid, queue, status, jobs, started_at, rss_mb}]}]};
 *  - Horizon metric snapshots `<prefix>:horizon:metrics:*` (shown as stored, when they are JSON strings);
 *  - failed jobs: SQL `failed_jobs` (uuid, queue, job name, payload, exception, failed_at) when present
 *    (src/db/repositories/web-failed-jobs.ts), else BullMQ's failed sets. Step jobs are added with
 *    removeOnFail (the step row is the record), so failed steps show in the step browser, not here.
 */
import type { Job } from 'bullmq';
import { allUserDataQueues } from '../../queue/user-data.js';
import { queuePrefix } from '../../redis/keys.js';
import { listFailedJobs } from '../../db/repositories/web-failed-jobs.js';
import { ageSeconds, parseRedisJson, scanKeys, section, type Section } from './safe.js';
import type { DataContext } from './context.js';

export interface QueueStats {
  name: string;
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  completed: number;
  /** The queue itself is paused (BullMQ queue.pause()). */
  paused: boolean;
  prioritized: number;
  oldestWaitSeconds: number | null;
  completedLastMinute: number | null;
  completedLastHour: number | null;
  failedLastHour: number | null;
}

export interface HorizonProcess {
  pid: number | null;
  queue: string | null;
  status: string | null;
  jobs: number | null;
  startedAt: string | null;
  rssMb: number | null;
}

export interface HorizonSupervisor {
  name: string;
  queues: string[];
  balance: string | null;
  min: number | null;
  max: number | null;
  processes: HorizonProcess[];
}

export interface HorizonMaster {
  host: string;
  pid: number | null;
  status: string;
  startedAt: string | null;
  ageSeconds: number | null;
  supervisors: HorizonSupervisor[];
}

export interface FailedJob {
  source: 'failed_jobs' | 'bullmq';
  id: string;
  queue: string;
  name: string;
  exception: string;
  failedAt: Date | null;
}

export interface QueuesView {
  queues: QueueStats[];
  horizon: HorizonMaster[];
  horizonMetrics: Array<{ key: string; value: Record<string, unknown> }>;
}

async function queueNames(ctx: DataContext): Promise<string[]> {
  const bullPrefix = queuePrefix(ctx.prefix);
  const keys = await scanKeys(ctx.redis, `${bullPrefix}:*:meta`, 500);
  const names = new Set<string>(allUserDataQueues(ctx.config.userDataShards));
  for (const k of keys) names.add(k.slice(bullPrefix.length + 1, -':meta'.length));
  return [...names].sort();
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export async function readHorizonMasters(ctx: DataContext): Promise<HorizonMaster[]> {
  const now = ctx.clock.now();
  const keys = await scanKeys(ctx.redis, `${ctx.prefix}:horizon:master:*`, 100);
  if (!keys.length) return [];
  const values = await ctx.redis.mget(...keys);
  const out: HorizonMaster[] = [];
  keys.forEach((key, i) => {
    const m = parseRedisJson<Record<string, unknown>>(key, values[i] ?? null);
    if (!m) return;
    const sups = Array.isArray(m.supervisors) ? (m.supervisors as Array<Record<string, unknown>>) : [];
    out.push({
      host: str(m.host) ?? key.split(':').pop()!,
      pid: num(m.pid),
      status: str(m.status) ?? 'unknown',
      startedAt: str(m.started_at),
      ageSeconds: ageSeconds(now, str(m.at)),
      supervisors: sups.map((s) => ({
        name: str(s.name) ?? '?',
        queues: Array.isArray(s.queues) ? (s.queues as unknown[]).map(String) : typeof s.queues === 'string' ? [s.queues] : [],
        balance: str(s.balance),
        min: num(s.min),
        max: num(s.max),
        processes: (Array.isArray(s.processes) ? (s.processes as Array<Record<string, unknown>>) : []).map((p) => ({
          pid: num(p.pid),
          queue: str(p.queue),
          status: str(p.status),
          jobs: num(p.jobs),
          startedAt: str(p.started_at),
          rssMb: num(p.rss_mb),
        })),
      })),
    });
  });
  return out;
}

async function readHorizonMetrics(ctx: DataContext): Promise<QueuesView['horizonMetrics']> {
  const keys = await scanKeys(ctx.redis, `${ctx.prefix}:horizon:metrics:*`, 200);
  const out: QueuesView['horizonMetrics'] = [];
  for (const key of keys) {
    if ((await ctx.redis.type(key)) !== 'string') continue; // hashes/lists/zsets are horizon's own bookkeeping
    const raw = await ctx.redis.get(key);
    try {
      const v = raw ? (JSON.parse(raw) as unknown) : null;
      if (v && typeof v === 'object' && !Array.isArray(v)) out.push({ key: key.slice(ctx.prefix.length + 1), value: v as Record<string, unknown> });
    } catch {
      ctx.log.debug('horizon metrics key is not JSON; not shown', { key });
    }
  }
  return out;
}

/**
 * BullMQ's per-minute metrics (recorded by workers started with `metrics`, as QueueWorker is) as counts for
 * the last complete minute and the last 60 minutes. BullMQ keeps a running `count`, and pushes the count of a
 * finished minute onto the data list only when the next job finishes in a later minute: the jobs since
 * `prevTS` (count − prevCount) all finished in prevTS's minute, and data[0] is the minute before it (then
 * older minutes, zeros for idle ones). Null when no worker has recorded anything.
 */
export function minuteCounts(m: { meta: { count: number; prevTS: number; prevCount: number }; data: number[] }, now: number): { lastMinute: number; lastHour: number } | null {
  if (!m.meta.prevTS && m.meta.count === 0 && m.data.length === 0) return null;
  const nowMin = Math.floor(now / 60_000);
  const prevMin = Math.floor(m.meta.prevTS / 60_000);
  const pending = Math.max(0, m.meta.count - m.meta.prevCount);
  const countIn = (minute: number): number => {
    if (minute === prevMin) return pending;
    const i = prevMin - 1 - minute; // data[0] is prevMin − 1
    return minute < prevMin && i < m.data.length ? (m.data[i] ?? 0) : 0;
  };
  let lastHour = 0;
  for (let minute = nowMin - 59; minute <= nowMin; minute++) lastHour += countIn(minute);
  return { lastMinute: countIn(nowMin - 1), lastHour };
}

export async function readQueueStats(ctx: DataContext): Promise<QueueStats[]> {
  const now = ctx.clock.now();
  const out: QueueStats[] = [];
  for (const name of await queueNames(ctx)) {
    const q = await ctx.queues.queue(name);
    const c = await q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized');
    const [oldest] = (await q.getJobs(['waiting', 'prioritized'], 0, 0, true)) as Job[];
    const completed = minuteCounts(await q.getMetrics('completed', 0, 59), now);
    const failed = minuteCounts(await q.getMetrics('failed', 0, 59), now);
    out.push({
      name,
      waiting: c.waiting ?? 0,
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      failed: c.failed ?? 0,
      completed: c.completed ?? 0,
      paused: await q.isPaused(),
      prioritized: c.prioritized ?? 0,
      oldestWaitSeconds: oldest?.timestamp ? ageSeconds(now, oldest.timestamp) : null,
      // null = no worker recorded metrics for this queue (not "zero jobs")
      completedLastMinute: completed || failed ? (completed?.lastMinute ?? 0) : null,
      completedLastHour: completed || failed ? (completed?.lastHour ?? 0) : null,
      failedLastHour: completed || failed ? (failed?.lastHour ?? 0) : null,
    });
  }
  return out;
}

export async function readQueues(ctx: DataContext): Promise<QueuesView> {
  return { queues: await readQueueStats(ctx), horizon: await readHorizonMasters(ctx), horizonMetrics: await readHorizonMetrics(ctx) };
}

export async function readFailedJobs(ctx: DataContext, limit = 50): Promise<{ source: 'failed_jobs' | 'bullmq'; jobs: FailedJob[] }> {
  if (await ctx.probe.has('failed_jobs')) {
    const rows = await listFailedJobs(ctx.db, limit);
    return { source: 'failed_jobs', jobs: rows.map((r) => ({ source: 'failed_jobs', id: r.uuid, queue: r.queue, name: r.name, exception: r.exception.slice(0, 2000), failedAt: r.failedAt })) };
  }
  const jobs: FailedJob[] = [];
  for (const name of await queueNames(ctx)) {
    const q = await ctx.queues.queue(name);
    for (const j of (await q.getFailed(0, 19)) as Job[]) {
      if (!j) continue;
      jobs.push({ source: 'bullmq', id: String(j.id), queue: name, name: j.name, exception: String(j.failedReason ?? '').slice(0, 2000), failedAt: j.finishedOn ? new Date(j.finishedOn) : null });
    }
  }
  jobs.sort((a, b) => (b.failedAt?.getTime() ?? 0) - (a.failedAt?.getTime() ?? 0));
  return { source: 'bullmq', jobs: jobs.slice(0, limit) };
}

export function queuesSection(ctx: DataContext): Promise<Section<QueuesView>> {
  return section('queues', ctx.log, () => readQueues(ctx));
}
