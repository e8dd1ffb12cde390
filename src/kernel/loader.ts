/**
 * Loads the schedule: Athena's own (./athena-schedule.ts) or, for tests and benchmarks, the module named by
 * SCHEDULE_MODULE. A schedule module default-exports `(schedule, env) => void`. It imports nothing heavy:
 * the cooling-down gate reads the database only when a task under it could be due (or for schedule:list).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AppConfig, AppEnv, ServerRole } from '../config/index.js';
import { isFrozen } from '../support/box-flags.js';
import { UserError, errorMessage } from '../support/errors.js';
import type { Logger } from '../support/log.js';
import { fromRoot } from '../support/paths.js';
import defineAthenaSchedule from './athena-schedule.js';
import { Schedule, type RegistrationGate } from './schedule.js';

export interface ScheduleEnv {
  serverRole: ServerRole;
  appEnv: AppEnv;
  /** The freeze marker (storage/framework/kraite-frozen) exists. */
  frozen: boolean;
  /** Open while the box is not cooling down (SQL kraite.is_cooling_down, row 1). Closed when unreadable. */
  notCoolingDown: RegistrationGate;
  config: AppConfig;
}

export type ScheduleDefinition = (schedule: Schedule, env: ScheduleEnv) => void | Promise<void>;

export interface LoadOptions {
  /** Reads the cooling-down flag; may throw (the gate then fails closed). */
  readCoolingDown(): Promise<boolean>;
  log: Logger;
}

export function coolingDownGate(opts: LoadOptions): RegistrationGate {
  return {
    name: 'not-cooling-down',
    async isOpen() {
      try {
        return !(await opts.readCoolingDown());
      } catch (err) {
        // Fail closed: when we cannot tell, behave as if cooling down (no new work is created).
        opts.log.warn('cannot read kraite.is_cooling_down: treating the box as cooling down', { err });
        return false;
      }
    },
  };
}

/** The definition to load: Athena's own (imported statically, so bundles carry it) or SCHEDULE_MODULE's. */
async function definitionOf(config: AppConfig): Promise<ScheduleDefinition> {
  if (!config.scheduleModule) return defineAthenaSchedule;
  const file = path.isAbsolute(config.scheduleModule) ? config.scheduleModule : fromRoot(config.scheduleModule);
  try {
    const mod = (await import(pathToFileURL(file).href)) as { default?: ScheduleDefinition };
    if (typeof mod.default !== 'function') throw new Error('it has no default export function (schedule, env) => void');
    return mod.default;
  } catch (err) {
    throw new UserError(`Cannot load the schedule module ${config.scheduleModule}: ${errorMessage(err)}`);
  }
}

/** Run the schedule's definition and validate the result (unique ids). */
export async function loadSchedule(config: AppConfig, opts: LoadOptions): Promise<Schedule> {
  const define = await definitionOf(config);
  const schedule = new Schedule();
  const env: ScheduleEnv = { serverRole: config.serverRole, appEnv: config.appEnv, frozen: isFrozen(), notCoolingDown: coolingDownGate(opts), config };
  try {
    await define(schedule, env);
    schedule.validate();
  } catch (err) {
    throw new UserError(`The schedule is invalid: ${errorMessage(err)}`);
  }
  return schedule;
}
