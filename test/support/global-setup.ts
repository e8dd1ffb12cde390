/**
 * Runs once before the suite: the CLI tests spawn bin/artisan, which runs the compiled code, so dist/
 * and the manifest must exist (`npm test` builds first). Also fails early and clearly when Redis is down.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.setTimeout(2000);
    s.once('connect', () => (s.end(), resolve(true)));
    s.once('timeout', () => (s.destroy(), resolve(false)));
    s.once('error', () => resolve(false));
  });
}

export default async function setup(): Promise<void> {
  const root = path.resolve(import.meta.dirname, '..', '..');
  if (!fs.existsSync(path.join(root, 'dist', 'launcher', 'main.js')) || !fs.existsSync(path.join(root, 'oclif.manifest.json'))) {
    throw new Error('dist/ is missing: run `npm run build` (npm test does it for you).');
  }
  const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  if (!(await reachable(url.hostname, Number(url.port || 6379)))) {
    throw new Error(`Redis is not reachable at ${url.host}. The tests need a real Redis (see README: Requirements).`);
  }
}
