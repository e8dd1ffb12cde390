/**
 * Step table sets. A set is a table-name prefix: '' (the default set) or 'trading_'. Each set has its
 * own steps, steps_dispatcher, steps_dispatcher_ticks and steps_archive; steps_dispatcher_saturation is
 * shared (its group column carries the prefix, e.g. "trading_alpha").
 */
import { normaliseStepPrefix, stepSetName } from '../support/box-flags.js';

/** The dispatcher lanes, in tick order. */
export const GROUPS = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta', 'iota', 'kappa'] as const;
export type GroupName = (typeof GROUPS)[number];

/** The two sets Kraite always runs. */
export const STEP_PREFIXES = ['', 'trading_'] as const;

/**
 * A lane: a named group, or null for the NULL lane (rows inserted without a group). The NULL lane's
 * lock row is stored with group '' because NULL is not unique in a unique index.
 */
export type Lane = string | null;

export const SATURATION_TABLE = 'steps_dispatcher_saturation';

export interface StepTables {
  prefix: string;
  set: string;
  steps: string;
  dispatcher: string;
  ticks: string;
  archive: string;
}

export function stepTables(prefix: string): StepTables {
  return {
    prefix,
    set: stepSetName(prefix),
    steps: `${prefix}steps`,
    dispatcher: `${prefix}steps_dispatcher`,
    ticks: `${prefix}steps_dispatcher_ticks`,
    archive: `${prefix}steps_archive`,
  };
}

/** Parse a --prefix flag ('trading' or 'trading_'; empty = default set). Throws on a bad name. */
export function parsePrefix(input: string | undefined | null): string {
  return normaliseStepPrefix(input);
}

/** The lock-row key of a lane ('' for the NULL lane). */
export function laneKey(lane: Lane): string {
  return lane ?? '';
}

/** "alpha" or "null" for logs and output. */
export function laneName(lane: Lane): string {
  return lane ?? 'null';
}

/** Parse --group: a list separated by , : ; | or whitespace; the word "null" selects the NULL lane. */
export function parseGroups(input: string): Lane[] {
  const parts = input
    .split(/[\s,:;|]+/)
    .map((s) => s.trim())
    .filter(Boolean);
  const out: Lane[] = [];
  for (const p of parts) {
    const lane = p.toLowerCase() === 'null' ? null : p;
    if (lane !== null && !/^[a-z0-9_-]{1,50}$/i.test(lane)) throw new Error(`"${p}" is not a valid group name`);
    if (!out.includes(lane)) out.push(lane);
  }
  return out;
}

/** The saturation group name of a lane: prefix + group ("trading_alpha"), "global" for the NULL lane. */
export function metricGroup(prefix: string, lane: Lane): string {
  return `${prefix}${lane ?? 'global'}`;
}
