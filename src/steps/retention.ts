/**
 * Retention (reference §5.1).
 *  - archive: whole trees whose root block is settled and older than N days move to {prefix}steps_archive
 *    (ids kept): BFS over child blocks, re-check that the tree is settled, then chunks of 100 blocks, each in
 *    a transaction that locks the rows, re-checks that none was revived (aborting the rest of that tree if
 *    one was), copies them and deletes them.
 *  - purge: ticks older than N days and settled live trees older than N days are deleted; --only-archive
 *    deletes archive rows older than N days; --ticks deletes kept ticks that were not slow.
 */
import type { Knex } from 'knex';
import { deleteInBatches, moveBlocks, RevivedRowError, settledRootBlocks, unsettledInBlocks } from '../db/steps/recovery-queries.js';
import { treeBlocks } from '../db/steps/tree.js';
import type { Clock } from '../support/clock.js';
import { errorMessage } from '../support/errors.js';
import type { Logger } from '../support/log.js';
import { SLOW_TICK_MS } from './dispatcher.js';
import { stepTables, type StepTables } from './tables.js';

const DAY = 86_400_000;

export interface RetentionDeps {
  db: Knex;
  clock: Clock;
  log: Logger;
}

export interface TreeMoveReport {
  trees: number;
  blocks: number;
  rows: number;
  skipped: number;
  errors: string[];
}

async function moveTrees(deps: RetentionDeps, t: StepTables, cutoff: number, archive: boolean): Promise<TreeMoveReport> {
  const out: TreeMoveReport = { trees: 0, blocks: 0, rows: 0, skipped: 0, errors: [] };
  let after: string | null = null;
  for (;;) {
    const roots = await settledRootBlocks(deps.db, t, cutoff, after);
    if (roots.length === 0) break;
    after = roots[roots.length - 1]!;
    for (const root of roots) {
      const blocks = await treeBlocks(deps.db, t, root);
      if ((await unsettledInBlocks(deps.db, t.steps, blocks)) > 0) {
        out.skipped++;
        continue;
      }
      let moved = 0;
      try {
        for (let i = 0; i < blocks.length; i += 100) moved += await moveBlocks(deps.db, t, blocks.slice(i, i + 100), archive);
        out.trees++;
        out.blocks += blocks.length;
      } catch (err) {
        // A revived row aborts the rest of this tree only; anything else is reported and the run goes on.
        if (err instanceof RevivedRowError) out.skipped++;
        else out.errors.push(`${root}: ${errorMessage(err)}`);
        deps.log.warn(archive ? 'tree not archived' : 'tree not purged', { root, error: errorMessage(err) });
      }
      out.rows += moved;
    }
  }
  return out;
}

export async function archiveSteps(deps: RetentionDeps, prefix: string, days: number): Promise<TreeMoveReport & { set: string; cutoff: string }> {
  const t = stepTables(prefix);
  const cutoff = deps.clock.now() - days * DAY;
  return { set: t.set, cutoff: new Date(cutoff).toISOString(), ...(await moveTrees(deps, t, cutoff, true)) };
}

export interface PurgeOptions {
  days: number;
  onlyArchive?: boolean;
  ticks?: boolean;
  slowTickMs?: number;
}

export interface PurgeReport {
  set: string;
  cutoff: string;
  ticks: number;
  archive: number;
  steps: TreeMoveReport | null;
}

export async function purgeSteps(deps: RetentionDeps, prefix: string, opts: PurgeOptions): Promise<PurgeReport> {
  const t = stepTables(prefix);
  const cutoff = deps.clock.now() - opts.days * DAY;
  const report: PurgeReport = { set: t.set, cutoff: new Date(cutoff).toISOString(), ticks: 0, archive: 0, steps: null };
  if (opts.onlyArchive) {
    report.archive = await deleteInBatches(deps.db, t.archive, (q) => q.where('created_at', '<', new Date(cutoff)));
    return report;
  }
  if (opts.ticks) {
    const slow = opts.slowTickMs ?? SLOW_TICK_MS;
    report.ticks = await deleteInBatches(deps.db, t.ticks, (q) => q.where((w) => w.whereNull('duration').orWhere('duration', '<=', slow)));
    return report;
  }
  report.ticks = await deleteInBatches(deps.db, t.ticks, (q) => q.where('created_at', '<', new Date(cutoff)));
  report.steps = await moveTrees(deps, t, cutoff, false);
  return report;
}
