/**
 * The `horizon` worker pool in the chaos box: whether this build has it, a small HORIZON_CONFIG for a
 * 2-core machine, and readers for the master's state (`<p>:horizon:master:<host>`, docs/contracts.md).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../../support/context.js';
import { allUserDataQueues } from '../../../src/queue/user-data.js';
import type { MasterState } from '../../../src/horizon/control.js';
import { HOST, type Box } from './box.js';

export function horizonAvailable(): boolean {
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')) as { commands: Record<string, unknown> };
  return 'horizon' in manifest.commands;
}

/** One consumer process per user-data shard and one for reconcile (the role's defaults are 5 + 1). */
export function useSmallHorizon(box: Box, shards: number): void {
  const file = path.join(box.env.STORAGE_PATH!, 'horizon-chaos.json');
  fs.writeFileSync(file, JSON.stringify({ supervisors: [{ name: 'user-data', processes: shards }, { name: 'reconcile', processes: 1 }] }));
  box.env.HORIZON_CONFIG = file;
}

export async function horizonState(box: Box): Promise<MasterState | null> {
  const v = await box.redis.get(`${box.prefix}:horizon:master:${HOST}`);
  return v ? (JSON.parse(v) as MasterState) : null;
}

/** Pids of the master's live worker children, by supervisor. */
export function childPids(state: MasterState | null, supervisor?: string): number[] {
  if (!state) return [];
  return state.supervisors.filter((s) => !supervisor || s.name === supervisor).flatMap((s) => s.processes.map((p) => p.pid).filter((p): p is number => typeof p === 'number'));
}

/**
 * Whole: master `pid` wrote its state within the last 3 s, every user-data child is up (idle or working)
 * and, together, they hold every shard.
 */
export function horizonWhole(state: MasterState | null, masterPid: number, shards: number, excludePids: Set<number> = new Set()): boolean {
  if (!state || state.pid !== masterPid || Date.now() - Date.parse(state.at) > 3000) return false;
  const ud = state.supervisors.find((s) => s.name === 'user-data');
  if (!ud || !ud.processes.length) return false;
  if (!ud.processes.every((p) => p.pid && !excludePids.has(p.pid) && (p.status === 'idle' || p.status === 'working'))) return false;
  const held = new Set(ud.processes.flatMap((p) => p.queues ?? (p.queue ? [p.queue] : [])));
  return allUserDataQueues(shards).every((q) => held.has(q));
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}
