/**
 * One Athena box for a chaos scenario: an isolated database and Redis prefix (test/support/context.ts),
 * the Binance simulator as its own process (`kraite:simulate-binance`), and the box's programs as
 * supervised `bin/artisan` processes. Helpers read the simulator's control API and the daemons' heartbeats.
 * close() stops everything and fails when any process of the run is still alive afterwards.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createTestContext, ROOT, type ContextOptions, type TestContext } from '../../support/context.js';
import { artisan } from '../../support/artisan.js';
import { createAccount } from '../../../src/db/repositories/accounts.js';
import { demoCredentials } from '../../../src/db/seed/demo-data.js';
import { heartbeatKey, type Heartbeat } from '../../../src/support/heartbeat.js';
import { closeRedis, connectRedis } from '../../../src/redis/connection.js';
import type { Redis } from 'ioredis';
import { Proc, Supervised, processesOfRun, killEverything, type ProcOptions } from './procs.js';

export const HOST = 'chaos-host';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(p));
    });
    srv.on('error', reject);
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll until `fn` holds; throws after `timeoutMs` (a generous bound, not a timing assertion). */
export async function until(what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 60_000, everyMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await sleep(everyMs);
  }
}

/** ms until `fn` holds, or null when it did not within `timeoutMs`. */
export async function timeTo(fn: () => boolean | Promise<boolean>, since: number, timeoutMs = 60_000, everyMs = 25): Promise<number | null> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await fn()) return Date.now() - since;
    } catch {
      // the probe itself hit the fault; try again
    }
    if (Date.now() > end) return null;
    await sleep(everyMs);
  }
}

/** A seeded random source (mulberry32), so a failing run can be repeated with CHAOS_SEED. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const CHAOS_SEED = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);

export interface BoxOptions extends ContextOptions {
  /** Accounts created in the database (demo credentials 1..n) and loaded by the simulator (--from-db). */
  accounts?: number;
  /** Extra flags of kraite:simulate-binance. */
  simArgs?: string[];
  /** Refresh exchange_symbols from the simulator (the price daemon needs them). */
  symbols?: boolean;
  /** `db:seed` first: demo accounts (demo credentials), symbols, positions and working orders. */
  seed?: boolean;
}

export class Box {
  readonly runId = crypto.randomBytes(6).toString('hex');
  readonly logDir: string;
  readonly programs = new Map<string, Supervised>();
  readonly procs: Proc[] = [];
  sim!: Proc;
  simPort = 0;
  accountIds: number[] = [];
  env: Record<string, string> = {};
  /** A reconnecting client for the test's probes (ctx.redis fails fast and stays down after an outage). */
  redis!: Redis;

  private constructor(
    readonly name: string,
    readonly ctx: TestContext,
  ) {
    this.logDir = path.join(ctx.env.STORAGE_PATH!, 'chaos-logs');
  }

  static async create(name: string, opts: BoxOptions = {}): Promise<Box> {
    const ctx = await createTestContext(`chaos-${name}`, opts);
    const box = new Box(name, ctx);
    try {
      await box.boot(opts);
    } catch (err) {
      await box.close().catch(() => undefined);
      throw err;
    }
    return box;
  }

  get redisUrl(): string {
    return this.env.REDIS_URL!;
  }

  get prefix(): string {
    return this.ctx.prefix;
  }

  get simUrl(): string {
    return `http://127.0.0.1:${this.simPort}`;
  }

  private async boot(opts: BoxOptions): Promise<void> {
    this.redis = await connectRedis(this.ctx.config.redis, 'daemon');
    this.redis.on('error', () => undefined); // probes retry; outages are the point of some scenarios
    this.simPort = await freePort();
    this.env = {
      ...this.ctx.env,
      APP_HOSTNAME: HOST,
      BINANCE_REST_URL: `http://127.0.0.1:${this.simPort}`,
      BINANCE_WS_URL: `ws://127.0.0.1:${this.simPort}`,
      LOG_LEVEL: 'info',
      USER_DATA_SHARDS: '2',
    };
    if (opts.seed) {
      const r = await artisan(['db:seed'], this.env);
      if (r.exitCode !== 0) throw new Error(`db:seed failed: ${r.stderr}`);
      this.accountIds.push(...(await this.ctx.db('accounts').orderBy('id').pluck('id')).map(Number));
    }
    for (let k = 1; k <= (opts.accounts ?? 0); k++) {
      const c = demoCredentials(k);
      this.accountIds.push(await createAccount(this.ctx.db, this.ctx.config.appKey!, { name: `Chaos ${k}`, apiKey: c.apiKey, apiSecret: c.apiSecret }, new Date(Date.now() - 3_600_000)));
    }
    this.sim = this.proc('simulator', ['kraite:simulate-binance', `--port=${this.simPort}`, '--from-db', '--demo-accounts=0', '--symbols=30', ...(opts.simArgs ?? [])]);
    await until('the simulator answers', async () => {
      if (!this.sim.running) throw new Error(`the simulator exited: ${this.sim.log().slice(-2000)}`);
      return (await fetch(`${this.simUrl}/_sim/state`).then((r) => r.ok).catch(() => false)) === true;
    }, 30_000);
    if (opts.symbols) {
      const r = await artisan(['kraite:cron-refresh-exchange-symbols', '--json'], this.env);
      if (r.exitCode !== 0) throw new Error(`symbol refresh failed: ${r.stderr}`);
    }
  }

  /** A process that is not restarted (the simulator, a worker the test manages itself). */
  proc(name: string, args: string[], extra: Partial<ProcOptions> = {}): Proc {
    const p = new Proc({ name, args, env: this.env, logDir: this.logDir, runId: this.runId, ...extra });
    this.procs.push(p);
    return p;
  }

  /** A program under "supervisor": restarted whenever it exits. */
  supervise(name: string, args: string[], extra: Partial<ProcOptions> = {}, restartDelayMs = 200): Supervised {
    const s = new Supervised({ name, args, env: this.env, logDir: this.logDir, runId: this.runId, ...extra }, restartDelayMs);
    this.programs.set(name, s);
    return s;
  }

  async simPost<T = unknown>(route: string, body: unknown = {}): Promise<T> {
    const r = await fetch(`${this.simUrl}/_sim/${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const text = await r.text();
    if (!r.ok) throw new Error(`POST /_sim/${route} → ${r.status}: ${text}`);
    return JSON.parse(text) as T;
  }

  async simDelete(route: string, body: unknown = {}): Promise<void> {
    const r = await fetch(`${this.simUrl}/_sim/${route}`, { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!r.ok) throw new Error(`DELETE /_sim/${route} → ${r.status}: ${await r.text()}`);
  }

  async simState(): Promise<SimState> {
    const r = await fetch(`${this.simUrl}/_sim/state`);
    if (!r.ok) throw new Error(`GET /_sim/state → ${r.status}`);
    return (await r.json()) as SimState;
  }

  /** Frames the simulator wrote to user-data sockets, over every account. */
  async framesSent(): Promise<number> {
    const s = await this.simState();
    return Object.values(s.accounts).reduce((n, a) => n + a.framesSent, 0);
  }

  async heartbeat(daemon: string): Promise<Heartbeat | null> {
    const v = await this.redis.get(heartbeatKey(this.prefix, daemon, HOST));
    return v ? (JSON.parse(v) as Heartbeat) : null;
  }

  /** Stop every program and process; throw when any process of the run survived. */
  async close(): Promise<void> {
    const errors: string[] = [];
    await Promise.all([...this.programs.values()].map((s) => s.stop(10_000)));
    await Promise.all(this.procs.map((p) => p.stop(10_000)));
    // a daemon whose grandchildren ignore the group kill would show here
    const left = await (async () => {
      const end = Date.now() + 10_000;
      for (;;) {
        const l = processesOfRun(this.runId);
        if (!l.length || Date.now() > end) return l;
        await sleep(100);
      }
    })();
    if (left.length) errors.push(`processes of the run still alive: ${left.map((p) => `${p.pid} ${p.cmd}`).join('; ')}`);
    killEverything();
    // every program's log stays under storage/chaos/logs/<scenario>/ (gitignored) until the next run
    const keep = path.join(ROOT, 'storage', 'chaos', 'logs', this.name);
    fs.rmSync(keep, { recursive: true, force: true });
    if (fs.existsSync(this.logDir)) fs.cpSync(this.logDir, keep, { recursive: true });
    if (this.redis) await closeRedis(this.redis);
    // the context's fail-fast client does not come back by itself after a Redis outage
    if (this.ctx.redis.status === 'end' || this.ctx.redis.status === 'close') await this.ctx.redis.connect();
    await this.ctx.cleanup();
    if (errors.length) throw new Error(errors.join('\n'));
  }
}

export interface SimAccountState {
  framesSent: number;
  framesDropped: number;
  malformedSent: number;
  connectionsOpened: number;
  connections: number;
  listen_key_active: boolean;
  orders: number;
}

export interface SimState {
  accounts: Record<string, SimAccountState>;
  market: { frames_sent: number; connections: number; connections_opened: number };
  load: { running: boolean; rate: number; sent: number };
  [k: string]: unknown;
}
