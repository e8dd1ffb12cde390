/**
 * The fleet heartbeat. Each host stores a snapshot of itself in Redis (`<p>:fleet:<host>`, 7-day TTL that
 * only garbage-collects decommissioned hosts); liveness comes from the age of reported_at:
 * online ≤ 720 s, stale beyond, missing when there is no key for a host on the roster.
 */
import os from 'node:os';
import type { Redis } from 'ioredis';
import { scanAll } from '../redis/scan.js';
import { bootId, cpuStats, diskStats, ramStats, type CpuStats, type DiskStats, type RamStats } from './system-stats.js';

export const FLEET_TTL_SECONDS = 7 * 24 * 3600;
export const FLEET_STALE_AFTER_SECONDS = 720;
export const FLEET_REPORT_INTERVAL_SECONDS = 300;

export interface FleetSnapshot {
  hostname: string;
  role: string;
  reported_at: string;
  version: string;
  uptime_seconds: number;
  boot_id: string | null;
  cpu: CpuStats | null;
  ram: RamStats | null;
  disk: DiskStats | null;
  units: Record<string, string>;
  supervisor: 'ok' | 'unavailable';
}

export function fleetKey(prefix: string, host: string): string {
  return `${prefix}:fleet:${host}`;
}

export function collectSnapshot(input: { hostname: string; role: string; version: string; now: Date; units: Record<string, string> | null }): FleetSnapshot {
  return {
    hostname: input.hostname,
    role: input.role,
    reported_at: input.now.toISOString(),
    version: input.version,
    uptime_seconds: Math.round(os.uptime()),
    boot_id: bootId(),
    cpu: cpuStats(),
    ram: ramStats(),
    disk: diskStats('/'),
    units: input.units ?? {},
    supervisor: input.units ? 'ok' : 'unavailable',
  };
}

export async function storeSnapshot(redis: Redis, prefix: string, snap: FleetSnapshot): Promise<void> {
  await redis.set(fleetKey(prefix, snap.hostname), JSON.stringify(snap), 'EX', FLEET_TTL_SECONDS);
}

export type FleetStatus = 'online' | 'stale' | 'missing';

export interface FleetEntry {
  hostname: string;
  status: FleetStatus;
  age_seconds: number | null;
  recently_rebooted: boolean;
  snapshot: FleetSnapshot | null;
}

export function classify(snapshot: FleetSnapshot | null, nowMs: number): { status: FleetStatus; age: number | null } {
  if (!snapshot) return { status: 'missing', age: null };
  const at = Date.parse(snapshot.reported_at);
  if (!Number.isFinite(at)) return { status: 'stale', age: null };
  const age = Math.max(0, Math.round((nowMs - at) / 1000));
  return { status: age <= FLEET_STALE_AFTER_SECONDS ? 'online' : 'stale', age };
}

/**
 * Every host with a snapshot, plus the roster (hosts expected to report, e.g. FLEET_HOSTS) so that a host
 * that never reported shows as missing. One SCAN over the fleet keys, then one MGET.
 */
export async function readFleet(redis: Redis, prefix: string, nowMs: number, roster: string[] = []): Promise<FleetEntry[]> {
  const keys = new Set<string>(await scanAll(redis, `${prefix}:fleet:*`, 200));
  for (const host of roster) keys.add(fleetKey(prefix, host));
  const list = [...keys].sort();
  const values = list.length ? await redis.mget(...list) : [];
  return list.map((key, i) => {
    const raw = values[i];
    let snapshot: FleetSnapshot | null = null;
    if (raw) {
      try {
        snapshot = JSON.parse(raw) as FleetSnapshot;
      } catch {
        // A corrupt snapshot counts as stale: the host wrote something, but nothing usable.
        snapshot = { hostname: key.slice(prefix.length + 7), reported_at: 'invalid' } as FleetSnapshot;
      }
    }
    const { status, age } = classify(snapshot, nowMs);
    return {
      hostname: snapshot?.hostname ?? key.slice(`${prefix}:fleet:`.length),
      status,
      age_seconds: age,
      recently_rebooted: !!snapshot && typeof snapshot.uptime_seconds === 'number' && snapshot.uptime_seconds < 2 * FLEET_REPORT_INTERVAL_SECONDS,
      snapshot,
    };
  });
}
