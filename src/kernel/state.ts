/**
 * The scheduler's flags in Redis (cluster-wide: every box sharing the prefix sees them):
 *
 *   <prefix>:schedule:paused      JSON {since, reason, host}            no TTL: schedule:pause / schedule:resume
 *   <prefix>:schedule:interrupt   "<minute slot, ISO>"                  TTL to the end of that minute: schedule:interrupt
 *   <prefix>:app:down             JSON {since, reason, retry, secret}   the box's maintenance flag (src/support/box-flags.ts)
 *
 * An interrupt names the minute it stops, so a run of the next minute never mistakes an old interrupt for
 * its own, and nobody has to clear the flag.
 */
import type { Redis } from 'ioredis';
import { maintenanceKey, type MaintenanceState } from '../support/box-flags.js';
import { slotStamp } from './mutex.js';

export interface PauseState {
  since: string;
  reason: string | null;
  host: string;
}

export interface RunFlags {
  maintenance: MaintenanceState | null;
  paused: PauseState | null;
  interrupted: boolean;
}

export function pausedKey(prefix: string): string {
  return `${prefix}:schedule:paused`;
}

export function interruptKey(prefix: string): string {
  return `${prefix}:schedule:interrupt`;
}

export function minuteOf(ms: number): number {
  return Math.floor(ms / 60_000) * 60_000;
}

function parse<T>(raw: string | null, what: string): T | null {
  if (raw === null) return null;
  try {
    return JSON.parse(raw) as T;
  } catch {
    throw new Error(`${what} holds invalid JSON: ${raw.slice(0, 60)}`);
  }
}

/** Maintenance, pause and interrupt (for the minute of `slot`) in one round trip. */
export async function readFlags(redis: Redis, prefix: string, slot: number): Promise<RunFlags> {
  const [down, paused, interrupt] = await redis.mget(maintenanceKey(prefix), pausedKey(prefix), interruptKey(prefix));
  return {
    maintenance: parse<MaintenanceState>(down ?? null, maintenanceKey(prefix)),
    paused: parse<PauseState>(paused ?? null, pausedKey(prefix)),
    interrupted: interrupt === slotStamp(minuteOf(slot)),
  };
}

export async function pauseSchedule(redis: Redis, prefix: string, state: PauseState): Promise<void> {
  await redis.set(pausedKey(prefix), JSON.stringify(state));
}

/** Resume; returns the pause that was lifted, or null if the schedule was not paused. */
export async function resumeSchedule(redis: Redis, prefix: string): Promise<PauseState | null> {
  const raw = await redis.getdel(pausedKey(prefix));
  return parse<PauseState>(raw, pausedKey(prefix));
}

export async function getPause(redis: Redis, prefix: string): Promise<PauseState | null> {
  return parse<PauseState>(await redis.get(pausedKey(prefix)), pausedKey(prefix));
}

/** Ask the runs of the current minute to stop their sub-minute loop. Returns the minute interrupted. */
export async function interruptSchedule(redis: Redis, prefix: string, now: number): Promise<string> {
  const minute = minuteOf(now);
  const stamp = slotStamp(minute);
  // PX rather than PXAT: `now` may come from a shifted clock (schedule:run --at) in tests.
  await redis.set(interruptKey(prefix), stamp, 'PX', Math.max(1, minute + 60_000 - now));
  return stamp;
}

export interface BeatSummary {
  slot: string;
  due: number;
  failed: number;
}

/** The 'scheduler' heartbeat body (docs/contracts.md), written by every schedule:run. */
export function schedulerBeat(host: string, pid: number, startedAt: number, now: number, summary: BeatSummary) {
  return {
    daemon: 'scheduler',
    host,
    pid,
    started_at: new Date(startedAt).toISOString(),
    last_run_at: new Date(now).toISOString(),
    last_slot: summary.slot,
    tasks_due: summary.due,
    tasks_failed: summary.failed,
  };
}

export const SCHEDULER_HEARTBEAT_TTL_S = 180;
