/**
 * Step browser reads (issue 4's tables, per set: `{p}steps`, `{p}steps_archive`), through the dispatcher's
 * own repositories: rows, lists, blocks and parents from src/db/steps/repository.ts (normalised by
 * toStep()), the pivot and cell aggregates from src/db/steps/browse.ts. States are the short words of
 * src/steps/states.ts; "throttled" is the browser's split of pending rows with is_throttled set. A set
 * whose table does not exist reads as "not installed".
 */
import { blockRows, findArchivedStep, findStep, listSteps, parentOfBlock } from '../../db/steps/repository.js';
import { groupsInUse, pivotAggregates, recentBlocksOfCell } from '../../db/steps/browse.js';
import { ACTIVE, STATES, type StepState } from '../../steps/states.js';
import { stepTables, type StepTables } from '../../steps/tables.js';
import type { Step } from '../../steps/types.js';
import { Absent } from './safe.js';
import type { DataContext } from './context.js';

export const STEP_STATES = ['not-runnable', 'pending', 'throttled', 'dispatched', 'running', 'completed', 'skipped', 'cancelled', 'failed', 'stopped'] as const;
export const STORED_STATES: readonly StepState[] = STATES;
export const ACTIVE_STATES: readonly StepState[] = ACTIVE;

export interface PivotRow {
  class: string;
  shortName: string;
  isParent: boolean;
  states: Record<string, number>;
  total: number;
  maxActiveRetries: number;
  oldestRunningSeconds: number | null;
}

export interface Pivot {
  rows: PivotRow[];
  totals: Record<string, number>;
  total: number;
}

export interface StepRow {
  id: number;
  blockUuid: string;
  index: number | null;
  type: string;
  childBlockUuid: string | null;
  group: string | null;
  class: string | null;
  label: string | null;
  queue: string | null;
  priority: string | null;
  state: StepState;
  shownState: string;
  retries: number;
  isThrottled: boolean;
  workflowId: string | null;
  dispatchAfter: Date | null;
  startedAt: Date | null;
  completedAt: Date | null;
  durationMs: number | null;
  errorMessage: string | null;
  executionMode: string | null;
  createdAt: Date | null;
  updatedAt: Date | null;
}

export interface StepDetail extends StepRow {
  arguments: unknown;
  response: unknown;
  errorStackTrace: string | null;
  hostname: string | null;
  /** Read from {p}steps_archive: the step was archived with its settled tree. */
  archived: boolean;
  extra: Record<string, unknown>;
}

export interface TreeNode {
  step: StepRow;
  children: TreeNode[];
}

export function shortClassName(cls: string): string {
  const parts = cls.split(/[\\/.:]/).filter(Boolean);
  return parts[parts.length - 1] ?? cls;
}

const date = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

function toRow(s: Step): StepRow {
  return {
    id: s.id,
    blockUuid: s.block_uuid,
    index: s.index,
    type: s.type,
    childBlockUuid: s.child_block_uuid,
    group: s.group,
    class: s.class,
    label: s.label,
    queue: s.queue,
    priority: s.priority,
    state: s.state,
    shownState: s.state === 'pending' && s.is_throttled ? 'throttled' : s.state,
    retries: s.retries,
    isThrottled: s.is_throttled,
    workflowId: s.workflow_id,
    dispatchAfter: date(s.dispatch_after),
    startedAt: date(s.started_at),
    completedAt: date(s.completed_at),
    durationMs: s.duration,
    errorMessage: s.error_message,
    executionMode: s.execution_mode,
    createdAt: date(s.created_at),
    updatedAt: date(s.updated_at),
  };
}

function toDetail(s: Step, archived: boolean): StepDetail {
  return {
    ...toRow(s),
    arguments: s.arguments,
    response: s.response,
    errorStackTrace: s.error_stack_trace,
    hostname: s.hostname,
    archived,
    extra: {
      exception_analysed: s.exception_analysed,
      exception_verdict: s.exception_verdict,
      step_log: s.step_log,
      relatable: s.relatable_type ? `${s.relatable_type}#${s.relatable_id}` : null,
      canonical: s.canonical,
      dedupe_key: s.dedupe_key,
      tick_id: s.tick_id,
      double_check: s.double_check,
      was_throttled: s.was_throttled,
      was_notified: s.was_notified,
    },
  };
}

/** A browser filter state → the repository's (state, throttled) pair. */
function stateFilter(state: string | undefined): { state?: StepState; throttled?: boolean } {
  if (!state) return {};
  if (state === 'throttled') return { state: 'pending', throttled: true };
  if (state === 'pending') return { state: 'pending', throttled: false };
  return (STATES as readonly string[]).includes(state) ? { state: state as StepState } : {};
}

export class StepsData {
  private pivotCache = new Map<string, { at: number; pivot: Pivot }>();

  constructor(private readonly ctx: DataContext) {}

  /** The set's tables; throws Absent when the set is not installed. */
  async tables(prefix: string): Promise<StepTables> {
    const t = stepTables(prefix);
    await this.ctx.probe.require(t.steps, `The ${prefix ? prefix.replace(/_$/, '') : 'default'} step set`);
    return t;
  }

  /** Class × state counts, with "throttled" split out of pending. Cached 3 s (the GROUP BYs are the heavy read). */
  async pivot(prefix: string): Promise<Pivot> {
    const hit = this.pivotCache.get(prefix);
    const now = this.ctx.clock.now();
    if (hit && now - hit.at < 3000) return hit.pivot;
    const agg = await pivotAggregates(this.ctx.db, await this.tables(prefix));
    const key = (c: string | null) => c ?? '(none)';
    const parents = new Set(agg.parentClasses.map(key));
    const byClass = new Map<string, PivotRow>();
    const totals: Record<string, number> = {};
    let total = 0;
    for (const c of agg.counts) {
      const cls = key(c.class);
      let row = byClass.get(cls);
      if (!row) {
        row = { class: cls, shortName: shortClassName(cls), isParent: parents.has(cls), states: {}, total: 0, maxActiveRetries: 0, oldestRunningSeconds: null };
        byClass.set(cls, row);
      }
      const state = c.state === 'pending' && c.isThrottled ? 'throttled' : c.state;
      row.states[state] = (row.states[state] ?? 0) + c.n;
      row.total += c.n;
      totals[state] = (totals[state] ?? 0) + c.n;
      total += c.n;
    }
    for (const r of agg.oldestRunning) {
      const row = byClass.get(key(r.class));
      if (row && r.startedAt !== null) row.oldestRunningSeconds = Math.max(0, Math.round((now - r.startedAt) / 1000));
    }
    for (const r of agg.maxActiveRetries) {
      const row = byClass.get(key(r.class));
      if (row) row.maxActiveRetries = r.retries;
    }
    const pivot = { rows: [...byClass.values()].sort((a, b) => a.class.localeCompare(b.class)), totals, total };
    this.pivotCache.set(prefix, { at: now, pivot });
    return pivot;
  }

  async list(prefix: string, f: { state?: string; group?: string; class?: string; workflow?: string; beforeId?: number; limit?: number }): Promise<StepRow[]> {
    const t = await this.tables(prefix);
    const steps = await listSteps(this.ctx.db, t, { ...stateFilter(f.state), group: f.group || undefined, class: f.class, workflowId: f.workflow, afterId: f.beforeId, limit: Math.min(f.limit ?? 50, 200) });
    return steps.map(toRow);
  }

  async groups(prefix: string): Promise<string[]> {
    return groupsInUse(this.ctx.db, await this.tables(prefix));
  }

  /** The 10 most recent blocks holding steps of one pivot cell. */
  async blocks(prefix: string, cls: string, state: string): Promise<Array<{ blockUuid: string; steps: number; latest: Date | null }>> {
    const t = await this.tables(prefix);
    const f = stateFilter(state);
    if (!f.state) return [];
    const rows = await recentBlocksOfCell(this.ctx.db, t, { cls: cls === '(none)' ? null : cls, state: f.state, throttled: f.throttled });
    return rows.map((r) => ({ blockUuid: r.blockUuid, steps: r.steps, latest: date(r.latest) }));
  }

  async block(prefix: string, blockUuid: string): Promise<StepRow[]> {
    return (await blockRows(this.ctx.db, await this.tables(prefix), [blockUuid], 1000)).map(toRow);
  }

  /** A live step, or else the archived one (steps:archive moves settled trees to {p}steps_archive). */
  async detail(prefix: string, id: number): Promise<StepDetail | null> {
    const t = await this.tables(prefix);
    const live = await findStep(this.ctx.db, t, id);
    if (live) return toDetail(live, false);
    if (!(await this.ctx.probe.has(t.archive))) return null;
    const archived = await findArchivedStep(this.ctx.db, t, id);
    return archived ? toDetail(archived, true) : null;
  }

  /** The chain of parents above a step (nearest first), following child_block_uuid = block_uuid. */
  async ancestors(prefix: string, step: StepRow, maxDepth = 20): Promise<StepRow[]> {
    const t = await this.tables(prefix);
    const out: StepRow[] = [];
    let block = step.blockUuid;
    for (let i = 0; i < maxDepth; i++) {
      const p = await parentOfBlock(this.ctx.db, t, block);
      if (!p) break;
      out.push(toRow(p));
      block = p.block_uuid;
    }
    return out;
  }

  /** The descendant tree of the root above `step` (blocks level by level), capped at `cap` steps. */
  async tree(prefix: string, step: StepRow, cap = 500): Promise<{ root: TreeNode[]; truncated: boolean }> {
    const t = await this.tables(prefix);
    const ancestors = await this.ancestors(prefix, step);
    const rootBlock = ancestors.length ? ancestors[ancestors.length - 1]!.blockUuid : step.blockUuid;
    let count = 0;
    let truncated = false;
    const build = async (blocks: string[], depth: number): Promise<Map<string, TreeNode[]>> => {
      const out = new Map<string, TreeNode[]>();
      if (!blocks.length || depth > 12) return out;
      const rows = (await blockRows(this.ctx.db, t, blocks, cap - count + 1)).map(toRow);
      const nodes: TreeNode[] = [];
      for (const r of rows) {
        if (count >= cap) {
          truncated = true;
          break;
        }
        count++;
        const node = { step: r, children: [] as TreeNode[] };
        nodes.push(node);
        const list = out.get(r.blockUuid) ?? [];
        list.push(node);
        out.set(r.blockUuid, list);
      }
      const childBlocks = nodes.map((n) => n.step.childBlockUuid).filter((b): b is string => !!b);
      const below = await build(childBlocks, depth + 1);
      for (const n of nodes) if (n.step.childBlockUuid) n.children = below.get(n.step.childBlockUuid) ?? [];
      return out;
    };
    const top = await build([rootBlock], 0);
    return { root: top.get(rootBlock) ?? [], truncated };
  }
}

export function isStepState(s: string): boolean {
  return (STEP_STATES as readonly string[]).includes(s);
}

export { Absent };
