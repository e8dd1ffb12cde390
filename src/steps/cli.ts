/**
 * Shared pieces of the steps:* commands. Light on purpose (oclif imports every command file to build the
 * manifest): only @oclif/core and pure helpers at the top level.
 */
import { Flags } from '@oclif/core';
import { normaliseStepPrefix } from '../support/box-flags.js';
import { parseGroups, type Lane } from './tables.js';

/** --prefix: "trading" or "trading_" (normalised to "trading_"); empty = the default set. Bad names exit 2. */
export const prefixFlag = Flags.string({
  description: 'Step table set: "trading" (or "trading_") for the trading_ tables; omit for the default set',
  default: '',
  parse: async (v) => normaliseStepPrefix(v),
});

export const groupFlag = Flags.string({
  description: 'Group(s): alpha…kappa, separated by , : ; | or spaces; "null" selects rows without a group',
  parse: async (v) => {
    parseGroups(v); // validate early: a bad name is a usage error
    return v;
  },
});

export function lanesOf(v: string | undefined): Lane[] | null {
  return v === undefined ? null : parseGroups(v);
}

export function fmtTime(ms: number | null): string {
  return ms === null ? '' : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** --prefix for pause/resume: omitted = every set; "default" = the default set; "trading" = trading_. */
export const pauseScopeFlag = Flags.string({
  description: 'Which set: omit for all sets, "default" for the default set, "trading" (or "trading_") for the trading set',
  parse: async (v) => (v.trim() === 'default' ? '' : normaliseStepPrefix(v)),
});
