/** The shape of a step as the code sees it (normalised from any of the three databases). */
import { parseJson, toBool, toMillis, toNumber } from '../support/sql-values.js';
import type { StepState } from './states.js';

export type StepType = 'default' | 'resolve-exception';

export interface Step {
  id: number;
  block_uuid: string;
  type: StepType;
  group: string | null;
  state: StepState;
  class: string | null;
  label: string | null;
  index: number | null;
  response: unknown;
  error_message: string | null;
  error_stack_trace: string | null;
  exception_analysed: boolean;
  exception_verdict: string | null;
  step_log: string | null;
  relatable_type: string | null;
  relatable_id: number | null;
  child_block_uuid: string | null;
  execution_mode: string | null;
  double_check: number;
  tick_id: number | null;
  workflow_id: string | null;
  canonical: string | null;
  dedupe_key: string | null;
  queue: string;
  arguments: Record<string, unknown> | null;
  retries: number;
  was_throttled: boolean;
  is_throttled: boolean;
  priority: 'high' | null;
  /** Epoch ms. */
  dispatch_after: number | null;
  started_at: number | null;
  completed_at: number | null;
  duration: number;
  hostname: string | null;
  was_notified: boolean;
  created_at: number | null;
  updated_at: number | null;
}

export type StepRow = Record<string, unknown>;

export function toStep(r: StepRow): Step {
  return {
    id: Number(r.id),
    block_uuid: String(r.block_uuid),
    type: (r.type as StepType) ?? 'default',
    group: (r.group as string | null) ?? null,
    state: r.state as StepState,
    class: (r.class as string | null) ?? null,
    label: (r.label as string | null) ?? null,
    index: toNumber(r.index),
    response: safeJson(r.response),
    error_message: (r.error_message as string | null) ?? null,
    error_stack_trace: (r.error_stack_trace as string | null) ?? null,
    exception_analysed: toBool(r.exception_analysed),
    exception_verdict: (r.exception_verdict as string | null) ?? null,
    step_log: (r.step_log as string | null) ?? null,
    relatable_type: (r.relatable_type as string | null) ?? null,
    relatable_id: toNumber(r.relatable_id),
    child_block_uuid: (r.child_block_uuid as string | null) ?? null,
    execution_mode: (r.execution_mode as string | null) ?? null,
    double_check: toNumber(r.double_check) ?? 0,
    tick_id: toNumber(r.tick_id),
    workflow_id: (r.workflow_id as string | null) ?? null,
    canonical: (r.canonical as string | null) ?? null,
    dedupe_key: (r.dedupe_key as string | null) ?? null,
    queue: String(r.queue ?? 'default'),
    arguments: safeJson(r.arguments) as Record<string, unknown> | null,
    retries: toNumber(r.retries) ?? 0,
    was_throttled: toBool(r.was_throttled),
    is_throttled: toBool(r.is_throttled),
    priority: r.priority === 'high' ? 'high' : null,
    dispatch_after: toMillis(r.dispatch_after),
    started_at: toMillis(r.started_at),
    completed_at: toMillis(r.completed_at),
    duration: toNumber(r.duration) ?? 0,
    hostname: (r.hostname as string | null) ?? null,
    was_notified: toBool(r.was_notified),
    created_at: toMillis(r.created_at),
    updated_at: toMillis(r.updated_at),
  };
}

/** A JSON column that holds something unparsable is shown as the raw text rather than breaking a listing. */
function safeJson(v: unknown): unknown {
  try {
    return parseJson(v);
  } catch {
    // Written by hand or by a foreign tool: keep the text so the operator can see it.
    return v;
  }
}

/** ISO string of an epoch-ms value, for output. */
export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** The JSON form of a step for --json output and the web UI. */
export function stepJson(s: Step): Record<string, unknown> {
  return {
    ...s,
    dispatch_after: iso(s.dispatch_after),
    started_at: iso(s.started_at),
    completed_at: iso(s.completed_at),
    created_at: iso(s.created_at),
    updated_at: iso(s.updated_at),
  };
}
