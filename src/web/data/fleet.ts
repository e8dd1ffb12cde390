/**
 * The fleet heartbeat (issue 8's `kraite:fleet-report`): one Redis key per host, `<prefix>:fleet:<host>`,
 * JSON {hostname, role, reported_at, version, uptime_seconds, boot_id, cpu {load1, cores, percent},
 * ram {used_mb, total_mb, percent}, disk {used_gb, total_gb, percent}, units {program: STATE}}, 7-day TTL.
 * Read with SCAN, never KEYS. A host is `stale` when reported_at is older than 720 s (or unparseable),
 * `missing` when it is on the roster but has no key. The roster is WEB_FLEET_HOSTS plus every host the
 * web has ever seen report (remembered in the set `<prefix>:web:fleet-known`), so a box whose key
 * expired still shows up as missing.
 */
import { ageSeconds, scanKeys, section, type Section } from './safe.js';
import type { DataContext } from './context.js';

export const FLEET_STALE_SECONDS = 720;
export const REPORT_INTERVAL_SECONDS = 300;

export interface FleetHost {
  hostname: string;
  status: 'online' | 'stale' | 'missing';
  role: string | null;
  version: string | null;
  reportedAt: string | null;
  ageSeconds: number | null;
  uptimeSeconds: number | null;
  recentlyRebooted: boolean;
  cpu: { load1: number | null; cores: number | null; percent: number | null };
  ram: { usedMb: number | null; totalMb: number | null; percent: number | null };
  disk: { usedGb: number | null; totalGb: number | null; percent: number | null };
  units: Array<{ name: string; state: string }>;
  issues: string[];
}

const n = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : null);
const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

export function fleetKnownKey(prefix: string): string {
  return `${prefix}:web:fleet-known`;
}

export function classifyFleetReport(hostname: string, payload: Record<string, unknown> | null, now: number): FleetHost {
  const empty: FleetHost = {
    hostname,
    status: 'missing',
    role: null,
    version: null,
    reportedAt: null,
    ageSeconds: null,
    uptimeSeconds: null,
    recentlyRebooted: false,
    cpu: { load1: null, cores: null, percent: null },
    ram: { usedMb: null, totalMb: null, percent: null },
    disk: { usedGb: null, totalGb: null, percent: null },
    units: [],
    issues: ['Fleet heartbeat is missing'],
  };
  if (!payload) return empty;
  const reportedAt = typeof payload.reported_at === 'string' ? payload.reported_at : null;
  const parsed = reportedAt ? Date.parse(reportedAt) : NaN;
  const age = Number.isFinite(parsed) ? (parsed > now ? 0 : ageSeconds(now, parsed)) : null;
  const status: FleetHost['status'] = age === null || age > FLEET_STALE_SECONDS ? 'stale' : 'online';
  const cpu = obj(payload.cpu);
  const ram = obj(payload.ram);
  const disk = obj(payload.disk);
  const units = Object.entries(obj(payload.units)).map(([name, state]) => ({ name, state: String(state).toUpperCase() }));
  const uptime = n(payload.uptime_seconds);
  const issues: string[] = [];
  if (status === 'stale') issues.push(age === null ? 'Fleet heartbeat has no readable reported_at' : 'Fleet heartbeat is stale');
  for (const u of units) if (u.state !== 'RUNNING') issues.push(`Service ${u.name} is ${u.state}`);
  return {
    hostname: typeof payload.hostname === 'string' ? payload.hostname : hostname,
    status,
    role: typeof payload.role === 'string' ? payload.role : null,
    version: typeof payload.version === 'string' ? payload.version : null,
    reportedAt,
    ageSeconds: age,
    uptimeSeconds: uptime,
    recentlyRebooted: uptime !== null && uptime < 2 * REPORT_INTERVAL_SECONDS,
    cpu: { load1: n(cpu.load1), cores: n(cpu.cores), percent: n(cpu.percent) },
    ram: { usedMb: n(ram.used_mb), totalMb: n(ram.total_mb), percent: n(ram.percent) },
    disk: { usedGb: n(disk.used_gb), totalGb: n(disk.total_gb), percent: n(disk.percent) },
    units,
    issues,
  };
}

export async function readFleet(ctx: DataContext): Promise<FleetHost[]> {
  const now = ctx.clock.now();
  const base = `${ctx.prefix}:fleet:`;
  const keys = await scanKeys(ctx.redis, `${base}*`, 1000);
  const values = keys.length ? await ctx.redis.mget(...keys) : [];
  const byHost = new Map<string, FleetHost>();
  keys.forEach((key, i) => {
    const host = key.slice(base.length);
    let payload: Record<string, unknown> | null = null;
    try {
      payload = values[i] ? obj(JSON.parse(values[i]!)) : null;
    } catch {
      ctx.log.warn('fleet report is not JSON', { key });
      payload = {}; // present but unreadable: classified as stale below, with the reason shown
    }
    byHost.set(host, classifyFleetReport(host, payload, now));
  });
  if (keys.length) await ctx.redis.sadd(fleetKnownKey(ctx.prefix), ...byHost.keys());
  const known = await ctx.redis.smembers(fleetKnownKey(ctx.prefix));
  for (const host of new Set([...ctx.config.web.fleetHosts, ...known])) {
    if (!byHost.has(host)) byHost.set(host, classifyFleetReport(host, null, now));
  }
  const order = { missing: 0, stale: 1, online: 2 };
  return [...byHost.values()].sort((a, b) => order[a.status] - order[b.status] || a.hostname.localeCompare(b.hostname));
}

export function fleetSection(ctx: DataContext): Promise<Section<FleetHost[]>> {
  return section('fleet', ctx.log, () => readFleet(ctx));
}
