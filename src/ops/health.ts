/**
 * The system-health watchdog (`kraite:cron-check-system-health`). Each check reads SQL, Redis or the host
 * and returns the signals it found; every signal is raised through the Notifier, throttled to once per
 * 5 minutes per signal. A check that throws raises `check_threw_<check>`; a check whose part is not
 * installed reports itself as unavailable. While the box is down only the stuck-maintenance check runs.
 */
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import type { Clock } from '../support/clock.js';
import { errorMessage } from '../support/errors.js';
import { getMaintenance } from '../support/box-flags.js';
import { readHeartbeats } from '../support/heartbeat.js';
import { dispatcherPulse, failedJobsStats, newestKeepAlive, staleMarkPrices, stepQueues } from '../db/repositories/health.js';
import { eligibleAccountIds } from '../db/repositories/accounts.js';
import { diskStats } from './system-stats.js';
import type { Severity } from '../notify/notifier.js';

export interface Signal {
  signal: string;
  severity: Severity;
  title: string;
  message: string;
  context?: Record<string, unknown>;
}

export interface CheckResult {
  check: string;
  status: 'ok' | 'alert' | 'unavailable' | 'error' | 'skipped';
  detail: string;
  signals: Signal[];
}

export interface HealthThresholds {
  markPriceStaleSeconds: number;
  userDataHeartbeatSeconds: number;
  dispatcherTickStaleSeconds: number;
  schedulerDeadSeconds: number;
  failedJobsBurstPerHour: number;
  failedJobsCapacity: number;
  diskFreePercentMin: number;
  maintenanceStuckMinutes: number;
  /** Waiting jobs per logical queue; `*` is the default. */
  queueDepth: Record<string, number>;
}

export const DEFAULT_THRESHOLDS: HealthThresholds = {
  markPriceStaleSeconds: 60,
  userDataHeartbeatSeconds: 120,
  dispatcherTickStaleSeconds: 60,
  schedulerDeadSeconds: 120,
  failedJobsBurstPerHour: 5,
  failedJobsCapacity: 1000,
  diskFreePercentMin: 15,
  maintenanceStuckMinutes: 45,
  queueDepth: { positions: 50, orders: 50, priority: 50, default: 500, indicators: 5000, cronjobs: 500, 'user-data-stream': 2000, '*': 1000 },
};

export interface HealthDeps {
  db: Knex;
  redis: Redis;
  prefix: string;
  clock: Clock;
  thresholds?: Partial<HealthThresholds>;
  /** Waiting-job counts per queue name; injected so this module does not import bullmq. */
  queueDepths?: (queues: string[]) => Promise<Record<string, number>>;
  /** Physical queue names of the user-data shards. */
  userDataQueues?: string[];
  diskPath?: string;
}

type Check = (d: HealthDeps, t: HealthThresholds) => Promise<Omit<CheckResult, 'check'>>;

const ok = (detail: string): Omit<CheckResult, 'check'> => ({ status: 'ok', detail, signals: [] });
const unavailable = (detail: string): Omit<CheckResult, 'check'> => ({ status: 'unavailable', detail, signals: [] });
const alert = (detail: string, signals: Signal[]): Omit<CheckResult, 'check'> => ({ status: 'alert', detail, signals });

const ageSeconds = (now: number, at: Date | string | null | undefined): number | null => {
  if (!at) return null;
  const t = typeof at === 'string' ? Date.parse(at) : at.getTime();
  return Number.isFinite(t) ? Math.max(0, Math.round((now - t) / 1000)) : null;
};

export const CHECKS: Record<string, Check> = {
  async connectivity(d) {
    await d.db.raw('select 1');
    const pong = await d.redis.ping();
    return pong === 'PONG' ? ok('database and Redis answer') : alert('Redis did not answer PONG', [{ signal: 'redis_unhealthy', severity: 'critical', title: 'Redis did not answer PING', message: String(pong) }]);
  },

  async mark_prices(d, t) {
    const r = await staleMarkPrices(d.db, new Date(d.clock.now() - t.markPriceStaleSeconds * 1000));
    if (!r) return unavailable('no exchange_symbol_prices table');
    if (r.total === 0) return ok('no listed symbols yet');
    if (r.stale === 0) return ok(`${r.total} mark prices fresh (≤ ${t.markPriceStaleSeconds}s)`);
    return alert(`${r.stale}/${r.total} mark prices older than ${t.markPriceStaleSeconds}s`, [
      {
        signal: 'mark_price_stale',
        severity: 'high',
        title: `${r.stale} of ${r.total} mark prices are stale`,
        message: `Mark prices older than ${t.markPriceStaleSeconds}s: ${r.samples.join(', ')}${r.stale > r.samples.length ? ', …' : ''}. Is kraite:stream-binance-prices running?`,
        context: { stale: r.stale, total: r.total, samples: r.samples },
      },
    ]);
  },

  async user_data_daemon(d, t) {
    const accounts = await eligibleAccountIds(d.db);
    const beats = await readHeartbeats(d.redis, d.prefix, 'stream-user-data');
    if (accounts.length === 0) return ok('no eligible accounts: the daemon has nothing to stream');
    if (beats.length === 0) return alert('no heartbeat', [{ signal: 'daemon_heartbeat_missing', severity: 'critical', title: 'User-data daemon heartbeat is missing', message: `${accounts.length} accounts are eligible but no kraite:stream-binance-user-data heartbeat exists.` }]);
    const newest = Math.min(...beats.map((b) => ageSeconds(d.clock.now(), b.at) ?? Infinity));
    if (newest > t.userDataHeartbeatSeconds) {
      return alert(`heartbeat ${newest}s old`, [{ signal: 'daemon_heartbeat_stale', severity: 'critical', title: 'User-data daemon heartbeat is stale', message: `Newest heartbeat is ${newest}s old (threshold ${t.userDataHeartbeatSeconds}s).` }]);
    }
    return ok(`heartbeat ${newest}s old`);
  },

  async dispatcher(d, t) {
    const signals: Signal[] = [];
    const details: string[] = [];
    let seen = 0;
    for (const [set, prefix] of [['default', ''], ['trading', 'trading_']] as const) {
      const p = await dispatcherPulse(d.db, prefix);
      if (!p) continue;
      seen++;
      const age = ageSeconds(d.clock.now(), p.lastTickAt);
      details.push(`${set}: ${p.active ? 'active' : 'idle'}, last tick ${age === null ? 'never' : `${age}s ago`}`);
      if (p.active && (age === null || age > t.dispatcherTickStaleSeconds)) {
        signals.push({ signal: `dispatcher_tick_stale_${set}`, severity: 'critical', title: `Dispatcher tick is stale (${set})`, message: `The ${set} step set has active work but its last tick completed ${age === null ? 'never' : `${age}s ago`}. Is kraite:dispatch-daemon running?`, context: { set, age } });
      }
    }
    if (seen === 0) return unavailable('no steps tables');
    return signals.length ? alert(details.join('; '), signals) : ok(details.join('; '));
  },

  async scheduler(d, t) {
    const beats = await readHeartbeats(d.redis, d.prefix, 'scheduler');
    const keepAlive = await newestKeepAlive(d.db);
    const beatAge = beats.length ? Math.min(...beats.map((b) => ageSeconds(d.clock.now(), b.at) ?? Infinity)) : null;
    const keyAge = keepAlive && keepAlive.rows > 0 ? ageSeconds(d.clock.now(), keepAlive.newest) : null;
    const evidence = [beatAge, keyAge].filter((a): a is number => a !== null);
    if (evidence.length === 0) return unavailable('no scheduler heartbeat and no listen keys yet');
    const freshest = Math.min(...evidence);
    if (freshest > t.schedulerDeadSeconds) {
      return alert(`last sign of life ${freshest}s ago`, [{ signal: 'scheduler_dead', severity: 'critical', title: 'The scheduler looks dead', message: `No schedule:run heartbeat or listen-key keepalive for ${freshest}s (threshold ${t.schedulerDeadSeconds}s). Check the crontab line.`, context: { heartbeat_age: beatAge, keepalive_age: keyAge } }]);
    }
    return ok(`last sign of life ${freshest}s ago`);
  },

  async failed_jobs(d, t) {
    const s = await failedJobsStats(d.db, new Date(d.clock.now() - 3600_000));
    if (!s) return unavailable('no failed_jobs table');
    const signals: Signal[] = [];
    if (s.lastHour > t.failedJobsBurstPerHour) {
      signals.push({ signal: 'failed_jobs_recent_burst', severity: 'high', title: `${s.lastHour} jobs failed in the last hour`, message: `Most failures: ${s.topJob ?? '?'} on ${s.topQueue ?? '?'}. Latest: ${s.topException ?? '?'}`, context: { ...s } });
    }
    if (s.total > t.failedJobsCapacity) {
      signals.push({ signal: 'failed_jobs_capacity', severity: 'warning', title: `${s.total} failed jobs are stored`, message: `More than ${t.failedJobsCapacity} rows in failed_jobs: retry or forget them (queue:failed).`, context: { total: s.total } });
    }
    const detail = `${s.lastHour} in the last hour, ${s.total} stored`;
    return signals.length ? alert(detail, signals) : ok(detail);
  },

  async queue_depth(d, t) {
    if (!d.queueDepths) return unavailable('no queue reader');
    const logical = await stepQueues(d.db, ['', 'trading_']);
    const names = [...new Set([...logical, ...(d.userDataQueues ?? [])])];
    if (names.length === 0) return ok('no queues in use');
    const depths = await d.queueDepths(names);
    const signals: Signal[] = [];
    for (const [queue, waiting] of Object.entries(depths)) {
      const logicalName = /^user-data-stream-\d+$/.test(queue) ? 'user-data-stream' : queue;
      const limit = t.queueDepth[logicalName] ?? t.queueDepth['*']!;
      if (waiting > limit) signals.push({ signal: `queue_depth_${queue}`, severity: 'high', title: `Queue ${queue} has ${waiting} waiting jobs`, message: `Threshold ${limit}. Are its workers running (horizon:status)?`, context: { queue, waiting, limit } });
    }
    const detail = Object.entries(depths).map(([q, n]) => `${q}=${n}`).join(' ');
    return signals.length ? alert(detail, signals) : ok(detail);
  },

  async disk(d, t) {
    const s = diskStats(d.diskPath ?? '/');
    if (!s) return unavailable('statfs failed');
    if (s.free_percent < t.diskFreePercentMin) {
      return alert(`${s.free_percent}% free`, [{ signal: 'disk_pressure_low', severity: 'high', title: `Disk has ${s.free_percent}% free`, message: `Less than ${t.diskFreePercentMin}% free on ${d.diskPath ?? '/'} (${s.used_gb}/${s.total_gb} GB used).`, context: { ...s } }]);
    }
    return ok(`${s.free_percent}% free`);
  },

  async maintenance(d, t) {
    const m = await getMaintenance(d.redis, d.prefix);
    if (!m) return ok('box is up');
    const minutes = Math.round((ageSeconds(d.clock.now(), m.since) ?? 0) / 60);
    if (minutes > t.maintenanceStuckMinutes) {
      return alert(`down for ${minutes} min`, [{ signal: 'maintenance_mode_stuck', severity: 'high', title: `Maintenance mode on for ${minutes} minutes`, message: `The box has been down since ${m.since}${m.reason ? ` (${m.reason})` : ''}. Run \`bin/artisan up\` (or kraite:warmup) when the deploy is done.` }]);
    }
    return ok(`down for ${minutes} min (threshold ${t.maintenanceStuckMinutes})`);
  },
};

/** Run the checks (only `maintenance` while the box is down) and return each result. */
export async function runHealthChecks(deps: HealthDeps, only?: string[]): Promise<CheckResult[]> {
  const t = { ...DEFAULT_THRESHOLDS, ...deps.thresholds, queueDepth: { ...DEFAULT_THRESHOLDS.queueDepth, ...deps.thresholds?.queueDepth } };
  const down = await getMaintenance(deps.redis, deps.prefix);
  const results: CheckResult[] = [];
  for (const [name, check] of Object.entries(CHECKS)) {
    if (only && !only.includes(name)) continue;
    if (down && name !== 'maintenance') {
      results.push({ check: name, status: 'skipped', detail: 'box is in maintenance mode', signals: [] });
      continue;
    }
    try {
      results.push({ check: name, ...(await check(deps, t)) });
    } catch (err) {
      results.push({ check: name, status: 'error', detail: errorMessage(err), signals: [{ signal: `check_threw_${name}`, severity: 'high', title: `Health check ${name} failed`, message: errorMessage(err) }] });
    }
  }
  return results;
}
