#!/usr/bin/env node
// Build oclif.manifest.json, then sort its commands by id so the file is byte-identical on every machine
// (oclif lists them in directory-walk order) and CI can fail when the committed one is stale.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'node_modules', '.bin', 'oclif');
execFileSync(bin, ['manifest'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, OCLIF_SKIP_NEW_VERSION_CHECK: 'true' } });
const file = path.join(root, 'oclif.manifest.json');
const manifest = JSON.parse(fs.readFileSync(file, 'utf8'));
const sorted = Object.fromEntries(Object.keys(manifest.commands).sort().map((id) => [id, manifest.commands[id]]));
fs.writeFileSync(file, `${JSON.stringify({ ...manifest, commands: sorted }, null, 2)}\n`);
