/**
 * Static assets (CSS, JS, icons) live in src/web/assets/ and are served by @fastify/static under
 * /assets/, compressed by @fastify/compress. Every URL the pages emit carries a content hash (?v=…), so
 * the files can be cached for a year as immutable and a deploy still reaches every browser at once.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../support/paths.js';

export const ASSETS_DIR = path.join(projectRoot, 'src', 'web', 'assets');

const versions = new Map<string, string>();

export function assetUrl(name: string): string {
  let v = versions.get(name);
  if (v === undefined) {
    try {
      v = crypto.createHash('sha256').update(fs.readFileSync(path.join(ASSETS_DIR, name))).digest('hex').slice(0, 12);
    } catch {
      v = 'missing'; // a typo in a template shows as a 404 for the asset, never as a crash
    }
    versions.set(name, v);
  }
  return `/assets/${name}?v=${v}`;
}
