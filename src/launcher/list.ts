/**
 * `bin/artisan` / `bin/artisan list`: every command grouped by topic with its one-line description,
 * in the spirit of `php artisan list`. Rendered from the manifest, without loading oclif.
 */
import { summaryOf, type Manifest } from './manifest.js';

const useColour = () => !!process.stdout.isTTY && !process.env.NO_COLOR;
const green = (s: string) => (useColour() ? `\u001b[32m${s}\u001b[0m` : s);
const yellow = (s: string) => (useColour() ? `\u001b[33m${s}\u001b[0m` : s);

export interface ListedCommand {
  name: string;
  topic: string;
  description: string;
  aliases: string[];
}

export function listedCommands(manifest: Manifest, namespace?: string): ListedCommand[] {
  return Object.values(manifest.commands)
    .filter((c) => !c.hidden)
    .map((c) => ({ name: c.id, topic: c.id.includes(':') ? c.id.split(':')[0]! : '', description: summaryOf(c), aliases: c.aliases ?? [] }))
    .filter((c) => !namespace || c.topic === namespace)
    .sort((a, b) => (a.topic === b.topic ? a.name.localeCompare(b.name) : a.topic === '' ? -1 : b.topic === '' ? 1 : a.topic.localeCompare(b.topic)));
}

export function renderList(manifest: Manifest, namespace?: string): string {
  const cmds = listedCommands(manifest, namespace);
  const width = Math.max(...cmds.map((c) => c.name.length), 10) + 2;
  const out: string[] = [];
  out.push(`Athena ${green(manifest.version)}`, '');
  out.push(yellow('Usage:'), '  bin/artisan <command> [flags] [arguments]', '');
  out.push(yellow('Options:'));
  out.push(`  ${green('-h, --help'.padEnd(width))}Display help for the given command (bin/artisan help <command>)`);
  out.push(`  ${green('-V, --version'.padEnd(width))}Display this application version`);
  out.push(`  ${green('--json'.padEnd(width))}Print exactly one JSON document (commands that report data)`, '');
  out.push(yellow(namespace ? `Available commands for the "${namespace}" namespace:` : 'Available commands:'));
  let topic: string | null = null;
  for (const c of cmds) {
    if (c.topic !== topic && c.topic !== '') out.push(` ${yellow(c.topic)}`);
    topic = c.topic;
    out.push(`  ${green(c.name.padEnd(width))}${c.description}`);
  }
  return `${out.join('\n')}\n`;
}
