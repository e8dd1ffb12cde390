#!/usr/bin/env node
// `npm start`: bring the box up on its embedded defaults (SQLite under storage/).
// Today: make sure an APP_KEY exists, migrate, load the demo data once, then print the command list.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const artisan = (...args) => execFileSync(process.execPath, [path.join(root, 'bin', 'artisan'), ...args], { stdio: 'inherit', cwd: root });

if (!fs.existsSync(path.join(root, 'dist', 'launcher', 'main.js'))) {
  execFileSync('npm', ['run', 'build'], { stdio: 'inherit', cwd: root });
}
const envFile = path.join(root, '.env');
const hasKey = process.env.APP_KEY || (fs.existsSync(envFile) && /^APP_KEY=.+$/m.test(fs.readFileSync(envFile, 'utf8')));
if (!hasKey) artisan('key:generate');
artisan('migrate');
artisan('db:seed');
artisan('list');
