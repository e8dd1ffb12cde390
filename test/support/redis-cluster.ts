/**
 * A private local Redis Cluster for tests: three masters (no replicas) started with
 * `redis-server --cluster-enabled yes` on free ports in a temporary directory, joined with
 * `redis-cli --cluster create … --cluster-replicas 0 --cluster-yes`, ready once every node reports
 * cluster_state:ok and agrees on the slot map. stop() kills exactly the processes it started and removes
 * the directory.
 *
 *   const cluster = await startRedisCluster();
 *   env.REDIS_URL = cluster.url; env.REDIS_CLUSTER = 'true'; env.REDIS_CLUSTER_NODES = cluster.nodesVar;
 *   …
 *   await cluster.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

export interface LocalRedisCluster {
  ports: number[];
  /** redis://127.0.0.1:<first port>: the seed node for REDIS_URL. */
  url: string;
  /** The other nodes as REDIS_CLUSTER_NODES wants them ("127.0.0.1:p2,127.0.0.1:p3"). */
  nodesVar: string;
  dir: string;
  /** Run redis-cli against one node (e.g. ['cluster', 'info']), returning stdout. */
  cli(port: number, args: string[]): Promise<string>;
  /** The port of the master that serves `key`. */
  ownerOf(key: string): Promise<number>;
  stop(): Promise<void>;
}

const started = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A crashed test run must not leave cluster nodes behind: kill what this process started.
  process.once('exit', () => {
    for (const c of started) if (c.exitCode === null && c.pid) c.kill('SIGKILL');
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** `count` ports P whose cluster bus port P + 10000 is free too. */
async function freeClusterPorts(count: number): Promise<number[]> {
  const out: number[] = [];
  for (let tries = 0; out.length < count && tries < 500; tries++) {
    const p = 20000 + Math.floor(Math.random() * 9000);
    if (out.includes(p) || out.includes(p + 10000) || out.includes(p - 10000)) continue;
    if ((await portFree(p)) && (await portFree(p + 10000))) out.push(p);
  }
  if (out.length < count) throw new Error(`could not find ${count} free port pairs for a Redis Cluster`);
  return out;
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== null) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

export async function startRedisCluster(opts: { nodes?: number } = {}): Promise<LocalRedisCluster> {
  const n = opts.nodes ?? 3;
  installExitHook();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'athena-redis-cluster-'));
  const ports = await freeClusterPorts(n);
  const procs: ChildProcess[] = [];
  const cli = async (port: number, args: string[]): Promise<string> => (await execa('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10_000 })).stdout;

  const stop = async (): Promise<void> => {
    await Promise.all(
      procs.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const t = setTimeout(() => c.kill('SIGKILL'), 5000);
            c.once('exit', () => {
              clearTimeout(t);
              started.delete(c);
              resolve();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
    fs.rmSync(dir, { recursive: true, force: true });
  };

  try {
    for (const port of ports) {
      const log = fs.openSync(path.join(dir, `redis-${port}.log`), 'a');
      const child = spawn(
        'redis-server',
        [
          '--port', String(port),
          '--bind', '127.0.0.1',
          '--cluster-enabled', 'yes',
          '--cluster-config-file', `nodes-${port}.conf`,
          '--cluster-node-timeout', '5000',
          '--dir', dir,
          '--save', '',
          '--appendonly', 'no',
          '--daemonize', 'no',
        ],
        { stdio: ['ignore', log, log] },
      );
      fs.closeSync(log);
      procs.push(child);
      started.add(child);
    }
    for (const port of ports) await waitFor(`redis-server on ${port}`, 10_000, async () => ((await cli(port, ['ping'])) === 'PONG' ? true : null));
    await execa('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    // Every node must be ok and know every master (the slot map has spread through the gossip).
    await waitFor('cluster_state:ok on every node', 30_000, async () => {
      for (const port of ports) {
        if (!/cluster_state:ok/.test(await cli(port, ['cluster', 'info']))) return null;
        const masters = (await cli(port, ['cluster', 'nodes'])).split('\n').filter((l) => /\bmaster\b/.test(l) && /\d+-\d+/.test(l));
        if (masters.length !== n) return null;
      }
      return true;
    });
  } catch (err) {
    const logs = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.log')).map((f) => `${f}:\n${fs.readFileSync(path.join(dir, f), 'utf8').slice(-2000)}`).join('\n') : '';
    await stop();
    throw new Error(`could not start a local Redis Cluster: ${(err as Error).message}\n${logs}`);
  }

  return {
    ports,
    url: `redis://127.0.0.1:${ports[0]}`,
    nodesVar: ports.slice(1).map((p) => `127.0.0.1:${p}`).join(','),
    dir,
    cli,
    async ownerOf(key: string): Promise<number> {
      const slot = Number(await cli(ports[0]!, ['cluster', 'keyslot', key]));
      for (const line of (await cli(ports[0]!, ['cluster', 'nodes'])).split('\n')) {
        const f = line.split(' ');
        if (!/master/.test(f[2] ?? '')) continue;
        for (const range of f.slice(8)) {
          const [a, b] = range.split('-').map(Number);
          if (slot >= a! && slot <= (b ?? a!)) return Number(f[1]!.split(':')[1]!.split('@')[0]);
        }
      }
      throw new Error(`no master serves slot ${slot}`);
    },
    stop,
  };
}
