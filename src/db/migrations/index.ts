/**
 * Every migration, in order. Append new ones at the end of the list with the next number of your range;
 * never rename or reorder a shipped migration (the name is what the knex_migrations table records).
 */
import type { Migration } from './types.js';
import { sharedTables } from './0001_shared_tables.js';
import { scheduleRuns } from './0100_schedule_runs.js';
import { stepsTables } from './0200_steps_tables.js';
import { apiSnapshots } from './0300_api_snapshots.js';
import { failedJobs } from './0400_failed_jobs.js';
import { webTables } from './0500_web_tables.js';

export const migrations: Migration[] = [sharedTables, scheduleRuns, stepsTables, apiSnapshots, webTables, failedJobs];
