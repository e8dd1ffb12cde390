/**
 * Turn a submitted runner form into an argument array for execa (no shell is ever involved, so shell
 * metacharacters reach the command as literal text). Only flags and args the manifest declares are
 * accepted; values are validated (options, length, no control characters) and flags are written as one
 * `--name=value` element, so a value can never be taken for another flag. Positional args follow `--`.
 */
import type { ManifestCommand } from '../../launcher/manifest.js';
import { isSecretName } from '../../support/mask.js';

export class ArgvError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArgvError';
  }
}

export const MAX_VALUE_LENGTH = 2000;

export type FormValues = Record<string, string | string[] | undefined>;

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[v.length - 1] : v;
}

function validValue(label: string, v: string): string {
  if (v.length > MAX_VALUE_LENGTH) throw new ArgvError(`${label} is longer than ${MAX_VALUE_LENGTH} characters.`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(v)) throw new ArgvError(`${label} contains control characters.`);
  return v;
}

export interface BuiltArgv {
  /** Arguments after the command id, as passed to the child. */
  argv: string[];
  /** The same, with values of secret-named flags masked, for history and audit. */
  display: string[];
}

/** Form field names: flags are "flag.<name>", args "arg.<name>". */
export function buildArgv(cmd: ManifestCommand, form: FormValues): BuiltArgv {
  const argv: string[] = [];
  const display: string[] = [];
  // A flag or argument the command does not have is refused, not dropped: a client asking for
  // `--dry-run` on a command without it must not get a real run. (Hidden flags exist; they are ignored.)
  for (const key of Object.keys(form)) {
    const flag = key.startsWith('flag.') ? key.slice(5) : null;
    if (flag !== null && !cmd.flags[flag]) throw new ArgvError(`--${flag.slice(0, 60)} is not a flag of ${cmd.id}.`);
    const arg = key.startsWith('arg.') ? key.slice(4) : null;
    if (arg !== null && !cmd.args[arg]) throw new ArgvError(`${arg.slice(0, 60)} is not an argument of ${cmd.id}.`);
  }
  for (const [name, flag] of Object.entries(cmd.flags)) {
    if (flag.hidden) continue;
    const raw = form[`flag.${name}`];
    if (flag.type === 'boolean') {
      const v = one(raw);
      if (v === 'on' || v === 'true' || v === '1') {
        argv.push(`--${name}`);
        display.push(`--${name}`);
      }
      continue;
    }
    const values = flag.multiple
      ? (Array.isArray(raw) ? raw : [raw ?? ''])
          .flatMap((x) => x.split(/\r?\n/))
          .map((x) => x.trim())
          .filter(Boolean)
      : [one(raw) ?? ''].map((x) => x.trim()).filter(Boolean);
    if (!values.length) {
      if (flag.required) throw new ArgvError(`--${name} is required.`);
      continue;
    }
    for (const v of values) {
      validValue(`--${name}`, v);
      if (flag.options?.length && !flag.options.includes(v)) throw new ArgvError(`--${name} must be one of ${flag.options.join(', ')}.`);
      argv.push(`--${name}=${v}`);
      display.push(isSecretName(name) ? `--${name}=****` : `--${name}=${v}`);
    }
  }
  const positional: string[] = [];
  const shown: string[] = [];
  for (const [name, arg] of Object.entries(cmd.args)) {
    const v = (one(form[`arg.${name}`]) ?? '').trim();
    if (!v) {
      if (arg.required) throw new ArgvError(`The argument ${name} is required.`);
      break; // positional: nothing after a missing one can be placed
    }
    validValue(name, v);
    if (arg.options?.length && !arg.options.includes(v)) throw new ArgvError(`${name} must be one of ${arg.options.join(', ')}.`);
    positional.push(v);
    shown.push(isSecretName(name) ? '****' : v);
  }
  if (positional.length) {
    argv.push('--', ...positional);
    display.push('--', ...shown);
  }
  return { argv, display };
}
