#!/usr/bin/env node
// `npm start`: build when dist/ is missing, then run `bin/artisan dev` (the whole box: see docs/development.md).
// Extra arguments pass through: `npm start -- --port=8081`.
// Signals: a terminal's Ctrl-C reaches `dev` directly (same process group); a SIGINT/SIGTERM sent to this
// script alone (npm forwards them) is passed on. `dev` treats two signals within 2 s as one.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

if (!fs.existsSync(path.join(root, 'dist', 'launcher', 'main.js')) || !fs.existsSync(path.join(root, 'oclif.manifest.json'))) {
  execFileSync('npm', ['run', 'build'], { stdio: 'inherit', cwd: root });
}
const child = spawn(process.execPath, [path.join(root, 'bin', 'artisan'), 'dev', ...process.argv.slice(2)], { stdio: 'inherit', cwd: root });
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
  });
}
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
