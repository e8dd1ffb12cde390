/** Walking a step tree: a parent's child block, its children's child blocks, and so on (depth ≤ 100). */
import type { Knex } from 'knex';
import type { StepTables } from '../../steps/tables.js';
import { CONCLUDED, TERMINAL, type StepState } from '../../steps/states.js';

type Db = Knex | Knex.Transaction;

export interface TreeSummary {
  /** Rows in the tree, dormant resolvers excluded. */
  rows: number;
  /** Rows not in a terminal state (dormant resolvers excluded). */
  open: number;
  concluded: number;
  failedOrStopped: number;
  cancelled: number;
}

export const MAX_TREE_DEPTH = 100;

/**
 * Summarise every row under a child block, recursively. Dormant (not-runnable) resolvers are ignored, and so
 * is the subtree of a skipped step.
 */
export async function summariseTree(db: Db, tables: StepTables, childBlockUuid: string): Promise<TreeSummary> {
  const sum: TreeSummary = { rows: 0, open: 0, concluded: 0, failedOrStopped: 0, cancelled: 0 };
  let blocks = [childBlockUuid];
  const seen = new Set<string>(blocks);
  for (let depth = 0; depth < MAX_TREE_DEPTH && blocks.length > 0; depth++) {
    const next: string[] = [];
    for (let i = 0; i < blocks.length; i += 200) {
      const rows: Array<{ state: StepState; type: string; child_block_uuid: string | null }> = await db(tables.steps)
        .whereIn('block_uuid', blocks.slice(i, i + 200))
        .select('state', 'type', 'child_block_uuid');
      for (const r of rows) {
        if (r.state === 'not-runnable') continue;
        sum.rows++;
        if (!TERMINAL.includes(r.state)) sum.open++;
        else if (CONCLUDED.includes(r.state)) sum.concluded++;
        else if (r.state === 'cancelled') sum.cancelled++;
        else sum.failedOrStopped++;
        // A skipped step's subtree does not count: its outcome was waived with it.
        if (r.child_block_uuid && r.state !== 'skipped' && !seen.has(r.child_block_uuid)) {
          seen.add(r.child_block_uuid);
          next.push(r.child_block_uuid);
        }
      }
    }
    blocks = next;
  }
  return sum;
}

/** Every block uuid of a tree rooted at `rootBlock` (BFS over child_block_uuid), root first. */
export async function treeBlocks(db: Db, tables: { steps: string }, rootBlock: string): Promise<string[]> {
  const all = [rootBlock];
  const seen = new Set(all);
  let frontier = [rootBlock];
  for (let depth = 0; depth < MAX_TREE_DEPTH && frontier.length > 0; depth++) {
    const next: string[] = [];
    for (let i = 0; i < frontier.length; i += 200) {
      const rows: Array<{ child_block_uuid: string }> = await db(tables.steps)
        .whereIn('block_uuid', frontier.slice(i, i + 200))
        .whereNotNull('child_block_uuid')
        .select('child_block_uuid');
      for (const r of rows) {
        if (!seen.has(r.child_block_uuid)) {
          seen.add(r.child_block_uuid);
          next.push(r.child_block_uuid);
          all.push(r.child_block_uuid);
        }
      }
    }
    frontier = next;
  }
  return all;
}
