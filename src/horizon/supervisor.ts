/**
 * A supervisor, inside the master process: keeps N worker processes (child_process.fork of child-main.js)
 * for its queues.
 *  - a child that exits on its own (crash, kill -9, lost lease) is restarted with exponential backoff
 *    (0.5 s doubling to 30 s, reset after a child lived a minute); a planned exit (maxJobs, maxTime, memory)
 *    is restarted at once;
 *  - a child whose IPC heartbeat is older than heartbeatTimeoutMs is killed (SIGKILL) and restarted;
 *  - when a shard child exits, the leases it held are released (it is dead, nothing runs under them), so
 *    its shard is reclaimed within a tick instead of a lease TTL;
 *  - auto balancing changes the process count (src/horizon/balance.ts), time from the injected clock.
 * `maintain(now)` is the one-step tick; the master calls it every 250 ms.
 */
import type { ChildProcess } from 'node:child_process';
import type { Clock } from '../support/clock.js';
import type { Logger } from '../support/log.js';
import { AutoBalancer } from './balance.js';
import type { ChildMessage, ChildSpec, ParentMessage } from './child.js';
import type { SupervisorConfig } from './config.js';
import type { ShardLeases } from './leases.js';

export type ForkChild = (spec: ChildSpec) => ChildProcess;

export interface SupervisorDeps {
  clock: Clock;
  log: Logger;
  fork: ForkChild;
  leases: ShardLeases;
  hostname: string;
  /** Waiting jobs of these queues (auto balancing). */
  backlog: (queues: string[]) => Promise<number>;
  terminateWaitMs: number;
}

export interface ProcessState {
  pid: number | null;
  queue: string | null;
  queues: string[];
  status: string;
  jobs: number;
  failed: number;
  started_at: string;
  rss_mb: number | null;
  restarts: number;
}

interface Handle {
  proc: ChildProcess;
  pid: number;
  startedAt: number;
  lastHeartbeat: number;
  status: string;
  jobs: number;
  failed: number;
  runtimeMs: number;
  rssMb: number | null;
  queues: string[];
  /** Told to stop (scale down, terminate): do not restart. */
  retiring: boolean;
  /** The reason the child gave before exiting (max-jobs, memory, …). */
  bye: string | null;
  exited: Promise<void>;
}

const PLANNED = new Set(['max-jobs', 'max-time', 'memory']);
const STARTUP_GRACE_MS = 120_000;
/** A gap this long between two maintain() rounds means the supervisor's own process was starved. */
export const MASTER_STALL_MS = 5_000;

export class Supervisor {
  private readonly children = new Set<Handle>();
  private target: number;
  private paused = false;
  private terminating = false;
  private crashes = 0;
  private nextSpawnAt = 0;
  private restarts = 0;
  private readonly balancer: AutoBalancer;
  private balancing: Promise<void> | null = null;
  /** Finished jobs and their runtime of children that exited (for the average runtime). */
  private pastJobs = 0;
  private pastRuntimeMs = 0;

  constructor(
    private readonly deps: SupervisorDeps,
    readonly cfg: SupervisorConfig,
  ) {
    this.target = cfg.balance === 'auto' ? Math.min(cfg.maxProcesses, Math.max(cfg.minProcesses, cfg.processes)) : cfg.processes;
    this.balancer = new AutoBalancer(cfg.balanceCooldownMs);
  }

  get name(): string {
    return this.cfg.name;
  }

  get processCount(): number {
    return [...this.children].filter((h) => !h.retiring).length;
  }

  get targetCount(): number {
    return this.target;
  }

  get restartCount(): number {
    return this.restarts;
  }

  pids(): number[] {
    return [...this.children].map((h) => h.pid);
  }

  private spec(): ChildSpec {
    const shards = this.cfg.kind === 'shards' ? Math.max(1, Math.ceil(this.cfg.queues.length / Math.max(1, this.target))) : 0;
    return { ...this.cfg, shardsPerProcess: shards, paused: this.paused, terminateWaitMs: this.deps.terminateWaitMs };
  }

  private spawn(): void {
    const now = this.deps.clock.now();
    const proc = this.deps.fork(this.spec());
    const h: Handle = {
      proc,
      pid: proc.pid ?? -1,
      startedAt: now,
      lastHeartbeat: now,
      status: 'starting',
      jobs: 0,
      failed: 0,
      runtimeMs: 0,
      rssMb: null,
      queues: [],
      retiring: false,
      bye: null,
      exited: null as unknown as Promise<void>,
    };
    h.exited = new Promise<void>((resolve) => {
      proc.once('exit', (code, signal) => {
        void this.onExit(h, code, signal).finally(resolve);
      });
    });
    proc.on('message', (m: ChildMessage) => {
      if (m.t === 'hb') {
        h.lastHeartbeat = this.deps.clock.now();
        h.status = m.status;
        h.jobs = m.jobs;
        h.failed = m.failed;
        h.runtimeMs = m.runtimeMs;
        h.rssMb = m.rss_mb;
        h.queues = m.queues;
      } else if (m.t === 'bye') h.bye = m.reason;
    });
    proc.on('error', (err) => this.deps.log.warn('horizon worker process error', { supervisor: this.name, pid: h.pid, error: err.message }));
    this.children.add(h);
    this.deps.log.info('horizon worker started', { supervisor: this.name, pid: h.pid });
  }

  private async onExit(h: Handle, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    this.children.delete(h);
    this.pastJobs += h.jobs;
    this.pastRuntimeMs += h.runtimeMs;
    if (this.cfg.kind === 'shards') {
      const released = await this.deps.leases.releaseAll(this.cfg.queues, `${this.deps.hostname}|${h.pid}`).catch((err: Error) => {
        this.deps.log.warn('could not release the leases of an exited worker', { pid: h.pid, error: err.message });
        return [];
      });
      if (released.length) this.deps.log.info('released the shards of an exited worker', { pid: h.pid, queues: released });
    }
    const planned = h.retiring || (code === 0 && h.bye !== null && PLANNED.has(h.bye));
    const now = this.deps.clock.now();
    if (h.retiring || this.terminating) {
      this.deps.log.info('horizon worker stopped', { supervisor: this.name, pid: h.pid, code, signal });
      return;
    }
    if (planned) {
      this.deps.log.info('horizon worker recycled', { supervisor: this.name, pid: h.pid, reason: h.bye });
      this.restarts++;
      return;
    }
    if (now - h.startedAt > 60_000) this.crashes = 0;
    this.crashes++;
    const delay = Math.min(30_000, 500 * 2 ** (this.crashes - 1));
    this.nextSpawnAt = now + delay;
    this.restarts++;
    this.deps.log.warn('horizon worker exited unexpectedly; restarting', { supervisor: this.name, pid: h.pid, code, signal, reason: h.bye, restart_in_ms: delay });
  }

  private send(h: Handle, msg: ParentMessage): void {
    try {
      if (h.proc.connected) h.proc.send(msg);
    } catch (err) {
      this.deps.log.warn('could not message a horizon worker', { pid: h.pid, error: (err as Error).message });
    }
  }

  private lastMaintainAt: number | null = null;

  /** One step: spawn/retire to the target, kill silent children, balance. */
  maintain(): void {
    if (this.terminating) return;
    const now = this.deps.clock.now();
    // If this process itself was stalled (a starved machine), the children's heartbeats may still sit unread
    // in the IPC pipes: judge nobody on this round, only on the next one.
    const stalled = this.lastMaintainAt !== null && now - this.lastMaintainAt > MASTER_STALL_MS;
    this.lastMaintainAt = now;
    for (const h of stalled ? [] : this.children) {
      // Before its first heartbeat a child is still booting (node, config, DB pool): allow a longer grace.
      const limit = h.status === 'starting' ? Math.max(this.cfg.heartbeatTimeoutMs, STARTUP_GRACE_MS) : this.cfg.heartbeatTimeoutMs;
      if (!h.retiring && now - h.lastHeartbeat > limit) {
        this.deps.log.error('horizon worker sent no heartbeat; killing it', { supervisor: this.name, pid: h.pid, silent_ms: now - h.lastHeartbeat });
        h.lastHeartbeat = now; // one kill per timeout
        h.proc.kill('SIGKILL');
      }
    }
    const live = [...this.children].filter((h) => !h.retiring);
    if (live.length < this.target && now >= this.nextSpawnAt) {
      for (let i = live.length; i < this.target; i++) this.spawn();
    } else if (live.length > this.target) {
      // Retire the youngest first.
      const extra = live.sort((a, b) => b.startedAt - a.startedAt).slice(0, live.length - this.target);
      for (const h of extra) {
        h.retiring = true;
        this.send(h, { t: 'stop', reason: 'scale-down' });
      }
    }
    if (this.cfg.balance === 'auto' && !this.balancing) {
      this.balancing = this.balance(now)
        .catch((err: Error) => this.deps.log.warn('auto balancing failed', { supervisor: this.name, error: err.message }))
        .finally(() => (this.balancing = null));
    }
  }

  /** Average runtime (ms) of the jobs this supervisor's children finished. */
  avgRuntimeMs(): number {
    let jobs = this.pastJobs;
    let ms = this.pastRuntimeMs;
    for (const h of this.children) {
      jobs += h.jobs;
      ms += h.runtimeMs;
    }
    return jobs > 0 ? ms / jobs : 0;
  }

  async balance(now: number): Promise<void> {
    const backlog = await this.deps.backlog(this.cfg.queues);
    const next = this.balancer.decide(now, {
      current: this.target,
      min: this.cfg.minProcesses,
      max: this.cfg.maxProcesses,
      maxShift: this.cfg.balanceMaxShift,
      backlog,
      avgRuntimeMs: this.avgRuntimeMs(),
      targetMs: this.cfg.balanceTargetMs,
    });
    if (next !== this.target) {
      this.deps.log.info('auto balancing', { supervisor: this.name, from: this.target, to: next, backlog });
      this.target = next;
    }
  }

  pause(): void {
    this.paused = true;
    for (const h of this.children) this.send(h, { t: 'pause' });
  }

  resume(): void {
    this.paused = false;
    for (const h of this.children) this.send(h, { t: 'continue' });
  }

  /** Ask every child to finish its current job and exit; SIGKILL what is left after terminateWaitMs (real time). */
  async terminate(): Promise<void> {
    this.terminating = true;
    const all = [...this.children];
    for (const h of all) {
      h.retiring = true;
      this.send(h, { t: 'stop', reason: 'terminate' });
      // Also a signal: a child that is still booting (or lost its IPC channel) stops on it as well.
      h.proc.kill('SIGTERM');
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), this.deps.terminateWaitMs + 2000)));
    const done = await Promise.race([Promise.all(all.map((h) => h.exited)).then(() => 'done' as const), deadline]);
    clearTimeout(timer);
    if (done === 'timeout') {
      for (const h of this.children) {
        this.deps.log.error('horizon worker did not stop in time; killing it', { supervisor: this.name, pid: h.pid });
        h.proc.kill('SIGKILL');
      }
      await Promise.all([...this.children].map((h) => h.exited));
    }
  }

  state(): { name: string; queues: string[]; balance: string; min: number; max: number; target: number; restarts: number; processes: ProcessState[] } {
    return {
      name: this.name,
      queues: this.cfg.queues,
      balance: this.cfg.balance,
      min: this.cfg.minProcesses,
      max: this.cfg.maxProcesses,
      target: this.target,
      restarts: this.restarts,
      processes: [...this.children].map((h) => ({
        pid: h.pid,
        queue: h.queues.length ? h.queues.join(',') : this.cfg.kind === 'queues' ? this.cfg.queues.join(',') : null,
        queues: h.queues,
        status: h.retiring ? 'stopping' : h.status,
        jobs: h.jobs,
        failed: h.failed,
        started_at: new Date(h.startedAt).toISOString(),
        rss_mb: h.rssMb,
        restarts: this.restarts,
      })),
    };
  }
}
