/**
 * The Step API: how any part of Athena creates work for the dispatcher.
 *
 *   const steps = new Steps({ db, clock, redis, redisPrefix }, 'trading_');
 *   await steps.createBlock([{ class: 'noop', index: 1 }, { class: 'noop', index: 2 }]);
 *   await steps.createChildBlock(parentId, [{ class: 'sync-order', arguments: { id: 7 } }]);
 *   await steps.createUnlessLive({ class: 'cancel-opening-orders', canonical: 'cancel-opening-orders',
 *                                  relatable: { type: 'position', id: 42 }, priority: 'high' });
 *
 * Semantics (reference §2.3–2.4): steps sharing a block run by index — the same index in parallel, a
 * higher index only after every step at the previous index completed or was skipped. A child block runs
 * while its parent is running. Group, workflow id and high priority are inherited from the parent (or an
 * existing sibling); a new root block gets the least recently used group under a row lock. Creation is
 * one transaction per call; afterwards the dispatch daemon is woken through Redis (src/steps/notify.ts).
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import { dialect } from '../db/connection.js';
import { isUniqueViolation } from '../db/helpers.js';
import { blockRows, blockSibling, ensureChildBlock, findLiveByDedupeKey, findStep, insertStepRows, listSteps, parentOfBlock, pickGroups, type ListFilters } from '../db/steps/repository.js';
import type { TransitionOptions } from '../db/steps/transitions.js';
import type { Clock } from '../support/clock.js';
import { UserError } from '../support/errors.js';
import type { Logger } from '../support/log.js';
import { moveStep } from './machine.js';
import { notifyDispatcher, type WakeSignal } from './notify.js';
import type { StepState } from './states.js';
import { stepTables, type StepTables } from './tables.js';
import type { Step, StepType } from './types.js';

export interface StepSpec {
  /** Name of the step class in the registry (src/steps/classes). */
  class: string;
  /** Position in the block; the same index runs in parallel. null/0 become 1. */
  index?: number | null;
  type?: StepType;
  arguments?: Record<string, unknown> | null;
  label?: string | null;
  /** Queue name; empty → 'priority' for high-priority steps, else 'default'. */
  queue?: string | null;
  priority?: 'high' | null;
  /** Not runnable before this time (Date or epoch ms). */
  dispatchAfter?: Date | number | null;
  canonical?: string | null;
  relatable?: { type: string; id: number } | null;
  /** While this step is live (pending/dispatched/running) no other live step may hold the same key. */
  dedupeKey?: string | null;
}

export interface BlockOptions {
  /** Create the block as the child block of this step (the parent gets a child_block_uuid if it has none). */
  parentId?: number;
  /** Add to this block (new or existing). */
  blockUuid?: string;
  /** Workflow id for a new root block (children always inherit their parent's). */
  workflowId?: string;
  /** Force a group instead of inheriting / round-robin. */
  group?: string;
}

export interface CreatedBlock {
  blockUuid: string;
  workflowId: string;
  group: string | null;
  ids: number[];
}

export interface StepsDeps {
  db: Knex;
  clock: Clock;
  /** When given, creation wakes the dispatch daemon. */
  redis?: Redis | null;
  redisPrefix?: string;
  log?: Logger;
}

/** Bad input to the Step API (exit code 1 from a command). */
export class StepValidationError extends UserError {
  constructor(message: string) {
    super(message, 1);
    this.name = 'StepValidationError';
  }
}

/** A createUnlessLive() lost to a live step holding the same key. */
export interface DedupeResult {
  created: boolean;
  /** The created block, when created. */
  block: CreatedBlock | null;
  /** The live step that holds the key, when not created. */
  existing: Step | null;
}

const QUEUE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$/;

interface PreparedBlock {
  blockUuid: string;
  workflowId: string;
  group: string | null;
  needsGroup: boolean;
  inheritedPriority: 'high' | null;
  specs: StepSpec[];
}

export class Steps {
  readonly tables: StepTables;

  constructor(
    private readonly deps: StepsDeps,
    readonly prefix = '',
  ) {
    this.tables = stepTables(prefix);
  }

  /** Create one block of steps. */
  async createBlock(specs: StepSpec[], opts: BlockOptions = {}): Promise<CreatedBlock> {
    const [block] = await this.createBlocks([{ steps: specs, options: opts }]);
    return block!;
  }

  /** Create the child block of a step (inheriting its group, workflow and high priority). */
  async createChildBlock(parentId: number, specs: StepSpec[]): Promise<CreatedBlock> {
    return this.createBlock(specs, { parentId });
  }

  /** Create many blocks in one transaction (one round-robin pick for all new roots). */
  async createBlocks(blocks: Array<{ steps: StepSpec[]; options?: BlockOptions }>): Promise<CreatedBlock[]> {
    const { db, clock } = this.deps;
    const now = clock.now();
    for (const b of blocks) {
      if (!Array.isArray(b.steps) || b.steps.length === 0) throw new StepValidationError('A block needs at least one step');
      b.steps.forEach((s, i) => validateSpec(s, i));
      const g = b.options?.group;
      if (g !== undefined && (typeof g !== 'string' || !/^[A-Za-z0-9_-]{1,50}$/.test(g))) throw new StepValidationError(`group "${String(g)}" is not a valid group name (letters, digits, _ and -, at most 50)`);
    }
    const prepared: PreparedBlock[] = [];
    for (const b of blocks) prepared.push(await this.prepare(b.steps, b.options ?? {}, now));

    const rrCount = prepared.filter((p) => p.needsGroup).length;
    const total = prepared.reduce((a, p) => a + p.specs.length, 0);
    const create = async (q: Knex | Knex.Transaction) => {
      const picked = await pickGroups(q, this.tables, rrCount, now);
      let k = 0;
      for (const p of prepared) if (p.needsGroup) p.group = picked[k++] ?? 'alpha';
      const rows: Array<Record<string, unknown>> = [];
      for (const p of prepared) for (const s of p.specs) rows.push(this.row(s, p, now));
      const ids = await insertStepRows(q, this.tables, rows);
      const out: CreatedBlock[] = [];
      let at = 0;
      for (const p of prepared) {
        out.push({ blockUuid: p.blockUuid, workflowId: p.workflowId, group: p.group, ids: ids.slice(at, at + p.specs.length) });
        at += p.specs.length;
      }
      return out;
    };
    // One INSERT statement (≤ 200 rows) and at most one single-statement group pick are atomic on their own
    // on PostgreSQL and SQLite: no transaction, two statements. Anything bigger, and MySQL, is one transaction.
    const d = dialect(db);
    const created = d !== 'mysql' && total <= 200 && rrCount <= 1 ? await create(db) : await db.transaction(create);

    const signals: WakeSignal[] = [];
    for (const p of prepared) {
      const dues = p.specs.map((s) => (s.dispatchAfter == null ? 0 : toMs(s.dispatchAfter)));
      signals.push({ set: this.tables.set, group: p.group, due: Math.min(...dues) });
    }
    await this.wake(signals);
    return created;
  }

  /**
   * Create a step (or a block whose first step carries the key) unless a live step already holds its dedupe
   * key. The key is `dedupeKey`, or canonical + relatable. Atomic on every database: the key is a unique
   * column that is set only while the step is live, so of two concurrent callers exactly one inserts.
   */
  async createUnlessLive(spec: StepSpec | StepSpec[], opts: BlockOptions = {}): Promise<DedupeResult> {
    const specs = Array.isArray(spec) ? spec.map((s) => ({ ...s })) : [{ ...spec }];
    const first = specs[0];
    if (!first) throw new StepValidationError('A block needs at least one step');
    const key = dedupeKeyOf(first);
    if (!key) throw new StepValidationError('createUnlessLive needs a dedupeKey or a canonical');
    first.dedupeKey = key;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const block = await this.createBlock(specs, opts);
        return { created: true, block, existing: null };
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        // Another live step holds the key; if it concluded meanwhile, try again.
        const existing = await findLiveByDedupeKey(this.deps.db, this.tables, key);
        if (existing) return { created: false, block: null, existing };
      }
    }
    throw new Error(`createUnlessLive could not settle the dedupe key "${key}"`);
  }

  async find(id: number): Promise<Step | null> {
    return findStep(this.deps.db, this.tables, id);
  }

  async list(filters: ListFilters = {}): Promise<Step[]> {
    return listSteps(this.deps.db, this.tables, filters);
  }

  /** Move a step through the state machine (see machine.ts) and wake the daemon. */
  async transition(id: number, from: StepState, to: StepState, opts: Partial<TransitionOptions> = {}): Promise<boolean> {
    const moved = await moveStep(this.deps.db, this.tables, id, from, to, { now: this.deps.clock.now(), ...opts });
    if (moved) {
      const s = await this.find(id);
      if (s) await this.wake([{ set: this.tables.set, group: s.group, due: s.state === 'pending' ? (s.dispatch_after ?? 0) : 0, moved: true }]);
    }
    return moved;
  }

  /** The whole tree a step belongs to: from its root down. */
  async tree(id: number): Promise<StepTreeNode | null> {
    const { db } = this.deps;
    let step = await findStep(db, this.tables, id);
    if (!step) return null;
    for (let depth = 0; depth < 100; depth++) {
      const parent = await parentOfBlock(db, this.tables, step.block_uuid);
      if (!parent) break;
      step = parent;
    }
    const rootRows = await blockRows(db, this.tables, [step.block_uuid]);
    return { blockUuid: step.block_uuid, steps: await this.expand(rootRows, 0) };
  }

  private async expand(rows: Step[], depth: number): Promise<StepTreeEntry[]> {
    const out: StepTreeEntry[] = [];
    for (const r of rows) {
      let children: StepTreeNode | null = null;
      if (r.child_block_uuid && depth < 100) {
        const kids = await blockRows(this.deps.db, this.tables, [r.child_block_uuid]);
        children = { blockUuid: r.child_block_uuid, steps: await this.expand(kids, depth + 1) };
      }
      out.push({ step: r, children });
    }
    return out;
  }

  async wake(signals: WakeSignal[]): Promise<void> {
    await notifyDispatcher(this.deps.redis, this.deps.redisPrefix ?? '', signals, this.deps.log);
  }

  private async prepare(specs: StepSpec[], opts: BlockOptions, now: number): Promise<PreparedBlock> {
    const { db } = this.deps;
    let blockUuid = opts.blockUuid ?? null;
    let parent: Step | null = null;
    if (opts.parentId !== undefined) {
      parent = await findStep(db, this.tables, opts.parentId);
      if (!parent) throw new StepValidationError(`Parent step ${opts.parentId} does not exist in ${this.tables.steps}`);
      const wanted = blockUuid ?? parent.child_block_uuid ?? crypto.randomUUID();
      const actual = await ensureChildBlock(db, this.tables, parent.id, wanted, now);
      if (blockUuid && actual !== blockUuid) throw new StepValidationError(`Step ${parent.id} already has child block ${actual}`);
      blockUuid = actual ?? wanted;
    } else if (blockUuid) {
      parent = await parentOfBlock(db, this.tables, blockUuid);
    }
    const sibling = blockUuid ? await blockSibling(db, this.tables, blockUuid) : null;
    blockUuid ??= crypto.randomUUID();
    const explicitGroup = opts.group ?? null;
    const group = explicitGroup ?? parent?.group ?? sibling?.group ?? null;
    const workflowId = parent?.workflow_id ?? sibling?.workflow_id ?? opts.workflowId ?? crypto.randomUUID();
    return {
      blockUuid,
      workflowId,
      group,
      needsGroup: group === null && !parent && !sibling,
      inheritedPriority: parent?.priority === 'high' ? 'high' : null,
      specs,
    };
  }

  private row(s: StepSpec, p: PreparedBlock, now: number): Record<string, unknown> {
    const type: StepType = s.type ?? 'default';
    const priority = s.priority ?? p.inheritedPriority;
    const queue = s.queue && s.queue.trim() ? s.queue.trim() : priority === 'high' ? 'priority' : 'default';
    const at = new Date(now);
    return {
      block_uuid: p.blockUuid,
      type,
      group: p.group,
      state: type === 'resolve-exception' ? 'not-runnable' : 'pending',
      class: s.class,
      label: s.label ?? null,
      index: s.index ? s.index : 1,
      arguments: s.arguments == null ? null : JSON.stringify(s.arguments),
      queue,
      priority,
      dispatch_after: s.dispatchAfter == null ? null : new Date(toMs(s.dispatchAfter)),
      canonical: s.canonical ?? null,
      relatable_type: s.relatable?.type ?? null,
      relatable_id: s.relatable?.id ?? null,
      dedupe_key: s.dedupeKey ?? null,
      workflow_id: p.workflowId,
      retries: 0,
      created_at: at,
      updated_at: at,
    };
  }
}

export interface StepTreeEntry {
  step: Step;
  children: StepTreeNode | null;
}

export interface StepTreeNode {
  blockUuid: string;
  steps: StepTreeEntry[];
}

function toMs(v: Date | number): number {
  return v instanceof Date ? v.getTime() : v;
}

/** The dedupe key of a spec: its dedupeKey, or canonical[:relatable_type:relatable_id], hashed past 191 chars. */
export function dedupeKeyOf(s: StepSpec): string | null {
  const raw = s.dedupeKey ?? (s.canonical ? `${s.canonical}${s.relatable ? `:${s.relatable.type}:${s.relatable.id}` : ''}` : null);
  if (!raw) return null;
  return raw.length <= 191 ? raw : `sha1:${crypto.createHash('sha1').update(raw).digest('hex')}`;
}

function validateSpec(s: StepSpec, i: number): void {
  const where = `step #${i + 1}`;
  if (!s || typeof s !== 'object') throw new StepValidationError(`${where}: not an object`);
  if (typeof s.class !== 'string' || !s.class.trim() || s.class.length > 255) throw new StepValidationError(`${where}: class must be a non-empty name of at most 255 characters`);
  if (s.index != null && (!Number.isInteger(s.index) || s.index < 0 || s.index > 1_000_000)) throw new StepValidationError(`${where}: index must be a whole number ≥ 1`);
  if (s.type != null && s.type !== 'default' && s.type !== 'resolve-exception') throw new StepValidationError(`${where}: type must be "default" or "resolve-exception"`);
  if (s.priority != null && s.priority !== 'high') throw new StepValidationError(`${where}: priority must be "high" or empty`);
  if (s.queue != null && s.queue.trim() && !QUEUE_RE.test(s.queue.trim())) throw new StepValidationError(`${where}: queue "${s.queue}" is not a valid queue name (letters, digits, . _ -, at most 50)`);
  if (s.dispatchAfter != null) {
    const ms = toMs(s.dispatchAfter);
    if (!Number.isFinite(ms)) throw new StepValidationError(`${where}: dispatchAfter is not a valid time`);
  }
  if (s.arguments != null) {
    if (typeof s.arguments !== 'object' || Array.isArray(s.arguments)) throw new StepValidationError(`${where}: arguments must be an object`);
    try {
      JSON.stringify(s.arguments);
    } catch (err) {
      throw new StepValidationError(`${where}: arguments are not serialisable as JSON (${(err as Error).message})`);
    }
  }
  if (s.label != null && s.label.length > 255) throw new StepValidationError(`${where}: label is longer than 255 characters`);
  if (s.canonical != null && s.canonical.length > 100) throw new StepValidationError(`${where}: canonical is longer than 100 characters`);
  if (s.relatable != null && (typeof s.relatable.type !== 'string' || !s.relatable.type || !Number.isInteger(s.relatable.id) || s.relatable.id < 0)) {
    throw new StepValidationError(`${where}: relatable needs a type and a whole-number id`);
  }
  if (s.dedupeKey != null && (typeof s.dedupeKey !== 'string' || !s.dedupeKey || s.dedupeKey.length > 191)) throw new StepValidationError(`${where}: dedupeKey must be 1–191 characters`);
}
