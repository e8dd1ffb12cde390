/**
 * The environment: process.env over the project's .env file. A real environment variable always wins.
 * ENV_FILE points at another file (tests use it to keep a developer's .env out of the way).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'dotenv';
import { projectRoot } from '../support/paths.js';

export type Env = Record<string, string | undefined>;

export function envFilePath(env: Env = process.env): string {
  const p = env.ENV_FILE;
  return p ? path.resolve(projectRoot, p) : path.join(projectRoot, '.env');
}

export function readEnvFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  return parse(text);
}

/** The merged environment: .env values, overridden by real environment variables. */
export function loadEnv(processEnv: Env = process.env): Env {
  return { ...readEnvFile(envFilePath(processEnv)), ...processEnv };
}

/** Set or replace KEY=value in an env file, keeping every other line as it was. */
export function writeEnvValue(file: string, key: string, value: string): void {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const line = `${key}=${value}`;
  const re = new RegExp(`^${key}=.*$`, 'm');
  const next = re.test(text) ? text.replace(re, line) : `${text}${text && !text.endsWith('\n') ? '\n' : ''}${line}\n`;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, next, { mode: 0o600 });
  fs.renameSync(tmp, file);
}
