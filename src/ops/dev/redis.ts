/**
 * Redis for `bin/artisan dev`. Redis is the one thing the box cannot embed, so:
 *  - REDIS_URL set (environment or .env) → use it;
 *  - else something listens on 127.0.0.1:6379 → use it;
 *  - else `redis-server` is on PATH → start a private one on a free port, its files under storage/dev/redis
 *    (no RDB snapshots, no AOF: the dev box's queues are disposable), stopped when `dev` stops;
 *  - else → a clear message on how to get one, and exit 1.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { UserError } from '../../support/errors.js';
import type { ProgramSpec } from './process-manager.js';

export const REDIS_HELP = [
  'Athena needs Redis (6.2 or newer) and none was found:',
  '  - REDIS_URL is not set,',
  '  - nothing listens on 127.0.0.1:6379,',
  '  - and redis-server is not installed, so a private one cannot be started.',
  'Get one of these:',
  '  Debian/Ubuntu:  sudo apt-get install redis-server     (then run npm start again)',
  '  macOS:          brew install redis',
  '  Docker:         docker run -d --name athena-redis -p 6379:6379 redis:7',
  'or point REDIS_URL at a Redis you have (in .env or the environment), e.g. REDIS_URL=redis://127.0.0.1:6380',
].join('\n');

export type RedisPlan = { kind: 'configured'; url: string } | { kind: 'local'; url: string } | { kind: 'private'; url: string; port: number; spec: ProgramSpec };

/** Whether a TCP server accepts connections at host:port (within timeoutMs). */
export function listening(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** A port the OS reports free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** The full path of an executable on PATH, or null. */
export function which(cmd: string, pathEnv = process.env.PATH ?? ''): string | null {
  for (const dir of pathEnv.split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // Not in this directory: try the next one.
    }
  }
  return null;
}

export interface RedisPlanInput {
  /** REDIS_URL from the environment or .env, if any. */
  configuredUrl: string | undefined;
  /** Directory for the private server's files (storage/dev/redis). */
  dir: string;
  /** Where a local Redis is looked for (default 127.0.0.1:6379). */
  probe?: { host: string; port: number };
  pathEnv?: string;
}

export async function planRedis(input: RedisPlanInput): Promise<RedisPlan> {
  if (input.configuredUrl) return { kind: 'configured', url: input.configuredUrl };
  const probe = input.probe ?? { host: '127.0.0.1', port: 6379 };
  if (await listening(probe.host, probe.port)) return { kind: 'local', url: `redis://${probe.host}:${probe.port}` };
  const bin = which('redis-server', input.pathEnv);
  if (!bin) throw new UserError(REDIS_HELP);
  fs.mkdirSync(input.dir, { recursive: true, mode: 0o700 });
  const port = await freePort();
  const spec: ProgramSpec = {
    name: 'redis',
    command: bin,
    args: ['--bind', '127.0.0.1', '--port', String(port), '--dir', input.dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--logfile', '', '--protected-mode', 'yes'],
    colour: 'red',
    stopLast: true,
  };
  return { kind: 'private', url: `redis://127.0.0.1:${port}`, port, spec };
}

/** Wait until a TCP port accepts connections, or throw after timeoutMs. */
export async function waitListening(host: string, port: number, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await listening(host, port, 500))) {
    if (Date.now() > deadline) throw new UserError(`${what} did not start listening on ${host}:${port} within ${Math.round(timeoutMs / 1000)} s.`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
