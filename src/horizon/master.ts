/**
 * The horizon master: runs the configured supervisors, applies commands from Redis (pause, continue,
 * terminate; src/horizon/control.ts), writes its state to `<p>:horizon:master:<host>` every second (TTL 5 s)
 * and a `horizon` heartbeat, takes a metrics snapshot every minute (one master per minute, by lock) and
 * raises `horizon_long_wait` when a queue's oldest waiting job has waited longer than the threshold.
 *
 * run() blocks until terminate (command, SIGTERM/SIGINT → requestTerminate()); tick() is one iteration
 * (every 250 ms, so pause reaches the workers well within a second); close() stops the supervisors.
 */
import { fork } from 'node:child_process';
import type { Job } from 'bullmq';
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../config/index.js';
import { Notifier } from '../notify/notifier.js';
import { QueueFactory } from '../queue/queues.js';
import { queuePrefix } from '../redis/keys.js';
import type { Clock } from '../support/clock.js';
import { errorMessage } from '../support/errors.js';
import { withTimeout } from '../support/timeout.js';
import { writeHeartbeat } from '../support/heartbeat.js';
import type { Logger } from '../support/log.js';
import { fromRoot } from '../support/paths.js';
import type { ChildSpec } from './child.js';
import { configuredQueues, type HorizonConfig } from './config.js';
import { CommandInbox, type MasterState } from './control.js';
import { horizonKeys } from './keys.js';
import { ShardLeases } from './leases.js';
import { takeSnapshot } from './metrics.js';
import { Supervisor, type ForkChild } from './supervisor.js';

export interface MasterDeps {
  config: AppConfig;
  db: Knex;
  redis: Redis;
  clock: Clock;
  log: Logger;
  /** Injected by tests; default forks dist/horizon/child-main.js. */
  fork?: ForkChild;
}

export const STATE_TTL_SECONDS = 5;
const LONG_WAIT_CHECK_MS = 5000;
const SNAPSHOT_EVERY_MS = 60_000;
/** A master tick running longer than this is reported with its phase. */
const TICK_SLOW_MS = 5000;

export function defaultFork(): ForkChild {
  const entry = fromRoot('dist', 'horizon', 'child-main.js');
  return (spec: ChildSpec) => fork(entry, [], { env: { ...process.env, HORIZON_CHILD_SPEC: JSON.stringify(spec) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
}

export class HorizonMaster {
  readonly supervisors: Supervisor[];
  private readonly keys;
  private readonly inbox: CommandInbox;
  private readonly queues: QueueFactory;
  private readonly notifier: Notifier;
  private status: 'running' | 'paused' | 'terminating' = 'running';
  private terminateRequested: string | null = null;
  private readonly startedAt: number;
  private lastStateAt = 0;
  private lastLongWaitAt = 0;
  private lastSnapshotAt: number;
  private readonly wake = new AbortController();

  constructor(
    private readonly deps: MasterDeps,
    readonly hcfg: HorizonConfig,
  ) {
    const prefix = deps.config.redis.prefix;
    this.keys = horizonKeys(prefix);
    this.inbox = new CommandInbox(deps.redis, prefix, deps.config.hostname);
    this.queues = new QueueFactory({ prefix, connection: deps.redis });
    this.notifier = new Notifier({ db: deps.db, redis: deps.redis, prefix, log: deps.log, clock: deps.clock, hostname: deps.config.hostname, webhookUrl: deps.config.notifyWebhookUrl });
    this.startedAt = deps.clock.now();
    this.lastSnapshotAt = this.startedAt;
    const leases = new ShardLeases(deps.redis, (q) => this.keys.lease(q), queuePrefix(prefix));
    const forkChild = deps.fork ?? defaultFork();
    this.supervisors = hcfg.supervisors.map(
      (cfg) =>
        new Supervisor(
          {
            clock: deps.clock,
            log: deps.log.child(`supervisor:${cfg.name}`),
            fork: forkChild,
            leases,
            hostname: deps.config.hostname,
            backlog: (queues) => this.backlog(queues),
            terminateWaitMs: hcfg.terminateWaitMs,
          },
          cfg,
        ),
    );
  }

  get currentStatus(): string {
    return this.status;
  }

  private async backlog(queues: string[]): Promise<number> {
    let n = 0;
    for (const name of queues) {
      const c = await (await this.queues.queue(name)).getJobCounts('wait', 'prioritized');
      n += (c.wait ?? 0) + (c.prioritized ?? 0);
    }
    return n;
  }

  async start(): Promise<void> {
    await this.inbox.init();
    for (const s of this.supervisors) s.maintain();
    await this.writeState();
    this.deps.log.info('horizon started', { supervisors: this.supervisors.map((s) => `${s.name}×${s.targetCount}`) });
  }

  /** Ask run() to stop: workers finish their current job, then exit. Signal-safe (sets a flag). */
  requestTerminate(reason = 'terminate'): void {
    this.terminateRequested ??= reason;
    this.wake.abort();
  }

  pause(): void {
    if (this.status !== 'running') return;
    this.status = 'paused';
    for (const s of this.supervisors) s.pause();
    this.deps.log.info('horizon paused');
  }

  resume(): void {
    if (this.status !== 'paused') return;
    this.status = 'running';
    for (const s of this.supervisors) s.resume();
    this.deps.log.info('horizon continued');
  }

  /** The phase of the running tick (null between ticks), for the report of a tick that hangs. */
  private phase: string | null = null;

  /** One iteration; errors are logged, never thrown. */
  async tick(): Promise<void> {
    try {
      await this.tickPhases();
    } finally {
      this.phase = null;
    }
  }

  private async tickPhases(): Promise<void> {
    const now = this.deps.clock.now();
    this.phase = 'commands';
    try {
      for (const c of await this.inbox.take()) {
        this.deps.log.info('horizon command', { command: c.command, at: c.at });
        if (c.command === 'pause') this.pause();
        else if (c.command === 'continue') this.resume();
        else if (c.command === 'terminate') this.requestTerminate('command');
      }
    } catch (err) {
      this.deps.log.warn('reading horizon commands failed', { error: errorMessage(err) });
    }
    if (this.terminateRequested) return;
    this.phase = 'maintain';
    for (const s of this.supervisors) s.maintain();
    this.phase = 'state';
    if (now - this.lastStateAt >= this.hcfg.tickMs) await this.writeState().catch((err) => this.deps.log.warn('writing horizon state failed', { error: errorMessage(err) }));
    if (now - this.lastLongWaitAt >= LONG_WAIT_CHECK_MS) {
      this.lastLongWaitAt = now;
      this.phase = 'long-wait check';
      await this.checkLongWaits(now).catch((err) => this.deps.log.warn('long-wait check failed', { error: errorMessage(err) }));
    }
    if (now - this.lastSnapshotAt >= SNAPSHOT_EVERY_MS) {
      this.lastSnapshotAt = now;
      this.phase = 'metrics snapshot';
      await this.snapshot(now).catch((err) => this.deps.log.warn('metrics snapshot failed', { error: errorMessage(err) }));
    }
  }

  /** One snapshot per minute across all masters (SET NX lock). */
  private async snapshot(now: number): Promise<void> {
    const won = await this.deps.redis.set(this.keys.snapshotLock(), this.deps.config.hostname, 'PX', SNAPSHOT_EVERY_MS - 5000, 'NX');
    if (won === 'OK') await takeSnapshot(this.deps.redis, this.deps.config.redis.prefix, now);
  }

  async checkLongWaits(now: number): Promise<string[]> {
    const alerted: string[] = [];
    for (const name of configuredQueues(this.hcfg)) {
      const q = await this.queues.queue(name);
      const [oldest] = (await q.getJobs(['wait', 'prioritized'], 0, 0, true)) as Job[];
      if (!oldest?.timestamp) continue;
      const waitMs = now - oldest.timestamp;
      if (waitMs <= this.hcfg.longWaitMs) continue;
      alerted.push(name);
      await this.notifier.notify({
        canonical: 'horizon_long_wait',
        key: name,
        severity: 'high',
        title: `Queue ${name} has a job waiting ${Math.round(waitMs / 1000)} s`,
        message: `Threshold ${Math.round(this.hcfg.longWaitMs / 1000)} s (HORIZON_LONG_WAIT_SECONDS). Are its workers running and unpaused (horizon:status)?`,
        context: { queue: name, wait_seconds: Math.round(waitMs / 1000), host: this.deps.config.hostname },
      });
    }
    return alerted;
  }

  state(): MasterState {
    const now = this.deps.clock.now();
    return {
      host: this.deps.config.hostname,
      pid: process.pid,
      status: this.status,
      started_at: new Date(this.startedAt).toISOString(),
      at: new Date(now).toISOString(),
      supervisors: this.supervisors.map((s) => s.state()),
    };
  }

  async writeState(): Promise<void> {
    this.lastStateAt = this.deps.clock.now();
    const st = this.state();
    await this.deps.redis.set(this.keys.master(st.host), JSON.stringify(st), 'EX', STATE_TTL_SECONDS);
    await writeHeartbeat(
      this.deps.redis,
      this.deps.config.redis.prefix,
      { daemon: 'horizon', host: st.host, pid: st.pid, started_at: st.started_at, at: st.at, status: st.status, supervisors: st.supervisors.length, processes: st.supervisors.reduce((n, s) => n + s.processes.length, 0) },
      STATE_TTL_SECONDS * 3,
    );
  }

  /** start(), tick every 250 ms until terminate, then close(). */
  async run(): Promise<string> {
    await this.start();
    const terminated = new Promise<void>((resolve) => this.wake.signal.addEventListener('abort', () => resolve(), { once: true }));
    while (!this.terminateRequested) {
      try {
        await this.deps.clock.sleep(250, this.wake.signal);
      } catch {
        break;
      }
      // A tick that hangs (a Redis or database call that never answers) must not keep the master from
      // obeying terminate: the supervisors are stopped all the same, and the stuck phase is reported.
      const started = this.deps.clock.now();
      const tick = this.tick();
      // A tick that runs past TICK_SLOW_MS is reported (once per tick) with the phase it is stuck in.
      const slow = setTimeout(() => this.deps.log.warn('horizon tick is slow', { phase: this.phase, running_ms: this.deps.clock.now() - started }), TICK_SLOW_MS);
      await Promise.race([tick, terminated]).finally(() => clearTimeout(slow));
      if (this.phase !== null) this.deps.log.warn('terminating while a tick is still running', { phase: this.phase, running_ms: this.deps.clock.now() - started });
    }
    await this.close();
    return this.terminateRequested ?? 'terminate';
  }

  private closing: Promise<void> | null = null;

  /** Stop every supervisor (workers finish their current job; killed after the terminate wait) and clear the state key. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.status = 'terminating';
      this.deps.log.info('horizon terminating', { reason: this.terminateRequested });
      // The workers are told first; the state write (status terminating) must not hold them up if Redis hangs.
      const stopping = Promise.all(this.supervisors.map((s) => s.terminate()));
      await withTimeout(this.writeState(), 2000).catch((err) => this.deps.log.warn('writing the terminating state failed', { error: errorMessage(err) }));
      await stopping;
      await this.deps.redis.del(this.keys.master(this.deps.config.hostname)).catch(() => undefined);
      await this.queues.close();
      this.deps.log.info('horizon stopped');
    })();
    return this.closing;
  }
}
