/**
 * The horizon pool's configuration: a typed list of supervisors per SERVER_ROLE.
 *
 *   ingestion → `user-data` (the user-data-stream shards, 5 processes, one consumer per shard) and
 *               `reconcile` (the gap-reconciliation queue); APP_ENV=local adds `steps` so `npm start` on one
 *               machine also drains the demo steps;
 *   worker    → `steps` (default, priority, positions, orders, cronjobs; auto-balanced) and `steps-trading`;
 *   web       → nothing.
 *
 * HORIZON_CONFIG may name a JSON file `{"supervisors": [...]}` (partial supervisors are merged over the
 * role's by name; unknown names are added) — tests and benchmarks use it. Everything is validated here, so a
 * bad file fails the command at start with a clear message.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { AppConfig } from '../config/index.js';
import { allUserDataQueues } from '../queue/user-data.js';
import { UserError } from '../support/errors.js';
import { fromRoot } from '../support/paths.js';

export type Balance = 'simple' | 'auto';

export interface SupervisorConfig {
  name: string;
  /** 'queues': every process runs one BullMQ worker per queue. 'shards': processes claim queues through leases, one consumer per queue in the whole fleet. */
  kind: 'queues' | 'shards';
  queues: string[];
  balance: Balance;
  /** simple: the process count. auto: the starting count. */
  processes: number;
  minProcesses: number;
  maxProcesses: number;
  /** auto: move at most this many processes per cooldown. */
  balanceMaxShift: number;
  balanceCooldownMs: number;
  /** auto: the pool aims to clear the backlog within this time (backlog × avg runtime / processes). */
  balanceTargetMs: number;
  /** BullMQ concurrency of each worker of a 'queues' process (a shard consumer is always 1). */
  concurrency: number;
  /** Recycle a process after this many jobs (0 = never). */
  maxJobs: number;
  /** Recycle a process after this long (0 = never). */
  maxTimeMs: number;
  /** A process whose RSS passes this exits after its current job and is restarted. */
  memoryMb: number;
  /** BullMQ lock duration; short for shards so a dead holder's job comes back in seconds. */
  lockDurationMs: number;
  /** Shard lease TTL (renewed every leaseMs / 4). */
  leaseMs: number;
  /** In-place retries of a failing shard job before it is recorded as failed (order is kept meanwhile). */
  retryAttempts: number;
  retryBackoffMs: number;
  /** A worker whose queue has had a job waiting this long with no pickup is recreated. */
  livenessMs: number;
  /** A child that sends no heartbeat for this long is killed and restarted. */
  heartbeatTimeoutMs: number;
}

export interface HorizonConfig {
  supervisors: SupervisorConfig[];
  longWaitMs: number;
  terminateWaitMs: number;
  /** How often the master writes its state and reads commands. */
  tickMs: number;
}

export const STEP_QUEUES = ['priority', 'default', 'positions', 'orders', 'cronjobs'];

const DEFAULTS: Omit<SupervisorConfig, 'name' | 'kind' | 'queues'> = {
  balance: 'simple',
  processes: 1,
  minProcesses: 1,
  maxProcesses: 1,
  balanceMaxShift: 1,
  balanceCooldownMs: 3000,
  balanceTargetMs: 5000,
  concurrency: 1,
  maxJobs: 0,
  maxTimeMs: 0,
  memoryMb: 512,
  lockDurationMs: 30_000,
  leaseMs: 5000,
  retryAttempts: 5,
  retryBackoffMs: 200,
  livenessMs: 30_000,
  heartbeatTimeoutMs: 30_000,
};

function sup(p: Partial<SupervisorConfig> & Pick<SupervisorConfig, 'name' | 'kind' | 'queues'>): SupervisorConfig {
  const s = { ...DEFAULTS, ...p };
  if (s.balance === 'simple') {
    s.minProcesses = s.processes;
    s.maxProcesses = s.processes;
  }
  return s;
}

/** The supervisors of a role, before HORIZON_CONFIG overrides. */
export function roleSupervisors(config: AppConfig): SupervisorConfig[] {
  const userData = sup({
    name: 'user-data',
    kind: 'shards',
    queues: allUserDataQueues(config.userDataShards),
    processes: 5,
    lockDurationMs: 5000,
    leaseMs: 10_000,
    livenessMs: 15_000,
    maxJobs: 0,
  });
  const reconcile = sup({ name: 'reconcile', kind: 'queues', queues: ['reconcile'], processes: 1, concurrency: 2 });
  const steps = sup({
    name: 'steps',
    kind: 'queues',
    queues: STEP_QUEUES,
    balance: 'auto',
    processes: 2,
    minProcesses: 1,
    maxProcesses: 8,
    concurrency: 2,
    maxJobs: 1000,
    maxTimeMs: 3600_000,
  });
  if (config.serverRole === 'ingestion') {
    return config.appEnv === 'local' ? [userData, reconcile, { ...steps, maxProcesses: 2 }] : [userData, reconcile];
  }
  if (config.serverRole === 'worker') return [steps];
  return [];
}

const NUMERIC: Array<keyof SupervisorConfig> = [
  'processes', 'minProcesses', 'maxProcesses', 'balanceMaxShift', 'balanceCooldownMs', 'balanceTargetMs', 'concurrency', 'maxJobs',
  'maxTimeMs', 'memoryMb', 'lockDurationMs', 'leaseMs', 'retryAttempts', 'retryBackoffMs', 'livenessMs', 'heartbeatTimeoutMs',
];

/** Validate one supervisor; throws UserError naming the problem. */
export function validateSupervisor(s: SupervisorConfig): SupervisorConfig {
  const where = `horizon supervisor "${s.name}"`;
  if (!/^[a-z0-9][a-z0-9_-]{0,49}$/i.test(s.name)) throw new UserError(`${where}: the name must be letters, digits, - or _`);
  if (s.kind !== 'queues' && s.kind !== 'shards') throw new UserError(`${where}: kind must be "queues" or "shards"`);
  if (s.balance !== 'simple' && s.balance !== 'auto') throw new UserError(`${where}: balance must be "simple" or "auto"`);
  if (!Array.isArray(s.queues) || s.queues.length === 0) throw new UserError(`${where}: queues must be a non-empty list`);
  for (const q of s.queues) if (typeof q !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(q)) throw new UserError(`${where}: "${String(q)}" is not a valid queue name`);
  for (const k of NUMERIC) {
    const v = s[k] as unknown;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new UserError(`${where}: ${k} must be a non-negative integer`);
  }
  if (s.processes < 1 && s.balance === 'simple') throw new UserError(`${where}: processes must be ≥ 1`);
  if (s.minProcesses > s.maxProcesses) throw new UserError(`${where}: minProcesses > maxProcesses`);
  if (s.maxProcesses > 64) throw new UserError(`${where}: at most 64 processes`);
  if (s.concurrency < 1) throw new UserError(`${where}: concurrency must be ≥ 1`);
  if (s.kind === 'shards' && s.leaseMs < 1000) throw new UserError(`${where}: leaseMs must be ≥ 1000`);
  if (s.lockDurationMs < 1000) throw new UserError(`${where}: lockDurationMs must be ≥ 1000`);
  return s;
}

function readOverrides(file: string): Array<Partial<SupervisorConfig> & { name: string }> {
  const abs = path.isAbsolute(file) ? file : fromRoot(file);
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(abs, 'utf8'));
  } catch (err) {
    throw new UserError(`HORIZON_CONFIG: cannot read ${file}: ${(err as Error).message}`);
  }
  const list = (parsed as { supervisors?: unknown }).supervisors;
  if (!Array.isArray(list)) throw new UserError(`HORIZON_CONFIG: ${file} must hold {"supervisors": [...]}`);
  for (const s of list) if (!s || typeof s !== 'object' || typeof (s as { name?: unknown }).name !== 'string') throw new UserError(`HORIZON_CONFIG: every supervisor needs a "name"`);
  return list as Array<Partial<SupervisorConfig> & { name: string }>;
}

/** The effective configuration of this box. */
export function loadHorizonConfig(config: AppConfig): HorizonConfig {
  let supervisors = roleSupervisors(config);
  if (config.horizon.configFile) {
    const overrides = readOverrides(config.horizon.configFile);
    const byName = new Map(supervisors.map((s) => [s.name, s]));
    const onlyListed = overrides.some((o) => (o as { only?: boolean }).only);
    const out: SupervisorConfig[] = onlyListed ? [] : [...supervisors];
    for (const o of overrides) {
      const { only: _only, ...rest } = o as typeof o & { only?: boolean };
      const base = byName.get(o.name);
      const merged = base ? { ...base, ...rest } : sup({ kind: 'queues', queues: [], ...rest });
      if (merged.balance === 'simple' && (rest.processes !== undefined || !base)) {
        merged.minProcesses = merged.processes;
        merged.maxProcesses = merged.processes;
      }
      const idx = out.findIndex((s) => s.name === o.name);
      if (idx >= 0) out[idx] = merged as SupervisorConfig;
      else out.push(merged as SupervisorConfig);
    }
    supervisors = out.filter((s) => !(s as SupervisorConfig & { disabled?: boolean }).disabled);
  }
  for (const s of supervisors) validateSupervisor(s);
  return {
    supervisors,
    longWaitMs: config.horizon.longWaitSeconds * 1000,
    terminateWaitMs: config.horizon.terminateWaitSeconds * 1000,
    tickMs: 1000,
  };
}

/** Every queue some supervisor of this box drains. */
export function configuredQueues(h: HorizonConfig): string[] {
  return [...new Set(h.supervisors.flatMap((s) => s.queues))];
}
