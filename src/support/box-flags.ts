/**
 * Box-wide flags that several processes read, defined once so every part agrees:
 *  - freeze:      a marker FILE, <storage>/framework/kraite-frozen (local/testing only). While it exists the
 *                 schedule registers nothing, the dispatch daemon idles and the streams stay closed.
 *  - maintenance: the `down` flag, a Redis key <prefix>:app:down holding JSON {since, retry, secret?, reason}.
 *                 Every process of the box (and every box sharing the Redis prefix) sees it.
 *  - dispatch pause: Redis keys with a TTL that lifts the pause by itself if the pausing process dies:
 *                 <prefix>:steps:paused:all and <prefix>:steps:paused:<set> (set = "default" | "trading"),
 *                 JSON {reason, paused_at, expires_in_seconds, prefix}.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { storagePath } from './paths.js';

export function freezeMarkerPath(): string {
  return storagePath('framework', 'kraite-frozen');
}

export function isFrozen(): boolean {
  return fs.existsSync(freezeMarkerPath());
}

export function setFrozen(frozen: boolean, reason = 'frozen'): void {
  const p = freezeMarkerPath();
  if (frozen) {
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, JSON.stringify({ reason, since: new Date().toISOString() }));
  } else {
    fs.rmSync(p, { force: true });
  }
}

export interface MaintenanceState {
  since: string;
  reason?: string;
  /** Seconds clients should wait before retrying (Retry-After on the public vhosts). */
  retry?: number;
  /** A bypass secret for the public vhosts, when set with `down --secret=`. Never shown on pages. */
  secret?: string;
}

export function maintenanceKey(prefix: string): string {
  return `${prefix}:app:down`;
}

export async function getMaintenance(redis: Redis, prefix: string): Promise<MaintenanceState | null> {
  const raw = await redis.get(maintenanceKey(prefix));
  return raw ? (JSON.parse(raw) as MaintenanceState) : null;
}

export async function setMaintenance(redis: Redis, prefix: string, state: MaintenanceState | null): Promise<void> {
  if (state) await redis.set(maintenanceKey(prefix), JSON.stringify(state));
  else await redis.del(maintenanceKey(prefix));
}

/** Step table sets: '' (default) and 'trading_'. The CLI accepts "trading" or "trading_". */
export function normaliseStepPrefix(input: string | undefined | null): string {
  const p = (input ?? '').trim();
  if (!p) return '';
  if (!/^[a-z][a-z0-9_]{0,30}$/.test(p)) throw new Error(`"${p}" is not a valid step table prefix`);
  return p.endsWith('_') ? p : `${p}_`;
}

/** The name of a step set in keys and UI: 'default' for '', 'trading' for 'trading_'. */
export function stepSetName(prefix: string): string {
  return prefix === '' ? 'default' : prefix.replace(/_$/, '');
}

export interface DispatchPause {
  reason: string;
  paused_at: string;
  expires_in_seconds: number | null;
  prefix: string | null;
}

export function dispatchPauseKey(redisPrefix: string, stepPrefix: string | null): string {
  return `${redisPrefix}:steps:paused:${stepPrefix === null ? 'all' : stepSetName(stepPrefix)}`;
}

/** Pause dispatch for one step set (or all when stepPrefix is null); the TTL lifts it by itself. */
export async function pauseDispatch(redis: Redis, redisPrefix: string, stepPrefix: string | null, reason: string, ttlSeconds: number | null, now = new Date()): Promise<void> {
  const value: DispatchPause = { reason, paused_at: now.toISOString(), expires_in_seconds: ttlSeconds, prefix: stepPrefix };
  const key = dispatchPauseKey(redisPrefix, stepPrefix);
  if (ttlSeconds && ttlSeconds > 0) await redis.set(key, JSON.stringify(value), 'EX', ttlSeconds);
  else await redis.set(key, JSON.stringify(value));
}

export async function resumeDispatch(redis: Redis, redisPrefix: string, stepPrefix: string | null): Promise<void> {
  await redis.del(dispatchPauseKey(redisPrefix, stepPrefix));
}

/** The pause that applies to a step set: the all-scope pause wins, then the set's own. */
export async function dispatchPause(redis: Redis, redisPrefix: string, stepPrefix: string): Promise<DispatchPause | null> {
  const [all, own] = await redis.mget(dispatchPauseKey(redisPrefix, null), dispatchPauseKey(redisPrefix, stepPrefix));
  const raw = all ?? own;
  return raw ? (JSON.parse(raw) as DispatchPause) : null;
}
