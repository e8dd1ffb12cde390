/**
 * Deploy drain and restart.
 *  cooldown: pause dispatch (all sets, 30-minute TTL so a crashed deploy heals itself), wait up to a
 *            timeout for in-flight leaf steps and queues to drain, then put the box `down`. On timeout it
 *            still goes down and reports failure. --force goes down at once. A probe error counts as "not
 *            drained" (fail closed).
 *  warmup:   resume dispatch, `up`, and restart the box's programs through supervisorctl when present.
 */
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import type { Clock } from '../support/clock.js';
import { dispatchPause, getMaintenance, pauseDispatch, resumeDispatch, setMaintenance } from '../support/box-flags.js';
import { errorMessage } from '../support/errors.js';
import { inFlightLeafSteps, stepQueues } from '../db/repositories/health.js';
import { supervisorctl, supervisorUnits } from './supervisor-status.js';

export const STEP_SETS = ['', 'trading_'] as const;
export const BOX_PROGRAMS = ['kraite-horizon', 'kraite-dispatch-daemon', 'kraite-stream-binance-prices', 'kraite-stream-binance-user-data', 'kraite-web'];

export interface DrainProbe {
  /** In-flight leaf steps per set ('default' | 'trading'), -1 when the probe failed. */
  steps: Record<string, number>;
  /** Waiting + active jobs per queue, -1 when the probe failed. */
  queues: Record<string, number>;
}

export interface OpsDeps {
  db: Knex;
  redis: Redis;
  prefix: string;
  clock: Clock;
  role: 'ingestion' | 'worker' | 'web';
  /** Waiting + active jobs per queue name (injected so this module does not import bullmq). */
  queueLoad: (queues: string[]) => Promise<Record<string, number>>;
  userDataQueues: string[];
  supervisorConf?: string | null;
  say?: (line: string) => void;
}

export async function probeDrain(d: OpsDeps): Promise<DrainProbe> {
  const steps: Record<string, number> = {};
  for (const p of STEP_SETS) {
    const name = p === '' ? 'default' : 'trading';
    try {
      const n = await inFlightLeafSteps(d.db, p);
      if (n !== null) steps[name] = n;
    } catch (err) {
      d.say?.(`step probe failed for ${name}: ${errorMessage(err)}`);
      steps[name] = -1;
    }
  }
  let queues: Record<string, number> = {};
  try {
    const names = [...new Set([...(await stepQueues(d.db, [...STEP_SETS])), ...d.userDataQueues])];
    queues = names.length ? await d.queueLoad(names) : {};
  } catch (err) {
    d.say?.(`queue probe failed: ${errorMessage(err)}`);
    queues = { '(probe)': -1 };
  }
  return { steps, queues };
}

export function drainReasons(p: DrainProbe, role: OpsDeps['role']): string[] {
  const reasons: string[] = [];
  if (role === 'ingestion') for (const [set, n] of Object.entries(p.steps)) if (n !== 0) reasons.push(n < 0 ? `${set} steps: probe failed` : `${set}: ${n} leaf step(s) in flight`);
  for (const [q, n] of Object.entries(p.queues)) if (n !== 0) reasons.push(n < 0 ? `queues: probe failed` : `${q}: ${n} job(s) waiting or active`);
  return reasons;
}

export interface CooldownStatus {
  state: 'COOLED_DOWN' | 'ACTIVE';
  down: boolean;
  paused: boolean;
  reasons: string[];
  probe: DrainProbe;
}

export async function cooldownStatus(d: OpsDeps): Promise<CooldownStatus> {
  const down = !!(await getMaintenance(d.redis, d.prefix));
  const paused = (await Promise.all(STEP_SETS.map((s) => dispatchPause(d.redis, d.prefix, s)))).every((p) => p !== null);
  const probe = await probeDrain(d);
  const reasons = drainReasons(probe, d.role);
  if (!down) reasons.unshift('the box is not down');
  if (!paused && d.role === 'ingestion') reasons.unshift('dispatch is not paused');
  return { state: reasons.length === 0 ? 'COOLED_DOWN' : 'ACTIVE', down, paused, reasons, probe };
}

export interface CooldownResult {
  drained: boolean;
  waitedMs: number;
  reasons: string[];
}

export async function cooldown(d: OpsDeps, opts: { timeoutMs: number; pollMs?: number; force?: boolean; reason?: string }): Promise<CooldownResult> {
  const start = d.clock.now();
  const reason = opts.reason ?? 'kraite:cooldown';
  if (d.role === 'ingestion') await pauseDispatch(d.redis, d.prefix, null, reason, 1800, new Date(start));
  let reasons: string[] = [];
  let drained = true;
  if (!opts.force && d.role !== 'web') {
    const timeoutMs = d.role === 'worker' ? Math.min(opts.timeoutMs, 180_000) : opts.timeoutMs;
    for (;;) {
      reasons = drainReasons(await probeDrain(d), d.role);
      if (reasons.length === 0) break;
      if (d.clock.now() - start >= timeoutMs) {
        drained = false;
        break;
      }
      d.say?.(`waiting: ${reasons.join('; ')}`);
      await d.clock.sleep(opts.pollMs ?? 5000);
    }
  }
  await setMaintenance(d.redis, d.prefix, { since: new Date(d.clock.now()).toISOString(), reason });
  return { drained, waitedMs: d.clock.now() - start, reasons };
}

export interface WarmupResult {
  resumed: boolean;
  up: boolean;
  restarts: Array<{ program: string; ok: boolean; output: string }>;
  supervisor: 'restarted' | 'unavailable';
}

export async function warmup(d: OpsDeps, opts: { restart?: boolean } = {}): Promise<WarmupResult> {
  await resumeDispatch(d.redis, d.prefix, null);
  for (const s of STEP_SETS) await resumeDispatch(d.redis, d.prefix, s);
  await setMaintenance(d.redis, d.prefix, null);
  const restarts: WarmupResult['restarts'] = [];
  let supervisor: WarmupResult['supervisor'] = 'unavailable';
  if (opts.restart !== false) {
    const units = await supervisorUnits({ conf: d.supervisorConf ?? null });
    if (units) {
      supervisor = 'restarted';
      for (const program of BOX_PROGRAMS.filter((p) => p in units)) restarts.push({ program, ...(await supervisorctl('restart', program, { conf: d.supervisorConf ?? null })) });
    }
  }
  return { resumed: true, up: true, restarts, supervisor };
}
