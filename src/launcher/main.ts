/**
 * bin/artisan's brain. Cheap paths first (version, list, unknown commands, fast entries); everything else
 * goes to oclif with the project root as its base, so bin/artisan works from any working directory.
 */
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { projectRoot } from '../support/paths.js';
import { fastEntries } from './fast-entries.js';
import { listedCommands, renderList } from './list.js';
import { readManifest, readPackageVersion, type Manifest } from './manifest.js';
import { suggestCommands } from './suggest.js';

export function versionString(version: string): string {
  return `athena/${version} ${process.platform}-${process.arch} node-${process.version}`;
}

function knownIds(manifest: Manifest): Set<string> {
  const ids = new Set<string>();
  for (const c of Object.values(manifest.commands)) {
    ids.add(c.id);
    for (const a of c.aliases ?? []) ids.add(a);
  }
  return ids;
}

export function unknownCommandMessage(input: string, manifest: Manifest): string {
  const visible = Object.values(manifest.commands).filter((c) => !c.hidden).map((c) => c.id);
  const suggestions = suggestCommands(input, visible);
  const lines = [`Command "${input}" is not defined.`];
  if (suggestions.length) lines.push('', suggestions.length === 1 ? 'Did you mean this?' : 'Did you mean one of these?', ...suggestions.map((s) => `    ${s}`));
  return `${lines.join('\n')}\n`;
}

async function runOclif(argv: string[]): Promise<void> {
  const { execute } = await import('@oclif/core');
  await execute({ args: argv, dir: pathToFileURL(path.join(projectRoot, 'package.json')).href });
}

export async function main(argv: string[]): Promise<void> {
  const first = argv[0];

  // Fast entries first: they are known commands, and crontab should not pay for parsing the manifest.
  if (first && fastEntries[first]) {
    const entry = await fastEntries[first]!();
    const code = await entry(argv.slice(1));
    if (code !== null) {
      process.exitCode = code;
      return;
    }
  }

  const manifest = readManifest();

  if (first === '--version' || first === '-V' || first === '-v') {
    process.stdout.write(`${versionString(manifest?.version ?? readPackageVersion())}\n`);
    return;
  }

  if (manifest) {
    const listing = first === undefined || first === 'list' || ((first === 'help' || first === '--help' || first === '-h') && argv.length === 1);
    if (listing) {
      const rest = first === 'list' ? argv.slice(1) : [];
      const json = rest.includes('--json');
      const namespace = rest.find((a) => !a.startsWith('-'));
      if (json) process.stdout.write(`${JSON.stringify({ version: manifest.version, commands: listedCommands(manifest, namespace) })}\n`);
      else process.stdout.write(renderList(manifest, namespace));
      return;
    }
    const ids = knownIds(manifest);
    const target = first === 'help' ? argv[1] : first;
    if (target && !target.startsWith('-') && !ids.has(target)) {
      process.stderr.write(unknownCommandMessage(target, manifest));
      process.exitCode = 1;
      return;
    }
  }

  await runOclif(argv);
}
