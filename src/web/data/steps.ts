/**
 * Step browser reads (issue 4's tables, per set: `{p}steps`). Columns used are the ones issue 4 fixes:
 * id, block_uuid, index, type, child_block_uuid, group, class, label, arguments, queue, priority,
 * dispatch_after, retries, is_throttled, workflow_id, response, error_message, error_stack_trace,
 * started_at, completed_at, duration, hostname, created_at, updated_at; states are the short words of
 * docs/contracts.md. A set whose table does not exist reads as "not installed".
 */
import type { Knex } from 'knex';
import { parseJson, toBool, toDate, toNumber } from '../../support/sql-values.js';
import { Absent } from './safe.js';
import type { DataContext } from './context.js';

export const STEP_STATES = ['not-runnable', 'pending', 'throttled', 'dispatched', 'running', 'completed', 'skipped', 'cancelled', 'failed', 'stopped'] as const;
export const STORED_STATES = STEP_STATES.filter((s) => s !== 'throttled');
export const ACTIVE_STATES = ['pending', 'dispatched', 'running'];

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
  state: string;
  shownState: string;
  retries: number;
  isThrottled: boolean;
  workflowId: string | null;
  dispatchAfter: Date | null;
  startedAt: Date | null;
  completedAt: Date | null;
  durationMs: number | null;
  errorMessage: string | null;
  createdAt: Date | null;
  updatedAt: Date | null;
}

export interface StepDetail extends StepRow {
  arguments: unknown;
  response: unknown;
  errorStackTrace: string | null;
  hostname: string | null;
  extra: Record<string, unknown>;
}

export interface TreeNode {
  step: StepRow;
  children: TreeNode[];
}

const LIST_COLUMNS = [
  'id',
  'block_uuid',
  'index',
  'type',
  'child_block_uuid',
  'group',
  'class',
  'label',
  'queue',
  'priority',
  'state',
  'retries',
  'is_throttled',
  'workflow_id',
  'dispatch_after',
  'started_at',
  'completed_at',
  'duration',
  'error_message',
  'created_at',
  'updated_at',
];

export function shortClassName(cls: string): string {
  const parts = cls.split(/[\\/.:]/).filter(Boolean);
  return parts[parts.length - 1] ?? cls;
}

function toRow(r: Record<string, unknown>): StepRow {
  const state = String(r.state);
  const throttled = toBool(r.is_throttled);
  return {
    id: Number(r.id),
    blockUuid: String(r.block_uuid),
    index: toNumber(r.index),
    type: String(r.type ?? 'default'),
    childBlockUuid: (r.child_block_uuid as string | null) ?? null,
    group: (r.group as string | null) ?? null,
    class: (r.class as string | null) ?? null,
    label: (r.label as string | null) ?? null,
    queue: (r.queue as string | null) ?? null,
    priority: (r.priority as string | null) ?? null,
    state,
    shownState: state === 'pending' && throttled ? 'throttled' : state,
    retries: toNumber(r.retries) ?? 0,
    isThrottled: throttled,
    workflowId: (r.workflow_id as string | null) ?? null,
    dispatchAfter: toDate(r.dispatch_after),
    startedAt: toDate(r.started_at),
    completedAt: toDate(r.completed_at),
    durationMs: toNumber(r.duration),
    errorMessage: (r.error_message as string | null) ?? null,
    createdAt: toDate(r.created_at),
    updatedAt: toDate(r.updated_at),
  };
}

function parseMaybeJson(v: unknown): unknown {
  if (typeof v !== 'string') return v ?? null;
  try {
    return parseJson(v);
  } catch {
    return v; // not JSON: show the text as stored
  }
}

export class StepsData {
  private pivotCache = new Map<string, { at: number; pivot: Pivot }>();

  constructor(private readonly ctx: DataContext) {}

  private get db(): Knex {
    return this.ctx.db;
  }

  async table(prefix: string): Promise<string> {
    const t = `${prefix}steps`;
    await this.ctx.probe.require(t, `The ${prefix ? prefix.replace(/_$/, '') : 'default'} step set`);
    return t;
  }

  /** Class × state counts, with "throttled" split out of pending. Cached 3 s (the GROUP BY is the heavy read). */
  async pivot(prefix: string): Promise<Pivot> {
    const hit = this.pivotCache.get(prefix);
    const now = this.ctx.clock.now();
    if (hit && now - hit.at < 3000) return hit.pivot;
    const t = await this.table(prefix);
    const counts = (await this.db(t).select('class', 'state', 'is_throttled').count({ n: '*' }).groupBy('class', 'state', 'is_throttled')) as Array<Record<string, unknown>>;
    const parents = new Set(
      ((await this.db(t).distinct('class').whereNotNull('child_block_uuid')) as Array<{ class: string | null }>).map((r) => r.class ?? '(none)'),
    );
    const running = (await this.db(t).select('class').min({ oldest: 'started_at' }).where('state', 'running').groupBy('class')) as Array<Record<string, unknown>>;
    const retries = (await this.db(t).select('class').max({ m: 'retries' }).whereIn('state', ACTIVE_STATES).groupBy('class')) as Array<Record<string, unknown>>;
    const byClass = new Map<string, PivotRow>();
    const totals: Record<string, number> = {};
    let total = 0;
    for (const r of counts) {
      const cls = (r.class as string | null) ?? '(none)';
      let row = byClass.get(cls);
      if (!row) {
        row = { class: cls, shortName: shortClassName(cls), isParent: parents.has(cls), states: {}, total: 0, maxActiveRetries: 0, oldestRunningSeconds: null };
        byClass.set(cls, row);
      }
      const state = r.state === 'pending' && toBool(r.is_throttled) ? 'throttled' : String(r.state);
      const n = Number(r.n);
      row.states[state] = (row.states[state] ?? 0) + n;
      row.total += n;
      totals[state] = (totals[state] ?? 0) + n;
      total += n;
    }
    for (const r of running) {
      const row = byClass.get((r.class as string | null) ?? '(none)');
      const t0 = toDate(r.oldest);
      if (row && t0) row.oldestRunningSeconds = Math.max(0, Math.round((now - t0.getTime()) / 1000));
    }
    for (const r of retries) {
      const row = byClass.get((r.class as string | null) ?? '(none)');
      if (row) row.maxActiveRetries = toNumber(r.m) ?? 0;
    }
    const pivot = { rows: [...byClass.values()].sort((a, b) => a.class.localeCompare(b.class)), totals, total };
    this.pivotCache.set(prefix, { at: now, pivot });
    return pivot;
  }

  async list(prefix: string, f: { state?: string; group?: string; class?: string; workflow?: string; beforeId?: number; limit?: number }): Promise<StepRow[]> {
    const t = await this.table(prefix);
    const q = this.db(t).select(LIST_COLUMNS).orderBy('id', 'desc').limit(Math.min(f.limit ?? 50, 200));
    if (f.state === 'throttled') q.where({ state: 'pending' }).where('is_throttled', true);
    else if (f.state) q.where({ state: f.state });
    if (f.group) q.where({ group: f.group });
    if (f.class) q.where({ class: f.class });
    if (f.workflow) q.where({ workflow_id: f.workflow });
    if (f.beforeId) q.where('id', '<', f.beforeId);
    return ((await q) as Array<Record<string, unknown>>).map(toRow);
  }

  async groups(prefix: string): Promise<string[]> {
    const t = await this.table(prefix);
    const rows = (await this.db(t).distinct('group').whereNotNull('group').orderBy('group')) as Array<{ group: string }>;
    return rows.map((r) => r.group);
  }

  /** The 10 most recent blocks holding steps of one pivot cell. */
  async blocks(prefix: string, cls: string, state: string): Promise<Array<{ blockUuid: string; steps: number; latest: Date | null }>> {
    const t = await this.table(prefix);
    const q = this.db(t).select('block_uuid').count({ n: '*' }).max({ latest: 'updated_at' }).max({ maxId: 'id' }).groupBy('block_uuid').orderBy('maxId', 'desc').limit(10);
    if (cls === '(none)') q.whereNull('class');
    else q.where({ class: cls });
    if (state === 'throttled') q.where({ state: 'pending' }).where('is_throttled', true);
    else q.where({ state });
    const rows = (await q) as Array<Record<string, unknown>>;
    return rows.map((r) => ({ blockUuid: String(r.block_uuid), steps: Number(r.n), latest: toDate(r.latest) }));
  }

  async block(prefix: string, blockUuid: string): Promise<StepRow[]> {
    const t = await this.table(prefix);
    const rows = (await this.db(t).select(LIST_COLUMNS).where({ block_uuid: blockUuid }).orderBy([{ column: 'index' }, { column: 'id' }]).limit(1000)) as Array<Record<string, unknown>>;
    return rows.map(toRow);
  }

  async detail(prefix: string, id: number): Promise<StepDetail | null> {
    const t = await this.table(prefix);
    const r = (await this.db(t).where({ id }).first()) as Record<string, unknown> | undefined;
    if (!r) return null;
    const known = new Set([...LIST_COLUMNS, 'arguments', 'response', 'error_stack_trace', 'hostname']);
    const extra: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r)) if (!known.has(k)) extra[k] = v instanceof Date ? v.toISOString() : v;
    return {
      ...toRow(r),
      arguments: parseMaybeJson(r.arguments),
      response: parseMaybeJson(r.response),
      errorStackTrace: (r.error_stack_trace as string | null) ?? null,
      hostname: (r.hostname as string | null) ?? null,
      extra,
    };
  }

  /** The chain of parents above a step (nearest first), following child_block_uuid = block_uuid. */
  async ancestors(prefix: string, step: StepRow, maxDepth = 20): Promise<StepRow[]> {
    const t = await this.table(prefix);
    const out: StepRow[] = [];
    let block = step.blockUuid;
    for (let i = 0; i < maxDepth; i++) {
      const p = (await this.db(t).select(LIST_COLUMNS).where({ child_block_uuid: block }).first()) as Record<string, unknown> | undefined;
      if (!p) break;
      const row = toRow(p);
      out.push(row);
      block = row.blockUuid;
    }
    return out;
  }

  /** The descendant tree of the root above `step` (blocks level by level), capped at `cap` steps. */
  async tree(prefix: string, step: StepRow, cap = 500): Promise<{ root: TreeNode[]; truncated: boolean }> {
    const t = await this.table(prefix);
    const ancestors = await this.ancestors(prefix, step);
    const rootBlock = ancestors.length ? ancestors[ancestors.length - 1]!.blockUuid : step.blockUuid;
    let count = 0;
    let truncated = false;
    const build = async (blocks: string[], depth: number): Promise<Map<string, TreeNode[]>> => {
      const out = new Map<string, TreeNode[]>();
      if (!blocks.length || depth > 12) return out;
      const rows = ((await this.db(t).select(LIST_COLUMNS).whereIn('block_uuid', blocks).orderBy([{ column: 'index' }, { column: 'id' }]).limit(cap + 1)) as Array<Record<string, unknown>>).map(toRow);
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
