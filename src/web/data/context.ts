/** What every data-access module needs: the box's DB and Redis, its Redis prefix, a clock and a logger. */
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../../config/index.js';
import type { Clock } from '../../support/clock.js';
import type { Logger } from '../../support/log.js';
import type { QueueFactory } from '../../queue/queues.js';
import { TableProbe } from './safe.js';

export interface DataContext {
  db: Knex;
  redis: Redis;
  /** REDIS_PREFIX */
  prefix: string;
  clock: Clock;
  log: Logger;
  config: AppConfig;
  probe: TableProbe;
  queues: QueueFactory;
}

export function createDataContext(deps: Omit<DataContext, 'probe'>): DataContext {
  return { ...deps, probe: new TableProbe(deps.db, () => deps.clock.now()) };
}

/** The two step table sets of the box (contracts: default and trading_). */
export const STEP_SETS = [
  { name: 'default', prefix: '' },
  { name: 'trading', prefix: 'trading_' },
] as const;

export type StepSetName = (typeof STEP_SETS)[number]['name'];

export function stepSetByName(name: string): (typeof STEP_SETS)[number] | null {
  return STEP_SETS.find((s) => s.name === name) ?? null;
}
