/**
 * Which CLI commands the admin runner may start, and who may start them.
 *  - The candidates are the commands of the CLI manifest (oclif.manifest.json), so a removed command
 *    disappears from the runner and a new one appears only if configuration allows it.
 *  - WEB_COMMANDS_ALLOW lists ids and prefix patterns (default kraite:*, steps:*, schedule:list,
 *    horizon:status, queue:failed).
 *  - NEVER_ALLOWED wins over configuration: key rotation, destructive migrations, maintenance mode
 *    (down/up and kraite:cooldown/warmup, which end in them), operator management, the web server itself,
 *    and the long-running programs (starting a second daemon from a web request would duplicate streams
 *    and ticks).
 *  - Viewers may start only read-only commands: those whose class sets `static readOnly = true` (copied
 *    into the manifest by oclif), plus READ_ONLY_FALLBACK for contract commands of parts that may not
 *    mark themselves yet.
 */
import type { Manifest, ManifestCommand } from '../../launcher/manifest.js';

export const NEVER_ALLOWED: RegExp[] = [
  /^key:generate$/,
  /^migrate:fresh$/,
  /^migrate:rollback$/,
  /^down$/,
  /^up$/,
  /^user(:|$)/,
  /^web$/,
  /^dev$/,
  /^horizon$/,
  /^horizon:terminate$/,
  /^schedule:work$/,
  /^schedule:run$/,
  /^queue:work$/,
  /^queue:flush$/,
  /-daemon$/,
  /^kraite:stream-/,
  /^kraite:simulate-/,
  /^kraite:freeze$/,
  /^kraite:unfreeze$/,
  // cooldown ends with `down` and warmup with `up` (and restarts the programs): box-level switches, like
  // down/up themselves, belong to a shell on the box
  /^kraite:cooldown$/,
  /^kraite:warmup$/,
  /^help$/,
];

/**
 * Contract commands that only read, for parts that are not merged yet and so cannot mark themselves
 * (`static readOnly = true`): the horizon pool's. steps:list, steps:show, schedule:list and
 * kraite:account-list carry the mark in their classes now.
 */
export const READ_ONLY_FALLBACK = new Set(['horizon:status', 'horizon:supervisors', 'queue:failed']);

export function matchesPattern(id: string, pattern: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return id.startsWith(pattern.slice(0, -1));
  return id === pattern;
}

export function isNeverAllowed(id: string): boolean {
  return NEVER_ALLOWED.some((re) => re.test(id));
}

export function isReadOnlyCommand(cmd: ManifestCommand): boolean {
  return cmd.readOnly === true || READ_ONLY_FALLBACK.has(cmd.id);
}

export interface AllowedCommand {
  command: ManifestCommand;
  readOnly: boolean;
}

export function allowedCommands(manifest: Manifest | null, patterns: string[]): AllowedCommand[] {
  if (!manifest) return [];
  return Object.values(manifest.commands)
    .filter((c) => !c.hidden && !isNeverAllowed(c.id) && patterns.some((p) => matchesPattern(c.id, p)))
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((c) => ({ command: c, readOnly: isReadOnlyCommand(c) }));
}

export function findAllowed(manifest: Manifest | null, patterns: string[], id: string): AllowedCommand | null {
  return allowedCommands(manifest, patterns).find((c) => c.command.id === id) ?? null;
}

export function canRun(role: 'admin' | 'viewer', cmd: AllowedCommand): boolean {
  return role === 'admin' || cmd.readOnly;
}
