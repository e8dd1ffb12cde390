/** Whether this build has the `horizon` worker pool (the chaos scenarios use it when it is there). */
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../../support/context.js';

export function horizonAvailable(): boolean {
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')) as { commands: Record<string, unknown> };
  return 'horizon' in manifest.commands;
}
