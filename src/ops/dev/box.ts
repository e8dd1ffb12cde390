/**
 * `bin/artisan dev` (npm start): the whole box on one machine, on its embedded defaults.
 *
 *  1. APP_KEY into .env when missing; Redis found or started privately (src/ops/dev/redis.ts).
 *  2. The database (SQLite by default) migrated and seeded: demo accounts, symbols, positions, orders,
 *     steps, and the demo operator of the admin UI.
 *  3. The Binance simulator (with every DB account), then the dispatch daemon, both streams, horizon,
 *     schedule:work and web, each a supervised child (src/ops/dev/process-manager.ts). BINANCE_REST_URL
 *     and BINANCE_WS_URL point at the simulator: a dev box never talks to the real exchange.
 *  4. Demo activity (src/ops/dev/activity.ts) until stop() is called (SIGINT/SIGTERM in the command),
 *     then every program stops, Redis and the simulator last; no process of the box survives.
 *
 * storage/dev/dev.json describes the running box (ports, URLs, program pids) while it runs.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import { loadConfig, type AppConfig } from '../../config/index.js';
import { loadEnv } from '../../config/env.js';
import { fromRoot, storagePath } from '../../support/paths.js';
import type { Clock } from '../../support/clock.js';
import { UserError, errorMessage } from '../../support/errors.js';
import { maskUrl } from '../../support/mask.js';
import { ProcessManager, type ColourName, type ProgramSpec } from './process-manager.js';
import { freePort, listening, planRedis, waitListening, REDIS_HELP, type RedisPlan } from './redis.js';
import { ensureAppKey, ensureDemoOperator, type DemoOperator } from './setup.js';
import { DemoActivity } from './activity.js';

export interface DevBoxOptions {
  clock: Clock;
  /** Web port (undefined: WEB_PORT; 0: a free one). */
  webPort?: number;
  /** Simulator port (undefined: the port of a local BINANCE_REST_URL, else 9876; 0: a free one). */
  simPort?: number;
  activity: boolean;
  orderEveryMs: number;
  stepsEveryMs: number;
  graceMs: number;
  colour: boolean;
  write: (line: string) => void;
  /** Where a local Redis is looked for when REDIS_URL is unset (default 127.0.0.1:6379). */
  redisProbe?: { host: string; port: number };
}

export interface DevProgram {
  name: string;
  command: string;
  colour: ColourName;
}

/** The programs of the box, in start order (the simulator is started first, separately). */
export const BOX_PROGRAMS: DevProgram[] = [
  { name: 'dispatch', command: 'kraite:dispatch-daemon', colour: 'blue' },
  { name: 'user-data', command: 'kraite:stream-binance-user-data', colour: 'cyan' },
  { name: 'prices', command: 'kraite:stream-binance-prices', colour: 'green' },
  { name: 'horizon', command: 'horizon', colour: 'yellow' },
  { name: 'schedule', command: 'schedule:work', colour: 'blueBright' },
  { name: 'web', command: 'web', colour: 'greenBright' },
];

/** Whether this build has a command (from oclif.manifest.json). */
export function hasCommand(id: string): boolean {
  try {
    const manifest = JSON.parse(fs.readFileSync(fromRoot('oclif.manifest.json'), 'utf8')) as { commands?: Record<string, unknown> };
    return !!manifest.commands?.[id];
  } catch (err) {
    throw new UserError(`Cannot read oclif.manifest.json (${errorMessage(err)}); run npm run build first.`);
  }
}

export interface DevState {
  pid: number;
  startedAt: string;
  ready: boolean;
  webPort: number;
  simPort: number;
  redis: { url: string; private: boolean };
  urls: { admin: string; docs: string; marketing: string; simulator: string };
  operator: { email: string; passwordFile: string };
  programs: Record<string, number | null>;
}

export class DevBox {
  private readonly pm: ProcessManager;
  private readonly stopController = new AbortController();
  private db: Knex | null = null;
  private redis: Redis | null = null;
  private state: DevState | null = null;
  private readonly stateFile = storagePath('dev', 'dev.json');

  constructor(private readonly o: DevBoxOptions) {
    this.pm = new ProcessManager({
      clock: o.clock,
      write: o.write,
      colour: o.colour,
      labelWidth: Math.max('simulator'.length, ...BOX_PROGRAMS.map((p) => p.name.length)),
      backoffBaseMs: 1000,
      backoffMaxMs: 30_000,
      stableAfterMs: 30_000,
      onSpawn: (name, pid) => {
        if (!this.state) return;
        this.state.programs[name] = pid;
        this.writeState();
      },
    });
  }

  get stopping(): boolean {
    return this.stopController.signal.aborted;
  }

  /** Ask the box to stop (from a signal handler: only sets the flag). */
  stop(): void {
    this.stopController.abort();
  }

  /** The second Ctrl-C: kill every program now. */
  killNow(): void {
    this.pm.killAllNow();
  }

  private say(line: string): void {
    this.pm.say(line);
  }

  private check(): void {
    if (this.stopping) throw new UserError('Stopped during start-up.');
  }

  private writeState(): void {
    if (!this.state) return;
    fs.mkdirSync(path.dirname(this.stateFile), { recursive: true });
    const tmp = `${this.stateFile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(this.state, null, 2)}\n`);
    fs.renameSync(tmp, this.stateFile);
  }

  private artisanSpec(name: string, args: string[], colour: ColourName, env: Record<string, string>, extra: Partial<ProgramSpec> = {}): ProgramSpec {
    return { name, command: process.execPath, args: [fromRoot('bin', 'artisan'), ...args], cwd: fromRoot(), env, colour, ...extra };
  }

  /** Run the box until stop(). Throws UserError when it cannot start; always stops what it started. */
  async run(): Promise<void> {
    try {
      await this.startUp();
      if (!this.stopping) await this.serve();
    } finally {
      await this.shutdown();
    }
  }

  private async startUp(): Promise<void> {
    const devDir = storagePath('dev');
    fs.mkdirSync(devDir, { recursive: true, mode: 0o700 });

    if (loadEnv(process.env).APP_ENV === 'production') throw new UserError('dev runs a demo box (demo data, a demo operator, the exchange simulator); it is refused when APP_ENV=production.');
    // 1. APP_KEY and Redis.
    const key = ensureAppKey(process.env);
    if (key.generated) this.say(`Generated APP_KEY into ${key.file}`);
    process.env.APP_KEY = key.key;
    const merged = loadEnv(process.env);
    const plan = await planRedis({ configuredUrl: merged.REDIS_URL, dir: path.join(devDir, 'redis'), probe: this.o.redisProbe });
    if (plan.kind === 'private') {
      this.say(`No Redis configured or listening on 6379: starting a private redis-server on 127.0.0.1:${plan.port} (files in ${path.join(devDir, 'redis')})`);
      this.pm.add(plan.spec);
      this.pm.start('redis');
      await waitListening('127.0.0.1', plan.port, 15_000, 'The private redis-server');
    }
    this.check();

    // 2. Ports and the environment every child gets.
    const base = loadConfig({ ...process.env, REDIS_URL: plan.url });
    const webPort = this.o.webPort === 0 ? await freePort() : (this.o.webPort ?? base.web.port);
    const simPort = this.o.simPort === 0 ? await freePort() : (this.o.simPort ?? localPort(base.binance.restUrl) ?? 9876);
    for (const [what, port, hint] of [
      ['web', webPort, 'set WEB_PORT or pass --port'],
      ['simulator', simPort, 'pass --sim-port'],
    ] as const) {
      if (await listening('127.0.0.1', port, 500)) throw new UserError(`Port ${port} (${what}) is already in use on 127.0.0.1: ${hint} (0 picks a free one).`);
    }
    const childEnv: Record<string, string> = {
      // local: horizon also drains the step queues on this one machine (docs/horizon.md).
      APP_ENV: 'local',
      APP_KEY: key.key,
      REDIS_URL: plan.url,
      BINANCE_REST_URL: `http://127.0.0.1:${simPort}`,
      BINANCE_WS_URL: `ws://127.0.0.1:${simPort}`,
      WEB_PORT: String(webPort),
      LOG_FORMAT: merged.LOG_FORMAT ?? 'pretty',
      // Workers finish their job within the grace period dev gives each program.
      HORIZON_TERMINATE_WAIT_SECONDS: merged.HORIZON_TERMINATE_WAIT_SECONDS ?? String(Math.max(1, Math.floor(this.o.graceMs / 1000) - 5)),
    };
    Object.assign(process.env, childEnv);
    const config = loadConfig(process.env);

    // 3. Redis answers, the database is migrated and seeded, the operator exists.
    const { connectRedis, closeRedis } = await import('../../redis/connection.js');
    try {
      const probe = await connectRedis(config.redis, 'cli');
      await probe.ping();
      await closeRedis(probe);
    } catch (err) {
      if (plan.kind === 'private') throw err;
      throw new UserError(`${errorMessage(err)}\n${plan.kind === 'configured' ? `REDIS_URL is set to ${maskUrl(plan.url)} but that Redis does not answer.` : REDIS_HELP}`);
    }
    // The box's own long-lived client (wake-ups for the demo steps) reconnects like a daemon's.
    this.redis = await connectRedis(config.redis, 'daemon');
    let redisDown = false;
    this.redis.on('error', (err: Error) => {
      if (!redisDown) this.say(`Redis connection lost (${err.message}); reconnecting`);
      redisDown = true;
    });
    this.redis.on('ready', () => {
      if (redisDown) this.say('Redis connection back');
      redisDown = false;
    });
    const operator = await this.prepareDatabase(config);
    this.check();

    // 4. The simulator, then the programs.
    this.state = {
      pid: process.pid,
      startedAt: new Date(this.o.clock.now()).toISOString(),
      ready: false,
      webPort,
      simPort,
      redis: { url: maskUrl(plan.url), private: plan.kind === 'private' },
      urls: {
        admin: `http://${config.web.adminHost}:${webPort}/`,
        docs: `http://${config.web.docsHost}:${webPort}/`,
        marketing: `http://${config.web.marketingHost}:${webPort}/`,
        simulator: `http://127.0.0.1:${simPort}/_sim/state`,
      },
      operator: { email: operator.email, passwordFile: operator.file },
      programs: Object.fromEntries(this.pm.states().map((s) => [s.name, s.pid])),
    };
    this.writeState();
    this.pm.add(this.artisanSpec('simulator', ['kraite:simulate-binance', '--from-db', `--port=${simPort}`], 'magenta', childEnv, { stopLast: true }));
    this.pm.start('simulator');
    await waitListening('127.0.0.1', simPort, 30_000, 'The Binance simulator');
    this.check();
    for (const p of BOX_PROGRAMS) {
      const args = p.command === 'web' ? ['web', `--port=${webPort}`] : [p.command];
      this.pm.add(this.artisanSpec(p.name, args, p.colour, childEnv));
      this.pm.start(p.name);
    }
    await waitListening('127.0.0.1', webPort, 60_000, 'The web server');
    this.check();
    this.state.ready = true;
    this.writeState();
    this.banner(config, plan, operator);
  }

  private async prepareDatabase(config: AppConfig): Promise<DemoOperator> {
    const { createDb } = await import('../../db/connection.js');
    const { migrateLatest } = await import('../../db/migrator.js');
    const { seedDemo } = await import('../../db/seed/demo.js');
    const { seedDemoSteps } = await import('../../db/seed/demo-steps.js');
    const { Steps } = await import('../../steps/api.js');
    const { requireKey } = await import('../../crypto/secrets.js');
    this.db = await createDb(config.database);
    const ran = await migrateLatest(this.db);
    if (ran.length) this.say(`Migrated the database (${ran.length} migrations)`);
    const now = () => new Date(this.o.clock.now());
    const seeded = await seedDemo(this.db, requireKey(config.appKey), { now: now() });
    if (!seeded.skipped) this.say(`Seeded ${seeded.accounts} demo accounts, ${seeded.symbols} symbols, ${seeded.positions} positions and ${seeded.orders} orders`);
    const steps = new Steps({ db: this.db, clock: this.o.clock, redis: this.redis, redisPrefix: config.redis.prefix });
    const created = await seedDemoSteps(this.db, steps);
    if (created) this.say(`Seeded ${created} demo steps`);
    const operator = await ensureDemoOperator(this.db, storagePath('dev', 'admin-password'), config.hostname, now);
    if (operator.action !== 'kept') this.say(`${operator.action === 'created' ? 'Created' : 'Reset the password of'} the demo operator ${operator.email}`);
    return operator;
  }

  private banner(config: AppConfig, plan: RedisPlan, operator: DemoOperator): void {
    const s = this.state!;
    const lines = [
      'Athena dev box is ready',
      `  admin       ${s.urls.admin}`,
      `              login ${operator.email}  password ${operator.password}  (kept in ${operator.file}, mode 0600)`,
      `  docs        ${s.urls.docs}`,
      `  marketing   ${s.urls.marketing}`,
      `  simulator   ${s.urls.simulator}`,
      `  redis       ${maskUrl(plan.url)}${plan.kind === 'private' ? ' (private, stopped on exit)' : ''}  prefix ${config.redis.prefix}`,
      `  database    ${maskUrl(config.database.url)}`,
      `  programs    ${this.pm
        .states()
        .map((p) => p.name)
        .join(', ')}`,
      'Ctrl-C stops everything.',
    ];
    for (const l of lines) this.say(l);
  }

  private async serve(): Promise<void> {
    const signal = this.stopController.signal;
    if (this.o.activity && this.db) {
      const { Steps } = await import('../../steps/api.js');
      const { DEMO_ACCOUNTS, demoCredentials } = await import('../../db/seed/demo-data.js');
      const config = loadConfig(process.env);
      const activity = new DemoActivity({
        clock: this.o.clock,
        simUrl: `http://127.0.0.1:${this.state!.simPort}`,
        accounts: DEMO_ACCOUNTS.map((_, i) => demoCredentials(i + 1).apiKey),
        steps: new Steps({ db: this.db, clock: this.o.clock, redis: this.redis, redisPrefix: config.redis.prefix }),
        orderEveryMs: this.o.orderEveryMs,
        stepsEveryMs: this.o.stepsEveryMs,
        say: (l) => this.say(l),
      });
      await activity.run(signal);
      return;
    }
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
  }

  private async shutdown(): Promise<void> {
    this.stopController.abort();
    this.say('Stopping every program…');
    await this.pm.stop(this.o.graceMs);
    const { closeRedis } = await import('../../redis/connection.js');
    await closeRedis(this.redis);
    this.redis = null;
    await this.db?.destroy();
    this.db = null;
    if (this.state) fs.rmSync(this.stateFile, { force: true });
    this.say('Stopped; no program of the box is left running.');
  }
}

function localPort(url: string): number | null {
  try {
    const u = new URL(url);
    if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(u.hostname)) return null;
    return u.port ? Number(u.port) : null;
  } catch {
    // Not a URL: config validation reports it elsewhere.
    return null;
  }
}
